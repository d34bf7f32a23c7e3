"""The augmenter interface, the method registry, and the one function every ``trajaug augment`` command calls.

A method is one module under ``trajaug/augment/`` with a frozen config dataclass (the paper's defaults, a docstring
per field) and an :class:`Augmenter` subclass decorated with :func:`register`::

    @register("noise")
    class NoiseAugmenter(Augmenter):
        Config = NoiseConfig
        def fit(self, demos): ...
        def sample(self, per_episode): ...   # -> Dataset of augmented trajectories

plus one import line in :mod:`trajaug.augment` so the registry sees it.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from trajaug import __version__
from trajaug.core import defaults
from trajaug.core.dataset import Dataset, concatenate
from trajaug.core.envs import spec_for
from trajaug.core.errors import TrajaugInputError
from trajaug.sim.rollout import Controller, Job, make_env, rollout, state_from_observation

Progress = Callable[[int], None]

REGISTRY: dict[str, type[Augmenter]] = {}


@dataclass(frozen=True)
class ModelFiles:
    """Run options of a method that trains a model (CAT, GAIL, SynthER): where its weights go and come from.
    They say where files are, not how the model trains, so they are kept apart from the method's config."""

    save: str = ""
    """Write the trained model here (a ``weights_only`` torch file)."""
    load: str = ""
    """Skip training: load a model saved with ``save`` (refused for other demos than it was trained on)."""
    continue_steps: int = 0
    """With ``load``: train the loaded model this many more steps before sampling (CAT, GAIL), so a long training
    can run in chunks; 0: sample from it as it is."""

    def __post_init__(self) -> None:
        if self.continue_steps < 0 or (self.continue_steps and not self.load):
            raise TrajaugInputError("--continue-steps must be ≥ 0 and needs --load-model")


RUN_OPTION_KEYS = {"save_generator": "save", "load_generator": "load", "save_model": "save", "load_model": "load",
                   "continue_steps": "continue_steps"}
"""Keys that older versions kept in a method's config and that are :class:`ModelFiles` now (old name → field)."""


