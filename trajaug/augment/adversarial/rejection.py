"""Discriminator rejection sampling of generated trajectories (after Azadi et al., ICLR 2019), made fall-aware.

The adversarial augmenters (CAT, GAIL) roll out more candidates than they keep. Per demo, the kept ones are the
``per_episode`` candidates from that demo's start ranked first by

1. whether the rollout *lasted* its horizon (the task did not end it early: a fall, which D never sees), then
2. the trajectory's mean log D(s, a) under the trained discriminator (higher: more expert-like).

The simulator's reward is never looked at. A rollout's demo is its ``source_episode``; candidates of one demo may
come from several sampling rounds (``AdversarialConfig.sample_rounds``), in any order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trajaug.core.dataset import Dataset


def episode_demos(generated: Dataset) -> np.ndarray:
    """(n_episodes,) int: the demo each generated episode started from."""
    assert generated.source_episode is not None
    return generated.source_episode[generated.episode_bounds[:, 0]].astype(np.int64)


def lasted(generated: Dataset, horizons: np.ndarray) -> np.ndarray:
    """(n_episodes,) bool: the episode ran its demo's full horizon (``horizons`` (n_demos,), steps)."""
    return generated.episode_lengths() >= horizons[episode_demos(generated)]


def lasting_per_demo(generated: Dataset, horizons: np.ndarray) -> np.ndarray:
    """(n_demos,) int: how many of each demo's candidates lasted their horizon."""
    return np.bincount(episode_demos(generated)[lasted(generated, horizons)], minlength=len(horizons))


def most_expert_like(generated: Dataset, log_d: np.ndarray, per_episode: int,
                     horizons: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Indices (sorted) of the episodes to keep, ``per_episode`` per demo ranked as the module docstring says, and
    statistics of the choice. ``log_d``: (N,) log D(s, a) of every row of ``generated``."""
    bounds = generated.episode_bounds
    scores = np.array([log_d[start:stop].mean() for start, stop in bounds])
    demos, survived = episode_demos(generated), lasted(generated, horizons)
    kept = np.zeros(len(bounds), bool)
    for demo in range(len(horizons)):
        mine = np.flatnonzero(demos == demo)
        ranked = mine[np.lexsort((-scores[mine], ~survived[mine]))]  # last key first: lasted, then higher score
        kept[ranked[:per_episode]] = True
    stats: dict[str, Any] = {"candidates": len(bounds), "kept_per_demo": per_episode,
                             "kept_mean_log_d": float(scores[kept].mean()),
                             "candidates_ended_early": int((~survived).sum()),
                             "kept_ended_early": int((~survived[kept]).sum())}
    if (~kept).any():
        returns = generated.episode_returns()
        stats.update(rejected_mean_log_d=float(scores[~kept].mean()), rejected_return_mean=float(returns[~kept].mean()),
                     candidate_return_mean=float(returns.mean()))
    return np.flatnonzero(kept), stats
