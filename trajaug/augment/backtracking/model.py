"""The backtracking model of recall traces (Goyal et al., ICLR 2019), shared by ``bdm`` and ``bdm-cl``.

    q(Δs, a | s') = q(Δs | a, s') · q(a | s'),    Δs = s − s'    (s → s' is one environment step under a)

Two Gaussian MLP heads with diagonal covariance (the BMIL design): the *action net* q(a | s') and the *state net*
q(Δs | s', a). Inputs are states normalised with the demos' mean and std; the state net predicts Δs normalised with
the demos' Δs mean and std; actions stay raw (the task's box is [−1, 1]). Each head outputs a mean and a log-variance
softly bounded between learned limits (``max − softplus(max − x)``, then ``min + softplus(· − min)``), with a small
penalty that keeps the limits tight, so the variance can neither collapse nor explode.

Training is maximum likelihood: minimise the Gaussian NLL (nats, summed over dimensions, in normalised units) of
the demos' (a_t, s_t) given s_{t+1}, on uniform minibatches of the chosen transitions.

Sampling a recall trace of length L from s'_L: a ~ q(a | s'), clipped to [−1, 1]; Δs ~ q(Δs | a, s'); s = s' + Δs;
repeat from s. Traces are returned in forward order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trajaug.augment.networks import as_tensor
from trajaug.augment.networks import silu_mlp as mlp
from trajaug.augment.networks import z_stats as _stats
from trajaug.core.dataset import Dataset

BOUND_PENALTY = 0.01
"""Weight of ``sum(max_log_var) − sum(min_log_var)`` in the loss (PETS/BMIL value)."""


class GaussianHead(nn.Module):
    """x (B, in_dim) → N(mean (B, out_dim), exp(log_var) (B, out_dim)) with softly bounded log-variance."""

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp(in_dim, 2 * out_dim, hidden)
        self.max_log_var = nn.Parameter(torch.full((out_dim,), 0.5))
        self.min_log_var = nn.Parameter(torch.full((out_dim,), -10.0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.net(x).chunk(2, dim=-1)
        log_var = self.max_log_var - F.softplus(self.max_log_var - raw)
        return mean, self.min_log_var + F.softplus(log_var - self.min_log_var)

    def nll(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B,) Gaussian negative log-likelihood of ``target`` (nats, summed over dimensions)."""
        mean, log_var = self(x)
        return 0.5 * ((target - mean) ** 2 * torch.exp(-log_var) + log_var + math.log(2 * math.pi)).sum(-1)

    def bound_penalty(self) -> torch.Tensor:
        return BOUND_PENALTY * (self.max_log_var.sum() - self.min_log_var.sum())


@dataclass(frozen=True)
class Transitions:
    """Transitions (s_t, a_t, s_{t+1}): observations/next_observations (N, obs_dim), actions (N, act_dim) float32."""

    observations: np.ndarray
    actions: np.ndarray
    next_observations: np.ndarray

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> Transitions:
        return cls(np.array(dataset.observations, np.float32), np.array(dataset.actions, np.float32),
                   np.array(dataset.next_observations, np.float32))


class BacktrackingModel(nn.Module):
    """q(a | s') and q(Δs | s', a); states in observation units, actions in the box [−1, 1]."""

    def __init__(self, data: Transitions, hidden: Sequence[int], seed: int) -> None:
        super().__init__()
        obs_dim, act_dim = data.observations.shape[1], data.actions.shape[1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.action_head = GaussianHead(obs_dim, act_dim, hidden)
            self.state_head = GaussianHead(obs_dim + act_dim, obs_dim, hidden)
        self.obs_mean, self.obs_std = _stats(np.concatenate([data.observations, data.next_observations]))
        self.delta_mean, self.delta_std = _stats(data.observations - data.next_observations)

    def _normalize(self, states: torch.Tensor) -> torch.Tensor:
        return (states - self.obs_mean) / self.obs_std

    def nll(self, next_obs: torch.Tensor, actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """(B,) −log q(a, Δs | s') of predecessors ``obs`` (B, obs_dim) reached by ``actions`` (B, act_dim)."""
        z = self._normalize(next_obs)
        delta = (obs - next_obs - self.delta_mean) / self.delta_std
        return self.action_head.nll(z, actions) + self.state_head.nll(torch.cat([z, actions], -1), delta)

    @torch.no_grad()
    def action_mean(self, next_obs: np.ndarray) -> np.ndarray:
        """(B, act_dim) mean of q(a | s') for (B, obs_dim) states s'."""
        return self.action_head(self._normalize(as_tensor(next_obs)))[0].numpy()

    @torch.no_grad()
    def predecessor_mean(self, next_obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(B, obs_dim) s' + E[Δs | s', a]: the expected state from which ``actions`` led to ``next_obs``."""
        s_next = as_tensor(next_obs)
        inputs = torch.cat([self._normalize(s_next), as_tensor(actions)], -1)
        return (s_next + self.state_head(inputs)[0] * self.delta_std + self.delta_mean).numpy()

    def _sample(self, next_obs: torch.Tensor, generator: torch.Generator,
                noise_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        z = self._normalize(next_obs)
        mean, log_var = self.action_head(z)
        noise = torch.randn(mean.shape, generator=generator)
        actions = (mean + noise_scale * torch.exp(0.5 * log_var) * noise).clamp(-1.0, 1.0)
        mean, log_var = self.state_head(torch.cat([z, actions], -1))
        noise = torch.randn(mean.shape, generator=generator)
        delta = mean + noise_scale * torch.exp(0.5 * log_var) * noise
        return next_obs + delta * self.delta_std + self.delta_mean, actions

    @torch.no_grad()
    def traces(self, starts: np.ndarray, length: int, generator: torch.Generator,
               noise_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recall traces ending in ``starts`` (B, obs_dim): (observations (B, L, obs_dim), actions (B, L, act_dim),
        next_observations (B, L, obs_dim)) float32 in forward order, so ``next_observations[:, -1] == starts`` and
        ``next_observations[:, t] == observations[:, t + 1]``. ``noise_scale`` multiplies both heads' std
        (1: sample q; 0: follow the means)."""
        current = as_tensor(starts)
        states, actions = [current], []
        for _ in range(length):
            current, action = self._sample(current, generator, noise_scale)
            states.append(current)
            actions.append(action)
        forward = torch.stack(states[::-1], 1).numpy()
        return forward[:, :-1].copy(), torch.stack(actions[::-1], 1).numpy(), forward[:, 1:].copy()


def train_backtracking(model: BacktrackingModel, data: Transitions, rows: np.ndarray, steps: int, batch_size: int,
                       lr: float, seed: int) -> list[float]:
    """Fit ``model`` by maximum likelihood on the transitions ``rows`` of ``data`` (``steps`` Adam updates on
    uniform minibatches drawn with replacement); returns each update's mean NLL per transition (nats)."""
    if not len(rows):
        raise ValueError("no transitions to train the backtracking model on")
    obs, actions, next_obs = (as_tensor(x) for x in (data.observations, data.actions, data.next_observations))
    rng = np.random.default_rng([seed, 7])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[float] = []
    for _ in range(steps):
        batch = torch.as_tensor(rng.choice(rows, size=batch_size))
        loss = model.nll(next_obs[batch], actions[batch], obs[batch]).mean()
        optimizer.zero_grad(set_to_none=True)
        (loss + model.action_head.bound_penalty() + model.state_head.bound_penalty()).backward()
        optimizer.step()
        history.append(float(loss.detach()))
    return history
