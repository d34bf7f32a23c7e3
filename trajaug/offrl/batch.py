"""Batch grids of offline-RL runs (``trajaug offrl batch``): each cell trains TD3+BC or IQL with
:func:`~trajaug.offrl.train.train_offrl` and is evaluated as ``offrl train`` evaluates; resumable, with tables.

Layout of an output folder ``OUT``::

    OUT/grid.json                     the resolved grid (every option, every cell id)
    OUT/cells/<cell-id>/              train_offrl's policy.pt, config.json, curve.json, curve.png, metrics.json
    OUT/cells/<cell-id>/result.json   the cell's row, written last and atomically: it marks the cell finished
    OUT/results.{csv,json}            one row per cell (results.json also holds the grid and the summary)
    OUT/summary.csv, OUT/results.md   mean ± 95% CI over seeds per row of options (dataset, episodes, algo, config)

A cell's row holds, for each evaluated σ (``sigma0``, ``sigma0.1``, ...), the **final** evaluation (after the last
update) and the **best** point of its learning curve (highest mean return; ``best_step_*`` is its update):
``final_return_*``, ``final_normalized_*``, ``best_return_*``, ``best_normalized_*`` (D4RL normalized scores, 0 =
random, 100 = expert; null for a task without D4RL reference scores), as ``metrics.json``'s ``final`` and ``best``.

Resuming: a cell whose ``result.json`` says ``"status": "ok"`` and was made from the data its dataset (and its
synthetic set) holds now is skipped; any other cell runs again (a killed one left no ``result.json``, a failed one
``"status": "error"``). :func:`run_cells` does this for any list of cells (the benchmarks' own cells).

Bad input: :meth:`Grid.from_mapping <trajaug.offrl.grid.Grid.from_mapping>` refuses a bad grid, and :func:`run_batch`
reads every dataset the unfinished cells train on before anything is written (a missing or unreadable file, NaN
values, too few episodes, no transition with a next state): each raises :class:`TrajaugInputError`.

Who writes: only the driver; a cell trains into a scratch folder and hands its files back
(:class:`~trajaug.executors.base.CellOutput`), exactly as ``bc batch`` does (:mod:`trajaug.datasets.cells`).
The one exception is a running cell's resume state, ``OUT/resume/<cell-id>.pt`` (:mod:`trajaug.offrl.resume`),
which the worker keeps where it can reach ``OUT`` (local workers, Ray on this machine) and removes when the cell
ends: a cell killed mid-run goes on from its last evaluation when the grid is run again, to the same result.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trajaug.core.errors import TrajaugInputError
from trajaug.core.progress import start_phase
from trajaug.core.report import (
    format_mean_ci,
    group_mean_ci,
    json_bytes,
    markdown_table,
    write_csv,
    write_json,
    write_markdown,
)
from trajaug.datasets.cells import (
    build_missing,
    dataset_sha256,
    error_text,
    finished_cells,
    local_dataset,
    read_result,
    ship,
    slug,
)
from trajaug.executors import CellOutput, Executor, executor_for, folder_files, write_cell_files
from trajaug.offrl.grid import MIX_FIELDS, Cell, Grid
from trajaug.offrl.replay import episode_subset, transitions
from trajaug.offrl.train import load_dataset, train_offrl

__all__ = ["BatchResult", "Cell", "Grid", "check_datasets", "run_batch", "run_cell", "run_cells", "scores",
           "sigma_key", "write_tables"]

SUMMARY_KEYS = ("dataset", "episodes", "algo", "config")
"""A summary row: the cells that differ only in their seed (and, where a grid sets them, in nothing of
:data:`~trajaug.offrl.grid.MIX_FIELDS` either)."""


def sigma_key(sigma: float) -> str:
    """The column suffix of an evaluated σ: ``sigma0``, ``sigma0.1``."""
    return f"sigma{sigma:g}"


def run_cell(cell: Cell, out_dir: str, shared: Mapping[str, Any] | None = None, device: str = "cpu") -> CellOutput:
    """Train and evaluate one cell; returns its row and its files for the driver to write under ``out_dir``:
    ``cells/<cell-id>/`` with train_offrl's outputs (``metrics.json`` last of them), then ``result.json``.
    ``shared``: shipped datasets (:func:`trajaug.datasets.cells.ship`). ``device``: where the networks train."""
    fingerprint = {key: dataset_sha256(name, shared or {}) for key, name in fingerprints(cell).items() if name}
    data = load_dataset(local_dataset(cell.dataset, shared or {}), cell.episodes)
    synthetic = load_dataset(local_dataset(cell.synthetic, shared or {})) if cell.synthetic else None
    folder = f"cells/{cell.cell_id}"
    state = Path(out_dir) / "resume" / f"{cell.cell_id}.pt" if Path(out_dir).is_dir() else None
    with tempfile.TemporaryDirectory(prefix="trajaug-cell-") as scratch:
        _, metrics = train_offrl(data, cell.algo, cell.algo_config(), Path(scratch) / "run", seed=cell.seed,
                                 eval_every=cell.eval_every, eval_episodes=cell.eval_episodes,
                                 eval_noise=cell.action_noise, provenance={**cell.to_dict(), **fingerprint},
                                 device=device, synthetic=synthetic, resume_file=state, **cell.mix())
        files = folder_files(Path(scratch) / "run", folder, last=("metrics.json",))
    mixed = {"synthetic_transitions": metrics["synthetic"]["transitions"]} if "synthetic" in metrics else {}
    row = {"cell_id": cell.cell_id, **_flat(cell), "status": "ok", "error": None, "env_id": data.env_id,
           "train_episodes": metrics["dataset"]["episodes"], "transitions": metrics["replay"]["transitions"],
           **mixed, "data_return_mean": metrics["dataset"]["return_mean"], "steps": metrics["steps"],
           "updates_per_s": metrics["updates_per_s"], "wall_s": metrics["wall_s"],
           "eval_wall_s": metrics["eval_wall_s"], **scores(metrics), **fingerprint}
    return CellOutput(row, files + ((f"{folder}/result.json", json_bytes(row)),))


def fingerprints(cell: Cell) -> dict[str, str | None]:
    """Fingerprint key → the dataset it fingerprints: ``data_sha256`` (the dataset) and, with a synthetic set,
    ``synthetic_sha256``; a stored row counts as finished only while they match the files."""
    return {"data_sha256": cell.dataset, **({"synthetic_sha256": cell.synthetic} if cell.synthetic else {})}


def scores(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The final and best evaluation of each σ in ``metrics`` (train_offrl's) as flat row columns."""
    row: dict[str, Any] = {}
    for final, best in zip(metrics["final"], metrics["best"], strict=True):
        key = sigma_key(final["action_noise"])
        row.update({f"final_return_{key}": final["return_mean"], f"final_normalized_{key}": final["normalized_mean"],
                    f"best_return_{key}": best["return_mean"], f"best_normalized_{key}": best["normalized_mean"],
                    f"best_step_{key}": best["step"]})
    return row


