"""A probabilistic ensemble of Gaussian MLPs, trained as MBPO / MOPO / ROMI train their dynamics models.

    p_e(y | x) = N(μ_e(x), diag σ²_e(x)),    e = 1..E members, one shared input and target normalisation

Every member is a SiLU MLP on the z-scored input that outputs the mean and log-variance of the z-scored target;
the log-variance is softly bounded between learned limits (``max − softplus(max − ·)``, then ``min + softplus(· −
min)``, the PETS bound, with a small penalty keeping the limits tight). All members train at once on their own
bootstrap order of the same training rows (batched matrix products, ``E`` in the first dimension).

Training (:func:`fit_ensemble`): a held-out share of the rows (20%) is set aside; the members train on the rest by
Gaussian NLL with Adam, one epoch at a time; after each epoch each member's held-out MSE (z-scored units) is
measured, and a member's weights are kept as its best when they improve its best held-out MSE by more than 1%
relative (MBPO's rule). Training stops when no member improved for ``patience`` epochs (or after ``max_steps``
updates); each member returns to its best weights, and the ``elites`` members with the lowest held-out MSE are
kept for prediction (ROMI: 7 members, 5 elites).

Device: an ensemble is initialised on the CPU (its own seeded stream) and moved to its ``device`` with its
normalisation statistics; :func:`fit_ensemble` moves the training rows there once (the bootstrap orders come from a
seeded numpy generator, the same on every device) and :meth:`GaussianEnsemble.predict` takes and returns numpy arrays
on the CPU, so the backtracking loop and the simulator around it stay on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trajaug.augment.networks import z_stats

BOUND_PENALTY = 0.01
"""Weight of ``sum(max_log_var) − sum(min_log_var)`` in the loss (PETS value)."""
IMPROVEMENT = 0.01
"""A member's held-out MSE must fall by this share of its best to count as an improvement (MBPO)."""


