"""The GAIL-style discriminator D_u(s, a) shared by CAT and GAIL.

D(s, a) = σ(f_u(s, a)) is the probability that (s, a) came from the expert. It is trained to minimise

    L_u = −E_expert[log D(s, a)] − E_generated[log(1 − D(s, a))] − β · E[H(D(s, a))]

(β = 1e-3: the entropy bonus of the reference code, which keeps D from saturating), and the generator's
adversarial reward is r(s, a) = −log(1 − D(s, a)) = softplus(f_u(s, a)).
States are normalised with the demos' mean and std before they enter the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trajaug.core.nn import mlp


@dataclass(frozen=True)
class DiscriminatorConfig:
    hidden: tuple[int, ...] = (64, 64)
    """Hidden sizes of the tanh MLP (reference: 2×64)."""
    lr: float = 3e-4
    """Adam learning rate."""
    entropy_weight: float = 1e-3
    """β: weight of the entropy bonus on D's Bernoulli output (reference: 1e-3)."""
    batch_size: int = 256
    """Expert and generated samples per discriminator update (each)."""


class Discriminator(nn.Module):
    """f_u(s, a) → logit; input (B, obs_dim) raw states and (B, act_dim) actions, output (B,) logits."""

    def __init__(self, obs_dim: int, act_dim: int, obs_mean: np.ndarray, obs_std: np.ndarray,
                 config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("obs_mean", torch.as_tensor(obs_mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.as_tensor(obs_std, dtype=torch.float32))
        self.net = mlp(obs_dim + act_dim, 1, config.hidden, nn.Tanh)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=config.lr)

    obs_mean: torch.Tensor
    obs_std: torch.Tensor

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        normalized = (states - self.obs_mean) / self.obs_std
        return self.net(torch.cat([normalized, actions], dim=-1)).squeeze(-1)

    def loss(self, expert_states: torch.Tensor, expert_actions: torch.Tensor, generated_states: torch.Tensor,
             generated_actions: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """L_u of the module docstring, with accuracy statistics."""
        expert_logits = self(expert_states, expert_actions)
        generated_logits = self(generated_states, generated_actions)
        # −log D(expert) = softplus(−f), −log(1 − D(generated)) = softplus(f)
        classification = F.softplus(-expert_logits).mean() + F.softplus(generated_logits).mean()
        logits = torch.cat([expert_logits, generated_logits])
        probability = torch.sigmoid(logits)
        entropy = -(probability * F.logsigmoid(logits) + (1 - probability) * F.logsigmoid(-logits)).mean()
        loss = classification - self.config.entropy_weight * entropy
        stats = {"loss": float(classification.detach()), "expert_accuracy": float((expert_logits > 0).float().mean()),
                 "generated_accuracy": float((generated_logits < 0).float().mean())}
        return loss, stats

    def update(self, expert_states: np.ndarray, expert_actions: np.ndarray, generated_states: np.ndarray,
               generated_actions: np.ndarray, rng: np.random.Generator, epochs: int = 1) -> dict[str, float]:
        """Adam steps over the generated samples (``epochs`` passes), each paired with a random expert batch."""
        batch = self.config.batch_size
        stats: dict[str, float] = {}
        for _ in range(epochs):
            order = rng.permutation(len(generated_states))
            for start in range(0, len(order) - batch + 1, batch):
                rows = order[start:start + batch]
                expert_rows = rng.integers(0, len(expert_states), size=batch)
                loss, stats = self.loss(*(torch.as_tensor(x, dtype=torch.float32) for x in (
                    expert_states[expert_rows], expert_actions[expert_rows], generated_states[rows],
                    generated_actions[rows])))
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
        return stats

    def _logits(self, states: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        """f(s, a) (B,) for (B, obs_dim), (B, act_dim) arrays, copied in: a dataset's arrays are read-only, and a
        tensor sharing their memory would be writable."""
        return self(torch.tensor(states, dtype=torch.float32), torch.tensor(actions, dtype=torch.float32))

    @torch.inference_mode()
    def log_probability(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """log D(s, a) = −softplus(−f(s, a)) for (B, obs_dim), (B, act_dim) arrays; returns (B,) float64 (≤ 0;
        near 0 where D takes the pair for a demo's)."""
        logits = self._logits(states, actions)
        return (-F.softplus(-logits)).double().numpy()

    @torch.inference_mode()
    def reward(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """r(s, a) = −log(1 − D(s, a)) for (B, obs_dim), (B, act_dim) arrays; returns (B,) float64."""
        logits = self._logits(states, actions)
        return F.softplus(logits).double().numpy()