def _flat(cell: Cell) -> dict[str, Any]:
    """The cell's fields as CSV-friendly values (σs joined by commas, the config as sorted JSON)."""
    record = cell.to_dict()
    return {**record, "action_noise": ",".join(f"{s:g}" for s in cell.action_noise),
            "config": json.dumps(record["config"], sort_keys=True) if record["config"] else ""}


def _error_row(cell: Cell, error: BaseException) -> dict[str, Any]:
    return {"cell_id": cell.cell_id, **_flat(cell), "status": "error", "error": error_text(error)}


def check_datasets(cells: Sequence[Cell]) -> None:
    """Read every (dataset, episodes, subset) the cells train on, and every synthetic set, once, and raise
    :class:`TrajaugInputError` naming it if it cannot be trained on: unknown name, missing or unreadable file,
    non-finite values, too few episodes, no transition with a known next state."""
    wanted: dict[str, set[tuple[int | None, float | None, int]]] = {}
    for cell in cells:
        wanted.setdefault(cell.dataset, set()).add((cell.episodes, cell.subset, cell.seed if cell.subset else 0))
        if cell.synthetic:
            wanted.setdefault(cell.synthetic, set()).add((None, None, 0))
    for name, uses in wanted.items():
        try:
            data = load_dataset(name)
            for count, subset, seed in sorted(uses, key=lambda use: (use[0] or -1, use[1] or 1.0, use[2])):
                part = data if count is None else data.first_episodes(count)
                transitions(part if subset is None else episode_subset(part, subset, seed), name)
        except (TrajaugInputError, ValueError) as error:
            message = str(error)
            raise TrajaugInputError(message if name in message else f"{name}: {message}") from None


