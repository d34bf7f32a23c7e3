"""``trajaug bench seed-table``: the reference results table (reference §1), reproduced in one resumable command.

Rows: BC on the demos alone, then BC trained on each method's augmented set *alone* (no expert transitions):
cat, noise (σ 0.9), mixup (α 0.1), bdm, bdm-cl, and our extra rows gail and physics-filtered bdm; a row ending in
``+demos`` (``synther+demos``) trains BC on its set plus the demos. Every row uses
the same BC (CORL defaults, same budget) and the same evaluation (100 episodes, standard and perturbed with
N(0, 0.1²) action noise), for ``seeds`` seeds: seed k seeds the augmentation, BC and the evaluation episodes.

Layout of ``OUT``::

    OUT/data/<row>-<N>demos-seed<k>.hdf5 (+ .config.json, .physics.json)   augmented sets, summaries, physics
    OUT/cells/..., OUT/train/...             BC cells (trajaug.bc.batch: resumable)
    OUT/seed_table.{csv,json,md,png}         the table (trajaug.experiments.bench.seed_table_report)

Re-running skips every augmented set and every BC cell already finished.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trajaug.bc.batch import local_dataset, prepare_datasets, run_cells, ship_datasets
from trajaug.bc.grid import Cell
from trajaug.core.config import config_record
from trajaug.core.progress import start_phase
from trajaug.core.report import write_json
from trajaug.executors import CellOutput, Executor, executor_for, folder_files, meanwhile, write_cell_files
from trajaug.experiments.bench.config import (
    QUICK_METHOD_CONFIG,
    ROW_OVERRIDES,
    ROWS,
    WITH_DEMOS,
    SeedTableConfig,
    resolve_quick,
    set_row,
)
from trajaug.experiments.bench.seed_table_report import summarize, write_table

if TYPE_CHECKING:
    from trajaug.augment import ModelFiles


def row_method(row: str) -> tuple[str, dict[str, Any]]:
    """(registered method, config overrides) of a table row: a name of :data:`ROWS`, or an ablation spelled
    ``METHOD:key=value[:key=value…]`` with keys of the method's config (``bdm:start=uniform:noise_scale=0.5``);
    values take the type of the field's default. Raises :class:`TrajaugInputError` for an unknown method or key."""
    from trajaug.augment import get_augmenter
    from trajaug.core.config import parse_pairs

    if ":" not in row:
        return ROW_OVERRIDES.get(row, (row, {}))
    method, *pairs = row.split(":")
    return method, parse_pairs(get_augmenter(method).Config, pairs, f"row {row!r}")


def check_rows(rows: tuple[str, ...] | list[str], option: str, allow_demos: bool = True) -> None:
    """Raise :class:`TrajaugInputError` (one line naming ``option``) unless every row is a name of :data:`ROWS`
    (``demos`` only where ``allow_demos``) or a valid ablation (:func:`row_method`), either optionally followed by
    :data:`WITH_DEMOS` where ``allow_demos``, before anything runs."""
    from trajaug.augment import get_augmenter
    from trajaug.core.config import parse_config
    from trajaug.core.errors import TrajaugInputError

    known = [r for r in ROWS if allow_demos or r != "demos"]
    sets = [set_row(r) if allow_demos else r for r in rows]
    unknown = [r for r, base in zip(rows, sets, strict=True)
               if (base == "demos" and r != base) or (":" not in base and base not in known)]
    if unknown:
        kind = "a row" if allow_demos else "an augmentation row"
        also = f", either followed by {WITH_DEMOS}" if allow_demos else ""
        raise TrajaugInputError(f"{option}: unknown row(s) {', '.join(unknown)}; expected {kind} "
                                f"({', '.join(known)}) or METHOD:key=value{also}")
    for base in sets:
        if base != "demos":
            method, overrides = row_method(base)
            try:  # the settings' own limits (a row string goes through the config as CLI options do)
                parse_config(get_augmenter(method).Config, overrides, f"row {base!r}")
            except TrajaugInputError as error:
                raise TrajaugInputError(f"{option} {base}: {error}") from None


