"""What trajaug knows about each supported environment: ids, dimensions, D4RL reference scores.

D4RL normalized score = 100 · (return − random) / (expert − random), with D4RL's reference returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from trajaug.core.errors import TrajaugInputError


@dataclass(frozen=True)
class EnvSpec:
    key: str
    """Short lower-case name used in dataset names and file names, e.g. ``halfcheetah``."""
    env_id: str
    """Gymnasium v5 environment id."""
    obs_dim: int
    act_dim: int
    random_score: float
    """D4RL's reference return of a random policy."""
    expert_score: float
    """D4RL's reference return of an expert policy."""


ENVS: dict[str, EnvSpec] = {spec.key: spec for spec in (
    EnvSpec("halfcheetah", "HalfCheetah-v5", 17, 6, -280.178953, 12135.0),
    EnvSpec("hopper", "Hopper-v5", 11, 3, -20.272305, 3234.3),
    EnvSpec("walker2d", "Walker2d-v5", 17, 6, 1.629008, 4592.3),
    EnvSpec("ant", "Ant-v5", 27, 8, -325.6, 3879.7),
)}


def spec_for(env_id: str) -> EnvSpec:
    """The spec of a Gymnasium id (any version: ``HalfCheetah-v4`` maps to the same scores)."""
    base = env_id.split("-v")[0].lower()
    if base not in ENVS:
        raise TrajaugInputError(f"unknown environment {env_id!r}; known: "
                                + ", ".join(spec.env_id for spec in ENVS.values()))
    return ENVS[base]


def normalized_score(env_id: str, episode_return: float) -> float:
    """D4RL normalized score (×100) of an undiscounted return."""
    spec = spec_for(env_id)
    return 100.0 * (episode_return - spec.random_score) / (spec.expert_score - spec.random_score)


def env_id_from_name(name: str) -> str | None:
    """Guess the v5 id from a file or dataset name such as ``halfcheetah_expert-v2.hdf5``; None if unknown."""
    lowered = name.lower().replace("-", "_")
    for key in sorted(ENVS, key=len, reverse=True):
        if lowered.startswith(key):
            return ENVS[key].env_id
    return None


def check_env_override(given: str | None, stored: str | None, where: str) -> None:
    """Refuse an environment ``given`` by the user (``--env-id``) that contradicts the one the data names
    (``stored``; None: the data names none, so ``given`` is how to say it). Versions may differ."""
    if given and stored and given.split("-v")[0].lower() != stored.split("-v")[0].lower():
        raise TrajaugInputError(f"--env-id {given}: {where} holds {stored} data (leave --env-id out)")
