"""``trajaug bench offrl-merge``: one augmentation table from several finished ``bench offrl`` outputs.

The augmentation table is tens of runs of 100k updates; on a machine whose work comes in sessions of a few hours it
is run as sub-runs, each complete on its own (``bench offrl --part augmentation --datasets D --first-seed k
--seeds 1 --out OUT_D_k``), and merged here. A sanity output (``--part sanity``) may be one of the sources: its
TD3+BC and IQL runs on a dataset of the table are the ``full`` row (the whole dataset, same budget, same seed: the
very cells ``bench offrl`` would train for it).

What is checked before anything is written, each a :class:`~trajaug.core.errors.TrajaugInputError` naming the file:

* every source holds ``offrl_augmentation.json`` or ``offrl_sanity.json`` (a ``bench offrl`` output);
* the sources measured alike: the same budget and evaluation (:data:`SHARED`), and for augmentation sources the
  same subset share, mix and set size (:data:`AUGMENTATION_SHARED`);
* each dataset is the same data in every source (the sha256 its subsets were drawn from and its cells trained on);
* no (dataset, row, algorithm, seed) comes from two sources.

A sanity source gives only the seeds the augmentation sources have on that dataset, so every row of a dataset is
over the same seeds.

The merged report is :func:`~trajaug.experiments.bench.offrl_report.write_report`'s, with each run's curve read from
the source that trained it, and a list of the sources.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trajaug.core.errors import TrajaugInputError
from trajaug.core.report import markdown_table
from trajaug.experiments.bench.config import (
    AUGMENTATION_DATASETS,
    FULL_ROW,
    OFFRL_ALGOS,
    OFFRL_ROWS,
    OffRLBenchConfig,
)
from trajaug.experiments.bench.offrl_report import compute_seconds, write_report
from trajaug.experiments.bench.seed_table import machine

SHARED = ("updates", "eval_every", "eval_episodes", "action_noise", "quick")
"""Config fields every source must share: the budget and the evaluation."""
AUGMENTATION_SHARED = (*SHARED, "subset", "real_ratio", "per_episode")
"""Config fields the augmentation sources must share besides: what the rows train on."""
PARTS = ("augmentation", "sanity")


@dataclasses.dataclass(frozen=True)
class Source:
    """One ``bench offrl`` output: its folder, part and record (``offrl_<part>.json``)."""

    folder: Path
    part: str
    record: dict[str, Any]

    @property
    def file(self) -> Path:
        return self.folder / f"offrl_{self.part}.json"


def read_sources(folders: Sequence[str | Path]) -> list[Source]:
    """Every part's record in each folder (a folder may hold both parts)."""
    sources = []
    for folder in map(Path, folders):
        found = [part for part in PARTS if (folder / f"offrl_{part}.json").is_file()]
        if not found:
            raise TrajaugInputError(f"{folder}: no offrl_augmentation.json or offrl_sanity.json (not a `trajaug "
                                    "bench offrl` output folder)")
        for part in found:
            path = folder / f"offrl_{part}.json"
            try:
                record = json.loads(path.read_text())
                record["config"], record["runs"]  # noqa: B018 (the keys a record must have)
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise TrajaugInputError(f"{path}: not a bench offrl record ({error!r})") from error
            sources.append(Source(folder, part, record))
    if not any(source.part == "augmentation" for source in sources):
        raise TrajaugInputError("offrl-merge: no augmentation source (give at least one `bench offrl --part "
                                "augmentation` output folder)")
    return sources


def _check_alike(sources: list[Source]) -> dict[str, Any]:
    """The first augmentation source's config; raise if another source measured differently."""
    first = next(source for source in sources if source.part == "augmentation")
    reference = first.record["config"]
    for source in sources:
        fields = AUGMENTATION_SHARED if source.part == "augmentation" else SHARED
        for field in fields:
            if source.record["config"].get(field) != reference.get(field):
                raise TrajaugInputError(
                    f"{source.file}: {field} = {source.record['config'].get(field)!r}, but {first.file} has "
                    f"{reference.get(field)!r}; merge only runs measured alike")
    return reference


def _data_digests(source: Source) -> dict[str, str]:
    """Dataset → the sha256 of the data the source's runs were made from: an augmentation source's subsets record
    it; a sanity source's cells (``cells/<id>/result.json``) do."""
    if source.part == "augmentation":
        return {subset["dataset"]: subset["source_sha256"] for subset in source.record.get("subsets", [])}
    digests: dict[str, str] = {}
    for run in source.record["runs"]:
        if run["algo"] == "bc" or not run["ok"]:
            continue
        path = source.folder / "cells" / run["cell_ids"][0] / "result.json"
        try:
            digests.setdefault(run["dataset"], json.loads(path.read_text())["data_sha256"])
        except (OSError, ValueError, KeyError) as error:
            raise TrajaugInputError(f"{path}: cannot tell which data the run trained on ({error!r})") from error
    return digests


