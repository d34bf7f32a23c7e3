"""Why does BC on backtracking data collapse with the 1M HalfCheetah expert? A control with real transitions.

    .venv/bin/python scripts/bdm_windows_control.py [--seeds 0 1 2] [--windows-per-demo 71] [--length 10]
                                                  [--out runs/bench/bdm-windows]

A bdm set is 497 recall traces of 10 model-made steps (4970 transitions) around demo states. This benchmark trains
the same BC on a set of the same shape made of *real* transitions: ``--windows-per-demo`` windows of ``--length``
consecutive demo transitions per demo, each ending at a demo state drawn uniformly (the analogue of
``bdm --start uniform``; windows of one demo may overlap), every window stored as one episode ending in a timeout.
If BC on these windows keeps a good share of the demos' return while BC on bdm's traces gives ≈ 0, the collapse is
the backtracking model's transitions, not the amount or shape of the data. BC: :func:`trajaug.bc.train.train_bc`
(seed = the seed; windows drawn with the seed too), evaluated with :func:`trajaug.bc.evaluate.evaluate_policy` on
100 episodes, standard and with N(0, 0.1²) action noise. Writes ``results.json`` and ``table.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.bc.evaluate import evaluate_policy
from trajaug.bc.train import BCConfig, train_bc
from trajaug.core.dataset import Dataset
from trajaug.core.report import format_mean_ci, markdown_table, mean_ci95, write_json, write_markdown
from trajaug.datasets.registry import load


def demo_windows(demos: Dataset, per_demo: int, length: int, rng: np.random.Generator) -> Dataset:
    """``per_demo`` windows of ``length`` consecutive transitions from each demo (end drawn uniformly among the rows
    that leave a whole window), as one dataset of (demos × per_demo) episodes of ``length`` rows, each closed by a
    timeout; observations, actions and rewards are the demos' own."""
    rows = []
    for start, stop in demos.episode_bounds:
        ends = rng.integers(start + length - 1, stop, size=per_demo)  # inclusive last row of each window
        rows.append((ends[:, None] - np.arange(length - 1, -1, -1)[None, :]).ravel())
    picked = demos.take_rows(np.concatenate(rows))
    timeouts = np.zeros(len(picked), bool)
    timeouts[length - 1::length] = True
    return dataclasses.replace(picked, terminals=np.zeros(len(picked), bool), timeouts=timeouts,
                               metadata={**demos.metadata, "control": f"demo windows {per_demo}x{length}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", default="halfcheetah-expert")
    parser.add_argument("--episodes", type=int, default=7, help="demos (the first N episodes)")
    parser.add_argument("--windows-per-demo", type=int, default=71)
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--action-noise", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--out", type=Path, default=Path("runs/bench/bdm-windows"))
    args = parser.parse_args()
    demos = load(args.dataset).first_episodes(args.episodes)
    demo_return = float(demos.episode_returns().mean())
    assert demos.env_id is not None
    records: list[dict[str, Any]] = []
    for seed in args.seeds:
        windows = demo_windows(demos, args.windows_per_demo, args.length, np.random.default_rng(seed))
        policy, _ = train_bc(windows, BCConfig(seed=seed))
        record: dict[str, Any] = {"seed": seed, "transitions": len(windows), "episodes": windows.n_episodes}
        for noise in args.action_noise:
            result = evaluate_policy(policy, demos.env_id, episodes=args.eval_episodes, seed=seed, action_noise=noise)
            record[f"return_noise{noise:g}"] = result.mean
        records.append(record)
        returns = [(noise, record[f"return_noise{noise:g}"]) for noise in args.action_noise]
        print(f"seed {seed}: {len(windows)} real transitions in {windows.n_episodes} windows; BC "
              + ", ".join(f"σ={n:g} {r:.0f} ({r / demo_return:.0%})" for n, r in returns), flush=True)
    line: dict[str, Any] = {"row": f"demo windows {args.windows_per_demo}×{args.length}", "seeds": len(records),
                            "transitions": records[0]["transitions"]}
    for noise in args.action_noise:
        mean, ci = mean_ci95([r[f"return_noise{noise:g}"] for r in records])
        line[f"BC σ={noise:g}"] = format_mean_ci(mean, ci)
        line[f"share σ={noise:g}"] = f"{mean / demo_return:.0%}"
    args.out.mkdir(parents=True, exist_ok=True)
    write_json({"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "demo_return": demo_return, "records": records}, args.out / "results.json")
    text = (f"{args.dataset}, {args.episodes} demos (mean return {demo_return:.1f}), BC {BCConfig.steps} updates, "
            f"{args.eval_episodes} evaluation episodes\n\n" + markdown_table([line], digits=3))
    write_markdown(text, args.out / "table.md")
    print(text)


if __name__ == "__main__":
    main()
