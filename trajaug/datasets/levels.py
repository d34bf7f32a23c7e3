"""D4RL's dataset levels (Fu et al. 2020) by name, built locally from bundled actors when no copy is present.

``<env>-<level>`` for env in halfcheetah, hopper, walker2d and level in:

* ``random``: a randomly initialised SAC actor (``<key>-random.pt``), sampled;
* ``medium``: a SAC actor stopped at about a third of the expert's return (``<key>-medium.pt``), sampled, as D4RL's
  medium files (which carry ``infos/action_log_probs``) were;
* ``medium-replay``: what that SAC run saw until it reached medium. D4RL stores the run's replay buffer; trajaug
  cannot ship one, so it *regenerates* it (a deviation): ``learning_starts`` uniform-random steps as SAC took them,
  then each kept checkpoint actor of ``<key>-replay.pt`` sampled for as many environment steps as it was in use,
  each phase's last episode cut at its budget with a timeout (in the run, episodes ran on across checkpoints, and
  the policy changed between two kept checkpoints as well);
* ``medium-expert``: medium and expert data concatenated, medium first, half and half as D4RL's;
* ``expert``: the bundled expert's build (:func:`trajaug.datasets.registry.build`, unchanged).

Sizes are D4RL's where a build is quick on two cores (:data:`DEFAULT_TRANSITIONS`): 1M transitions for random and
medium, 2M for medium-expert (its expert half is the expert rolled out to 1M transitions: its first episodes are
those of ``<env>-expert``, which stays at 100 episodes); medium-replay has the SAC run's own length. Each build
records the sha256 of the bundled files it read and :data:`~trajaug.experts.levels.LEVEL_RECIPE`; a cache made from
other files or by another recipe is stale and rebuilt on use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.core.dataset import Dataset, concatenate
from trajaug.core.envs import ENVS, EnvSpec
from trajaug.core.errors import TrajaugInputError

LEVELS = ("random", "medium", "medium-replay", "medium-expert", "expert")
NAMED_ENVS = ("halfcheetah", "hopper", "walker2d")
MINARI_LEVELS = ("medium", "expert")
"""Levels Minari's Gymnasium-v5 MuJoCo datasets have (``mujoco/<key>/<level>-v0``; its third is ``simple``)."""
DEFAULT_TRANSITIONS = {"random": 1_000_000, "medium": 1_000_000, "medium-expert": 2_000_000}
"""Transitions of a build (D4RL v2's sizes); medium-replay's is the SAC run's length, expert's 100 episodes."""
ACTOR_KIND = {"random": "random", "medium": "medium", "medium-replay": "replay", "medium-expert": "medium"}
"""The bundled level file (``<key>-<kind>.pt``) each level is built from."""


def known_names() -> list[str]:
    """All 15 level names, by environment then level."""
    return [f"{key}-{level}" for key in NAMED_ENVS for level in LEVELS]


def split_name(name: str) -> tuple[EnvSpec, str] | None:
    """``(spec, level)`` of a level name such as ``hopper-medium-replay``; None for anything else."""
    key, _, level = name.partition("-")
    return (ENVS[key], level) if key in NAMED_ENVS and level in LEVELS else None


def d4rl_file_name(key: str, level: str) -> str:
    """D4RL v2's file name, e.g. ``halfcheetah_medium_replay-v2.hdf5``."""
    return f"{key}_{level.replace('-', '_')}-v2.hdf5"


def minari_id(key: str, level: str) -> str | None:
    """Minari's id of the level (``mujoco/<key>/<level>-v0``), or None where Minari has no such level."""
    return f"mujoco/{key}/{level}-v0" if level in MINARI_LEVELS else None


def source_files(key: str, level: str) -> list[Path]:
    """The bundled files a build of ``level`` reads."""
    from trajaug.experts.bundled import bundled_actor_path
    from trajaug.experts.levels import level_actor_path

    files = [level_actor_path(key, ACTOR_KIND[level])] if level in ACTOR_KIND else []
    return files + ([bundled_actor_path(key)] if level in ("expert", "medium-expert") else [])


def missing_source(key: str, level: str) -> Path | None:
    """The first bundled file ``level`` needs that is not there (None when it can be built)."""
    return next((path for path in source_files(key, level) if not path.is_file()), None)