class EnsembleLinear(nn.Module):
    """E independent linear maps: x (E, B, in_dim) → (E, B, out_dim); PyTorch's default ``nn.Linear`` init."""

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class GaussianEnsemble(nn.Module):
    """E Gaussian MLPs from x (B, in_dim) to y (B, out_dim), in the units of the data they were built from."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, members: int, hidden: Sequence[int],
                 seed: int, device: str | torch.device = "cpu") -> None:
        super().__init__()
        in_dim, out_dim = inputs.shape[1], targets.shape[1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            widths = [in_dim, *hidden]
            self.layers = nn.ModuleList(EnsembleLinear(members, a, b) for a, b in zip(widths, widths[1:],
                                                                                      strict=False))
            self.head = EnsembleLinear(members, widths[-1], 2 * out_dim)
        self.max_log_var = nn.Parameter(torch.full((members, 1, out_dim), 0.5))
        self.min_log_var = nn.Parameter(torch.full((members, 1, out_dim), -10.0))
        self.to(device)
        self.x_mean, self.x_std = (t.to(device) for t in z_stats(inputs))
        self.y_mean, self.y_std = (t.to(device) for t in z_stats(targets))
        self.members = members
        self.elites = list(range(members))
        """Indices of the members used for prediction (set by :func:`fit_ensemble`)."""

    def forward_normalized(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (E, B, in_dim) z-scored inputs → (mean, log_var) (E, B, out_dim) of the z-scored target."""
        for layer in self.layers:
            z = F.silu(layer(z))
        mean, raw = self.head(z).chunk(2, dim=-1)
        log_var = self.max_log_var - F.softplus(self.max_log_var - raw)
        return mean, self.min_log_var + F.softplus(log_var - self.min_log_var)

    def nll(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(E, B) Gaussian NLL (nats, summed over dimensions) of z-scored ``target`` (E, B, out_dim)."""
        mean, log_var = self.forward_normalized(z)
        return 0.5 * ((target - mean) ** 2 * torch.exp(-log_var) + log_var + math.log(2 * math.pi)).sum(-1)

    def bound_penalty(self) -> torch.Tensor:
        return BOUND_PENALTY * (self.max_log_var.sum() - self.min_log_var.sum())

    @torch.no_grad()
    def predict(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The elites' (mean, std) (n_elites, B, out_dim) float64 for (B, in_dim) raw inputs, in target units."""
        x = torch.as_tensor(np.asarray(inputs, np.float32), device=self.x_mean.device)
        z = ((x - self.x_mean) / self.x_std).expand(self.members, -1, -1)
        mean, log_var = self.forward_normalized(z)
        elites = torch.as_tensor(self.elites, device=x.device)
        mean = mean[elites] * self.y_std + self.y_mean
        std = torch.exp(0.5 * log_var[elites]) * self.y_std
        return mean.cpu().double().numpy(), std.cpu().double().numpy()


@dataclass(frozen=True)
class EnsembleFit:
    """What :func:`fit_ensemble` did: each member's best held-out MSE (z-scored units), the elites, the work."""

    holdout_mse: tuple[float, ...]
    elites: tuple[int, ...]
    epochs: int
    updates: int
    train_rows: int
    holdout_rows: int


def holdout_split(count: int, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows) of ``count`` rows: a random ``share`` (at least one row) is held out."""
    order = rng.permutation(count)
    held = max(1, int(round(share * count)))
    return np.sort(order[held:]), np.sort(order[:held])


def fit_ensemble(model: GaussianEnsemble, inputs: np.ndarray, targets: np.ndarray, elites: int,
                 holdout_share: float = 0.2, batch_size: int = 256, lr: float = 1e-3, max_steps: int = 20_000,
                 patience: int = 5, seed: int = 0) -> EnsembleFit:
    """Train ``model`` on (N, in_dim) → (N, out_dim) with a held-out split, early stopping and elite selection
    (module docstring); sets ``model.elites`` and returns what was done. Needs ≥ 2 rows (one held out)."""
    rng = np.random.default_rng([seed, 13])
    train, held = holdout_split(len(inputs), holdout_share, rng)
    if not len(train):
        raise ValueError(f"{len(inputs)} transitions leave none to train on after the held-out split")
    device = model.x_mean.device  # the rows move to the model's device once
    x = (torch.as_tensor(np.asarray(inputs, np.float32), device=device) - model.x_mean) / model.x_std
    y = (torch.as_tensor(np.asarray(targets, np.float32), device=device) - model.y_mean) / model.y_std
    x_held, y_held = x[held].expand(model.members, -1, -1), y[held]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    params = list(model.parameters())
    best_params = [p.detach().clone() for p in params]
    best = torch.full((model.members,), float("inf"), device=device)
    stale, epochs, updates = 0, 0, 0
    batch = min(batch_size, len(train))
    while stale < patience and updates < max_steps:
        orders = np.stack([rng.permutation(train) for _ in range(model.members)])  # (E, n_train)
        for start in range(0, len(train) - batch + 1, batch):
            rows = torch.as_tensor(orders[:, start: start + batch]).to(device, non_blocking=True)
            loss = model.nll(x[rows], y[rows]).mean(1).sum()
            optimizer.zero_grad(set_to_none=True)
            (loss + model.bound_penalty()).backward()
            optimizer.step()
            updates += 1
            if updates >= max_steps:
                break
        epochs += 1
        with torch.no_grad():
            mse = ((model.forward_normalized(x_held)[0] - y_held) ** 2).mean((1, 2))
            improved = mse < best * (1 - IMPROVEMENT)
            for param, kept in zip(params, best_params, strict=True):
                kept[improved] = param.detach()[improved]
            best = torch.where(improved, mse, best)
        stale = 0 if bool(improved.any()) else stale + 1
    with torch.no_grad():
        for param, kept in zip(params, best_params, strict=True):
            param.copy_(kept)
    ranking = np.argsort(best.cpu().numpy(), kind="stable")
    model.elites = sorted(int(e) for e in ranking[:elites])
    return EnsembleFit(tuple(float(v) for v in best), tuple(model.elites), epochs, updates, len(train), len(held))
