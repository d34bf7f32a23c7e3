"""Transitions for offline RL from a :class:`~trajaug.core.dataset.Dataset`, and the buffer updates sample from.

Which rows become transitions ``(s, a, r, s', d)``, row ``i`` giving ``(observations[i], actions[i], rewards[i],
next_observations[i], terminals[i])``:

* **terminal** rows (``terminals[i]``; a row that is both terminal and timeout counts as a terminal, the episode-split
  rule of :mod:`trajaug.core.dataset`) have ``d = 1``: their target is ``r`` alone, nothing is bootstrapped — the
  environment ended there;
* **timeout** rows have ``d = 0`` and bootstrap like any other row: the time limit cut the episode, the state after
  the action is real and ``next_observations[i]`` holds it;
* an episode's last row that is not a terminal and whose next observation *equals* its observation is **dropped**:
  that is how the readers mark a row whose successor is unknown (a file without ``next_observations`` has them
  rebuilt from the following rows, and an episode's last row has none: :mod:`trajaug.storage.d4rl`). d4rl's
  ``qlearning_dataset`` (CORL's input) drops every timeout row for that reason; with stored next observations,
  trajaug keeps them and bootstraps through them, as the time-limit-aware target ``r + γ Q(s', ·)`` requires.

The buffer holds every transition as one float32 tensor, observations already normalized and rewards already scaled,
row layout ``[s | a | r | 1 − d | s']``: a batch is one ``index_select`` of rows drawn uniformly with replacement by a
seeded ``torch.Generator`` (CORL's replay buffer samples the same way), and ``[s, a]``, the critics' input, is a view.
The buffer is resident on the training device (moved once); the row indices are drawn on the CPU generator and moved
per batch (B integers), so every device samples the same minibatches.

**Real + synthetic** (SynthER's way of training on an upsampled dataset): with a synthetic set, the buffer holds the
real rows first and the synthetic rows after them, normalized and scaled alike (by the real data's statistics), and
every batch of B draws exactly ``round(real_ratio · B)`` rows uniformly from the real part and the rest uniformly from
the synthetic part, real first (SynthER's online agents mix at ``real_ratio = 0.5``; 0: the synthetic set alone).
Without one, the buffer and its draws are exactly those of a plain run. :func:`episode_subset` makes the smaller
real datasets such sets are compared on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError

REAL_RATIO = 0.5
"""Default share of each minibatch drawn from the real data when a synthetic set is mixed in (SynthER's r)."""


@dataclass(frozen=True)
class Transitions:
    """The rows of a dataset that offline RL trains on (see the module docstring)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    """(M,) bool: the transition ends the episode for real (no bootstrap)."""
    dropped: int
    """Episode-end rows left out: no terminal, and no next observation stored for them."""
    timeouts: int
    """Timeout rows kept (they bootstrap)."""

    def __len__(self) -> int:
        return len(self.rewards)


def transitions(dataset: Dataset, what: str = "dataset") -> Transitions:
    """The transitions of ``dataset``; raises TrajaugInputError when there are none to train on."""
    if len(dataset) == 0:
        raise TrajaugInputError(f"{what}: no transitions to train on (empty dataset)")
    ends = dataset.episode_bounds[:, 1] - 1
    ends = ends[~dataset.terminals[ends]]
    unknown = np.zeros(len(dataset), dtype=bool)
    unknown[ends] = (dataset.next_observations[ends] == dataset.observations[ends]).all(axis=1)
    keep = ~unknown
    if not keep.any():
        raise TrajaugInputError(f"{what}: no transition has a known next state (no next_observations stored, and "
                                "none can be derived: every row ends an episode without a terminal)")
    terminals = np.asarray(dataset.terminals[keep], dtype=bool)
    return Transitions(np.asarray(dataset.observations[keep], np.float32),
                       np.asarray(dataset.actions[keep], np.float32), np.asarray(dataset.rewards[keep], np.float32),
                       np.asarray(dataset.next_observations[keep], np.float32), terminals, int(unknown.sum()),
                       int((dataset.timeouts[keep] & ~terminals).sum()))


def episode_subset(dataset: Dataset, fraction: float, seed: int) -> Dataset:
    """A seeded random subset of whole episodes of ``dataset`` holding ``fraction`` ∈ (0, 1] of its transitions.

    The episodes are shuffled by ``numpy.random.default_rng(seed)`` and taken in that order until they hold at least
    ⌈fraction · N⌉ of the N rows, so the subset holds that many rows plus less than one episode; they are returned in
    the dataset's own order. Not the first episodes: a replay dataset's first episodes are its earliest, worst ones.
    ``fraction`` 1 returns ``dataset`` itself. Raises :class:`TrajaugInputError` for a fraction outside (0, 1]."""
    if not 0 < fraction <= 1:
        raise TrajaugInputError(f"subset: {fraction!r} is not a fraction in (0, 1]")
    if fraction == 1:
        return dataset
    order = np.random.default_rng(seed).permutation(dataset.n_episodes)
    held = np.cumsum(dataset.episode_lengths()[order])
    count = int(np.searchsorted(held, math.ceil(fraction * len(dataset)))) + 1
    return dataset.select_episodes(np.sort(order[:count]))


def observation_stats(observations: np.ndarray, eps: float, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std + eps) of the observations in float64, CORL's ``compute_mean_std``; (0, 1) if not ``normalize``."""
    if not normalize:
        return np.zeros(observations.shape[1]), np.ones(observations.shape[1])
    obs64 = observations.astype(np.float64)
    return obs64.mean(axis=0), obs64.std(axis=0) + eps


def return_range_scale(dataset: Dataset, target: float = 1000.0) -> float | None:
    """``target / (max − min episode return)`` (IQL's locomotion reward scaling, CORL's ``modify_reward``), or None
    when the dataset has fewer than two episodes or they all return the same (no range to scale by)."""
    returns = dataset.episode_returns()
    if len(returns) < 2 or not np.ptp(returns) > 0:
        return None
    return float(target / np.ptp(returns))


class Batch(NamedTuple):
    """A minibatch of transitions; observations are normalized, rewards scaled."""

    observations: torch.Tensor
    """(B, obs_dim)"""
    actions: torch.Tensor
    """(B, act_dim)"""
    rewards: torch.Tensor
    """(B,)"""
    not_done: torch.Tensor
    """(B,) 1 − d: 0 for a terminal transition (no bootstrap), 1 otherwise (timeouts included)."""
    next_observations: torch.Tensor
    """(B, obs_dim)"""
    observations_actions: torch.Tensor
    """(B, obs_dim + act_dim) ``[s, a]``, a view of the same rows."""


class Replay:
    """All transitions as one resident tensor; :meth:`sample` draws batches with its own seeded generator.

    ``synthetic``: transitions appended after the real ones (:attr:`real` rows), each batch drawing
    ``round(real_ratio · B)`` real rows and the rest synthetic (see the module docstring)."""

    def __init__(self, data: Transitions, obs_mean: np.ndarray, obs_std: np.ndarray, reward_scale: float = 1.0,
                 seed: int = 0, device: str | torch.device = "cpu", synthetic: Transitions | None = None,
                 real_ratio: float = REAL_RATIO) -> None:
        if not 0 <= real_ratio <= 1:
            raise TrajaugInputError(f"real_ratio: {real_ratio!r} is not in [0, 1]")

        def packed(part: Transitions) -> np.ndarray:
            rewards = part.rewards.astype(np.float64) * reward_scale
            return np.concatenate([normalized(part.observations), part.actions, rewards[:, None],
                                   (~part.terminals)[:, None], normalized(part.next_observations)], axis=1)

        def normalized(observations: np.ndarray) -> np.ndarray:
            return (observations.astype(np.float64) - obs_mean) / obs_std

        self.obs_dim, self.act_dim = data.observations.shape[1], data.actions.shape[1]
        parts = [packed(data)] if synthetic is None else [packed(data), packed(synthetic)]
        self.rows = torch.from_numpy(np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)).to(device)
        self.real = len(data)  # rows 0 … real − 1 are real, the others synthetic
        self.real_ratio = real_ratio if synthetic is not None else 1.0
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.rows)

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement (from each part, with a synthetic set)."""
        if self.real == len(self.rows):
            index = torch.randint(0, len(self.rows), (batch_size,), generator=self.generator)
        else:
            real = round(self.real_ratio * batch_size)
            index = torch.cat([self._draw(0, self.real, real),
                               self._draw(self.real, len(self.rows), batch_size - real)])
        return self.batch(index.to(self.rows.device, non_blocking=True))

    def _draw(self, low: int, high: int, count: int) -> torch.Tensor:
        """``count`` row indices uniform in [low, high) (none drawn for count 0)."""
        if count == 0:
            return torch.zeros(0, dtype=torch.int64)
        return torch.randint(low, high, (count,), generator=self.generator)

    def batch(self, index: torch.Tensor) -> Batch:
        """The transitions at row ``index`` (a (B,) int64 tensor), in that order."""
        rows = self.rows.index_select(0, index)
        o, a = self.obs_dim, self.act_dim
        return Batch(rows[:, :o], rows[:, o:o + a], rows[:, o + a], rows[:, o + a + 1], rows[:, o + a + 2:],
                     rows[:, :o + a])