def merged_runs(sources: list[Source]) -> list[dict[str, Any]]:
    """The augmentation runs of every source, and the sanity sources' TD3+BC and IQL runs on the table's datasets
    and seeds as the ``full`` row; each run keeps ``source`` (the folder whose ``cells/`` hold its curve)."""
    table = {(run["dataset"], int(run["seed"])) for source in sources if source.part == "augmentation"
             for run in source.record["runs"]}
    digests: dict[str, tuple[str, Path]] = {}
    for source in sources:
        for dataset, digest in _data_digests(source).items():
            seen, where = digests.setdefault(dataset, (digest, source.file))
            if seen != digest:
                raise TrajaugInputError(f"{source.file}: {dataset} is other data (sha256 {digest[:12]}) than in "
                                        f"{where} ({seen[:12]}); merge only runs on the same data")
    runs: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    origin: dict[tuple[str, str, str, int], Path] = {}
    for source in sources:
        for run in source.record["runs"]:
            if source.part == "sanity":
                if run["algo"] == "bc" or (run["dataset"], int(run["seed"])) not in table:
                    continue
                run = {**run, "part": "augmentation", "row": FULL_ROW}
            key = (run["dataset"], run["row"], run["algo"], int(run["seed"]))
            if key in runs:
                raise TrajaugInputError(f"{source.file}: {'/'.join(map(str, key))} is in {origin[key]} too; "
                                        "give each run once")
            runs[key], origin[key] = {**run, "source": str(source.folder), "wall_s": _wall(source, run)}, source.file
    return list(runs.values())


def _wall(source: Source, run: dict[str, Any]) -> float | None:
    """A run's training time: its row's ``wall_s``, else (records of older versions) its cell's."""
    if run.get("wall_s") is not None or not run["cell_ids"]:
        return run.get("wall_s")
    try:
        wall = json.loads((source.folder / "cells" / run["cell_ids"][0] / "result.json").read_text()).get("wall_s")
    except (OSError, ValueError):
        return None
    return float(wall) if isinstance(wall, int | float) else None


def _ordered(values: list[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def in_table_order(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs in the order one ``bench offrl`` run lists them, whatever the order of the sources: datasets and
    rows in the benchmark's order (others after them, as given; ``full`` last), then algorithm and seed."""
    datasets = _ordered([*AUGMENTATION_DATASETS, *(run["dataset"] for run in runs)])
    rows = _ordered([*(row for row in OFFRL_ROWS if row != FULL_ROW), *(run["row"] for run in runs), FULL_ROW])
    algos = _ordered([*OFFRL_ALGOS, *(run["algo"] for run in runs)])
    return sorted(runs, key=lambda run: (datasets.index(run["dataset"]), rows.index(run["row"]),
                                         algos.index(run["algo"]), int(run["seed"])))


def merge_offrl(folders: Sequence[str | Path], out_dir: str | Path, force: bool = False) -> dict[str, Any]:
    """Merge the ``bench offrl`` outputs in ``folders`` into one augmentation report in ``out_dir``
    (``offrl_augmentation.{md,json,csv}``, ``_runs.csv``, ``_iqm.csv``, figures); returns ``runs`` and ``files``.
    Refuses (``TrajaugInputError``) sources that were not measured alike (module docstring), an ``out_dir`` that
    is a source, and one holding a report already unless ``force``."""
    out = Path(out_dir)
    sources = read_sources(folders)
    if any(out.resolve() == source.folder.resolve() for source in sources):
        raise TrajaugInputError(f"{out}: is one of the sources; merge into another folder (--out)")
    if (out / "offrl_augmentation.json").exists() and not force:
        raise TrajaugInputError(f"{out / 'offrl_augmentation.json'}: exists; --force replaces it")
    reference = _check_alike(sources)
    runs = in_table_order(merged_runs(sources))
    rows = _ordered([run["row"] for run in runs if run["row"] != FULL_ROW])
    seeds = sorted({int(run["seed"]) for run in runs})
    fields = {field.name for field in dataclasses.fields(OffRLBenchConfig)}
    stored: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                              for key, value in reference.items() if key in fields}
    config = dataclasses.replace(
        OffRLBenchConfig(**stored), datasets=_ordered([run["dataset"] for run in runs]),
        algos=_ordered([run["algo"] for run in runs]), seeds=len(seeds), first_seed=seeds[0],
        rows=rows + ((FULL_ROW,) if any(run["row"] == FULL_ROW for run in runs) else ()))
    augmentation = [source for source in sources if source.part == "augmentation"]
    listed = [{"folder": str(source.folder), "part": source.part,
               "datasets": ", ".join(_ordered([run["dataset"] for run in runs if run["source"] == str(source.folder)
                                               and (source.part == "augmentation" or run["row"] == FULL_ROW)])),
               "seeds": ", ".join(map(str, sorted({int(run["seed"]) for run in runs
                                                   if run["source"] == str(source.folder)}))),
               "runs": sum(run["source"] == str(source.folder) for run in runs),
               "commit": source.record.get("machine", {}).get("commit")} for source in sources]
    sets = [made for source in augmentation for made in source.record.get("sets", [])]
    record = {"config": dataclasses.asdict(config), "datasets": list(config.datasets), "seeds": seeds,
              "machine": machine(), "merged_from": listed, "compute_seconds": compute_seconds(runs, sets),
              "sets": sets,
              "subsets": [subset for source in augmentation for subset in source.record.get("subsets", [])]}
    note = ("\n## Sources\n\nMerged by `trajaug bench offrl-merge` from these `bench offrl` outputs (a sanity "
            "output gives the `full` row: its TD3+BC and IQL runs on the whole dataset, same budget and seed).\n\n"
            + markdown_table(listed))
    files = write_report(runs, record, config, out, note=note)
    return {"runs": runs, "files": files, "sources": listed}
