"""``trajaug bench offrl``: does augmentation help offline RL? TD3+BC and IQL on a subset of a dataset, with each
method's synthetic set mixed into every minibatch, against the subset alone and the whole dataset.

Two parts (``--part``), each a set of cells run through the executors and resumable:

* **sanity**: BC (:mod:`trajaug.bc`, the same budget), TD3+BC and IQL on whole datasets (default the three
  medium-replay levels): do the offline-RL algorithms beat BC where the literature says they do?
* **augmentation**: for each dataset (default walker2d and halfcheetah medium-replay) and seed k, the subset
  (:func:`~trajaug.offrl.replay.episode_subset`: whole episodes holding ``subset`` of the transitions, drawn with k,
  the subset ``offrl train --subset F --seed k`` trains on) is written once; each augmentation row's set is made from
  it by the seed table's jobs (:func:`~trajaug.experiments.bench.seed_table.run_augmentations`: SynthER trained on
  the subset, SynthER relabelled by the simulator, bdm's reverse rollouts from subset states, ...), and each
  algorithm trains on the subset with the set mixed in at ``real_ratio`` (:mod:`trajaug.offrl.batch`'s cells).
  Rows ``subset`` (the subset alone) and ``full`` (the whole dataset: the ceiling) have no set.

Every run is evaluated as ``offrl train`` evaluates (every ``eval_every`` updates and after the last): the table has
its **final** and its **best** point, as mean ± 95% CI over seeds per dataset and as the IQM over datasets × seeds
with a stratified-bootstrap 95% CI (:mod:`trajaug.core.stats`); :mod:`~trajaug.experiments.bench.offrl_report`
writes them.

Layout of ``OUT``::

    OUT/subsets/<dataset>-subset<F>-seed<k>.hdf5 (+ .json)   the subsets, and what they were drawn from
    OUT/sets/<dataset>/data/<row>-<N>demos-seed<k>.hdf5 (...)  the synthetic sets (the seed table's layout)
    OUT/cells/..., OUT/train/...                               offline-RL and BC cells (resumable)
    OUT/offrl_<part>.{md,json,csv}, _runs.csv, _iqm.csv, *.png the tables and figures
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trajaug.bc.batch import run_cells as run_bc_cells
from trajaug.bc.grid import Cell as BCCell
from trajaug.core.errors import TrajaugInputError
from trajaug.core.report import write_json
from trajaug.datasets.cells import dataset_sha256, slug
from trajaug.executors import Executor, executor_for
from trajaug.experiments.bench.config import (
    FULL_ROW,
    SUBSET_ROW,
    OffRLBenchConfig,
    SeedTableConfig,
    resolve_quick,
)
from trajaug.experiments.bench.offrl_report import compute_seconds, write_report
from trajaug.experiments.bench.seed_table import check_rows, machine, run_augmentations
from trajaug.offrl.batch import run_cells as run_offrl_cells
from trajaug.offrl.batch import sigma_key
from trajaug.offrl.grid import Cell

Progress = Callable[[int], None] | None


def check_config(config: OffRLBenchConfig) -> None:
    """Raise :class:`TrajaugInputError` (one line naming the option) for rows the augmentation part cannot run,
    before anything runs: none at all, or one that is neither ``subset``, ``full`` nor a seed-table augmentation
    row (``synther``, ``bdm``, ``METHOD:key=value``)."""
    if not config.rows:
        raise TrajaugInputError("--rows: no rows")
    check_rows([row for row in config.rows if row not in (SUBSET_ROW, FULL_ROW)], "--rows", allow_demos=False)


def augmentation_rows(config: OffRLBenchConfig) -> list[str]:
    """The rows that mix in a synthetic set (each made from the subset by the seed table's jobs)."""
    return [row for row in config.rows if row not in (SUBSET_ROW, FULL_ROW)]


def write_subset(dataset: str, fraction: float, seed: int, out: Path) -> tuple[Path, dict[str, Any]]:
    """``OUT/subsets/<dataset>-subset<F>-seed<k>.hdf5``: :func:`~trajaug.offrl.replay.episode_subset` of
    ``dataset`` (the data ``offrl train --subset F --seed k`` trains on), and its record ``.json`` beside it. Made
    once: a rerun keeps the file while the record says it was drawn alike from the data ``dataset`` holds now
    (rewriting it would change its hash and make every set made from it again)."""
    from trajaug.offrl.replay import episode_subset
    from trajaug.offrl.train import load_dataset
    from trajaug.storage.d4rl import write_d4rl

    path = out / "subsets" / f"{slug(dataset)}-subset{fraction:g}-seed{seed}.hdf5"
    record_path = path.with_name(path.name + ".json")
    wanted = {"source": dataset, "source_sha256": dataset_sha256(dataset, {}), "fraction": fraction, "seed": seed}
    try:
        record = json.loads(record_path.read_text())
        if path.is_file() and all(record.get(key) == value for key, value in wanted.items()):
            return path, record
    except (OSError, ValueError):
        pass
    whole = load_dataset(dataset)
    subset = episode_subset(whole, fraction, seed)
    write_d4rl(subset, path, force=True)
    record = {**wanted, "episodes": subset.n_episodes, "transitions": len(subset), "of_transitions": len(whole)}
    write_json(record, record_path)
    return path, record


def run_offrl_bench(config: OffRLBenchConfig, out_dir: str | Path, executor: Executor | None = None,
                    workers: int | None = None, progress: Progress = None, ship_data: bool = False,
                    device: str = "cpu") -> dict[str, Any]:
    """Run (or resume) the part of the benchmark ``config.part`` names on ``executor`` (default: a LocalExecutor
    of ``workers`` processes); writes the tables and figures and returns ``runs`` (one row per dataset × row ×
    algorithm × seed), ``files``, ``failed_cells`` and ``sets`` (the synthetic sets' summaries). The record's
    ``wall_seconds`` is this call's; ``compute_seconds`` sums what every offline-RL run and set took when it was
    made (each run's ``wall_s``), so a rerun that finds everything finished keeps it. ``device``: where
    the networks train, in every cell (a run option: not in the config)."""
    check_config(config)
    config = resolve_quick(config)
    out = Path(out_dir)
    started = time.perf_counter()
    seeds = list(range(config.first_seed, config.first_seed + config.seeds))
    sets: dict[tuple[str, str, int], dict[str, Any]] = {}
    subsets: list[dict[str, Any]] = []
    with executor_for(executor, workers) as pool:
        if config.part == "sanity":
            runs, failed = _sanity(config, seeds, out, pool, progress, ship_data, device)
        else:
            sets, subsets = _make_sets(config, seeds, out, pool, progress, ship_data, device)
            runs, failed = _augmentation(config, seeds, sets, out, pool, progress, ship_data, device)
    record = {"config": dataclasses.asdict(config), "datasets": list(config.part_datasets()), "seeds": seeds,
              "machine": machine(), "wall_seconds": time.perf_counter() - started,
              "compute_seconds": compute_seconds(runs, sets.values()),
              "sets": [{"dataset": d, "row": r, "seed": s, **v} for (d, r, s), v in sets.items()],
              "subsets": subsets}
    files = write_report(runs, record, config, out)
    return {"runs": runs, "files": files, "failed_cells": failed, "sets": sets}


def _rl_cell(config: OffRLBenchConfig, dataset: str, algo: str, seed: int, **mix: Any) -> Cell:
    """An offline-RL cell of the benchmark's budget and evaluation."""
    return Cell(dataset, algo, seed, eval_every=config.eval_every, eval_episodes=config.eval_episodes,
                action_noise=config.action_noise, config=(("steps", config.updates),), **mix)


def _sanity(config: OffRLBenchConfig, seeds: list[int], out: Path, pool: Executor, progress: Progress,
            ship_data: bool, device: str) -> tuple[list[dict[str, Any]], int]:
    """BC, then TD3+BC and IQL, on each whole dataset; one run row per dataset × algorithm × seed."""
    datasets = config.part_datasets()
    bc = [(dataset, seed, BCCell(dataset, seed, action_noise=sigma, steps=config.updates,
                                 eval_episodes=config.eval_episodes))
          for dataset in datasets for seed in seeds for sigma in config.action_noise]
    rl = [(dataset, "whole", _rl_cell(config, dataset, algo, seed))
          for dataset in datasets for algo in config.algos for seed in seeds]
    bc_result = run_bc_cells([cell for *_, cell in bc], out, pool, progress=progress, ship_data=ship_data,
                             device=device)
    rl_result = run_offrl_cells([cell for *_, cell in rl], out, pool, progress=progress, ship_data=ship_data,
                                device=device)
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for (dataset, seed, cell), result in zip(bc, bc_result.rows, strict=True):  # one BC cell per σ: one run
        run = runs.setdefault((dataset, seed), {"part": "sanity", "dataset": dataset, "row": "whole", "algo": "bc",
                                                "seed": seed, "ok": True, "cell_ids": [], "errors": []})
        run["cell_ids"].append(cell.cell_id)
        if result.get("status") != "ok":
            run["ok"] = False
            run["errors"].append(result.get("error"))
            continue
        key = sigma_key(cell.action_noise)
        run.update({f"final_return_{key}": result["return_mean"], f"final_normalized_{key}":
                    result["normalized_mean"], "transitions": result["train_transitions"]})
    rl_runs = [_rl_run("sanity", dataset, row, cell, result) for (dataset, row, cell), result
               in zip(rl, rl_result.rows, strict=True)]
    return [*runs.values(), *rl_runs], bc_result.failed + rl_result.failed


def _rl_run(part: str, dataset: str, row: str, cell: Cell, result: dict[str, Any]) -> dict[str, Any]:
    """A run row from an offline-RL cell's row: its final and best scores per σ."""
    ok = result.get("status") == "ok"
    picked = {key: value for key, value in result.items() if key.startswith(("final_", "best_"))} if ok else {}
    return {"part": part, "dataset": dataset, "row": row, "algo": cell.algo, "seed": cell.seed, "ok": ok,
            "cell_ids": [cell.cell_id], "errors": [] if ok else [result.get("error")], **picked,
            "transitions": result.get("transitions"), "synthetic_transitions": result.get("synthetic_transitions"),
            "wall_s": result.get("wall_s")}


def _make_sets(config: OffRLBenchConfig, seeds: list[int], out: Path, pool: Executor, progress: Progress,
               ship_data: bool, device: str) -> tuple[dict[tuple[str, str, int], dict[str, Any]],
                                                      list[dict[str, Any]]]:
    """Each (dataset, augmentation row, seed)'s synthetic set, made from that seed's subset (or found finished),
    and the subsets' records."""
    sets: dict[tuple[str, str, int], dict[str, Any]] = {}
    subsets = []
    rows = augmentation_rows(config)
    for dataset in config.part_datasets():
        for seed in seeds:
            path, record = write_subset(dataset, config.subset, seed, out)
            subsets.append({"dataset": dataset, "seed": seed, "path": str(path), **record})
            if not rows:
                continue
            table = SeedTableConfig(dataset=str(path), demos=record["episodes"], per_episode=config.per_episode,
                                    seeds=1, first_seed=seed, quick=config.quick, rows=tuple(rows))
            made = run_augmentations([(row, seed) for row in rows], out / "sets" / slug(dataset), table, pool,
                                     progress, ship_data, label=f"synthetic sets: {slug(dataset)}, seed {seed}",
                                     device=device)
            sets.update({(dataset, row, seed): summary for (row, seed), summary in made.items()})
    return sets, subsets


def _augmentation(config: OffRLBenchConfig, seeds: list[int], sets: dict[tuple[str, str, int], dict[str, Any]],
                  out: Path, pool: Executor, progress: Progress, ship_data: bool, device: str
                  ) -> tuple[list[dict[str, Any]], int]:
    """The table's cells: per dataset × row × algorithm × seed, the subset alone, the subset with the row's set
    mixed in, or the whole dataset; a row whose set failed has error runs (its set's error) and no cell."""
    subset = config.subset if config.subset < 1 else None
    cells: list[tuple[str, str, Cell]] = []
    runs: list[dict[str, Any]] = []
    for dataset in config.part_datasets():
        for row in config.rows:
            for algo in config.algos:
                for seed in seeds:
                    made = sets.get((dataset, row, seed), {})
                    if "error" in made:
                        runs.append({"part": "augmentation", "dataset": dataset, "row": row, "algo": algo,
                                     "seed": seed, "ok": False, "cell_ids": [], "errors": [made["error"]]})
                    elif row == FULL_ROW:
                        cells.append((dataset, row, _rl_cell(config, dataset, algo, seed)))
                    else:
                        mix = {"synthetic": made["output"], "real_ratio": config.real_ratio} if made else {}
                        cells.append((dataset, row, _rl_cell(config, dataset, algo, seed, subset=subset, **mix)))
    result = run_offrl_cells([cell for *_, cell in cells], out, pool, progress=progress, ship_data=ship_data,
                             device=device)
    runs += [_rl_run("augmentation", dataset, row, cell, row_result) for (dataset, row, cell), row_result
             in zip(cells, result.rows, strict=True)]
    for run in runs:  # the synthetic set's own statistics beside the runs trained with it
        made = sets.get((run["dataset"], run["row"], run["seed"]), {})
        run.update({"set_transitions": made.get("transitions"), "set_dynamics_error_p95":
                    made.get("dynamics_error_p95"), "set_wall_s": made.get("wall_seconds")})
    return runs, result.failed

