"""``qlearning_dataset``: the transition dict that d4rl's ``d4rl.qlearning_dataset`` returns, without d4rl.

Row selection follows d4rl: a row whose ``timeouts`` flag is set is dropped (its successor is the next episode's
first observation in d4rl's view) unless ``terminate_on_end``; terminal rows are kept with ``terminals = True``.
Where trajaug differs, and why:

* ``next_observations`` are the stored ones, not ``observations[i+1]`` as d4rl computes them. Inside an episode of
  simulator-made data they are identical; at a terminal row d4rl's value is the next episode's reset observation
  (wrong, though masked by ``terminals`` in Q targets) while the stored one is the real final observation. For a file
  without ``next_observations`` the reader rebuilds them as ``observations[i+1]`` inside episodes, like d4rl; at an
  episode's last row, which has no successor, it repeats the row's own observation where d4rl takes the next
  episode's first one (only terminal rows are affected here, and there ``terminals`` masks the value).
* a row that is both terminal and timeout counts as a terminal (trajaug's episode-split rule, see
  :mod:`trajaug.core.dataset`) and is kept; d4rl drops it.
* the last row is kept when it ends its episode by a terminal (or by a timeout with ``terminate_on_end``), since its
  next observation is stored; d4rl always drops the last row (it has no ``observations[N]``). A last row that ends
  no episode is dropped, as in d4rl.
* data with no timeouts at all whose episodes exceed the environment's time limit (old D4RL files without a
  ``timeouts`` key) get d4rl's fallback: the step counter marks every ``max_episode_steps``-th step as the final one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trajaug.core.dataset import Dataset

DEFAULT_TIME_LIMIT = 1000
"""Time limit used by the no-timeouts fallback when the environment is unknown (D4RL's MuJoCo tasks)."""


def qlearning_dataset(path_or_dataset: str | Path | Dataset, terminate_on_end: bool = False) -> dict[str, np.ndarray]:
    """Transitions for Q-learning as d4rl returns them (see the module docstring for the row rule).

    ``path_or_dataset``: a :class:`Dataset`, or a name or path that :func:`trajaug.datasets.registry.load` accepts.
    Returns ``observations`` (M, obs_dim) f32, ``actions`` (M, act_dim) f32, ``next_observations`` (M, obs_dim) f32,
    ``rewards`` (M,) f32, ``terminals`` (M,) bool, with ``M ≤ N`` rows kept in order.
    """
    if isinstance(path_or_dataset, Dataset):
        dataset = path_or_dataset
    else:
        from trajaug.datasets.registry import load

        dataset = load(str(path_or_dataset))
    keep = kept_rows(dataset, terminate_on_end)
    return {"observations": np.array(dataset.observations[keep], dtype=np.float32),
            "actions": np.array(dataset.actions[keep], dtype=np.float32),
            "next_observations": np.array(dataset.next_observations[keep], dtype=np.float32),
            "rewards": np.array(dataset.rewards[keep], dtype=np.float32),
            "terminals": np.array(dataset.terminals[keep], dtype=bool)}


def kept_rows(dataset: Dataset, terminate_on_end: bool = False) -> np.ndarray:
    """(N,) bool mask of the rows :func:`qlearning_dataset` returns."""
    n = len(dataset)
    terminals, timeouts = dataset.terminals, dataset.timeouts
    if n and not timeouts.any() and _longest_episode(dataset) > _time_limit(dataset.env_id):
        timeouts = _counted_timeouts(terminals, _time_limit(dataset.env_id), terminate_on_end)
    keep = np.ones(n, dtype=bool) if terminate_on_end else ~(timeouts & ~terminals)
    if n and not (terminals[-1] or timeouts[-1]):
        keep[-1] = False
    return keep


def _longest_episode(dataset: Dataset) -> int:
    return int(dataset.episode_lengths().max())


def _time_limit(env_id: str | None) -> int:
    if env_id is None:
        return DEFAULT_TIME_LIMIT
    import gymnasium as gym

    try:
        steps = gym.spec(env_id).max_episode_steps
    except gym.error.Error:
        return DEFAULT_TIME_LIMIT
    return int(steps) if steps else DEFAULT_TIME_LIMIT


def _counted_timeouts(terminals: np.ndarray, limit: int, terminate_on_end: bool) -> np.ndarray:
    """d4rl's fallback without a ``timeouts`` key: its ``episode_step`` counter, step for step (quirks included:
    the counter restarts at 1, not 0, after a kept terminal or a kept final step)."""
    final = np.zeros(len(terminals), dtype=bool)
    step = 0
    for i, done in enumerate(terminals.tolist()):
        final[i] = step == limit - 1
        if final[i] and not terminate_on_end:
            step = 0
            continue
        if done or final[i]:
            step = 0
        step += 1
    return final
