"""Summary statistics of a dataset (``trajaug datasets info``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from trajaug.core.dataset import Dataset
from trajaug.core.envs import normalized_score


def summarize(dataset: Dataset) -> dict[str, Any]:
    """Episodes, transitions, return statistics (and D4RL normalized score of the mean), dims, keys, provenance."""
    returns = dataset.episode_returns()
    lengths = dataset.episode_lengths() if dataset.n_episodes else np.zeros(0)
    summary: dict[str, Any] = {
        "env_id": dataset.env_id,
        "episodes": dataset.n_episodes,
        "transitions": len(dataset),
        "obs_dim": dataset.obs_dim,
        "act_dim": dataset.act_dim,
        "terminals": int(dataset.terminals.sum()),
        "timeouts": int(dataset.timeouts.sum()),
        "episode_length_mean": float(lengths.mean()) if len(lengths) else 0.0,
        "return_mean": float(returns.mean()) if len(returns) else float("nan"),
        "return_std": float(returns.std()) if len(returns) else float("nan"),
        "return_min": float(returns.min()) if len(returns) else float("nan"),
        "return_max": float(returns.max()) if len(returns) else float("nan"),
        "has_qpos_qvel": dataset.qpos is not None,
        "keys": ["observations", "next_observations", "actions", "rewards", "terminals", "timeouts"]
        + (["infos/qpos", "infos/qvel"] if dataset.qpos is not None else [])
        + ["infos/source_episode", "infos/method"],
        "methods": list(dataset.method_names),
        "method": dataset.metadata.get("method"),
    }
    if dataset.env_id is not None and len(returns):
        try:
            summary["normalized_score"] = normalized_score(dataset.env_id, summary["return_mean"])
        except ValueError:
            summary["normalized_score"] = None
    return summary
