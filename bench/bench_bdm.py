"""Benchmark backtracking augmentation (issue 13): BC trained on bdm / bdm-cl data alone, unfiltered and filtered.

    .venv/bin/python bench/bench_bdm.py [--seeds 0 1 2] [--max-dynamics-error 3.0] [--out runs/bench/bdm] [--quick]

halfcheetah-expert, the first 7 demos, ``per_episode`` = 71 (497 traces). For every seed and every row:

* ``demos``: BC on the 7 demos themselves (the reference's "expert" row; its return is the yardstick's context);
* ``bdm`` / ``bdm-cl``: the augmented set (method seed = the seed), no expert transitions;
* ``bdm filtered`` / ``bdm-cl filtered``: *the same* augmented set without the transitions whose one-step dynamics
  error exceeds ``--max-dynamics-error`` (:func:`trajaug.datasets.filter.filter_by_dynamics`).

Each set gets its one-step physics statistics (restore s_t, apply a_t, compare with s_{t+1}: median, 95th
percentile and share above the threshold, observation units), then the same BC (:func:`trajaug.bc.train.train_bc`,
seed = the seed) evaluated with :func:`trajaug.bc.evaluate.evaluate_policy` (standard and, by default, with action
noise σ = 0.1, reference §1). The table gives every BC return as a share of the demos' own mean return, mean ± 95%
CI over seeds; per-seed records go to ``<out>/results.json`` and the table to ``<out>/table.md``.
``--quick`` shrinks every budget (model, BC, evaluation, traces) to check the pipeline in about a minute; the full
run takes about 8 minutes per seed on one busy core (five BC runs of 20k updates, two model fits).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.augment import augment
from trajaug.augment.bdm import BDMConfig
from trajaug.bc.evaluate import evaluate_policy
from trajaug.bc.train import BCConfig, train_bc
from trajaug.core.dataset import Dataset
from trajaug.core.report import format_mean_ci, markdown_table, mean_ci95, write_json, write_markdown
from trajaug.datasets.check import dynamics_errors
from trajaug.datasets.filter import filter_by_dynamics
from trajaug.datasets.registry import load

ROWS = ("demos", "bdm", "bdm filtered", "bdm-cl", "bdm-cl filtered")


def physics_stats(errors: np.ndarray, threshold: float) -> dict[str, float]:
    """Median / 95th percentile / max of one-step dynamics errors and the share above ``threshold``."""
    if not len(errors):
        return {"dyn_median": float("nan"), "dyn_p95": float("nan"), "dyn_max": float("nan"), "dyn_above": 0.0}
    return {"dyn_median": float(np.median(errors)), "dyn_p95": float(np.percentile(errors, 95)),
            "dyn_max": float(errors.max()), "dyn_above": float(np.mean(errors > threshold))}


def bc_row(name: str, data: Dataset, errors: np.ndarray, seed: int, args: argparse.Namespace,
           demo_return: float) -> dict[str, Any]:
    """Physics statistics, then BC trained on ``data`` and evaluated; one result record."""
    record: dict[str, Any] = {"row": name, "seed": seed, "transitions": len(data), "episodes": data.n_episodes,
                              **physics_stats(errors, args.max_dynamics_error)}
    started = time.perf_counter()
    policy, _ = train_bc(data, BCConfig(steps=args.bc_steps, seed=seed))
    for noise in args.action_noise:
        result = evaluate_policy(policy, "HalfCheetah-v5", episodes=args.eval_episodes, seed=seed,
                                 action_noise=noise)
        record[f"return_noise{noise:g}"] = result.mean
        record[f"share_noise{noise:g}"] = result.mean / demo_return
    record["bc_seconds"] = time.perf_counter() - started
    print(f"  seed {seed} {name:16s} {len(data):6d} transitions, dynamics error median {record['dyn_median']:.3g}: "
          + ", ".join(f"σ={n:g} {record[f'share_noise{n:g}']:.1%}" for n in args.action_noise), flush=True)
    return record


def run_seed(seed: int, demos: Dataset, config: BDMConfig, args: argparse.Namespace) -> list[dict[str, Any]]:
    demo_return = float(demos.episode_returns().mean())
    records = [bc_row("demos", demos, dynamics_errors(demos, np.arange(len(demos))), seed, args, demo_return)]
    for method in ("bdm", "bdm-cl"):
        started = time.perf_counter()
        data, summary = augment(method, demos, config, per_episode=args.per_episode, seed=seed)
        augment_seconds = time.perf_counter() - started
        errors = dynamics_errors(data, np.arange(len(data)))
        filtered, _ = filter_by_dynamics(data, args.max_dynamics_error, errors)
        kept = errors <= args.max_dynamics_error
        for name, part, part_errors in ((method, data, errors), (f"{method} filtered", filtered, errors[kept])):
            if not len(part):
                print(f"  seed {seed} {name}: every transition above the bound, no BC", flush=True)
                continue
            record = bc_row(name, part, part_errors, seed, args, demo_return)
            record.update(augment_seconds=augment_seconds, trace_length_mean=summary["sample_trace_length_mean"],
                          augmented_return_mean=summary["augmented_return_mean"])
            records.append(record)
    return records


def table(records: list[dict[str, Any]], args: argparse.Namespace, demo_return: float) -> str:
    lines = []
    for name in ROWS:
        mine = [r for r in records if r["row"] == name]
        if not mine:
            continue
        line: dict[str, Any] = {"row": name, "seeds": len(mine),
                                "transitions": int(np.mean([r["transitions"] for r in mine]))}
        for key in ("dyn_median", "dyn_p95", "dyn_above"):
            line[key] = float(np.mean([r[key] for r in mine]))
        for noise in args.action_noise:
            mean, ci = mean_ci95([100 * r[f"share_noise{noise:g}"] for r in mine])
            line[f"BC σ={noise:g} (% of demos)"] = format_mean_ci(mean, ci)
        lines.append(line)
    header = (f"HalfCheetah-v5, {args.episodes} demos (mean return {demo_return:.1f}), per_episode {args.per_episode}, "
              f"BC {args.bc_steps} updates, {args.eval_episodes} evaluation episodes, filter bound "
              f"{args.max_dynamics_error:g}; dyn_*: one-step dynamics error (observation units), dyn_above: share "
              f"above the bound\n\n")
    return header + markdown_table(lines, digits=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", default="halfcheetah-expert")
    parser.add_argument("--episodes", type=int, default=7, help="demos (the first N episodes)")
    parser.add_argument("--per-episode", type=int, default=71, help="recall traces per demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-dynamics-error", type=float, default=3.0,
                        help="filter bound (observation units; ≈ the median error of unfiltered bdm-cl data)")
    parser.add_argument("--bc-steps", type=int, default=BCConfig.steps)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--action-noise", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--model-steps", type=int, default=BDMConfig.steps, help="backtracking model updates")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/bdm"))
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check that the pipeline runs")
    args = parser.parse_args()
    if args.quick:
        args.per_episode, args.bc_steps, args.eval_episodes, args.model_steps = 5, 300, 3, 300
        args.seeds = args.seeds[:2]
    config = BDMConfig(steps=args.model_steps)
    if args.quick:
        config = dataclasses.replace(config, value_steps=100)
    demos = load(args.dataset).first_episodes(args.episodes)
    demo_return = float(demos.episode_returns().mean())
    print(f"{args.dataset}: {args.episodes} demos, mean return {demo_return:.1f}; seeds {args.seeds}", flush=True)
    records = [record for seed in args.seeds for record in run_seed(seed, demos, config, args)]
    text = table(records, args, demo_return)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json({"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "config": dataclasses.asdict(config), "demo_return": demo_return, "records": records},
               args.out / "results.json")
    write_markdown(text, args.out / "table.md")
    print()
    print(text)


if __name__ == "__main__":
    main()
