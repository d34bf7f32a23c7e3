"""How accurate are the backtracking models, and what do their truncation rules cost?

    .venv/bin/python scripts/backtracking_accuracy.py [--dataset halfcheetah-expert] [--episodes 7] [--seed 100]
                                                    [--bounds 0 2 1 0.5] [--traces 300] [--out runs/bench/recall]

1. The learned model (bdm's defaults, fitted on the demos with ``--seed``): 10-step traces from ``--traces`` demo
   states drawn uniformly, once per disagreement bound (``--bounds``, 0 = off): realised length, refused share and
   the one-step dynamics error (``trajaug datasets check --physics``) of every emitted transition, median and p95.
2. The simulator's exact inverse on the demos' own transitions: share converged, Newton iterations, seconds per
   solved step, and how far the solution is from the stored predecessor (contacts make some predecessors
   non-unique; every converged one is an exact predecessor of the stored successor).

Settings are chosen with seeds ≥ 100. Writes ``results.json`` and ``table.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.augment.backtracking.bdm import BDMConfig
from trajaug.augment.backtracking.inverse_sim import InverseDynamics
from trajaug.augment.backtracking.model import Transitions
from trajaug.augment.backtracking.reverse import LearnedReverse, backtrack
from trajaug.core.dataset import Dataset
from trajaug.core.nn import torch_threads
from trajaug.core.report import markdown_table, write_json, write_markdown
from trajaug.datasets.check import dynamics_errors
from trajaug.datasets.registry import load


def as_dataset(observations: np.ndarray, actions: np.ndarray, next_observations: np.ndarray,
               env_id: str) -> Dataset:
    """Transitions as one episode (for the physics check)."""
    n = len(observations)
    return Dataset(observations.astype(np.float32), actions.astype(np.float32), np.zeros(n, np.float32),
                   next_observations.astype(np.float32), np.zeros(n, bool), np.r_[np.zeros(n - 1, bool), True],
                   env_id=env_id)


def learned_rows(demos: Dataset, args: argparse.Namespace) -> list[dict[str, Any]]:
    c = BDMConfig(max_disagreement=0.0)  # the bounds below are set one by one
    started = time.perf_counter()
    model = LearnedReverse(Transitions.from_dataset(demos), c, args.seed)
    fit_seconds = time.perf_counter() - started
    rng = np.random.default_rng(args.seed)
    starts = demos.observations[rng.choice(len(demos), args.traces)].astype(np.float64)
    rows = []
    for bound in args.bounds:
        model.max_disagreement = bound
        traces = backtrack(model, starts, c.trace_length, np.random.default_rng(args.seed + 1))
        assert demos.env_id is not None
        errors = dynamics_errors(as_dataset(traces.observations, traces.actions, traces.next_observations,
                                            demos.env_id), np.arange(len(traces.observations)))
        rows.append({"model": "learned", "max_disagreement": bound, "transitions": len(errors),
                     "trace length": float(traces.lengths.mean()) if len(traces.lengths) else 0.0,
                     "refused share": sum(traces.refused.values()) / max(traces.attempted, 1),
                     "dynamics error p50": float(np.median(errors)),
                     "dynamics error p95": float(np.percentile(errors, 95)), "fit s": fit_seconds})
    return rows


def simulator_row(demos: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    assert demos.env_id is not None
    rows = np.random.default_rng(args.seed).choice(len(demos), args.traces, replace=False)
    inverse = InverseDynamics(demos.env_id)
    started = time.perf_counter()
    solved = inverse.predecessors(demos.next_observations[rows].astype(np.float64),
                                  demos.actions[rows].astype(np.float64))
    seconds = time.perf_counter() - started
    gap = np.abs(solved.observations - demos.observations[rows]).max(axis=1)[solved.converged]
    return {"model": "simulator", "transitions": len(rows), "converged share": float(solved.converged.mean()),
            "Newton iterations": float(solved.iterations.mean()), "ms per step": 1000 * seconds / len(rows),
            "gap to stored predecessor p50": float(np.median(gap)),
            "share within 1e-4 of stored": float(np.mean(gap <= 1e-4))}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", default="halfcheetah-expert")
    parser.add_argument("--episodes", type=int, default=7)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--bounds", type=float, nargs="+", default=[0.0, 2.0, 1.0, 0.5])
    parser.add_argument("--traces", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/recall"))
    args = parser.parse_args()
    demos = load(args.dataset).first_episodes(args.episodes)
    with torch_threads(1):
        learned = learned_rows(demos, args)
    simulator = simulator_row(demos, args)
    text = (f"{args.dataset}, {args.episodes} demos, seed {args.seed}; learned: {args.traces} traces of ≤ "
            f"{BDMConfig().trace_length} steps from uniform demo states\n\n"
            + markdown_table(learned, digits=3) + "\n" + markdown_table([simulator], digits=3))
    args.out.mkdir(parents=True, exist_ok=True)
    write_json({"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "config": dataclasses.asdict(BDMConfig()), "learned": learned, "simulator": simulator},
               args.out / "results.json")
    write_markdown(text, args.out / "table.md")
    print(text)


if __name__ == "__main__":
    main()
