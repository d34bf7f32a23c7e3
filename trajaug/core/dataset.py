"""The one dataset type: flat D4RL-style transition arrays, episode boundaries, optional simulator state, provenance.

Episode-split rule (the same everywhere in trajaug):

* an episode ends at row ``i`` when ``terminals[i]`` or ``timeouts[i]`` is true;
* when both are true the row counts as a *terminal* (the environment really ended; ``qlearning_dataset`` keeps it);
* rows after the last end form a trailing episode without an end: it is kept (never dropped) and a warning is
  issued, since its last transition may be cut anywhere.

All arrays are read-only views; build a new :class:`Dataset` (``dataclasses.replace``, :meth:`select_episodes`,
:func:`concatenate`) instead of editing one.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

UNKNOWN_SOURCE = -1
"""``source_episode`` value for transitions whose source demo is unknown."""


class TrailingEpisodeWarning(UserWarning):
    """The last rows of a dataset are not closed by a terminal or a timeout."""


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True)
class Episode:
    """A view of one episode's rows ``[start, stop)`` of a :class:`Dataset` (arrays are read-only views)."""

    index: int
    start: int
    stop: int
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminated: bool
    """True if the episode ends in a terminal (not a timeout, not a cut)."""
    qpos: np.ndarray | None
    qvel: np.ndarray | None

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum(dtype=np.float64))


