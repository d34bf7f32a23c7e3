"""TD3+BC (Fujimoto & Gu, "A Minimalist Approach to Offline Reinforcement Learning", NeurIPS 2021), read top to bottom:
the config with CORL's defaults (``tinkoff-ai/CORL``, ``algorithms/offline/td3_bc.py``), then the algorithm.

TD3 on the dataset's transitions, with a behaviour-cloning term in the actor's loss. On normalized states ``s``,
actions bounded by ``m`` (the environment's action bound, 1 for the D4RL locomotion tasks), ``d`` = terminal flag
(0 for a timeout: it bootstraps, :mod:`trajaug.offrl.replay`):

Critic update (every update)::

    ε ~ N(0, (σ̃ m)²),  ã' = clip(π_φ'(s') + clip(ε, −c m, c m), −m, m)        target policy smoothing
    y = r + γ (1 − d) min_{k=1,2} Q_θ'k(s', ã')                                 clipped double-Q target
    L(θ) = Σ_{k=1,2} E_(s,a,r,s',d)~D [(Q_θk(s, a) − y)²]

Actor update (every ``policy_freq`` updates, delayed)::

    λ = α / E_s |Q_θ1(s, π_φ(s))|               (a constant: no gradient flows through λ)
    L(φ) = −λ E_s [Q_θ1(s, π_φ(s))] + E_(s,a) [(π_φ(s) − a)²]      (the squared error averaged over action dims)

Targets (with each actor update): ``θ'_k ← τ θ_k + (1 − τ) θ'_k``, ``φ' ← τ φ + (1 − τ) φ'``.
Rewards are used as they are (CORL's TD3+BC configs set ``normalize_reward = False``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trajaug.core.config import check_settings, setting
from trajaug.core.dataset import Dataset
from trajaug.offrl.nets import Actor, TwinQ, adam, frozen_copy, soft_update
from trajaug.offrl.replay import Batch


@dataclass(frozen=True)
class TD3BCConfig:
    """Hyperparameters of TD3+BC; the defaults are CORL's (and the paper's)."""

    steps: int = setting(1_000_000, minimum=1)
    """Gradient updates of the critics; the actor takes one every ``policy_freq`` (CORL: 1M)."""
    batch_size: int = setting(256, minimum=1)
    """Transitions per update, drawn uniformly with replacement (CORL: 256)."""
    lr: float = setting(3e-4, above=0)
    """Adam learning rate of the actor and the critics, constant (CORL: 3e-4)."""
    hidden: tuple[int, ...] = setting((256, 256), minimum=1)
    """Hidden layer widths of the actor and of each critic, ReLU (CORL: 256-256)."""
    discount: float = setting(0.99, minimum=0, maximum=1)
    """γ, the discount per step (CORL: 0.99)."""
    tau: float = setting(0.005, above=0, maximum=1)
    """τ, the Polyak rate of the target networks per actor update (CORL: 0.005)."""
    policy_noise: float = setting(0.2, minimum=0)
    """σ̃, std of the target policy smoothing noise, in units of the action bound (CORL: 0.2)."""
    noise_clip: float = setting(0.5, minimum=0)
    """c, the smoothing noise is clipped to ±c, in units of the action bound (CORL: 0.5)."""
    policy_freq: int = setting(2, minimum=1)
    """The actor and the targets are updated once per this many critic updates (CORL: 2)."""
    alpha: float = setting(2.5, minimum=0)
    """α, weight of the Q term against behaviour cloning: λ = α / mean|Q| (CORL: 2.5)."""
    normalize_obs: bool = True
    """Standardise states with the dataset's mean and std, stored in the policy (CORL: normalize = True)."""
    obs_eps: float = setting(1e-3, minimum=0)
    """Added to the per-dimension std of the states (CORL: 1e-3)."""
    threads: int = setting(1, minimum=1)
    """torch intra-op threads while training; 1 is the fastest for 256-256 networks and keeps runs deterministic."""

    def __post_init__(self) -> None:
        check_settings(self)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hidden": list(self.hidden)}


