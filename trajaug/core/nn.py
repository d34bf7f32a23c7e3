"""The one MLP builder every network in trajaug uses (BC policy, expert actors, discriminator, backtracking), and
the torch thread count of a block."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

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
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
