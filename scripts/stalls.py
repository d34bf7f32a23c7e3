"""Do BC policies get going? x position of the HalfCheetah after 50, 100 and 1000 steps, per seed-table row.

    .venv/bin/python scripts/stalls.py OUT [--episodes 5] [--rows bdm,bdm-uniform]

OUT is a ``trajaug bench seed-table`` folder; each BC policy under ``OUT/train/`` (its row is the folder name up to
``-<N>demos-seed``; the demos row is ``demos``) runs ``--episodes`` deterministic episodes on environment seeds
50 000+ (not the evaluation seeds). An episode *stalls* when the torso has moved less than 5 m after 100 steps (the
demos' expert covers ≈ 20 m by then). Prints per row: policies, mean x at 50 / 100 / 1000 steps, the share of
stalled episodes and the mean return. Used to explain why high-value starts fail offline
(docs/benchmarks/reference-table.md).
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from trajaug.bc.policy import load_checkpoint

CHECKPOINTS = (50, 100, 1000)
STALL_METRES = 5.0


def row_of(folder: str) -> str:
    """Seed-table row of a BC training folder name."""
    match = re.match(r"(.+)-\d+demos-seed\d+-", folder)
    return match.group(1) if match else "demos"


def rollout_x(policy: torch.nn.Module, env_id: str, seed: int) -> tuple[list[float], float]:
    """x position after each of :data:`CHECKPOINTS` steps (the last one held if the episode ends) and the return."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    positions, total = [], 0.0
    for _ in range(CHECKPOINTS[-1]):
        action = policy.act(obs[None])[0]  # type: ignore[operator]
        obs, reward, terminated, truncated, info = env.step(action)
        positions.append(float(info["x_position"]))
        total += float(reward)
        if terminated or truncated:
            break
    return [positions[min(step, len(positions)) - 1] for step in CHECKPOINTS], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--rows", default="", help="Comma-separated rows (default: all).")
    args = parser.parse_args()
    torch.set_num_threads(1)
    wanted = {r for r in args.rows.split(",") if r}
    by_row: dict[str, list[tuple[list[float], float]]] = defaultdict(list)
    policies: dict[str, int] = defaultdict(int)
    for path in sorted((args.out / "train").glob("*/policy.pt")):
        row = row_of(path.parent.name)
        if wanted and row not in wanted:
            continue
        checkpoint = load_checkpoint(path)
        policies[row] += 1
        for episode in range(args.episodes):
            by_row[row].append(rollout_x(checkpoint.policy, checkpoint.env_id or "HalfCheetah-v5", 50_000 + episode))
    print(f"{'row':24s} policies  x@50  x@100  x@1000  stalled  return")
    for row, runs in by_row.items():
        x = np.array([positions for positions, _ in runs])
        stalled = float(np.mean(x[:, 1] < STALL_METRES))
        print(f"{row:24s} {policies[row]:8d} {x[:, 0].mean():5.1f} {x[:, 1].mean():6.1f} {x[:, 2].mean():7.1f} "
              f"{stalled:7.0%} {np.mean([total for _, total in runs]):7.0f}")


if __name__ == "__main__":
    main()
