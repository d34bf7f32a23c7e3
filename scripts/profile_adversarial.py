"""Where the adversarial phase spends its time: a cProfile of ``AdversarialTrainer.train``, split into its parts.

    .venv/bin/python scripts/profile_adversarial.py [--steps 32768] [--method cat] [--set KEY=VALUE[:KEY=VALUE…]]
        [--out runs/profile-adversarial]

CAT's (or GAIL's) default config (or with ``--set``'s overrides, written as a row string's tail:
``hidden=256x256:n_envs=8``) on the first 7 halfcheetah-expert demos, warm start off, one torch thread and one
BLAS thread (as ``trajaug augment`` runs it). Prints and writes (``profile.md``, ``profile.json``) the
cumulative seconds of each part and its share of the training's wall time; profiling slows the many small calls
(policy inference, hint lookup) more than the few large ones, so the shares are an upper bound for the former. The
value half of each PPO minibatch runs on a second thread (``adversarial.ppo.update``); cProfile sees the main thread
only, which waits for it, so the update's row is its wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

# (part, source file suffix, function name); a part's time is its function's cumulative time, minus the parts listed
# as inside it (``INSIDE``), so the rows add up to the whole
INFERENCE = "policy inference (actions, values, log-probabilities)"
COLLECTION = "rollout collection (the rest: buffer, GAE, bootstrap)"
PARTS = [
    ("PPO's minibatch updates", "adversarial/ppo.py", "update"),
    (COLLECTION, "adversarial/ppo.py", "learn"),
    ("discriminator updates", "reward.py", "__call__"),
    (INFERENCE, "adversarial/ppo.py", "step"),
    ("environment step (ours, the rest)", "reward.py", "step"),
    ("MuJoCo mj_step", "~", "<built-in method mujoco._functions.mj_step>"),
    ("hint lookup (nearest demo state)", "envs.py", "nearest_rows"),
    ("discriminator reward", "networks.py", "reward"),
]
INSIDE = {
    COLLECTION: ["PPO's minibatch updates", "discriminator updates", INFERENCE, "environment step (ours, the rest)"],
    "environment step (ours, the rest)": ["MuJoCo mj_step", "hint lookup (nearest demo state)",
                                           "discriminator reward"],
}


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of the function ``name`` defined in a file ending in ``suffix``."""
    table = stats.stats  # type: ignore[attr-defined]
    return sum(entry[3] for (file, _, function), entry in table.items()
               if function == name and file.endswith(suffix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32768, help="adversarial env steps to profile")
    parser.add_argument("--method", choices=["cat", "gail"], default="cat")
    parser.add_argument("--set", default="", help="config overrides key=value joined by ':'")
    parser.add_argument("--out", type=Path, default=Path("runs/profile-adversarial"))
    args = parser.parse_args()
    import torch

    from trajaug.augment.adversarial.cat import CATConfig
    from trajaug.augment.adversarial.gail import GAILConfig
    from trajaug.augment.adversarial.trainer import AdversarialTrainer
    from trajaug.core.config import parse_config, parse_pairs
    from trajaug.core.cores import blas_threads
    from trajaug.core.report import markdown_table, write_json, write_markdown
    from trajaug.datasets.registry import load

    torch.set_num_threads(1)
    demos = load("halfcheetah-expert").first_episodes(7)
    config_cls = CATConfig if args.method == "cat" else GAILConfig
    overrides = parse_pairs(config_cls, [pair for pair in args.set.split(":") if pair], "--set")
    config = parse_config(config_cls, {**overrides, "total_steps": args.steps, "bc_warmstart_steps": 0}, "--set")
    trainer = AdversarialTrainer(demos, config, 0)
    profile = cProfile.Profile()
    started = time.perf_counter()
    with blas_threads(1):  # as augment() runs the augmenters
        profile.runcall(trainer.train)
    wall = time.perf_counter() - started
    stats = pstats.Stats(profile)
    seconds = {part: cumulative(stats, suffix, name) for part, suffix, name in PARTS}
    own = {part: total - sum(seconds[p] for p in INSIDE.get(part, [])) for part, total in seconds.items()}
    rows = [{"part": part, "seconds": round(value, 2), "share of wall": round(value / wall, 3)}
            for part, value in own.items()]
    rows.append({"part": "wall (AdversarialTrainer.train, profiled)", "seconds": round(wall, 2), "share of wall": 1.0})
    label = f"{args.method}:{args.set}" if args.set else args.method
    header = (f"# Profile of the adversarial phase ({label}, {args.steps} steps, HalfCheetah-v5, 7 demos)\n\n"
              f"{args.steps / wall:.0f} env steps/s under the profiler.\n\n")
    args.out.mkdir(parents=True, exist_ok=True)
    write_markdown(header + markdown_table(rows) + "\n", args.out / "profile.md")
    write_json({"steps": args.steps, "method": args.method, "set": args.set, "wall": wall, "rows": rows},
               args.out / "profile.json")
    print(header + markdown_table(rows))


if __name__ == "__main__":
    main()
