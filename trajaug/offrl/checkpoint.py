"""The offline-RL checkpoint (``policy.pt``) and its evaluation.

A plain dict of CPU tensors and JSON-like values, loadable with ``torch.load(path, weights_only=True)``::

    {"format": "trajaug-offrl-1", "algorithm": "td3bc" | "iql", "env_id": str | None, "obs_dim": int,
     "act_dim": int, "hidden": [int, ...], "seed": int, "config": {...}, "normalizer": {"mean": [...], "std": [...]},
     "action_scale": [...], "policy": {actor state_dict}, "networks": {name: state_dict}, "metrics": {...}}

``policy`` alone rebuilds the evaluated policy (:class:`~trajaug.offrl.nets.Actor`: normalizer, action scale and
weights are in its state_dict); ``networks`` holds every network of the learner (critics, targets, V, IQL's log σ)
for inspection or further training. Optimizer states are not saved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trajaug.core import defaults
from trajaug.core.atomic import atomic_path
from trajaug.core.checkpoint import load_weights, read_checkpoint
from trajaug.core.errors import TrajaugInputError
from trajaug.offrl.nets import Actor
from trajaug.sim.evaluate import DEFAULT_N_ENVS, EvalResult, evaluate_policy

CHECKPOINT_FORMAT = "trajaug-offrl-1"
CHECKPOINT_KEYS = ("format", "algorithm", "env_id", "obs_dim", "act_dim", "hidden", "seed", "config", "normalizer",
                   "action_scale", "policy", "networks", "metrics")


@dataclass(frozen=True)
class OffRLCheckpoint:
    """A loaded checkpoint: the policy (in eval mode) and what was saved with it."""

    path: Path
    algorithm: str
    policy: Actor
    env_id: str | None
    seed: int
    config: dict[str, Any]
    networks: dict[str, dict[str, torch.Tensor]]
    metrics: dict[str, Any]


def _plain(value: Any) -> Any:
    """JSON round trip: numpy scalars, tuples, NaN and paths become values ``weights_only`` loading accepts."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``module``'s state_dict on the CPU (what the checkpoints store)."""
    return {key: value.detach().to("cpu", copy=True) for key, value in module.state_dict().items()}


def save_checkpoint(path: str | Path, algorithm: str, actor: Actor, networks: Mapping[str, nn.Module],
                    config: Mapping[str, Any], seed: int, metrics: Mapping[str, Any], force: bool = False) -> Path:
    """Write the checkpoint to ``path`` atomically (refuses to overwrite unless ``force``)."""
    payload = {
        "format": CHECKPOINT_FORMAT, "algorithm": algorithm, "env_id": actor.env_id, "obs_dim": actor.obs_dim,
        "act_dim": actor.act_dim, "hidden": list(actor.hidden), "seed": int(seed), "config": _plain(dict(config)),
        "normalizer": {"mean": actor.obs_mean.tolist(), "std": actor.obs_std.tolist()},
        "action_scale": actor.action_scale.tolist(), "policy": cpu_state_dict(actor),
        "networks": {name: cpu_state_dict(module) for name, module in networks.items()},
        "metrics": _plain(dict(metrics)),
    }
    with atomic_path(path, force=force) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> OffRLCheckpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``), its tensors and policy on
    ``device`` (the file holds CPU tensors; evaluation runs on the CPU, the default).

    A missing file, a file that is not a torch checkpoint, or a dict without the expected keys raises
    :class:`TrajaugInputError` with one line that names the file.
    """
    path = Path(path)
    payload = read_checkpoint(path, device, "offrl", CHECKPOINT_KEYS, CHECKPOINT_FORMAT)
    try:
        policy = Actor(int(payload["obs_dim"]), int(payload["act_dim"]), tuple(payload["hidden"]), payload["env_id"])
    except (RuntimeError, TypeError, ValueError) as error:
        raise TrajaugInputError(f"{path}: checkpoint sizes are not readable ({error})") from None
    load_weights(path, policy, payload["policy"], device)
    policy.eval()
    return OffRLCheckpoint(path, str(payload["algorithm"]), policy, payload["env_id"], int(payload["seed"]),
                           dict(payload["config"]), dict(payload["networks"]), dict(payload["metrics"]))


def evaluate_checkpoint(path: str | Path, episodes: int = defaults.EVAL_EPISODES, seed: int = 0,
                        action_noise: float = 0.0, env_id: str | None = None, n_envs: int = DEFAULT_N_ENVS,
                        progress: Callable[[int], None] | None = None) -> EvalResult:
    """Load a checkpoint and evaluate its policy on ``env_id`` (default: the environment it was trained on), the way
    BC's are evaluated (:func:`trajaug.sim.evaluate.evaluate_policy`)."""
    checkpoint = load_checkpoint(path)
    target = env_id or checkpoint.env_id
    if target is None:
        raise TrajaugInputError(f"{path}: the checkpoint names no environment; give one explicitly")
    return evaluate_policy(checkpoint.policy, target, episodes, seed, action_noise, n_envs, progress)
