"""The one MLP builder every network in trajaug uses (BC policy, expert actors, discriminator, backtracking), and
the torch thread count of a block."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


def mlp(in_dim: int, out_dim: int | None, hidden: Sequence[int],
        activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``in_dim → (Linear, activation) per hidden size → Linear → out_dim`` (linear output); ``out_dim=None``:
    no output layer, the last hidden activation is the output (a trunk that heads are put on)."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers += [nn.Linear(width, size), activation()]
        width = size
    if out_dim is not None:
        layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` threads inside the block (small networks on a busy machine run fastest on one; the
    performance page gives the figures)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def deterministic_torch(threads: int) -> Iterator[None]:
    """``threads`` torch threads and deterministic algorithms inside the block, restored afterwards (both settings
    are process-global): the training loops of BC and offline RL run in it."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


class NormalizedPolicy(nn.Module):
    """A deterministic policy on normalized observations: input (..., obs_dim) raw observations, output
    (..., act_dim) = ``squash(MLP((obs − mean) / std))``; BC's policy and offline RL's actor (``squash``: tanh, times
    their action scale)."""

    obs_mean: torch.Tensor
    obs_std: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256),
                 env_id: str | None = None) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.hidden, self.env_id = obs_dim, act_dim, tuple(hidden), env_id
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.net = mlp(obs_dim, act_dim, hidden)

    def set_normalizer(self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor) -> None:
        """Set the (obs_dim,) mean and std (std > 0, eps already added) used to normalize observations."""
        self.obs_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.obs_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def forward_normalized(self, obs_normalized: torch.Tensor) -> torch.Tensor:
        """The policy on already-normalized observations (training feeds pre-normalized batches)."""
        raise NotImplementedError

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.forward_normalized(self.normalize(obs))

    @torch.inference_mode()
    def act(self, observations: np.ndarray) -> np.ndarray:
        """Batched inference: (B, obs_dim) array (any float dtype) → (B, act_dim) float32 actions."""
        return self(torch.from_numpy(np.array(observations, dtype=np.float32))).numpy()
