"""The networks TD3+BC and IQL share: the actor (the evaluated policy), twin Q critics, a state-value net.

* :class:`Actor` — ``π(s) = scale ⊙ tanh(MLP((s − μ) / σ))``, CORL's actor (256-256 ReLU, tanh output scaled by the
  action bound). The observation normalizer (μ, σ; σ includes its eps) and the action scale are buffers, so
  ``state_dict()`` alone reproduces the policy and raw environment observations go straight in. TD3+BC uses it as
  its deterministic policy, IQL as the mean of its Gaussian policy.
* :class:`TwinQ` — ``n`` independent Q networks ``Q_k(s, a) = MLP_k([s, a])``, linear output. (Stacking their
  weights into one batched product per layer measured no faster on one CPU thread, so they stay plain MLPs.)
* :func:`value_net` — ``V(s) = MLP([s])``, linear output (IQL).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from trajaug.core.nn import NormalizedPolicy, mlp

M = TypeVar("M", bound=nn.Module)


class Actor(NormalizedPolicy):
    """Deterministic policy; input (..., obs_dim) raw observations, output (..., act_dim) actions in
    ``[−scale, scale]``."""

    action_scale: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256),
                 env_id: str | None = None) -> None:
        super().__init__(obs_dim, act_dim, hidden, env_id)
        self.register_buffer("action_scale", torch.ones(act_dim))

    def forward_normalized(self, obs_normalized: torch.Tensor) -> torch.Tensor:
        """The policy on already-normalized observations (training feeds pre-normalized batches)."""
        return torch.tanh(self.net(obs_normalized)) * self.action_scale


class TwinQ(nn.Module):
    """``n`` independent Q networks ``Q_k(s, a) = MLP_k([s, a])`` (ReLU, linear output), CORL's twin critics;
    ``forward(x)``: (B, obs_dim + act_dim) → (n, B)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (256, 256), n: int = 2) -> None:
        super().__init__()
        self.qs = nn.ModuleList(mlp(in_dim, 1, hidden) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([q(x).squeeze(-1) for q in self.qs])

    def first(self, x: torch.Tensor) -> torch.Tensor:
        """``Q_1(x)`` (B,) with the weights held constant: gradients flow to ``x`` only (TD3+BC's actor loss)."""
        h, first = x, self.qs[0]
        assert isinstance(first, nn.Sequential)
        for layer in first:
            h = F.linear(h, layer.weight.detach(), layer.bias.detach()) if isinstance(layer, nn.Linear) else layer(h)
        return h.squeeze(-1)


def value_net(obs_dim: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """``V(s)``: a ReLU MLP with a linear (B, 1) output."""
    return mlp(obs_dim, 1, hidden)


def frozen_copy(module: M) -> M:
    """A target network: a deep copy without gradients."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


def soft_update(target: Sequence[torch.Tensor], source: Sequence[torch.Tensor], tau: float) -> None:
    """Polyak averaging ``θ' ← (1 − τ) θ' + τ θ`` over parameter lists (``lerp``: ``θ' + τ (θ − θ')``), one call."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target), list(source), tau)


def adam(lr: float, *groups: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam (no weight decay), a parameter group per argument (each may get its own learning rate later); the fused
    CPU kernel when torch has it (≈ 10% faster per update)."""
    params: list[dict[str, Any]] = [{"params": list(group)} for group in groups]
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr)
