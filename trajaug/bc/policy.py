"""The behaviour-cloning policy network and its self-contained checkpoint.

Network (CORL's BC actor): ``a = tanh(MLP((obs − mean) / std))`` with ReLU hidden layers (256-256 by default).
The observation normalizer (``mean``, ``std``; std already includes its eps) lives inside the module as buffers, so
``state_dict()`` alone reproduces the policy and raw environment observations go straight in.

Checkpoint (``policy.pt``): a plain dict, loadable with ``torch.load(path, weights_only=True)``::

    {"format": "trajaug-bc-1", "env_id": str | None, "obs_dim": int, "act_dim": int, "hidden": [int, ...],
     "config": {...}, "normalizer": {"mean": [float], "std": [float]}, "state_dict": {...}, "metrics": {...}}

``normalizer`` is a readable copy of the buffers in ``state_dict`` (which is what :func:`load_checkpoint` uses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trajaug.core.atomic import atomic_path
from trajaug.core.checkpoint import load_weights, read_checkpoint
from trajaug.core.errors import TrajaugInputError
from trajaug.core.nn import NormalizedPolicy

CHECKPOINT_FORMAT = "trajaug-bc-1"
CHECKPOINT_KEYS = ("format", "env_id", "obs_dim", "act_dim", "hidden", "config", "normalizer", "state_dict",
                   "metrics")


class BCPolicy(NormalizedPolicy):
    """Deterministic policy; input (..., obs_dim) raw observations, output (..., act_dim) actions in [-1, 1]."""

    def forward_normalized(self, obs_normalized: torch.Tensor) -> torch.Tensor:
        """The policy on already-normalized observations (training feeds pre-normalized batches)."""
        return torch.tanh(self.net(obs_normalized))


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the policy (in eval mode) and what was saved with it."""

    path: Path
    policy: BCPolicy
    env_id: str | None
    config: dict[str, Any]
    metrics: dict[str, Any]


def _plain(value: Any) -> Any:
    """JSON round trip: numpy scalars, tuples and paths become types ``weights_only`` loading accepts."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def save_checkpoint(path: str | Path, policy: BCPolicy, config: dict[str, Any], metrics: dict[str, Any],
                    force: bool = False) -> Path:
    """Write ``policy`` with its config and metrics to ``path`` atomically (refuses to overwrite unless ``force``)."""
    payload = {
        "format": CHECKPOINT_FORMAT, "env_id": policy.env_id, "obs_dim": policy.obs_dim, "act_dim": policy.act_dim,
        "hidden": list(policy.hidden), "config": _plain(config),
        "normalizer": {"mean": policy.obs_mean.tolist(), "std": policy.obs_std.tolist()},
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in policy.state_dict().items()},
        "metrics": _plain(metrics),
    }
    with atomic_path(path, force=force) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``), its policy on ``device``
    (the file holds CPU tensors; evaluation runs on the CPU, the default).

    A missing file, a file that is not a torch checkpoint, or a dict without the expected keys raises
    :class:`TrajaugInputError` with one line that names the file.
    """
    path = Path(path)
    payload = read_checkpoint(path, device, "BC", CHECKPOINT_KEYS, CHECKPOINT_FORMAT)
    try:
        policy = BCPolicy(int(payload["obs_dim"]), int(payload["act_dim"]), tuple(payload["hidden"]),
                          payload["env_id"])
    except (RuntimeError, TypeError, ValueError) as error:
        raise TrajaugInputError(f"{path}: checkpoint sizes are not readable ({error})") from None
    load_weights(path, policy, payload["state_dict"], device)
    policy.eval()
    return Checkpoint(path, policy, payload["env_id"], dict(payload["config"]), dict(payload["metrics"]))