@dataclass(frozen=True)
class Dataset:
    """Transitions ``(s_t, a_t, r_t, s_{t+1})`` as flat arrays of ``N`` rows.

    Shapes: observations/next_observations (N, obs_dim) float32; actions (N, act_dim) float32; rewards (N,) float32;
    terminals/timeouts (N,) bool; qpos (N, nq) / qvel (N, nv) float64 simulator state *before* the action, or None;
    source_episode (N,) int32: index of the demo a transition was made from (``UNKNOWN_SOURCE`` if unknown);
    method (N,) int16: index into ``method_names`` of the method that made the row.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    env_id: str | None = None
    """Gymnasium environment id, e.g. ``HalfCheetah-v5``; None if unknown."""
    qpos: np.ndarray | None = None
    qvel: np.ndarray | None = None
    source_episode: np.ndarray | None = None
    """None at construction means all ``UNKNOWN_SOURCE``; always an array afterwards."""
    method: np.ndarray | None = None
    """None at construction means all 0 (the first method name); always an array afterwards."""
    method_names: tuple[str, ...] = ("expert",)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Provenance: method parameters, seed, source sha256, ... (JSON-serialisable)."""

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        n = None
        for name, dtype, ndim in (("observations", np.float32, 2), ("actions", np.float32, 2),
                                  ("rewards", np.float32, 1), ("next_observations", np.float32, 2),
                                  ("terminals", np.bool_, 1), ("timeouts", np.bool_, 1),
                                  ("qpos", np.float64, 2), ("qvel", np.float64, 2),
                                  ("source_episode", np.int32, 1), ("method", np.int16, 1)):
            value = getattr(self, name)
            if value is None:
                continue
            array = np.asarray(value)
            if name == "rewards" and array.ndim == 2 and array.shape[1:] == (1,):
                array = array[:, 0]
            if array.ndim != ndim:
                raise ValueError(f"{name}: expected {ndim} dimensions, got shape {array.shape}")
            if n is None:
                n = len(array)
            if len(array) != n:
                raise ValueError(f"{name}: has {len(array)} rows, observations has {n}")
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                bad = int(np.flatnonzero(~np.isfinite(array).reshape(len(array), -1).all(axis=1))[0])
                raise ValueError(f"{name}: non-finite value (NaN or inf) at row {bad}")
            if array.dtype.kind in "iu" and np.dtype(dtype).kind == "i" and len(array):
                limits = np.iinfo(dtype)  # type: ignore[type-var]
                if array.min() < limits.min or array.max() > limits.max:
                    raise ValueError(f"{name}: values outside the {np.dtype(dtype).name} range")
            put(name, _readonly(array.astype(dtype, copy=False)))
        if self.next_observations.shape != self.observations.shape:
            raise ValueError(f"next_observations: shape {self.next_observations.shape} differs from "
                             f"observations {self.observations.shape}")
        if (self.qpos is None) != (self.qvel is None):
            raise ValueError("qpos: qpos and qvel must be given together")
        assert n is not None
        if self.source_episode is None:
            put("source_episode", _readonly(np.full(n, UNKNOWN_SOURCE, np.int32)))
        if self.method is None:
            put("method", _readonly(np.zeros(n, np.int16)))
        put("method_names", tuple(self.method_names))
        method = np.asarray(self.method)
        if n and (method.min() < 0 or method.max() >= len(self.method_names)):
            raise ValueError(f"method: indices must lie in [0, {len(self.method_names)})")
        ends = np.flatnonzero(self.terminals | self.timeouts) + 1
        if n and (len(ends) == 0 or ends[-1] != n):
            warnings.warn(f"the last {n - (ends[-1] if len(ends) else 0)} rows have no terminal or timeout; "
                          "kept as an unfinished episode", TrailingEpisodeWarning, stacklevel=3)
            ends = np.append(ends, n)
        put("_ends", _readonly(ends))
        put("metadata", dict(self.metadata))

    # -- sizes -------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.observations)

    def __repr__(self) -> str:
        """One line: environment, episodes, transitions, dimensions and mean episode return (not the arrays)."""
        returns = self.episode_returns()
        mean = f"{returns.mean():.1f}" if len(returns) else "n/a"
        return (f"Dataset({self.env_id or 'unknown environment'}, {self.n_episodes} episodes, {len(self)} transitions, "
                f"obs {self.obs_dim}, act {self.act_dim}, mean return {mean})")

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def n_episodes(self) -> int:
        return len(self._ends)  # type: ignore[attr-defined]

    @property
    def episode_bounds(self) -> np.ndarray:
        """(n_episodes, 2) int array of ``[start, stop)`` row ranges."""
        ends = self._ends  # type: ignore[attr-defined]
        starts = np.concatenate([[0], ends[:-1]])[: len(ends)]  # no episodes: no start either
        return np.stack([starts, ends], axis=1).astype(np.int64)

    def episode_lengths(self) -> np.ndarray:
        """(n_episodes,) int64 number of transitions of each episode."""
        bounds = self.episode_bounds
        return bounds[:, 1] - bounds[:, 0]

    # -- episodes ----------------------------------------------------------------------------------------------
    def episode(self, index: int) -> Episode:
        start, stop = (int(v) for v in self.episode_bounds[index])
        rows = slice(start, stop)
        return Episode(index, start, stop, self.observations[rows], self.actions[rows], self.rewards[rows],
                       self.next_observations[rows], bool(self.terminals[stop - 1]),
                       None if self.qpos is None else self.qpos[rows],
                       None if self.qvel is None else self.qvel[rows])

    def episodes(self) -> Iterator[Episode]:
        for index in range(self.n_episodes):
            yield self.episode(index)

    def episode_returns(self) -> np.ndarray:
        """(n_episodes,) float64 undiscounted return of each episode."""
        if not len(self):
            return np.zeros(0)
        return np.add.reduceat(self.rewards.astype(np.float64), self.episode_bounds[:, 0])

    def select_episodes(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """A new dataset made of the given episodes, in the given order."""
        bounds = self.episode_bounds
        indices = [int(i) for i in indices]
        for i in indices:
            if not 0 <= i < self.n_episodes:
                raise ValueError(f"episodes: index {i} out of range (dataset has {self.n_episodes})")
        rows = (np.concatenate([np.arange(*bounds[i]) for i in indices]) if indices
                else np.zeros(0, dtype=np.int64))
        return self.take_rows(rows)

    def first_episodes(self, count: int, seed: int | None = None) -> Dataset:
        """The first ``count`` episodes, or ``count`` episodes drawn without replacement with ``seed``."""
        if count < 1 or count > self.n_episodes:
            raise ValueError(f"episodes: asked for {count}, dataset has {self.n_episodes}")
        if seed is None:
            return self.select_episodes(range(count))
        chosen = np.random.default_rng(seed).choice(self.n_episodes, size=count, replace=False)
        return self.select_episodes(np.sort(chosen))

    def take_rows(self, rows: np.ndarray) -> Dataset:
        """A new dataset of the given rows (episode flags are kept as they are; callers keep episodes whole)."""
        def pick(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[rows]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrailingEpisodeWarning)
            return dataclasses.replace(
                self, observations=self.observations[rows], actions=self.actions[rows],
                rewards=self.rewards[rows], next_observations=self.next_observations[rows],
                terminals=self.terminals[rows], timeouts=self.timeouts[rows], qpos=pick(self.qpos),
                qvel=pick(self.qvel), source_episode=pick(self.source_episode), method=pick(self.method))


def concatenate(parts: Sequence[Dataset], metadata: Mapping[str, Any] | None = None) -> Dataset:
    """Join datasets of one environment row-wise; method names are merged, qpos/qvel kept only if all have them."""
    if not parts:
        raise ValueError("parts: nothing to concatenate")
    env_ids = {p.env_id for p in parts}
    if len(env_ids) > 1:
        raise ValueError(f"env_id: cannot join datasets of different environments {sorted(map(str, env_ids))}")
    names: list[str] = []
    methods = []
    for part in parts:
        remap = np.array([_index_of(names, name) for name in part.method_names], dtype=np.int16)
        methods.append(remap[part.method])
    has_state = all(p.qpos is not None for p in parts)

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return Dataset(cat("observations"), cat("actions"), cat("rewards"), cat("next_observations"), cat("terminals"),
                   cat("timeouts"), env_id=parts[0].env_id, qpos=cat("qpos") if has_state else None,
                   qvel=cat("qvel") if has_state else None, source_episode=cat("source_episode"),
                   method=np.concatenate(methods), method_names=tuple(names),
                   metadata=dict(metadata if metadata is not None else parts[0].metadata))


def _index_of(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)
