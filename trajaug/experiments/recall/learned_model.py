"""A learned backtracking model for discrete states: the tabular/softmax analogue of
:mod:`trajaug.augment.backtracking.model`'s Gaussian model,

    q(s, a | s') = q(a | s') · q(s | s', a),

with two categorical heads over one-hot inputs: the *action head* q(a | s') is a linear layer one-hot(s') → 4 logits
and the *state head* q(s | s', a) a linear layer one-hot(s', a) → n_states logits (implemented as embedding tables,
which equal a bias-free linear layer on a one-hot vector). Both start at zero logits (uniform distributions).

Training is maximum likelihood: Adam on the mean negative log-likelihood −log q(a | s') − log q(s | s', a) (nats) of
minibatches drawn uniformly from a FIFO buffer of the agent's own transitions (s, a, s'). A state-head row that was
never trained stays uniform over all states, so traces through unvisited (s', a) pairs can jump; in practice traces
start at visited states and q(a | s') only proposes actions seen entering s'.

Sampling a recall trace of length L backward from s'_L: a ~ q(a | s'), s ~ q(s | s', a), repeat from s; returned in
forward order like :class:`trajaug.experiments.recall.fourroom.TrueBacktrackingModel`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of (B, K) probabilities (inverse CDF; rows need not be exactly normalised)."""
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cumulative[:, -1]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), probs.shape[1] - 1)


class RowSampler:
    """Inverse-CDF sampling from the rows of a fixed (R, K) probability table in O(log(R·K)) per draw: the rows'
    normalised CDFs, row r shifted by 2r, form one increasing array for a single ``searchsorted``."""

    def __init__(self, probs: np.ndarray) -> None:
        cumulative = np.cumsum(probs, axis=1)
        cumulative /= cumulative[:, -1:]
        self.width = probs.shape[1]
        self.flat = (cumulative + 2.0 * np.arange(len(probs))[:, None]).ravel()

    def sample(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(B,) categories, one from each of the (B,) rows."""
        u = rng.random(len(rows)) + 2.0 * rows
        position = np.searchsorted(self.flat, u, side="right") - rows * self.width
        return np.clip(position, 0, self.width - 1)


class TransitionBuffer:
    """FIFO ring buffer of (s, a, s') integer transitions, ``capacity`` rows."""

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros((capacity, 3), dtype=np.int64)
        self.size = self.pos = 0

    def add(self, states: np.ndarray, actions: np.ndarray, next_states: np.ndarray) -> None:
        rows = np.stack([states, actions, next_states], axis=1)[-len(self.data):]
        idx = (self.pos + np.arange(len(rows))) % len(self.data)
        self.data[idx] = rows
        self.pos = int((self.pos + len(rows)) % len(self.data))
        self.size = min(self.size + len(rows), len(self.data))

    def sample(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """(batch, 3) rows drawn uniformly with replacement."""
        return self.data[rng.integers(0, self.size, batch)]


class LearnedBacktrackingModel(nn.Module):
    """Categorical q(a | s') and q(s | s', a) over ``n_states`` one-hot states and ``n_actions`` actions."""

    def __init__(self, n_states: int, n_actions: int, lr: float = 0.05, buffer_capacity: int = 50_000) -> None:
        super().__init__()
        self.n_states, self.n_actions = n_states, n_actions
        self.action_head = nn.Embedding(n_states, n_actions)
        self.state_head = nn.Embedding(n_states * n_actions, n_states)
        nn.init.zeros_(self.action_head.weight)
        nn.init.zeros_(self.state_head.weight)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        self.buffer = TransitionBuffer(buffer_capacity)
        self._tables: tuple[np.ndarray, np.ndarray] | None = None
        self._samplers: tuple[RowSampler, RowSampler] | None = None

    def nll(self, states: torch.Tensor, actions: torch.Tensor, next_states: torch.Tensor) -> torch.Tensor:
        """(B,) −log q(s, a | s') in nats of (B,) int64 transitions s —a→ s'."""
        action_logp = F.log_softmax(self.action_head(next_states), -1).gather(1, actions[:, None])[:, 0]
        state_logits = self.state_head(next_states * self.n_actions + actions)
        state_logp = F.log_softmax(state_logits, -1).gather(1, states[:, None])[:, 0]
        return -(action_logp + state_logp)

    def mean_nll(self, transitions: np.ndarray) -> float:
        """Mean −log q(s, a | s') (nats) of (N, 3) rows (s, a, s')."""
        t = torch.from_numpy(np.ascontiguousarray(transitions, dtype=np.int64))
        with torch.no_grad():
            return float(self.nll(t[:, 0], t[:, 1], t[:, 2]).mean())

    def observe(self, states: np.ndarray, actions: np.ndarray, next_states: np.ndarray) -> None:
        """Add (N,) transitions s —a→ s' to the training buffer."""
        self.buffer.add(states, actions, next_states)

    def fit(self, updates: int, batch: int, rng: np.random.Generator) -> float:
        """``updates`` Adam steps on uniform minibatches of the buffer; the last minibatch's mean NLL (nats)."""
        loss = torch.tensor(float("nan"))
        for _ in range(updates if self.buffer.size else 0):
            t = torch.from_numpy(self.buffer.sample(batch, rng))
            loss = self.nll(t[:, 0], t[:, 1], t[:, 2]).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self._tables = self._samplers = None
        return float(loss.detach())

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_states, n_actions) q(a | s') and (n_states · n_actions, n_states) q(s | s', a), cached until the
        next :meth:`fit`."""
        if self._tables is None:
            with torch.no_grad():
                self._tables = (F.softmax(self.action_head.weight, -1).numpy().astype(np.float64),
                                F.softmax(self.state_head.weight, -1).numpy().astype(np.float64))
        return self._tables

    def sample_traces(self, ends: np.ndarray, length: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Traces ending in the (B,) states ``ends``: states (B, length + 1) (``states[:, -1] == ends``) and actions
        (B, length), in forward order."""
        if self._samplers is None:
            action_table, state_table = self.tables()
            self._samplers = RowSampler(action_table), RowSampler(state_table)
        action_sampler, state_sampler = self._samplers
        ends = np.asarray(ends, dtype=np.int64)
        states = np.empty((len(ends), length + 1), dtype=np.int64)
        actions = np.empty((len(ends), length), dtype=np.int64)
        states[:, length] = ends
        for t in range(length - 1, -1, -1):
            nxt = states[:, t + 1]
            actions[:, t] = action_sampler.sample(nxt, rng)
            states[:, t] = state_sampler.sample(nxt * self.n_actions + actions[:, t], rng)
        return states, actions
