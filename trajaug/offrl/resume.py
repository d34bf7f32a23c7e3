"""The state of an unfinished offline-RL run, so that a killed run goes on where it stopped (``train_offrl``'s
``resume_file``; ``offrl train`` keeps it as ``OUT/resume.pt``, ``offrl batch`` and ``bench offrl`` as
``OUT/resume/<cell-id>.pt``).

Written atomically every ``eval_every`` updates, just after that point's evaluation (every
:data:`EVERY_WITHOUT_EVALUATION` updates when there is none), and removed when the run has written its outputs.
It holds everything the next update depends on, so the continued run is the uninterrupted one bit for bit
(``tests/test_offrl_resume.py``)::

    {"format": "trajaug-offrl-resume-1", "key": str, "step": int,
     "networks": {name: state_dict}, "optimizers": {name: state_dict}, "generators": {name: uint8 tensor},
     "attributes": {name: value}, "replay_generator": uint8 tensor,
     "losses": (step, n_losses) float32, "points": [curve point, ...], "wall_s": float, "eval_wall_s": float,
     "resumed_at": [step, ...]}

A dict of CPU tensors and plain values, read with ``torch.load(..., weights_only=True)``. ``key`` is a digest of
what the run is (algorithm, config, seed, evaluation, device, and every row of the replay buffer after
normalization): a state with another key belongs to another run and is not used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from trajaug.core.atomic import atomic_path
from trajaug.core.checkpoint import read_checkpoint
from trajaug.offrl.checkpoint import cpu_state_dict
from trajaug.offrl.replay import Replay

RESUME_FORMAT = "trajaug-offrl-resume-1"
RESUME_KEYS = ("format", "key", "step", "networks", "optimizers", "generators", "attributes", "replay_generator",
               "losses", "points", "wall_s", "eval_wall_s", "resumed_at")
EVERY_WITHOUT_EVALUATION = 10_000
"""Updates between saved states of a run that is not evaluated along the way."""


class Learner(Protocol):
    """What a learner (:class:`~trajaug.offrl.td3bc.TD3BC`, :class:`~trajaug.offrl.iql.IQL`) exposes to be resumed."""

    RESUME_ATTRIBUTES: tuple[str, ...]
    """Plain attributes an update reads (the update count, ...)."""

    def networks(self) -> dict[str, nn.Module]: ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def generators(self) -> dict[str, torch.Generator]: ...


@dataclass
class RunState:
    """Where a run stands: what :func:`restore` hands back to the training loop."""

    step: int
    points: list[dict[str, Any]]
    wall_s: float
    eval_wall_s: float
    resumed_at: list[int]


def run_key(replay: Replay, **what: Any) -> str:
    """A digest of the run: ``what`` (algorithm, config, seed, evaluation, device; JSON-like) and the replay rows."""
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode())
    digest.update(replay.rows.detach().cpu().numpy().tobytes())
    digest.update(f"{replay.real}:{replay.real_ratio}".encode())
    return digest.hexdigest()


def save(path: Path, key: str, learner: Learner, replay: Replay, losses: torch.Tensor, progress: RunState) -> None:
    """Write the run's state at ``progress.step`` updates (``losses``: the first ``step`` rows are kept)."""
    payload = {
        "format": RESUME_FORMAT, "key": key, "step": progress.step,
        "networks": {name: cpu_state_dict(module) for name, module in learner.networks().items()},
        "optimizers": {name: optimizer.state_dict() for name, optimizer in learner.optimizers().items()},
        "generators": {name: generator.get_state() for name, generator in learner.generators().items()},
        "attributes": {name: _plain(getattr(learner, name)) for name in learner.RESUME_ATTRIBUTES},
        "replay_generator": replay.generator.get_state(),
        "losses": losses[:progress.step].detach().cpu(), "points": progress.points, "wall_s": progress.wall_s,
        "eval_wall_s": progress.eval_wall_s, "resumed_at": progress.resumed_at,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, force=True) as tmp:
        torch.save(payload, tmp)


def restore(path: Path, key: str, learner: Learner, replay: Replay, losses: torch.Tensor) -> RunState | None:
    """Load the state at ``path`` into ``learner``, ``replay`` and ``losses`` if it is this run's (same ``key``);
    None when there is none or it belongs to another run. An unreadable file raises TrajaugInputError."""
    if not path.is_file():
        return None
    state = read_checkpoint(path, "cpu", "offline-RL resume", RESUME_KEYS, RESUME_FORMAT)
    if state["key"] != key:
        return None
    for name, module in learner.networks().items():
        module.load_state_dict(state["networks"][name])
    for name, optimizer in learner.optimizers().items():
        optimizer.load_state_dict(state["optimizers"][name])
    for name, generator in learner.generators().items():
        generator.set_state(state["generators"][name])
    for name, value in state["attributes"].items():
        current = getattr(learner, name)
        setattr(learner, name, value.to(current.device) if isinstance(current, torch.Tensor) else value)
    replay.generator.set_state(state["replay_generator"])
    step = int(state["step"])
    losses[:step] = state["losses"].to(losses.device)
    return RunState(step, list(state["points"]), float(state["wall_s"]), float(state["eval_wall_s"]),
                    [*state["resumed_at"], step])


def _plain(value: Any) -> Any:
    return value.detach().cpu() if isinstance(value, torch.Tensor) else value
