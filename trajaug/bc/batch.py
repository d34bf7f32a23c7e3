"""Batch grids of BC runs: datasets × seeds × options, each cell = train + evaluate, resumable, with tables.

Layout of an output folder ``OUT``::

    OUT/grid.json                    the resolved grid (every option, every cell id)
    OUT/train/<training-id>/         policy.pt, config.json, metrics.json (from train_bc; metrics.json is written
                                     last, so its presence marks a finished training, shared by cells that differ
                                     only in evaluation options)
    OUT/cells/<cell-id>/eval.json    evaluation with per-episode returns
    OUT/cells/<cell-id>/result.json  the cell's row, written last and atomically: it marks the cell finished
    OUT/results.{csv,json,md,png}    per-cell rows; mean ± 95% CI over seeds per row of options; bar chart

Resuming: a cell whose ``result.json`` says ``"status": "ok"`` is skipped; any other cell runs again (a killed run
left no ``result.json``; a failed one left ``"status": "error"`` and is retried, since failures are often
transient). Killing a batch therefore loses only the cells that were running.

Who writes: only the driver (the process running the batch). A cell trains into a scratch folder on whatever machine
runs it and hands the files back (:class:`~trajaug.executors.base.CellOutput`); the driver writes them, atomically, in
the order above. Workers read ``OUT/train/`` only to reuse a finished training when they share the filesystem, and
read datasets by name or path — or from a copy the driver shipped (``ship_data``) when they don't.

Seeds: a cell's seed seeds BC (initialisation, minibatches) and selects its evaluation reset seeds
(``trajaug.core.seeds.eval_seeds(seed, eval_episodes)``), so seeds vary both training and the evaluation episodes.

The grid and its cells: :mod:`trajaug.bc.grid`.
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

from trajaug.bc.evaluate import evaluate_policy
from trajaug.bc.grid import Cell, Grid, slug
from trajaug.bc.train import load_episodes, train_bc
from trajaug.core.errors import TrajaugInputError
from trajaug.core.progress import start_phase
from trajaug.core.report import (
    bar_chart_ci,
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
)
from trajaug.executors import CellOutput, Executor, executor_for, folder_files, write_cell_files


def run_cell(cell: Cell, out_dir: str, shared: Mapping[str, Any] | None = None, device: str = "cpu") -> CellOutput:
    """Train (or reuse the policy trained for the same training fields) and evaluate one cell.

    Returns the cell's result row and the files for the driver to write under ``out_dir``: the training's
    ``train/<training-id>/`` files (unless a finished training was found there) and ``cells/<cell-id>/eval.json``,
    then ``result.json`` last. ``shared`` maps dataset names to shipped file contents (see :func:`ship_datasets`);
    names found there are read from a local copy instead of by name or path. ``device``: where BC trains (a run
    option of the batch, not of the cell: :func:`trajaug.bc.train.train_bc`)."""
    fingerprint = data_fingerprint(cell, shared or {})
    with tempfile.TemporaryDirectory(prefix="trajaug-cell-") as scratch:
        policy, metrics, files = _trained_policy(cell, Path(out_dir) / "train" / cell.training_id, Path(scratch),
                                                 shared or {}, fingerprint, device)
    if policy.env_id is None:
        raise TrajaugInputError(f"{cell.dataset}: the dataset names no environment to evaluate in")
    result = evaluate_policy(policy, policy.env_id, cell.eval_episodes, seed=cell.seed,
                             action_noise=cell.action_noise)
    row = {"cell_id": cell.cell_id, **_flat(cell), "status": "ok", "error": None,
           "env_id": policy.env_id, "train_episodes": metrics["dataset"]["episodes"],
           "train_transitions": metrics["dataset"]["transitions"],
           "data_return_mean": metrics["dataset"]["return_mean"], "loss_final": metrics["loss_final"],
           "train_steps_per_s": metrics["steps_per_s"], "train_wall_s": metrics["wall_s"],
           **{k: v for k, v in result.to_dict(include_returns=False).items()
              if k in ("return_mean", "return_std", "return_ci95", "normalized_mean", "normalized_ci95")},
           "eval_wall_s": result.wall_s, **fingerprint}
    folder = f"cells/{cell.cell_id}"
    return CellOutput(row, files + ((f"{folder}/eval.json", json_bytes(result.to_dict())),
                                    (f"{folder}/result.json", json_bytes(row))))


def data_fingerprint(cell: Cell, shared: Mapping[str, Any]) -> dict[str, str | None]:
    """``{"data_sha256", "expert_sha256"}`` of the files a cell reads: a stored training or result counts as
    finished only for the same contents (a dataset name rebuilt from a new expert is other data)."""
    return {"data_sha256": dataset_sha256(cell.dataset, shared),
            "expert_sha256": dataset_sha256(cell.with_expert, shared) if cell.with_expert else None}


def _trained_policy(cell: Cell, folder: Path, scratch: Path, shared: Mapping[str, Any],
                    fingerprint: Mapping[str, str | None], device: str = "cpu"
                    ) -> tuple[Any, dict[str, Any], tuple[tuple[str, bytes], ...]]:
    """The policy and metrics in ``folder`` if a finished training on the same data is there (no files to
    write), else train into ``scratch`` and return its files, ``metrics.json`` last (its presence marks a
    finished training)."""
    from trajaug.bc.policy import load_checkpoint

    if (folder / "metrics.json").is_file() and (folder / "policy.pt").is_file() and _same_data(folder, fingerprint):
        return (load_checkpoint(folder / "policy.pt").policy, json.loads((folder / "metrics.json").read_text()),
                ())
    data = load_episodes(local_dataset(cell.dataset, shared), cell.episodes, cell.episodes_seed)
    expert = (load_episodes(local_dataset(cell.with_expert, shared), cell.expert_episodes, cell.episodes_seed)
              if cell.with_expert else None)
    provenance = {**{k: v for k, v in cell.to_dict().items() if k not in ("action_noise", "eval_episodes")},
                  **fingerprint}
    policy, metrics = train_bc(data, cell.bc_config(), scratch / "train", expert=expert, force=True,
                               provenance=provenance, device=device)
    return policy, metrics, folder_files(scratch / "train", f"train/{cell.training_id}", last=("metrics.json",))


def _same_data(folder: Path, fingerprint: Mapping[str, str | None]) -> bool:
    """Whether the training in ``folder`` recorded the same data fingerprint (its config.json's ``data``)."""
    try:
        recorded = json.loads((folder / "config.json").read_text()).get("data", {})
    except (OSError, ValueError):
        return False
    return all(recorded.get(key) == value for key, value in fingerprint.items())


def _names(cells: Sequence[Cell]) -> list[str]:
    """The datasets the cells read (each once, in order): their datasets and expert datasets."""
    return list(dict.fromkeys(n for c in cells for n in (c.dataset, c.with_expert) if n))


def ship_datasets(cells: Sequence[Cell]) -> dict[str, tuple[str, bytes]]:
    """``{name: (sha256, file bytes)}`` for every dataset the cells read that resolves to a D4RL file here
    (:func:`trajaug.datasets.cells.ship`); the workers read them with :func:`local_dataset`."""
    return ship(_names(cells))


def _flat(cell: Cell) -> dict[str, Any]:
    record = cell.to_dict()
    record["bc"] = json.dumps(record["bc"], sort_keys=True) if record["bc"] else ""
    return record


def _error_row(cell: Cell, error: BaseException) -> dict[str, Any]:
    return {"cell_id": cell.cell_id, **_flat(cell), "status": "error", "error": error_text(error)}


def prepare_datasets(cells: Sequence[Cell]) -> None:
    """Build the named datasets the cells read that are not built yet, once, here (not racing in several
    workers). Errors are left for the cells to report."""
    build_missing(_names(cells))


@dataclass(frozen=True)
class BatchResult:
    rows: list[dict[str, Any]]
    """One row per cell of the grid, in grid order."""
    ran: int
    skipped: int
    failed: int
    files: dict[str, Path]


def run_cells(cells: Sequence[Cell], out_dir: str | Path, executor: Executor | None = None,
              workers: int | None = None, progress: Callable[[int], None] | None = None,
              ship_data: bool = False, device: str = "cpu") -> BatchResult:
    """Run every unfinished cell (on ``executor``, default a LocalExecutor of ``workers`` processes); returns the
    rows of all cells, in order (no tables). ``progress`` is a phase "BC cells" over all cells, finished ones first.
    This process writes every file the cells return (see :class:`~trajaug.executors.base.CellOutput`). ``ship_data``:
    send each dataset's file to the workers once (for clusters without a shared filesystem). ``device``: where
    each cell trains BC (``auto`` picks per worker; on Ray, give the executor ``num_gpus`` so cells land on GPUs)."""
    out = Path(out_dir)
    prepare_datasets(cells)
    start_phase(progress, "BC cells", len(cells))
    finished = finished_cells(out, cells, lambda c: {"data_sha256": c.dataset, "expert_sha256": c.with_expert})
    todo = [c for c in cells if c.cell_id not in finished]
    if progress is not None and finished:
        progress(len(finished))
    failed = 0
    if todo:
        shared = ship_datasets(todo) if ship_data else None
        cell_fn = functools.partial(run_cell, out_dir=str(out), device=device)
        with executor_for(executor, workers) as pool:
            for cell, outcome in pool.map_unordered(cell_fn, todo, shared):
                if isinstance(outcome, BaseException):
                    failed += 1
                    write_json(_error_row(cell, outcome), out / "cells" / cell.cell_id / "result.json")
                else:
                    write_cell_files(out, _new_files(out, outcome.files, outcome.value))
                if progress is not None:
                    progress(1)
    rows = [read_result(out, c) or _error_row(c, RuntimeError("no result")) for c in cells]
    return BatchResult(rows, len(todo), len(finished), failed, {})


def _new_files(out: Path, files: Sequence[tuple[str, bytes]], row: Mapping[str, Any]
               ) -> list[tuple[str, bytes]]:
    """``files`` without those of a training another cell has already written on the same data (first finished,
    first kept); a training there on other data is replaced."""
    fingerprint = {key: row.get(key) for key in ("data_sha256", "expert_sha256")}

    def kept_elsewhere(path: str) -> bool:
        folder = out / Path(path).parent
        return (path.startswith("train/") and (folder / "metrics.json").is_file()
                and _same_data(folder, fingerprint))

    return [(path, content) for path, content in files if not kept_elsewhere(path)]


def run_batch(grid: Grid, out_dir: str | Path, executor: Executor | None = None, workers: int | None = None,
              progress: Callable[[int], None] | None = None, ship_data: bool = False,
              device: str = "cpu") -> BatchResult:
    """Run every unfinished cell of ``grid`` (see :func:`run_cells`), then write the result tables."""
    out = Path(out_dir)
    cells = grid.cells()
    write_json({**grid.to_dict(), "cells": [c.cell_id for c in cells]}, out / "grid.json")
    result = run_cells(cells, out, executor, workers, progress, ship_data, device)
    return dataclasses.replace(result, files=write_tables(result.rows, grid, out))


SUMMARY_KEYS = ("dataset", "episodes", "with_expert", "expert_episodes", "action_noise", "steps", "eval_episodes",
                "bc")


def write_tables(rows: Sequence[Mapping[str, Any]], grid: Grid, out: Path) -> dict[str, Path]:
    """results.csv/json (per cell), results.md (mean ± 95% CI over seeds per row of options), results.png."""
    summary = group_mean_ci([{**r, "ok": r.get("status") == "ok"} for r in rows], SUMMARY_KEYS,
                            ("return_mean", "normalized_mean", "data_return_mean"), where="ok")
    labels = [_label(s) for s in summary]
    table = [{"row": label, "BC uses expert?": "yes" if s["with_expert"] else "no",
              "action noise": s["action_noise"], "data return": format_mean_ci(s["data_return_mean_mean"], None),
              "seeds ok": f"{s['n']}/{s['n_rows']}",
              "return (mean ± 95% CI)": format_mean_ci(s["return_mean_mean"], s["return_mean_ci95"]),
              "D4RL normalized": format_mean_ci(s["normalized_mean_mean"], s["normalized_mean_ci95"])}
             for label, s in zip(labels, summary, strict=True)]
    text = ("# BC results\n\nMean over seeds of each seed's mean evaluation return, ± the 95% Student-t confidence "
            "half-width over seeds.\n\n" + markdown_table(table))
    errors = [r for r in rows if r.get("status") != "ok"]
    if errors:
        text += "\n## Failed cells\n\n" + markdown_table(errors, ["cell_id", "error"])
    files = {"csv": write_csv(rows, out / "results.csv"),
             "json": write_json({"grid": grid.to_dict(), "cells": list(rows), "summary": summary},
                                out / "results.json"),
             "md": write_markdown(text, out / "results.md"),
             "png": bar_chart_ci(labels, [s["normalized_mean_mean"] for s in summary],
                                 [s["normalized_mean_ci95"] for s in summary], out / "results.png",
                                 ylabel="D4RL normalized score", title="BC: mean ± 95% CI over seeds")}
    return files


def _label(summary: Mapping[str, Any]) -> str:
    parts = [slug(str(summary["dataset"])), f"ep{summary['episodes'] or 'all'}"]
    if summary["with_expert"]:
        parts.append("+expert")
    if summary["action_noise"]:
        parts.append(f"σ{summary['action_noise']:g}")
    return " ".join(parts)
