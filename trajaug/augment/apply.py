"""Running a registered method on demos in memory: check the demos, fit, sample, and record the provenance.

``trajaug augment METHOD`` goes through :func:`trajaug.experiments.runner.augment_to_file`, which loads the demos,
calls :func:`augment` and writes the result.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from trajaug import __version__
from trajaug.augment.base import ModelFiles, Progress, get_augmenter
from trajaug.core.cores import blas_threads
from trajaug.core.dataset import Dataset, concatenate
from trajaug.core.device import deterministic_algorithms, device_record
from trajaug.core.envs import spec_for
from trajaug.core.errors import TrajaugInputError
from trajaug.core.nn import torch_threads
from trajaug.sim.rollout import make_env


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
            with_expert: bool = False, progress: Progress | None = None, files: ModelFiles | None = None,
            device: str | torch.device = "cpu") -> tuple[Dataset, dict[str, Any]]:
    """Fit ``method`` on ``demos`` and sample; returns (augmented dataset with provenance, summary).

    The dataset's metadata records the method, its resolved config, the seed, the source's sha256, the number of
    demos and, for a method that trains networks (``uses_device``), the device they trained on (``device``: ``auto``,
    ``cpu``, ``cuda[:N]``, ``mps``; :mod:`trajaug.core.device`); the summary gives counts, average returns
    (augmented vs demos) and wall time.
    """
    cls = get_augmenter(method)
    check_demos(demos, cls.uses_simulator)
    augmenter = cls(config, seed=seed, files=files, device=device)
    per_episode = per_episode if per_episode is not None else cls.default_per_episode
    if per_episode < 1:
        raise TrajaugInputError(f"--per-episode must be ≥ 1, got {per_episode}")
    with torch_threads(1), blas_threads(1), deterministic_algorithms(augmenter.device, warn_only=True):
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
        "device": device_record(augmenter.device) if cls.uses_device else None,
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