GENERATOR_SUFFIX = ".generator.pt"
"""A trained generator (CAT, GAIL) is kept as ``OUT/data/<set name><suffix>`` (load it with ``--load-model``)."""
KEPT_MODELS = ("cat", "gail")
"""Methods whose trained model is kept beside each set, to sample more from it later."""


def augment_row(job: tuple[str, int], out_dir: str, config: SeedTableConfig,
                shared: Mapping[str, Any] | None = None, device: str = "cpu") -> CellOutput:
    """Make one row's augmented set for one seed, in a scratch folder; returns its summary (with physics
    statistics) and its files for the driver to write under ``out_dir/data/`` (the summary ``.physics.json`` last:
    it marks the set finished). ``shared``: shipped datasets (see :func:`trajaug.bc.batch.local_dataset`).
    ``device``: where the method's networks train (a run option, :func:`trajaug.augment.augment`)."""
    from trajaug.core.errors import TrajaugInputError
    from trajaug.datasets.check import physics_check
    from trajaug.experiments.runner import augment_to_file

    row, seed = job
    name = augmented_name(row, seed, config)
    method, method_config, files = job_config(row, seed, config)
    per_episode = 1 if method == "mixup" else config.per_episode
    final = Path(out_dir) / "data" / name
    with tempfile.TemporaryDirectory(prefix="trajaug-augment-") as scratch:
        path = Path(scratch) / name
        if files.load and not Path(files.load).is_file():
            raise TrajaugInputError(f"{files.load}: the run in {config.generators_from} kept no generator for {name}")
        keeps_generator = method in KEPT_MODELS
        recorded = files
        if keeps_generator:  # a trained generator is kept next to its set, to sample more from it later
            files = dataclasses.replace(files, save=str(path) + GENERATOR_SUFFIX)
            recorded = dataclasses.replace(files, save=str(final) + GENERATOR_SUFFIX)  # where it will be
        made = augment_to_file(method, local_dataset(config.dataset, shared or {}), path, config.demos, None,
                               per_episode, seed, force=True, config=method_config, source_name=config.dataset,
                               files=files, recorded_files=recorded, device=device)
        report = physics_check(made.dataset, max_transitions=2000, seed=seed)
        summary = made.summary
        record = {**summary, "output": str(final), "row": row, "seed": seed, "path": str(final),
                  "dynamics_error_median": report.median, "dynamics_error_p95": report.p95,
                  "dynamics_error_relative_p95": report.relative_p95,
                  "share_above_1e-2": report.share_above_threshold}
        write_json(record, path.with_name(name + ".physics.json"))
        return CellOutput(record, folder_files(scratch, "data", last=(name + ".physics.json",)))


def row_config(row: str, config: SeedTableConfig) -> tuple[str, Any]:
    """(registered method, its resolved config) as a row runs: the method's defaults, the row's overrides, and the
    quick profile's budgets when ``config.quick``."""
    from trajaug.augment import get_augmenter
    from trajaug.core.config import parse_config

    method, overrides = row_method(row)
    cls = get_augmenter(method)
    fields = {field.name for field in dataclasses.fields(cls.Config)}
    quick = {k: v for k, v in QUICK_METHOD_CONFIG.get(method, {}).items() if k in fields} if config.quick else {}
    return method, parse_config(cls.Config, {**overrides, **quick}, f"row {row!r}")


def job_config(row: str, seed: int, config: SeedTableConfig) -> tuple[str, Any, ModelFiles]:
    """(registered method, its config, its model files) as job ``(row, seed)`` runs: :func:`row_config`, and with
    ``generators_from`` the generator that run kept for this set to load (sampled, not trained)."""
    from trajaug.augment import ModelFiles, get_augmenter

    method, method_config = row_config(row, config)
    files = ModelFiles()
    if config.generators_from and "load" in get_augmenter(method).model_files:
        files = ModelFiles(load=str(Path(config.generators_from) / "data"
                                    / (augmented_name(row, seed, config) + GENERATOR_SUFFIX)))
    return method, method_config, files