@dataclass(frozen=True)
class BatchResult:
    """What :func:`run_batch` did: every cell's row, the counts of this run, and the tables written."""

    rows: list[dict[str, Any]]
    """One row per cell of the grid, in grid order (a finished cell's stored row, or its error row)."""
    ran: int
    """Cells run now (unfinished, failed or stale before)."""
    skipped: int
    """Cells already finished on the same data."""
    failed: int
    """Cells of this run that raised (recorded with ``"status": "error"``, retried by a rerun)."""
    files: dict[str, Path]
    """``csv``, ``json``, ``summary``, ``md`` → the tables in the output folder."""


def run_batch(grid: Grid, out_dir: str | Path, executor: Executor | None = None, workers: int | None = None,
              progress: Callable[[int], None] | None = None, ship_data: bool = False,
              device: str = "cpu") -> BatchResult:
    """Run every unfinished cell of ``grid`` (on ``executor``, default a LocalExecutor of ``workers`` processes),
    then write the result tables; returns the rows of all cells in grid order and the tables written (``csv``,
    ``json``, ``summary``, ``md``).

    The datasets of the unfinished cells are read first (:func:`check_datasets`): one that cannot be trained on
    raises :class:`TrajaugInputError` before anything is written under ``out_dir``. ``progress`` is a phase
    "offline-RL cells" over all cells, finished ones first. ``ship_data``: send each dataset's file to the workers
    once (no shared filesystem). ``device``: where the networks train (``auto`` picks per worker; on Ray, give the
    executor ``num_gpus`` so cells land on GPUs)."""
    out = Path(out_dir)
    cells = grid.cells()

    def write_grid() -> None:
        write_json({**grid.to_dict(), "cells": [c.cell_id for c in cells]}, out / "grid.json")

    result = run_cells(cells, out, executor, workers, progress, ship_data, device, checked=write_grid)
    return dataclasses.replace(result, files=write_tables(result.rows, grid, out))


def run_cells(cells: Sequence[Cell], out_dir: str | Path, executor: Executor | None = None,
              workers: int | None = None, progress: Callable[[int], None] | None = None, ship_data: bool = False,
              device: str = "cpu", checked: Callable[[], None] | None = None,
              label: str = "offline-RL cells") -> BatchResult:
    """Run the unfinished ones of ``cells`` (resumable, as :func:`run_batch`) and return every cell's row in order
    (``files`` empty: no tables). The datasets of the unfinished cells are read first; then ``checked()`` is called
    (:func:`run_batch` writes ``grid.json`` there) and the cells run, each writing ``OUT/cells/<cell-id>/``.
    ``progress``: a phase ``label`` over all cells, finished ones first."""
    out = Path(out_dir)
    build_missing(name for c in cells for name in fingerprints(c).values() if name)
    finished = finished_cells(out, cells, fingerprints)
    todo = [c for c in cells if c.cell_id not in finished]
    check_datasets(todo)
    if checked is not None:
        checked()
    start_phase(progress, label, len(cells))
    if progress is not None and finished:
        progress(len(finished))
    failed = _run(todo, out, executor, workers, progress, ship_data, device)
    rows = [read_result(out, c) or _error_row(c, RuntimeError("no result")) for c in cells]
    return BatchResult(rows, len(todo), len(finished), failed, {})


