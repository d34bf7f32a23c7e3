"""Evaluate a BC policy or checkpoint: many episodes in a pool of Gymnasium v5 environments, batched inference.

The evaluation itself is policy-agnostic and lives in :mod:`trajaug.sim.evaluate` (shared with
:mod:`trajaug.offrl`): reset seeds from :func:`trajaug.core.seeds.eval_seeds`, one forward pass per step for the
whole pool, optional Gaussian action noise σ, mean / std / 95% CI and the D4RL normalized score. This module keeps
BC's names (``EvalResult``, ``evaluate_policy``, ``DEFAULT_N_ENVS``, ...) and adds :func:`evaluate_checkpoint`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from trajaug.bc.policy import BCPolicy, load_checkpoint
from trajaug.core import defaults
from trajaug.core.errors import TrajaugInputError
from trajaug.sim import evaluate as _shared
from trajaug.sim.evaluate import DEFAULT_N_ENVS, MIN_INFERENCE_ROWS, NOISE_STREAM, EvalResult
from trajaug.sim.rollout import rollout

__all__ = ["DEFAULT_N_ENVS", "MIN_INFERENCE_ROWS", "NOISE_STREAM", "EvalResult", "evaluate_checkpoint",
           "evaluate_policy", "rollout"]


def evaluate_policy(policy: torch.nn.Module, env_id: str, episodes: int = defaults.EVAL_EPISODES, seed: int = 0,
                    action_noise: float = 0.0, n_envs: int = DEFAULT_N_ENVS,
                    progress: Callable[[int], None] | None = None) -> EvalResult:
    """Run ``policy`` ((B, obs_dim) float32 tensor → (B, act_dim) actions) for ``episodes`` episodes of ``env_id``
    (:func:`trajaug.sim.evaluate.evaluate_policy`, with this module's ``rollout`` as the episode runner).

    ``progress(1)`` is called as each episode ends. Raises TrajaugInputError for a policy trained on another
    environment, or for bad arguments.
    """
    return _shared.evaluate_policy(policy, env_id, episodes, seed, action_noise, n_envs, progress, run=rollout)


def evaluate_checkpoint(path: str | Path, episodes: int = defaults.EVAL_EPISODES, seed: int = 0,
                        action_noise: float = 0.0, env_id: str | None = None, n_envs: int = DEFAULT_N_ENVS,
                        progress: Callable[[int], None] | None = None) -> EvalResult:
    """Load a checkpoint and evaluate it on ``env_id`` (default: the environment it was trained on)."""
    checkpoint = load_checkpoint(path)
    target = env_id or checkpoint.env_id
    if target is None:
        raise TrajaugInputError(f"{path}: the checkpoint names no environment; give one explicitly")
    policy: BCPolicy = checkpoint.policy
    return evaluate_policy(policy, target, episodes, seed, action_noise, n_envs, progress)