def made_with(config_file: Path) -> tuple[Any, ModelFiles] | None:
    """(method config, model files) recorded next to an augmented set, None when there is no readable record.
    Records of older versions, which kept the model files in the config, are read the same way."""
    from trajaug.augment.model_files import ModelFiles, split_run_options

    try:
        record = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return None
    settings, files = split_run_options(record.get("config"))
    if isinstance(record.get("model_files"), dict):
        files = ModelFiles(**record["model_files"])
    return settings, files


def _same_job(made: tuple[Any, ModelFiles] | None, method_config: Any, files: ModelFiles) -> bool:
    """Whether a recorded set was made as this job would make it: the same hyperparameters, and trained (or
    loaded from the same model) alike; where a model was saved does not matter."""
    return made is not None and made[0] == config_record(method_config) and \
        (made[1].load, made[1].continue_steps) == (files.load, files.continue_steps)


def augmented_name(row: str, seed: int, config: SeedTableConfig) -> str:
    """File name of a row's augmented set under ``OUT/data/`` (an ablation row's ``:`` and ``=`` become ``_`` and
    ``-``)."""
    return f"{row.replace(':', '_').replace('=', '-')}-{config.demos}demos-seed{seed}.hdf5"


def run_augmentations(jobs: list[tuple[str, int]], out: Path, config: SeedTableConfig, executor: Executor,
                      progress: Callable[[int], None] | None = None, ship_data: bool = False,
                      label: str = "augmented sets", device: str = "cpu") -> dict[tuple[str, int], dict[str, Any]]:
    """Every ``(row, seed)`` job's summary: read from ``OUT/data/`` when a finished one is there, else made on
    ``executor`` and written here. A failed job's summary is ``{"error": "<type>: <message>"}``. ``progress``: a
    phase ``label`` of one unit per job."""
    done: dict[tuple[str, int], dict[str, Any]] = {}
    start_phase(progress, label, len(jobs))
    source_sha256 = _source_sha256(config.dataset)
    stale, other_settings = 0, 0
    for job in jobs:
        located = out / "data" / augmented_name(*job, config)  # where the folder is now
        summary_path = located.with_name(located.name + ".physics.json")
        if not summary_path.is_file():
            continue
        summary = json.loads(summary_path.read_text())
        if summary.get("source_sha256") != source_sha256:
            stale += 1
            continue
        _, method_config, files = job_config(*job, config)
        if not _same_job(made_with(located.with_name(located.name + ".config.json")), method_config, files):
            other_settings += 1
            continue
        done[job] = {**summary, "output": str(located), "path": str(located)}
    if stale:
        warnings.warn(f"{out}: {stale} augmented set(s) were made from other demos than {config.dataset} holds now "
                      f"(or by a version that did not record it); making them again", stacklevel=2)
    if other_settings:
        warnings.warn(f"{out}: {other_settings} augmented set(s) were made with other method settings than this "
                      "version's (e.g. changed defaults); making them again", stacklevel=2)
    if progress is not None and done:
        progress(len(done))
    todo = [job for job in jobs if job not in done]
    shared = ship_datasets([Cell(config.dataset, 0)]) if ship_data and todo else None
    make = functools.partial(augment_row, out_dir=str(out), config=config, device=device)
    for job, outcome in executor.map_unordered(make, todo, shared):
        if isinstance(outcome, BaseException):
            done[job] = {"error": f"{type(outcome).__name__}: {' '.join(str(outcome).split())}"}
        else:
            write_cell_files(out, outcome.files)
            done[job] = outcome.value
        if progress is not None:
            progress(1)
    return done


@contextmanager
def cells_beside(cells: list[Cell], out: Path, executor: Executor, ship_data: bool, device: str) -> Iterator[None]:
    """Run the BC ``cells`` (ones that wait for no augmented set, e.g. BC on the demos) one at a time beside the
    block, on a worker the augmentations leave idle (:func:`~trajaug.executors.meanwhile`); their datasets are built
    first, here, so the block's own build does not race them. The caller's later :func:`run_cells` over every cell
    finds them finished (and runs the ones left out)."""
    prepare_datasets(cells)
    with meanwhile(executor, [functools.partial(run_cells, [cell], out, executor, ship_data=ship_data, device=device)
                              for cell in cells]):
        yield