def _run(todo: Sequence[Cell], out: Path, executor: Executor | None, workers: int | None,
         progress: Callable[[int], None] | None, ship_data: bool, device: str) -> int:
    """Run ``todo`` and write what each cell returns (its files, or its error row); returns the failures."""
    if not todo:
        return 0
    failed = 0
    shared = ship(name for c in todo for name in fingerprints(c).values() if name) if ship_data else None
    cell_fn = functools.partial(run_cell, out_dir=str(out), device=device)
    with executor_for(executor, workers) as pool:
        for cell, outcome in pool.map_unordered(cell_fn, todo, shared):
            if isinstance(outcome, BaseException):
                failed += 1
                write_json(_error_row(cell, outcome), out / "cells" / cell.cell_id / "result.json")
            else:
                write_cell_files(out, outcome.files)
            if progress is not None:
                progress(1)
    return failed


def write_tables(rows: Sequence[Mapping[str, Any]], grid: Grid, out: Path) -> dict[str, Path]:
    """results.csv/json (per cell), summary.csv and results.md: per row of options, the mean ± 95% CI over seeds
    of each final and best score (normalized where every finished cell has one, else the return)."""
    ok = [{**r, "ok": r.get("status") == "ok"} for r in rows]
    keys = [sigma_key(s) for s in grid.action_noise] if grid.eval_episodes else []
    normalized = all(r.get(f"final_normalized_{k}") is not None for r in ok if r["ok"] for k in keys)
    kind = "normalized" if normalized else "return"
    values = [f"{when}_{measure}_{k}" for k in keys for when in ("final", "best") for measure in ("return",
                                                                                                  "normalized")]
    mixed = [key for key in MIX_FIELDS if any(key in r for r in rows)]
    summary = group_mean_ci(ok, (*SUMMARY_KEYS, *mixed), values, where="ok")
    table = [{"row": _label(s), "algo": s["algo"],
              "config": s["config"] or "defaults", "seeds ok": f"{s['n']}/{s['n_rows']}",
              **{f"{when} σ={sigma:g}": format_mean_ci(s[f"{when}_{kind}_{k}_mean"], s[f"{when}_{kind}_{k}_ci95"])
                 for sigma, k in zip(grid.action_noise, keys, strict=False) for when in ("final", "best")}}
             for s in summary]
    text = (f"# Offline RL results\n\n{'D4RL normalized score' if normalized else 'Return'}: mean over seeds of each "
            "seed's final evaluation (after the last update) and best point of its learning curve, ± the 95% "
            "Student-t confidence half-width over seeds; σ: Gaussian noise on every executed action.\n\n"
            + markdown_table(table))
    errors = [r for r in rows if r.get("status") != "ok"]
    if errors:
        text += "\n## Failed cells\n\n" + markdown_table(errors, ["cell_id", "error"])
    return {"csv": write_csv(rows, out / "results.csv"),
            "json": write_json({"grid": grid.to_dict(), "cells": list(rows), "summary": summary},
                               out / "results.json"),
            "summary": write_csv(summary, out / "summary.csv"),
            "md": write_markdown(text, out / "results.md")}


def _label(summary: Mapping[str, Any]) -> str:
    """A summary row's data: ``halfcheetah-expert ep7``, then ``sub0.15`` and ``+ <synthetic> (real 0.5)`` if set."""
    label = f"{slug(str(summary['dataset']))} ep{summary['episodes'] or 'all'}"
    if summary.get("subset") is not None:
        label += f" sub{summary['subset']:g}"
    if summary.get("synthetic"):
        label += f" + {slug(str(summary['synthetic']))} (real {summary['real_ratio']:g})"
    return label
