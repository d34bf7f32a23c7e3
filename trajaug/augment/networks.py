"""The networks more than one family uses: the GAIL-style discriminator (CAT, GAIL and bdm's goal GAN) and a small
z-scored MLP regressor (bdm's value estimate and learned reward, SynthER's reward check).

The discriminator D_u(s, a):

D(s, a) = σ(f_u(s, a)) is the probability that (s, a) came from the expert. It is trained to minimise

    L_u = −E_expert[log D(s, a)] − E_generated[log(1 − D(s, a))] − β · E[H(D(s, a))]

(β = 1e-3: the entropy bonus of the reference code, which keeps D from saturating), and the generator's
adversarial reward is r(s, a) = −log(1 − D(s, a)) = softplus(f_u(s, a)).
States are normalised with the demos' mean and std before they enter the network.

The regressor: x (B, in_dim) → y (B, out_dim), inputs and targets z-scored, fitted by MSE (:class:`MLPRegressor`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trajaug.core.nn import mlp

STD_FLOOR = 1e-3
"""Floor of every per-dimension std used for normalisation (constant dimensions stay finite)."""


def silu_mlp(in_dim: int, out_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    """SiLU MLP ``in_dim → hidden… → out_dim`` (linear output)."""
    return mlp(in_dim, out_dim, hidden, nn.SiLU)


def as_tensor(values: np.ndarray) -> torch.Tensor:
    """A float32 tensor of its own (a copy: dataset arrays are read-only views)."""
    return torch.from_numpy(np.array(values, np.float32))


def z_stats(values: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std floored at ``STD_FLOOR``) per column of (N, d) values, as float32 tensors (d,)."""
    values = values.astype(np.float64)
    return (torch.as_tensor(values.mean(axis=0), dtype=torch.float32),
            torch.as_tensor(np.maximum(values.std(axis=0), STD_FLOOR), dtype=torch.float32))


class Discriminator(nn.Module):
    """f_u(s, a) → logit; input (B, obs_dim) raw states and (B, act_dim) actions, output (B,) logits.

    ``hidden``: sizes of the tanh MLP; ``lr``: Adam's learning rate; ``entropy_weight``: β of the loss;
    ``batch_size``: expert and generated samples per update (each). CAT and GAIL take them from their config
    (``disc_*``), the goal GAN of ``bdm`` from its own. ``device``: where it trains (initialised on the CPU, then
    moved, with its optimizer); :meth:`reward` and :meth:`log_probability` score numpy arrays on the CPU (the
    collection loop's side), through a CPU copy refreshed after each :meth:`update` when it trains elsewhere.
    """

    def __init__(self, obs_dim: int, act_dim: int, obs_mean: np.ndarray, obs_std: np.ndarray,
                 hidden: Sequence[int], lr: float, entropy_weight: float = 1e-3, batch_size: int = 256,
                 device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.entropy_weight, self.batch_size = entropy_weight, batch_size
        self.register_buffer("obs_mean", torch.as_tensor(obs_mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.as_tensor(obs_std, dtype=torch.float32))
        self.net = mlp(obs_dim + act_dim, 1, hidden, nn.Tanh)
        self.to(device)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        self._scorer: tuple[nn.Module, torch.Tensor, torch.Tensor] | None = None
        """(net, mean, std) on the CPU while the discriminator trains on another device; None: not made yet."""
        self.register_load_state_dict_post_hook(_drop_scorer)

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
        loss = classification - self.entropy_weight * entropy
        stats = {"loss": float(classification.detach()), "expert_accuracy": float((expert_logits > 0).float().mean()),
                 "generated_accuracy": float((generated_logits < 0).float().mean())}
        return loss, stats

    def update(self, expert_states: np.ndarray, expert_actions: np.ndarray, generated_states: np.ndarray,
               generated_actions: np.ndarray, rng: np.random.Generator, epochs: int = 1) -> dict[str, float]:
        """Adam steps over the generated samples (``epochs`` passes), each paired with a random expert batch. The
        arrays move to the discriminator's device once per call (as float32); the minibatches are indexed there."""
        batch, device = self.batch_size, self.obs_mean.device
        stats: dict[str, float] = {}
        expert_s, expert_a, generated_s, generated_a = (torch.tensor(x, dtype=torch.float32, device=device) for x in (
            expert_states, expert_actions, generated_states, generated_actions))
        for _ in range(epochs):
            order = rng.permutation(len(generated_states))
            for start in range(0, len(order) - batch + 1, batch):
                rows = torch.from_numpy(order[start:start + batch]).to(device, non_blocking=True)
                expert_rows = torch.from_numpy(rng.integers(0, len(expert_states), size=batch)).to(device)
                loss, stats = self.loss(expert_s[expert_rows], expert_a[expert_rows], generated_s[rows],
                                        generated_a[rows])
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
        self._scorer = None  # the CPU copy, if any, is stale now
        return stats

    def scores_itself(self) -> bool:
        """Whether scoring uses the discriminator itself (it trains on the CPU) rather than a CPU copy of it."""
        return self.obs_mean.device.type == "cpu"

    def _logits(self, states: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        """f(s, a) (B,) for (B, obs_dim), (B, act_dim) arrays, copied in: a dataset's arrays are read-only, and a
        tensor sharing their memory would be writable. On the CPU, through a CPU copy when it trains elsewhere."""
        states_t, actions_t = torch.tensor(states, dtype=torch.float32), torch.tensor(actions, dtype=torch.float32)
        if self.scores_itself():
            return self(states_t, actions_t)
        if self._scorer is None:
            with torch.inference_mode(False):  # plain tensors, whatever mode the caller scores in
                scorer = copy.deepcopy(self.net).to("cpu").requires_grad_(False)
            self._scorer = (scorer, self.obs_mean.cpu(), self.obs_std.cpu())
        net, mean, std = self._scorer
        return net(torch.cat([(states_t - mean) / std, actions_t], dim=-1)).squeeze(-1)

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


def _drop_scorer(module: Any, _keys: object) -> None:
    """After loading weights into a :class:`Discriminator`: its CPU copy, if any, is stale."""
    module._scorer = None


class MLPRegressor(nn.Module):
    """x (B, in_dim) → y (B, out_dim); inputs and targets z-scored with the training data's statistics,
    fitted by MSE with Adam on uniform minibatches (with replacement)."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, hidden: Sequence[int], seed: int) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = silu_mlp(inputs.shape[1], targets.shape[1], hidden)
        self.x_mean, self.x_std = z_stats(inputs)
        self.y_mean, self.y_std = z_stats(targets)

    @classmethod
    def fit(cls, inputs: np.ndarray, targets: np.ndarray, hidden: Sequence[int], steps: int, seed: int,
            lr: float = 1e-3, batch_size: int = 256) -> tuple[MLPRegressor, list[float]]:
        """A regressor trained for ``steps`` updates on (N, in_dim) → (N, out_dim); returns it and its losses
        (MSE in target std units)."""
        model = cls(inputs, targets, hidden, seed)
        x = (as_tensor(inputs) - model.x_mean) / model.x_std
        y = (as_tensor(targets) - model.y_mean) / model.y_std
        rng = np.random.default_rng([seed, 11])
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            rows = torch.as_tensor(rng.integers(0, len(x), size=batch_size))
            loss = F.mse_loss(model.net(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        return model, losses

    @torch.no_grad()
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(B, out_dim) float64 predictions for (B, in_dim) inputs."""
        x = (as_tensor(inputs) - self.x_mean) / self.x_std
        return (self.net(x) * self.y_std + self.y_mean).double().numpy()
