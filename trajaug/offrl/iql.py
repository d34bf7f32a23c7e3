"""IQL, Implicit Q-Learning (Kostrikov, Nair & Levine, "Offline Reinforcement Learning with Implicit Q-Learning",
ICLR 2022), read top to bottom: the config with CORL's defaults (``tinkoff-ai/CORL``, ``algorithms/offline/iql.py``),
then the algorithm.

IQL never queries Q at actions outside the dataset: V is fitted by expectile regression to the target critics at the
dataset's actions, Q to ``r + γ V(s')``, and the policy by advantage-weighted regression. On normalized states ``s``,
``d`` = terminal flag (0 for a timeout: it bootstraps, :mod:`trajaug.offrl.replay`), each update, in this order::

    u = min_{k=1,2} Q_θ'k(s, a) − V_ψ(s)
    L_V(ψ) = E_(s,a)~D [ |τ − 1(u < 0)| u² ]                                     expectile regression, τ = expectile
    y = r + γ (1 − d) V_ψ(s')                                                   (V before this update's V step)
    L_Q(θ) = ½ Σ_{k=1,2} E_(s,a,r,s',d)~D [ (Q_θk(s, a) − y)² ]
    L_π(φ) = −E_(s,a)~D [ min(exp(β u), 100) · log π_φ(a | s) ]                 advantage-weighted regression
    θ'_k ← ρ θ_k + (1 − ρ) θ'_k                                                 ρ = the Polyak rate ``tau``

``π_φ(a | s) = N(μ_φ(s), diag σ²)`` with ``μ_φ(s) = m · tanh(MLP_φ(s))`` (the evaluated, deterministic policy, ``m`` the
action bound) and ``log σ`` a state-independent parameter clipped to [−20, 2]; the actor's learning rate follows a
cosine schedule from ``lr`` to 0 over the run. Rewards are multiplied by ``1000 / (max − min episode return)`` when
``scale_rewards`` (IQL's locomotion setting; see the field).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trajaug.core.config import check_settings, setting
from trajaug.core.dataset import Dataset
from trajaug.offrl.nets import Actor, TwinQ, adam, frozen_copy, soft_update, value_net
from trajaug.offrl.replay import Batch, return_range_scale

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
"""Bounds of the Gaussian policy's log standard deviation (CORL)."""
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class IQLConfig:
    """Hyperparameters of IQL; the defaults are CORL's (and the paper's locomotion settings)."""

    steps: int = setting(1_000_000, minimum=1)
    """Gradient updates of V, Q and the actor, one each per update (CORL: 1M)."""
    batch_size: int = setting(256, minimum=1)
    """Transitions per update, drawn uniformly with replacement (CORL: 256)."""
    lr: float = setting(3e-4, above=0)
    """Adam learning rate of V, Q and the actor (CORL: vf_lr = qf_lr = actor_lr = 3e-4); the actor's decays to 0
    along a cosine over ``steps`` (CORL: CosineAnnealingLR(T_max = max_timesteps))."""
    hidden: tuple[int, ...] = setting((256, 256), minimum=1)
    """Hidden layer widths of the actor, V and each Q network, ReLU (CORL: 256-256)."""
    discount: float = setting(0.99, minimum=0, maximum=1)
    """γ, the discount per step (CORL: 0.99)."""
    tau: float = setting(0.005, above=0, maximum=1)
    """The Polyak rate of the target Q networks per update (CORL: 0.005)."""
    expectile: float = setting(0.7, above=0, below=1)
    """τ of the expectile regression of V on Q; 0.5 is the mean, → 1 the max over dataset actions (CORL: iql_tau
    0.7, the paper's locomotion value)."""
    beta: float = setting(3.0, minimum=0)
    """β, inverse temperature of the advantage weights exp(β u): small → behaviour cloning, large → greedy on Q
    (CORL: 3.0)."""
    exp_adv_max: float = setting(100.0, above=0)
    """Upper clip of the advantage weights exp(β u) (CORL: EXP_ADV_MAX = 100)."""
    scale_rewards: bool = True
    """Multiply rewards by 1000 / (max − min episode return of the dataset), IQL's locomotion setting (the paper;
    CORL's modify_reward). Left unscaled when the dataset has < 2 episodes or equal returns."""
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


