"""The run-to-file runner behind ``trajaug augment METHOD``: load a dataset, take its demos, augment, write.

It sits above the methods (:mod:`trajaug.augment`) and the storage backends (:mod:`trajaug.storage`): the
benchmarks call it once per set and get the augmented :class:`~trajaug.core.dataset.Dataset` back with its summary,
so nothing is read back from the file it wrote.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trajaug import storage
from trajaug.augment import ModelFiles, Progress, augment, get_augmenter
from trajaug.core import defaults
from trajaug.core.atomic import OutputExistsError
from trajaug.core.config import write_config
from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.registry import load


@dataclass(frozen=True)
class AugmentedSet:
    """What :func:`augment_to_file` made."""

    dataset: Dataset
    """The augmented trajectories as written (with provenance metadata)."""
    summary: dict[str, Any]
    """Counts, average returns (augmented vs demos), wall times and the method's statistics; ``output``: the path."""
    path: Path
    """The HDF5 file written; ``<path>.config.json`` beside it records the config and model files."""


def default_output(method: str, dataset_name: str, seed: int) -> Path:
    """``runs/augment/<dataset>-<method>-seed<k>.hdf5`` (relative to the current folder)."""
    stem = Path(dataset_name).stem if dataset_name.endswith((".hdf5", ".h5")) else dataset_name
    return Path("runs") / "augment" / f"{stem}-{method}-seed{seed}.hdf5"


def augment_to_file(method: str, dataset: str, out: Path | None = None, episodes: int = defaults.DEMOS,
                    episodes_seed: int | None = None, per_episode: int | None = None, seed: int = 0,
                    with_expert: bool = False, force: bool = False, config: Any = None,
                    env_id: str | None = None, progress: Progress | None = None,
                    source_name: str | None = None, files: ModelFiles | None = None,
                    recorded_files: ModelFiles | None = None, device: str = "cpu") -> AugmentedSet:
    """``trajaug augment METHOD``: load ``dataset`` (name, path or Minari id), take ``episodes`` demos (the first
    ones, or drawn with ``episodes_seed``), augment with :func:`trajaug.augment.augment`, write.

    Writes the D4RL HDF5 (with provenance) through :mod:`trajaug.storage` and ``<out>.config.json`` (the resolved
    config, the model files and the summary); refuses an existing ``out`` before any work unless ``force``.
    ``source_name``: the name to record as the source when ``dataset`` is a local copy of it (default ``dataset``);
    ``recorded_files``: the model files to record when they will live elsewhere than ``files`` says (a benchmark
    that trains in a scratch folder; default ``files``). ``device``: where the method's networks train (a run
    option, recorded in the config file beside ``model_files``; :func:`trajaug.augment.augment`).
    """
    out = Path(out) if out is not None else default_output(method, dataset, seed)
    if out.exists() and not force:
        raise OutputExistsError(f"{out}: already exists (use --force to overwrite)")
    cls = get_augmenter(method)
    config = config if config is not None else cls.Config()
    source = load(dataset, env_id=env_id)
    if episodes < 1:
        raise TrajaugInputError(f"--episodes must be ≥ 1, got {episodes}")
    if episodes > source.n_episodes:
        raise TrajaugInputError(f"--episodes {episodes}: {dataset} has only {source.n_episodes} episodes")
    demos = source.first_episodes(episodes, seed=episodes_seed)
    source_name = source_name or dataset
    demos = dataclasses.replace(demos, metadata={**demos.metadata, "source": source_name})
    augmented, summary = augment(method, demos, config, per_episode, seed, with_expert, progress, files, device)
    storage.write(augmented, str(out), "d4rl", force=force)
    summary = {**summary, "output": str(out)}
    recorded = recorded_files or files or ModelFiles()
    write_config(config, out.with_name(out.name + ".config.json"),
                 extra={"method": method, "dataset": source_name, "episodes": episodes, "seed": seed,
                        "model_files": dataclasses.asdict(recorded), "device": str(device), "summary": summary})
    return AugmentedSet(augmented, summary, out)