def _source_sha256(dataset: str) -> str | None:
    """sha256 of the file ``dataset`` resolves to (built first if it is a name not built yet), or None when it does
    not resolve (the augmentation jobs then report the error)."""
    from trajaug.bc.batch import dataset_sha256

    try:
        return dataset_sha256(dataset, {})
    except Exception:  # noqa: BLE001 - reported by the jobs
        return None


def run_seed_table(config: SeedTableConfig, out_dir: str | Path, executor: Executor | None = None,
                   workers: int | None = None, progress: Callable[[int], None] | None = None,
                   ship_data: bool = False, device: str = "cpu") -> dict[str, Any]:
    """Run (or resume) the whole table on ``executor`` (default: a LocalExecutor of ``workers`` processes); returns
    the summary rows and the written files. ``ship_data``: send datasets to the workers (no shared filesystem).
    ``device``: where the augmentations' networks and BC train, in every cell (a run option: not in the config)."""
    from trajaug.augment import REGISTRY, get_augmenter

    config = resolve_quick(config)
    out = Path(out_dir)
    started = time.perf_counter()
    get_augmenter("noise")
    missing = [row for row in config.rows if row != "demos" and row_method(set_row(row))[0] not in REGISTRY]
    rows = [row for row in config.rows if row not in missing]
    seeds = list(range(config.first_seed, config.first_seed + config.seeds))
    jobs = list(dict.fromkeys((set_row(row), seed) for row in rows if row != "demos" for seed in seeds))

    def bc_cell(row: str, seed: int, noise: float, dataset: str) -> Cell:
        plus_demos = row.endswith(WITH_DEMOS)
        return Cell(dataset, seed, config.demos if row == "demos" else None, action_noise=noise,
                    steps=config.bc_steps, eval_episodes=config.eval_episodes,
                    with_expert=config.dataset if plus_demos else None,
                    expert_episodes=config.demos if plus_demos else None)

    demo_cells = [bc_cell("demos", seed, noise, config.dataset)
                  for seed in seeds for noise in config.action_noise] if "demos" in rows else []
    with executor_for(executor, workers) as pool:
        with cells_beside(demo_cells, out, pool, ship_data, device):
            augmented = run_augmentations(jobs, out, config, pool, progress, ship_data, device=device)
        cells = []
        for row in rows:
            for seed in seeds:
                made = augmented[(set_row(row), seed)] if row != "demos" else {}
                if "error" in made:
                    continue
                dataset = config.dataset if row == "demos" else made["output"]
                cells += [(row, bc_cell(row, seed, noise, dataset)) for noise in config.action_noise]
        result = run_cells([c for _, c in cells], out, pool, progress=progress, ship_data=ship_data, device=device)
    bc_rows = [{**r, "row": row} for (row, _), r in zip(cells, result.rows, strict=True)]
    table = summarize(rows, seeds, config, augmented, bc_rows)
    record = {"config": dataclasses.asdict(config), "missing_rows": missing, "machine": machine(),
              "wall_seconds": time.perf_counter() - started, "table": table, "cells": bc_rows,
              "augmentations": [{"row": r, "seed": s, **v} for (r, s), v in sorted(augmented.items())]}
    files = write_table(table, record, out)
    return {"table": table, "files": files, "missing_rows": missing, "failed_cells": result.failed}


def machine() -> dict[str, Any]:
    """Where a result was made (host facts and the git commit of the working tree, if any)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "processor": platform.machine(), "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            # the simulated data depends on these (MuJoCo releases differ in the last bits; locomotion is chaotic)
            "packages": {p: installed(p) for p in ("mujoco", "gymnasium", "torch", "numpy", "stable-baselines3")}}
