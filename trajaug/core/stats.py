"""Aggregate scores over tasks and runs as rliable does (Agarwal et al., *Deep RL at the edge of the statistical
precipice*, NeurIPS 2021): the interquartile mean and its stratified-bootstrap confidence interval.

* **IQM** (:func:`iqm`): the mean of the middle 50% of all runs' scores pooled over the tasks — sort the n scores,
  drop ⌊n/4⌋ from each end, average the rest (``scipy.stats.trim_mean(x, 0.25)``, which rliable calls). Less
  sensitive to one outlying run than the mean, less wasteful of few runs than the median.
* **Stratified bootstrap** (:func:`stratified_bootstrap`): one replicate resamples, *within each task separately*,
  as many runs as that task has, with replacement, and computes the statistic (the IQM) over the pooled resample;
  the 95% interval is the 2.5th and 97.5th percentiles of ``reps`` (rliable: 2000) replicates (the percentile
  method). Stratifying keeps every replicate's mix of tasks fixed, so the interval shows the uncertainty over runs,
  not over which tasks happened to be drawn.

Scores are given per task, as a mapping or a list of per-run score lists (tasks may have different numbers of
runs; NaN scores, e.g. a failed run's, are dropped). :func:`group_iqm` is the same over table rows, as
:func:`trajaug.core.report.group_mean_ci` is for the mean ± t-interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

Scores = Mapping[Any, Sequence[float] | np.ndarray] | Sequence[Sequence[float] | np.ndarray]
"""Per task, its runs' scores: a mapping task → scores, or a list of per-task score lists."""
BOOTSTRAP_REPS = 2000
"""Bootstrap replicates per interval (rliable's default)."""


class Interval(NamedTuple):
    """A point estimate with its bootstrap confidence interval; NaN everywhere when there were no scores."""

    point: float
    low: float
    high: float
    runs: int
    """Scores the estimate is computed from (all tasks together)."""


def iqm(scores: Sequence[float] | np.ndarray, axis: int | None = None) -> Any:
    """Interquartile mean: the mean of ``scores`` without the lowest and the highest ⌊n/4⌋ (n = scores along
    ``axis``; all of them if None). E.g. iqm([1, …, 8]) = mean(3, 4, 5, 6) = 4.5; n ≤ 3 drops nothing."""
    array = np.asarray(scores, dtype=np.float64)
    if axis is None:
        array, axis = array.ravel(), 0
    n = array.shape[axis]
    if n == 0:
        return math.nan
    cut = n // 4
    middle = np.take(np.sort(array, axis=axis), np.arange(cut, n - cut), axis=axis)
    return middle.mean(axis=axis)


def _tasks(scores: Scores) -> list[np.ndarray]:
    """Each task's finite-or-infinite scores as a float64 array, NaNs dropped, tasks with no score left out."""
    groups = scores.values() if isinstance(scores, Mapping) else scores
    arrays = [np.asarray(g, dtype=np.float64).ravel() for g in groups]
    return [a[~np.isnan(a)] for a in arrays if (~np.isnan(a)).any()]


def bootstrap_replicates(scores: Scores,
                         statistic: Callable[..., Any] = iqm, reps: int = BOOTSTRAP_REPS,
                         seed: int = 0) -> np.ndarray:
    """(reps,) the statistic of ``reps`` stratified resamples: per task, its n_t runs drawn with replacement
    (``numpy.random.default_rng(seed)``), the tasks pooled, ``statistic(array (reps, Σ n_t), axis=1)``."""
    tasks = _tasks(scores)
    if not tasks:
        return np.full(reps, math.nan)
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([task[rng.integers(0, len(task), size=(reps, len(task)))] for task in tasks], axis=1)
    return np.asarray(statistic(pooled, axis=1), dtype=np.float64)


def stratified_bootstrap(scores: Scores,
                         statistic: Callable[..., Any] = iqm, reps: int = BOOTSTRAP_REPS, seed: int = 0,
                         confidence: float = 0.95) -> Interval:
    """``statistic`` of all runs pooled (default :func:`iqm`) with its stratified-bootstrap percentile interval
    at ``confidence`` (see the module docstring); the same seed gives the same interval."""
    tasks = _tasks(scores)
    if not tasks:
        return Interval(math.nan, math.nan, math.nan, 0)
    point = float(statistic(np.concatenate(tasks)[None, :], axis=1)[0])
    replicates = bootstrap_replicates(tasks, statistic, reps, seed)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(point, float(low), float(high), int(sum(len(t) for t in tasks)))


def group_iqm(rows: Sequence[Mapping[str, Any]], by: Sequence[str], task: str, values: Sequence[str],
              where: str | None = None, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> list[dict[str, Any]]:
    """Group ``rows`` by the ``by`` keys (first-seen order) and give, per group and value key, the IQM over its
    rows stratified by the ``task`` key: ``<value>_iqm``, ``<value>_iqm_low``, ``<value>_iqm_high`` (the 95%
    interval) and ``runs``/``tasks`` (scores and tasks counted). ``where``: only rows whose key is truthy count."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        if where is None or row.get(where):
            groups.setdefault(tuple(row.get(key) for key in by), []).append(row)
    out = []
    for key, members in groups.items():
        record: dict[str, Any] = dict(zip(by, key, strict=True))
        record["tasks"] = len({row.get(task) for row in members})
        for value in values:
            per_task: dict[Any, list[float]] = {}
            for row in members:
                number = row.get(value)
                per_task.setdefault(row.get(task), []).append(math.nan if number is None else float(number))
            interval = stratified_bootstrap(per_task, reps=reps, seed=seed)
            record.update({f"{value}_iqm": interval.point, f"{value}_iqm_low": interval.low,
                           f"{value}_iqm_high": interval.high})
            record["runs"] = max(record.get("runs", 0), interval.runs)
        out.append(record)
    return out
