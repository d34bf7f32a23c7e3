"""The one MLP builder every network in trajaug uses (BC policy, expert actors, discriminator, backtracking), and
``unchecked_distributions`` for the hot loops that build a torch distribution per step."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn


def mlp(in_dim: int, out_dim: int, hidden: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``in_dim → (Linear, activation) per hidden size → Linear → out_dim`` (linear output)."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers += [nn.Linear(width, size), activation()]
        width = size
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


@contextmanager
def unchecked_distributions() -> Iterator[None]:
    """Inside the block, ``torch.distributions`` skips its argument checks (e.g. that a Normal's scale is positive),
    which it otherwise runs on every construction and ``log_prob``; the values computed are the same. PPO builds
    one Gaussian per rollout step and per minibatch: the checks were a quarter of the adversarial phase's time."""
    before = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(before)
