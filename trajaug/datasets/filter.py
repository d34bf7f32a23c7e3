"""Quality filters of ``trajaug datasets filter`` (and ``augment bdm --max-dynamics-error``).

* :func:`filter_by_dynamics` drops physically wrong transitions: a transition is kept when its one-step dynamics
  error (:func:`trajaug.datasets.check.dynamics_errors`) is at most ``max_error``. Removing rows inside an episode
  cuts it in two: the last kept row before a gap is marked as a timeout, so every piece stays a well-formed episode
  of consecutive transitions.
* :func:`drop_terminated` drops whole episodes that ended in a terminal state (for Hopper and Walker2d: the robot
  fell), e.g. generated trajectories whose correction failed, so BC does not imitate the actions that led to a fall.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from trajaug.core.dataset import Dataset
from trajaug.datasets.check import dynamics_errors


def filter_by_dynamics(dataset: Dataset, max_error: float,
                       errors: np.ndarray | None = None) -> tuple[Dataset, np.ndarray]:
    """(the dataset without transitions whose dynamics error exceeds ``max_error``, the (N,) errors)."""
    if errors is None:
        errors = dynamics_errors(dataset, np.arange(len(dataset)))
    keep = errors <= max_error
    ends = dataset.terminals | dataset.timeouts
    successor_dropped = np.zeros(len(dataset), bool)
    successor_dropped[:-1] = ~keep[1:] & ~ends[:-1]
    timeouts = dataset.timeouts | (successor_dropped & ~dataset.terminals)
    marked = dataclasses.replace(dataset, timeouts=timeouts,
                                 metadata={**dataset.metadata, "max_dynamics_error": max_error,
                                           "dropped_transitions": int((~keep).sum())})
    return marked.take_rows(np.flatnonzero(keep)), errors


def drop_terminated(dataset: Dataset) -> tuple[Dataset, int]:
    """(the dataset without its episodes that end in a terminal state, how many were dropped)."""
    ends = dataset.episode_bounds[:, 1] - 1
    keep = np.flatnonzero(~dataset.terminals[ends]) if len(ends) else np.zeros(0, np.int64)
    dropped = len(ends) - len(keep)
    kept = dataset.select_episodes(keep)
    return dataclasses.replace(kept, metadata={**kept.metadata, "dropped_terminated_episodes": dropped}), dropped