class TD3BC:
    """The TD3+BC learner: an actor, twin critics and their target copies; one :meth:`update` per minibatch."""

    NAME = "td3bc"
    LOSSES = ("critic", "actor")
    RESUME_ATTRIBUTES = ("updates", "_actor_loss")
    """What an update reads besides networks, optimizers and generators (saved to resume a run)."""

    def __init__(self, config: TD3BCConfig, actor: Actor, seed: int) -> None:
        """``actor``: the policy to train, its normalizer and action scale already set, on the training device (the
        critics are initialised after it from torch's global CPU generator, then moved there); ``seed`` seeds the
        smoothing noise (a CPU generator: the same noise on every device)."""
        self.config = config
        self.actor = actor
        device = actor.action_scale.device
        self.critic = TwinQ(actor.obs_dim + actor.act_dim, config.hidden).to(device)
        self.actor_target, self.critic_target = frozen_copy(actor), frozen_copy(self.critic)
        self.actor_optimizer = adam(config.lr, actor.parameters())
        self.critic_optimizer = adam(config.lr, self.critic.parameters())
        self._sources = [*self.critic.parameters(), *self.actor.parameters()]
        self._targets = [*self.critic_target.parameters(), *self.actor_target.parameters()]
        scale = actor.action_scale.detach().clone()
        self._bound, self._sigma, self._clip = scale, config.policy_noise * scale, config.noise_clip * scale
        self.noise = torch.Generator().manual_seed(seed)
        self.updates = 0
        self._actor_loss = torch.tensor(math.nan, device=device)

    @staticmethod
    def reward_scale(config: TD3BCConfig, dataset: Dataset) -> float:
        """TD3+BC trains on the rewards as they are."""
        return 1.0

    @torch.no_grad()
    def target(self, batch: Batch, noise: torch.Tensor) -> torch.Tensor:
        """``y = r + γ (1 − d) min_k Q_θ'k(s', ã')`` with ``ã'`` smoothed by standard-normal ``noise`` (B, act_dim)."""
        smoothing = torch.clamp(noise * self._sigma, -self._clip, self._clip)
        next_action = torch.clamp(self.actor_target.forward_normalized(batch.next_observations) + smoothing,
                                  -self._bound, self._bound)
        next_q = self.critic_target(torch.cat([batch.next_observations, next_action], dim=1)).min(dim=0).values
        return batch.rewards + batch.not_done * self.config.discount * next_q

    def update(self, batch: Batch) -> torch.Tensor:
        """One TD3+BC update; returns the (critic, actor) losses (the actor's from its latest update)."""
        config = self.config
        self.updates += 1
        noise = torch.randn(batch.actions.shape, generator=self.noise).to(batch.actions.device, non_blocking=True)
        y = self.target(batch, noise)
        critic_loss = (self.critic(batch.observations_actions) - y).square().mean(dim=1).sum()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        if self.updates % config.policy_freq == 0:
            pi = self.actor.forward_normalized(batch.observations)
            q = self.critic.first(torch.cat([batch.observations, pi], dim=1))
            lmbda = config.alpha / q.abs().mean().detach()
            actor_loss = -lmbda * q.mean() + F.mse_loss(pi, batch.actions)
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_optimizer.step()
            soft_update(self._targets, self._sources, config.tau)
            self._actor_loss = actor_loss.detach()
        return torch.stack([critic_loss.detach(), self._actor_loss])

    def networks(self) -> dict[str, nn.Module]:
        """Every network, by name (saved in the checkpoint)."""
        return {"actor": self.actor, "actor_target": self.actor_target, "critic": self.critic,
                "critic_target": self.critic_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}

    def generators(self) -> dict[str, torch.Generator]:
        return {"noise": self.noise}
