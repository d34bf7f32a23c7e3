"""Behaviour cloning, CORL style: one config dataclass, one training function, read top to bottom.

BC regresses the dataset's actions from its observations: ``min_θ E_(s,a)~D ||π_θ(s) − a||²`` with
``π_θ(s) = tanh(MLP_θ((s − μ) / σ))`` (:class:`~trajaug.bc.policy.BCPolicy`), Adam, uniform minibatches.

The loop is plain torch on tensors preloaded once: each update draws ``batch_size`` row indices with a seeded
``torch.Generator`` (sampling with replacement, like CORL's replay buffer), gathers them with ``index_select`` and
takes one Adam step. No DataLoader, no per-step host syncs. Same seed, same data, same config → identical weights
(single thread, ``torch.use_deterministic_algorithms``).

``device`` (a run option, not a hyperparameter: :mod:`trajaug.core.device`): the policy and the preloaded tensors
move there once; the row indices are drawn on the CPU generator as before and moved each update (B integers), so a
GPU trains on the same minibatches as the CPU. The returned policy is back on the CPU (evaluation runs there).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trajaug.bc.policy import BCPolicy, save_checkpoint
from trajaug.core.atomic import OutputExistsError
from trajaug.core.config import check_settings, setting
from trajaug.core.dataset import Dataset, concatenate
from trajaug.core.device import device_record, resolve_device, synchronize
from trajaug.core.envs import spec_for
from trajaug.core.errors import TrajaugInputError
from trajaug.core.nn import deterministic_torch
from trajaug.core.progress import Progress, start_phase, tick
from trajaug.core.report import line_chart, write_json
from trajaug.datasets.info import summarize

OUTPUT_FILES = ("policy.pt", "config.json", "loss_curve.png", "metrics.json")


@dataclass(frozen=True)
class BCConfig:
    """Hyperparameters of BC (CORL's defaults except ``steps``, see below)."""

    steps: int = setting(60_000, minimum=1)
    """Gradient updates (CORL: 1M on the 1M-transition D4RL sets; 60k suits few-demo sets and their
    augmentations, docs/methods/bc.md). Raise it for full D4RL sets."""
    batch_size: int = setting(256, minimum=1)
    """Transitions per update, drawn uniformly with replacement."""
    lr: float = setting(3e-4, above=0)
    """Adam learning rate (no weight decay, no schedule)."""
    hidden: tuple[int, ...] = setting((256, 256), minimum=1)
    """Hidden layer widths of the ReLU MLP; the output layer is followed by tanh."""
    seed: int = setting(0, minimum=0)
    """Seeds the network initialisation and the minibatch sampler."""
    normalize_obs: bool = True
    """Standardise observations with the training set's mean and std (stored in the policy)."""
    obs_eps: float = setting(1e-3, minimum=0)
    """Added to the per-dimension std (CORL: ``std = states.std(0) + eps``) so constant dimensions stay finite."""
    threads: int = setting(1, minimum=1)
    """torch intra-op threads while training; 1 is the fastest for a 256-256 MLP and keeps runs deterministic."""
    log_points: int = setting(20, minimum=1)
    """Points in the loss-curve summary written to metrics.json (window means over the run)."""

    def __post_init__(self) -> None:
        check_settings(self)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hidden": list(self.hidden)}


def _adam(policy: BCPolicy, lr: float) -> torch.optim.Optimizer:
    try:  # the fused CPU kernel (torch ≥ 2.4) is ≈ 10% faster per update
        return torch.optim.Adam(policy.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(policy.parameters(), lr=lr)


def training_data(dataset: Dataset, expert: Dataset | None = None) -> Dataset:
    """The dataset BC trains on: ``dataset``, plus ``expert``'s transitions when given (``--with-expert``)."""
    if expert is not None:
        try:
            dataset = concatenate([dataset, expert], metadata={"parts": [dict(dataset.metadata),
                                                                         dict(expert.metadata)]})
        except ValueError as error:
            raise TrajaugInputError(f"--with-expert: {error}") from None
    if len(dataset) == 0:
        raise TrajaugInputError("dataset: no transitions to train on (empty dataset)")
    if dataset.env_id is not None and spec_for(dataset.env_id).obs_dim != dataset.obs_dim:
        raise TrajaugInputError(f"dataset: observations of size {dataset.obs_dim}, {dataset.env_id} has "
                                f"{spec_for(dataset.env_id).obs_dim}")
    return dataset


def load_episodes(name: str, episodes: int | None = None, episodes_seed: int | None = None,
                  progress: Progress | None = None) -> Dataset:
    """Load dataset ``name`` (a known name or a path) and keep its first ``episodes`` episodes (all if None), or
    ``episodes`` drawn at random with ``episodes_seed`` (:meth:`Dataset.first_episodes`)."""
    from trajaug.datasets.registry import load

    data = load(name, progress=progress)
    if episodes is None:
        return data
    try:
        return data.first_episodes(episodes, episodes_seed)
    except ValueError as error:
        raise TrajaugInputError(f"{name}: {error}") from None


def training_tensors(data: Dataset, config: BCConfig,
                     device: torch.device) -> tuple[BCPolicy, torch.Tensor, torch.Tensor]:
    """(the initialised policy, normalized observations, actions), all on ``device``: built on the CPU (the
    initialisation draws from torch's global CPU generator, the same on every device), then moved once."""
    policy = BCPolicy(data.obs_dim, data.act_dim, config.hidden, data.env_id)
    observations = torch.from_numpy(np.array(data.observations, dtype=np.float32))
    if config.normalize_obs:
        obs64 = data.observations.astype(np.float64)
        policy.set_normalizer(obs64.mean(axis=0), obs64.std(axis=0) + config.obs_eps)
    with torch.no_grad():
        inputs = policy.normalize(observations).contiguous()  # the same op forward() applies, done once
    targets = torch.from_numpy(np.array(data.actions, dtype=np.float32))
    return policy.to(device), inputs.to(device), targets.to(device)


def bc_step(policy: BCPolicy, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, targets: torch.Tensor,
            rows: torch.Tensor) -> torch.Tensor:
    """One Adam step on rows ``rows`` of the preloaded ``inputs`` / ``targets`` (all on the policy's device);
    returns the minibatch's loss, detached, where it was computed."""
    predicted = policy.forward_normalized(inputs.index_select(0, rows))
    loss = torch.nn.functional.mse_loss(predicted, targets.index_select(0, rows))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_bc(dataset: Dataset, config: BCConfig | None = None, out_dir: str | Path | None = None, *,
             expert: Dataset | None = None, force: bool = False, provenance: Mapping[str, Any] | None = None,
             progress: Progress | None = None,
             device: str | torch.device = "cpu") -> tuple[BCPolicy, dict[str, Any]]:
    """Train BC on ``dataset`` (+ ``expert``) on ``device`` (``auto``, ``cpu``, ``cuda[:N]``, ``mps``:
    :func:`~trajaug.core.device.resolve_device`); returns (policy in eval mode, on the CPU; metrics, which record
    the device under ``"device"``).

    With ``out_dir``, writes ``policy.pt`` (checkpoint), ``config.json`` (the resolved config + ``provenance``, e.g.
    dataset name and episode selection), ``loss_curve.png`` (the loss curve of ``metrics.json``) and
    ``metrics.json``, each atomically; existing outputs raise :class:`OutputExistsError` before training unless
    ``force``. ``progress`` is told of a phase of ``steps`` updates and advanced every 1000.
    """
    config = config or BCConfig()
    where = resolve_device(device)
    data = training_data(dataset, expert)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and not force:
        for name in OUTPUT_FILES:
            if (out / name).exists():
                raise OutputExistsError(f"{out / name}: already exists (use --force to overwrite)")

    start_phase(progress, "updates", config.steps)
    with deterministic_torch(config.threads):
        torch.manual_seed(config.seed)
        policy, inputs, targets = training_tensors(data, config, where)
        sampler = torch.Generator().manual_seed(config.seed)
        optimizer = _adam(policy, config.lr)
        losses = torch.empty(config.steps, device=where)
        n = len(data)

        policy.train()
        start = time.perf_counter()
        for step in range(config.steps):
            rows = torch.randint(0, n, (config.batch_size,), generator=sampler).to(where, non_blocking=True)
            losses[step] = bc_step(policy, optimizer, inputs, targets, rows)
            tick(progress, step, config.steps)
        synchronize(where)
        wall = time.perf_counter() - start
        policy.to("cpu").eval()

    metrics = {**_metrics(losses.cpu().numpy(), wall, config, data), "device": device_record(where)}
    if out is not None:
        write_outputs(out, policy, config, metrics, provenance, force=force)
    return policy, metrics


def _metrics(losses: np.ndarray, wall: float, config: BCConfig, data: Dataset) -> dict[str, Any]:
    """Loss-curve summary (window means), throughput and the training set's summary."""
    windows = np.array_split(losses.astype(np.float64), min(config.log_points, len(losses)))
    ends = np.cumsum([len(w) for w in windows])
    tail = losses[-max(1, len(losses) // 100):]
    summary = summarize(data)
    if "file_sha256" in data.metadata:
        summary["file_sha256"] = data.metadata["file_sha256"]
    return {
        "steps": int(config.steps),
        "loss_first": float(losses[0]),
        "loss_final": float(tail.mean()),
        "loss_curve": [{"step": int(e), "loss": float(w.mean())} for e, w in zip(ends, windows, strict=True)],
        "wall_s": wall,
        "steps_per_s": config.steps / wall if wall > 0 else math.inf,
        "torch_version": torch.__version__,
        "dataset": summary,
    }


def write_outputs(out: Path, policy: BCPolicy, config: BCConfig, metrics: Mapping[str, Any],
                  provenance: Mapping[str, Any] | None, force: bool) -> None:
    """Checkpoint, config.json, loss_curve.png and metrics.json into ``out`` (metrics last: its presence marks a
    complete run)."""
    out.mkdir(parents=True, exist_ok=True)
    resolved = {"algorithm": "bc", "env_id": policy.env_id, "config": config.to_dict(),
                "data": dict(provenance or {})}
    save_checkpoint(out / "policy.pt", policy, resolved, dict(metrics), force=force)
    write_json(resolved, out / "config.json")
    curve = metrics["loss_curve"]
    name = metrics["dataset"].get("env_id") or "dataset"
    line_chart([p["step"] for p in curve], {"loss": [p["loss"] for p in curve]}, out / "loss_curve.png",
               xlabel="update", ylabel="MSE loss (window mean)", title=f"BC on {name}: {config.steps} updates",
               log_y=all(p["loss"] > 0 for p in curve))
    write_json(metrics, out / "metrics.json")