def sources_sha256(key: str, level: str) -> dict[str, str]:
    """``{file name: sha256}`` of the bundled files a build of ``level`` reads."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in source_files(key, level)}


def is_current(path: Path, key: str, level: str) -> bool:
    """Whether the cache ``path`` was built from the bundled files present now by the current recipes (a cache is
    kept when a file it needs is missing: nothing to rebuild it from)."""
    from trajaug.experts.bundled import BUILD_RECIPE
    from trajaug.experts.levels import LEVEL_RECIPE
    from trajaug.storage.d4rl import read_trajaug_metadata

    if missing_source(key, level) is not None:
        return True
    recorded = read_trajaug_metadata(path).get("level", {})
    return (isinstance(recorded, dict) and recorded.get("actors") == sources_sha256(key, level)
            and recorded.get("recipe") == LEVEL_RECIPE and recorded.get("build_recipe") == BUILD_RECIPE)


def build_level(spec: EnvSpec, level: str, transitions: int | None = None, seed: int = 0,
                progress: Callable[[int], None] | None = None) -> tuple[Dataset, dict[str, np.ndarray]]:
    """Build ``level`` (not ``expert``) of ``spec``'s environment from the bundled files; returns the dataset (with
    qpos/qvel and provenance under ``metadata["level"]``) and its extra columns (``action_log_probs`` (N,) float32
    where every action was sampled). ``transitions``: the size (default :data:`DEFAULT_TRANSITIONS`; not for
    medium-replay, whose size is the SAC run's). Raises :class:`TrajaugInputError` (one line) if a file is missing."""
    from trajaug.experts import levels as actors
    from trajaug.experts.bundled import BUILD_RECIPE

    missing = missing_source(spec.key, level)
    if missing is not None:
        raise TrajaugInputError(
            f"{spec.key}-{level}: no bundled actor to build it from ({missing.name} is missing in {missing.parent}); "
            f"put D4RL's {d4rl_file_name(spec.key, level)} in $D4RL_DATASET_DIR, or make the file with "
            "`trajaug datasets bundle-level RUN_DIR` from a finished SAC run")
    if level == "medium-replay" and transitions is not None:
        raise TrajaugInputError("medium-replay has the SAC run's length; --transitions does not apply")
    size = transitions if transitions is not None else DEFAULT_TRANSITIONS.get(level, 0)
    record: dict[str, Any] = {"name": level, "recipe": actors.LEVEL_RECIPE, "build_recipe": BUILD_RECIPE,
                              "actors": sources_sha256(spec.key, level)}
    if level == "medium-replay":
        replay = actors.load_replay(actors.level_actor_path(spec.key, "replay"))
        parts, record["stages"] = actors.rollout_replay(replay, seed=seed, progress=progress)
        dataset = concatenate([part.dataset for part in parts])
        log_probs: np.ndarray | None = np.concatenate([part.log_probs for part in parts])
    elif level == "medium-expert":
        dataset, record["parts"] = _medium_expert(spec, size, seed, progress)
        log_probs = None  # the expert half is deterministic
    else:
        actor = actors.load_actor(actors.level_actor_path(spec.key, level))
        part = actors.rollout_transitions(spec.env_id, actor, size, seed=seed, stream=actors.STREAMS[level],
                                          progress=progress)
        dataset, log_probs = part.dataset, part.log_probs
        record["actor_extra"] = dict(actor.extra)
    record["transitions"] = len(dataset)
    dataset = _labelled(dataset, None if level == "medium-expert" else level,
                        {"method": level, "seed": seed, "level": record})
    return dataset, ({"action_log_probs": log_probs} if log_probs is not None else {})


def _medium_expert(spec: EnvSpec, size: int, seed: int, progress: Callable[[int], None] | None
                   ) -> tuple[Dataset, list[dict[str, Any]]]:
    """Medium (its current cache when that has ``size // 2`` rows, else built) then the expert rolled out
    deterministically to ``size − size // 2`` rows."""
    from trajaug.experts import levels as actors
    from trajaug.experts.bundled import bundled_actor_path, load_actor
    from trajaug.storage.d4rl import read_d4rl, read_trajaug_metadata
    from trajaug.storage.paths import trajaug_home

    half = size // 2
    if half < 1:
        raise TrajaugInputError(f"medium-expert needs at least 2 transitions, got {size}")
    cached = trajaug_home() / "datasets" / f"{spec.key}-medium.hdf5"
    recorded = read_trajaug_metadata(cached).get("level") if cached.is_file() else None
    if isinstance(recorded, dict) and recorded.get("transitions") == half and is_current(cached, spec.key, "medium") \
            and missing_source(spec.key, "medium") is None:
        medium = read_d4rl(cached)
    else:
        medium = build_level(spec, "medium", half, seed=seed, progress=progress)[0]
    expert = actors.rollout_transitions(spec.env_id, load_actor(bundled_actor_path(spec.key)), size - half,
                                        seed=seed, deterministic=True, progress=progress).dataset
    parts = [_labelled(medium, "medium", {}), _labelled(expert, "expert", {})]
    record = [{"level": part.method_names[0], "transitions": len(part), "episodes": part.n_episodes}
              for part in parts]
    return concatenate(parts), record


def _labelled(dataset: Dataset, method: str | None, metadata: dict[str, Any]) -> Dataset:
    """``dataset`` with rows numbered by episode, ``metadata``, and every row's method ``method`` (None: kept)."""
    return Dataset(dataset.observations, dataset.actions, dataset.rewards, dataset.next_observations,
                   dataset.terminals, dataset.timeouts, env_id=dataset.env_id, qpos=dataset.qpos, qvel=dataset.qvel,
                   source_episode=np.repeat(np.arange(dataset.n_episodes, dtype=np.int32), dataset.episode_lengths()),
                   method=None if method is not None else dataset.method,
                   method_names=(method,) if method is not None else dataset.method_names, metadata=metadata)