def split_run_options(record: Any) -> tuple[Any, ModelFiles]:
    """A recorded method config (a JSON mapping, possibly from an older version) as (its hyperparameters, the
    model files it names): the keys of :data:`RUN_OPTION_KEYS` move out of the config."""
    if not isinstance(record, dict):
        return record, ModelFiles()
    files = {RUN_OPTION_KEYS[k]: v for k, v in record.items() if k in RUN_OPTION_KEYS}
    return {k: v for k, v in record.items() if k not in RUN_OPTION_KEYS}, ModelFiles(**files)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` threads inside the block. Small networks on a busy 2-core machine run many times
    faster on one thread than on two (measured: 18× for the generator's warm start)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def register(name: str) -> Callable[[type[Augmenter]], type[Augmenter]]:
    """Class decorator: make an augmenter available as ``trajaug augment NAME``."""

    def add(cls: type[Augmenter]) -> type[Augmenter]:
        if name in REGISTRY:
            raise ValueError(f"augmenter {name!r} registered twice")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return add


class Augmenter(ABC):
    """Learns from demonstrations (``fit``) and produces new trajectories (``sample``)."""

    name: ClassVar[str]
    Config: ClassVar[type]
    """The method's frozen config dataclass."""
    default_per_episode: ClassVar[int] = defaults.PER_EPISODE
    """Augmented trajectories per demo (per ordered demo pair for mixup) when the user gives none."""
    uses_simulator: ClassVar[bool] = True
    model_files: ClassVar[tuple[str, ...]] = ()
    """The :class:`ModelFiles` fields the method honours (``save``, ``load``, ``continue_steps``); () for none."""

    def __init__(self, config: Any = None, seed: int = 0, files: ModelFiles | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.files = files if files is not None else ModelFiles()
        unused = [f.name for f in dataclasses.fields(ModelFiles)
                  if getattr(self.files, f.name) and f.name not in self.model_files]
        if unused:
            raise TrajaugInputError(f"{self.name}: does not take {', '.join(unused)} (a method that trains no "
                                    "model, or cannot go on training one)")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.demos: Dataset | None = None

    def fit(self, demos: Dataset, progress: Progress | None = None) -> None:
        """Learn from ``demos`` (the default stores them; learned methods train here)."""
        self.demos = demos

    @abstractmethod
    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        """Generate ``per_episode`` trajectories per demo; ``source_episode`` gives each row's demo index."""

    def fit_stats(self) -> dict[str, Any]:
        """Training statistics to store in the output's metadata (losses, wall time...)."""
        return {}

    def sample_stats(self) -> dict[str, Any]:
        """Statistics of the last ``sample`` call to store in the output's metadata (e.g. rejected candidates)."""
        return {}


def get_augmenter(name: str) -> type[Augmenter]:
    """The method registered as ``name`` (importing any ``trajaug.augment`` module first runs the package's
    ``__init__``, which imports every method and so fills :data:`REGISTRY`)."""
    if name not in REGISTRY:
        raise TrajaugInputError(f"unknown method {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def demo_start_jobs(demos: Dataset, episode_indices: list[int], seed: int,
                    max_steps: list[int] | None = None, from_reset: bool = False) -> list[Job]:
    """Jobs that start the simulator in each listed demo's initial state and run for the demo's length
    (or ``max_steps[k]`` steps for job k); ``from_reset``: in a fresh reset of the task instead (seeded per job).

    The state comes from the demo's qpos/qvel when stored, else it is rebuilt from the first observation.
    """
    assert demos.env_id is not None
    env = make_env(demos.env_id)
    bounds = demos.episode_bounds
    jobs = []
    for k, index in enumerate(episode_indices):
        start, stop = (int(v) for v in bounds[index])
        qpos: np.ndarray | None = None
        qvel: np.ndarray | None = None
        if from_reset:
            pass  # the rollout resets the task with the job's seed
        elif demos.qpos is not None and demos.qvel is not None:
            qpos, qvel = demos.qpos[start], demos.qvel[start]
        else:
            qpos, qvel = state_from_observation(env, demos.observations[start])
        steps = stop - start if max_steps is None else int(max_steps[k])
        jobs.append(Job(seed=seed * 1_000_003 + k, qpos=qpos, qvel=qvel, max_steps=steps))
    return jobs


def execute_from_demos(demos: Dataset, job_demos: list[int], controller: Controller, seed: int,
                       progress: Progress | None = None, max_steps: list[int] | None = None,
                       from_reset: bool = False) -> Dataset:
    """Run one simulator episode per entry of ``job_demos``, each from that demo's initial state (or a fresh reset,
    ``from_reset``) for the demo's length (or ``max_steps``, or until the task terminates), with actions from
    ``controller(jobs, steps, observations)``.

    Returns the executed trajectories (simulator rewards, qpos/qvel) with ``source_episode`` = the demo index.
    """
    assert demos.env_id is not None
    jobs = demo_start_jobs(demos, job_demos, seed, max_steps, from_reset)
    _, executed = rollout(demos.env_id, jobs, controller, n_envs=64, progress=progress)
    assert executed is not None
    executed["source_episode"] = np.asarray(job_demos, np.int32)[executed["source_episode"]]
    return Dataset(**executed)


def demo_action_table(demos: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(actions (N, act_dim) float64, episode start rows (n_episodes,)) so that demo d's action at step t is
    ``actions[starts[d] + t]``."""
    return demos.actions.astype(np.float64), demos.episode_bounds[:, 0].copy()


def check_demos(demos: Dataset, simulator: bool) -> None:
    """Reject demos an augmenter cannot use: unknown environment, wrong dimensions, nothing in them."""
    if len(demos) == 0:
        raise TrajaugInputError("the demonstrations are empty")
    if demos.env_id is None:
        raise TrajaugInputError("the dataset names no environment: pass --env-id (e.g. HalfCheetah-v5)")
    spec = spec_for(demos.env_id)
    if (demos.obs_dim, demos.act_dim) != (spec.obs_dim, spec.act_dim):
        raise TrajaugInputError(f"dataset has observations/actions of size {demos.obs_dim}/{demos.act_dim}, "
                                f"{demos.env_id} has {spec.obs_dim}/{spec.act_dim}")
    if simulator and demos.qpos is None:
        env = make_env(demos.env_id)
        model = env.unwrapped.model  # type: ignore[attr-defined]
        if model.nq + model.nv - demos.obs_dim > 2:
            raise TrajaugInputError(f"{demos.env_id}: states cannot be rebuilt from observations and the "
                                    "dataset has no infos/qpos, infos/qvel")


def augment(method: str, demos: Dataset, config: Any = None, per_episode: int | None = None, seed: int = 0,
            with_expert: bool = False, progress: Progress | None = None, files: ModelFiles | None = None
            ) -> tuple[Dataset, dict[str, Any]]:
    """Fit ``method`` on ``demos`` and sample; returns (augmented dataset with provenance, summary).

    The dataset's metadata records the method, its resolved config, the seed, the source's sha256 and the
    number of demos; the summary gives counts, average returns (augmented vs demos) and wall time.
    """
    cls = get_augmenter(method)
    check_demos(demos, cls.uses_simulator)
    augmenter = cls(config, seed=seed, files=files)
    per_episode = per_episode if per_episode is not None else cls.default_per_episode
    with torch_threads(1):
        started = time.perf_counter()
        augmenter.fit(demos, progress=progress)
        fitted = time.perf_counter()
        augmented = augmenter.sample(per_episode, progress=progress)
        finished = time.perf_counter()
    augmented = dataclasses.replace(augmented, method_names=(method,),
                                    method=np.zeros(len(augmented), np.int16))
    summary = {
        "method": method,
        "demos": demos.n_episodes,
        "per_episode": per_episode,
        "trajectories": augmented.n_episodes,
        "transitions": len(augmented),
        "augmented_return_mean": float(augmented.episode_returns().mean()) if augmented.n_episodes else None,
        "demo_return_mean": float(demos.episode_returns().mean()),
        "source_sha256": demos.metadata.get("file_sha256"),
        "fit_seconds": fitted - started,
        "sample_seconds": finished - fitted,
        "wall_seconds": finished - started,
        **{f"fit_{k}": v for k, v in augmenter.fit_stats().items()},
        **{f"sample_{k}": v for k, v in augmenter.sample_stats().items()},
    }
    metadata = {
        "method": method,
        "config": dataclasses.asdict(augmenter.config),
        "seed": seed,
        "per_episode": per_episode,
        "with_expert": with_expert,
        "source_sha256": demos.metadata.get("file_sha256"),
        "source": demos.metadata.get("source"),
        "demos": demos.n_episodes,
        "trajaug_version": __version__,
        "summary": summary,
    }
    parts = [augmented]
    if with_expert:
        lengths = demos.episode_lengths()
        parts.append(dataclasses.replace(
            demos, source_episode=np.repeat(np.arange(demos.n_episodes, dtype=np.int32), lengths),
            method_names=("expert",), method=np.zeros(len(demos), np.int16)))
    return concatenate(parts, metadata=metadata), summary


def default_output(method: str, dataset_name: str, seed: int) -> Path:
    """``runs/augment/<dataset>-<method>-seed<k>.hdf5`` (relative to the current folder)."""
    stem = Path(dataset_name).stem if dataset_name.endswith((".hdf5", ".h5")) else dataset_name
    return Path("runs") / "augment" / f"{stem}-{method}-seed{seed}.hdf5"


def augment_to_file(method: str, dataset: str, out: Path | None = None, episodes: int = 7,
                    episodes_seed: int | None = None, per_episode: int | None = None, seed: int = 0,
                    with_expert: bool = False, force: bool = False, config: Any = None,
                    env_id: str | None = None, progress: Progress | None = None,
                    source_name: str | None = None, files: ModelFiles | None = None) -> tuple[Path, dict[str, Any]]:
    """``trajaug augment METHOD``: load ``dataset`` (name or path), take ``episodes`` demos, augment, write.

    Writes the D4RL HDF5 (with provenance) and ``<out>.config.json`` (the resolved config, the model files and
    the summary);
    refuses an existing ``out`` before any work unless ``force``. Returns (output path, summary).
    ``source_name``: the name to record as the source when ``dataset`` is a local copy of it (default ``dataset``).
    """
    from trajaug.core.atomic import OutputExistsError
    from trajaug.core.config import write_config
    from trajaug.datasets.registry import load
    from trajaug.storage.d4rl import write_d4rl

    out = Path(out) if out is not None else default_output(method, dataset, seed)
    if out.exists() and not force:
        raise OutputExistsError(f"{out}: already exists (use --force to overwrite)")
    cls = get_augmenter(method)
    config = config if config is not None else cls.Config()
    source = load(dataset, env_id=env_id)
    if episodes > source.n_episodes:
        raise TrajaugInputError(f"--episodes {episodes}: {dataset} has only {source.n_episodes} episodes")
    demos = source.first_episodes(episodes, seed=episodes_seed)
    source_name = source_name or dataset
    demos = dataclasses.replace(demos, metadata={**demos.metadata, "source": source_name})
    augmented, summary = augment(method, demos, config, per_episode, seed, with_expert, progress, files)
    write_d4rl(augmented, out, force=force)
    summary = {**summary, "output": str(out)}
    write_config(config, out.with_name(out.name + ".config.json"),
                 extra={"method": method, "dataset": source_name, "episodes": episodes, "seed": seed,
                        "model_files": dataclasses.asdict(files or ModelFiles()), "summary": summary})
    return out, summary