class IQL:
    """The IQL learner: a Gaussian actor (mean = ``actor``), V, twin Q and target Q; one :meth:`update` per batch."""

    NAME = "iql"
    LOSSES = ("value", "q", "actor")
    RESUME_ATTRIBUTES = ("updates",)
    """What an update reads besides networks and the optimizer (saved to resume a run)."""

    def __init__(self, config: IQLConfig, actor: Actor, seed: int) -> None:
        """``actor``: the policy mean to train, its normalizer and action scale already set (Q and V are
        initialised after it from torch's global CPU generator, then moved to the actor's device). IQL draws no
        random numbers; ``seed`` is unused."""
        self.config = config
        self.actor = actor
        device = actor.action_scale.device
        self.log_std = nn.Parameter(torch.zeros(actor.act_dim, device=device))
        self.critic = TwinQ(actor.obs_dim + actor.act_dim, config.hidden).to(device)
        self.critic_target = frozen_copy(self.critic)
        self.value = value_net(actor.obs_dim, config.hidden).to(device)
        # One Adam, a parameter group per network (V, Q, actor): see update() for why this equals three optimizers.
        self.optimizer = adam(config.lr, self.value.parameters(), self.critic.parameters(),
                              [*actor.parameters(), self.log_std])
        self._sources, self._targets = list(self.critic.parameters()), list(self.critic_target.parameters())
        self.updates = 0

    @staticmethod
    def reward_scale(config: IQLConfig, dataset: Dataset) -> float:
        """``1000 / (max − min episode return)`` when ``config.scale_rewards`` (1 with a warning if undefined)."""
        if not config.scale_rewards:
            return 1.0
        scale = return_range_scale(dataset)
        if scale is None:
            warnings.warn("iql: rewards left unscaled (scale_rewards needs two episodes with different returns)",
                          UserWarning, stacklevel=2)
            return 1.0
        return scale

    @torch.no_grad()
    def target(self, batch: Batch) -> torch.Tensor:
        """``y = r + γ (1 − d) V_ψ(s')``, the Q networks' regression target."""
        next_v = self.value(batch.next_observations).squeeze(-1)
        return batch.rewards + batch.not_done * self.config.discount * next_v

    def actor_lr(self, update: int) -> float:
        """The actor's learning rate at update ``update`` (0-based): ``lr · (1 + cos(π t / T)) / 2``."""
        return self.config.lr * 0.5 * (1.0 + math.cos(math.pi * update / self.config.steps))

    def update(self, batch: Batch) -> torch.Tensor:
        """One IQL update: V, Q (then the target Q) and the actor; returns the (value, q, actor) losses.

        CORL steps V, then Q, then the actor, but no step changes another's loss: V's regresses on the target Q, Q's
        target uses V(s') from before V's step, the actor's weights use the advantage from before V's step. So one
        backward pass through the sum of the three losses (disjoint parameters, disjoint graphs) and one Adam step
        with a parameter group per network give the same gradients and the same updates, with less overhead.
        """
        config = self.config
        y = self.target(batch)  # V(s') before V's step, as in CORL
        with torch.no_grad():
            target_q = self.critic_target(batch.observations_actions).min(dim=0).values

        advantage = target_q - self.value(batch.observations).squeeze(-1)
        weight = torch.abs(config.expectile - (advantage < 0).float())
        value_loss = (weight * advantage.square()).mean()

        q_loss = (self.critic(batch.observations_actions) - y).square().mean(dim=1).mean()

        exp_advantage = torch.exp(config.beta * advantage.detach()).clamp(max=config.exp_adv_max)
        mean = self.actor.forward_normalized(batch.observations)
        log_std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        log_prob = (-0.5 * ((batch.actions - mean) * torch.exp(-log_std)).square() - log_std - HALF_LOG_2PI).sum(-1)
        actor_loss = -(exp_advantage * log_prob).mean()

        self.optimizer.param_groups[2]["lr"] = self.actor_lr(self.updates)
        self.optimizer.zero_grad(set_to_none=True)
        (value_loss + q_loss + actor_loss).backward()
        self.optimizer.step()
        soft_update(self._targets, self._sources, config.tau)
        self.updates += 1
        return torch.stack([value_loss.detach(), q_loss.detach(), actor_loss.detach()])

    def networks(self) -> dict[str, nn.Module]:
        """Every network, by name (saved in the checkpoint); ``log_std`` travels as a one-parameter module."""
        holder = nn.Module()
        holder.log_std = self.log_std
        return {"actor": self.actor, "value": self.value, "critic": self.critic, "critic_target": self.critic_target,
                "log_std": holder}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def generators(self) -> dict[str, torch.Generator]:
        return {}
