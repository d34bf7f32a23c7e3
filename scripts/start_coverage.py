"""Where bdm's high-value start states lie compared with all demo states (why do high-value starts do
worse than uniform ones on HalfCheetah?).

    .venv/bin/python scripts/start_coverage.py [DATASET] [--demos 7] [--clusters 10]

Fits bdm's value estimate on the first N demos (the defaults of ``trajaug augment bdm``: γ 0.99, 2000 updates,
256-256, seed 0), takes each demo's top 20% states by value (the ``high-value`` start pool), and prints: the share of
all demo states and of the pool in each of K k-means clusters of the z-scored states (a proxy for the phases of the
gait), the 10/50/90% quantiles of the pool's position t/T along its demo, the mean reward of all states vs the
pool, and each demo's *head gap*: its first steps that no trace from the pool can reach (traces of ``trace_length``
steps end at a pool state, so they start no earlier than the earliest pool state minus ``trace_length``). BC trained
on such traces alone has never seen the cheetah start from rest; ``scripts/stalls.py`` shows what its policies do there.
"""

from __future__ import annotations

import argparse

import numpy as np

from trajaug.augment.backtracking.bdm import BDMConfig
from trajaug.augment.backtracking.starts import _per_demo, relative_position, top_share, value_estimate
from trajaug.datasets.registry import load


def kmeans_labels(points: np.ndarray, clusters: int, seed: int, iterations: int = 50) -> np.ndarray:
    """(N,) cluster index of each of (N, D) points (Lloyd's algorithm from random points)."""
    rng = np.random.default_rng(seed)
    centers = points[rng.choice(len(points), clusters, replace=False)]
    for _ in range(iterations):
        labels = np.argmin(((points[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
        centers = np.stack([points[labels == j].mean(0) if (labels == j).any() else centers[j]
                            for j in range(clusters)])
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", nargs="?", default="halfcheetah-expert")
    parser.add_argument("--demos", type=int, default=7)
    parser.add_argument("--clusters", type=int, default=10)
    args = parser.parse_args()
    config = BDMConfig()
    demos = load(args.dataset).first_episodes(args.demos)
    values = value_estimate(demos, config.gamma, config.value_steps, (256, 256), 0)
    pool = np.concatenate([top_share(rows, values, config.top_k)
                           for rows in _per_demo(demos, np.ones(len(demos), bool))])
    states = np.asarray(demos.observations, np.float64)
    labels = kmeans_labels((states - states.mean(0)) / (states.std(0) + 1e-6), args.clusters, seed=0)
    every = np.bincount(labels, minlength=args.clusters) / len(labels)
    top = np.bincount(labels[pool], minlength=args.clusters) / len(pool)
    print(f"{args.dataset}, {args.demos} demos: {len(pool)} high-value starts of {len(demos)} states")
    print("cluster  share of all states  share of high-value pool  ratio")
    for j in np.argsort(-every):
        print(f"{j:7d}  {every[j]:19.3f}  {top[j]:24.3f}  {top[j] / every[j]:5.2f}")
    print(f"clusters the pool covers: {(top > 0).sum()} of {args.clusters}")
    quantiles = np.quantile(relative_position(demos)[pool], [0.1, 0.5, 0.9]).round(2)
    print("pool position t/T, 10/50/90% quantiles:", quantiles)
    print(f"mean reward: all states {demos.rewards.mean():.2f}, pool {demos.rewards[pool].mean():.2f}")
    first_in_pool = [int(pool[(pool >= start) & (pool < stop)].min() - start) for start, stop in demos.episode_bounds]
    gaps = [max(0, first - config.trace_length) for first in first_in_pool]
    print(f"head gap (first steps no trace of {config.trace_length} reaches), per demo: {gaps}")


if __name__ == "__main__":
    main()
