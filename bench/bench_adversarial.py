"""Speed of the adversarial phase (CAT / GAIL generator training) against the simulator, side by side.

    .venv/bin/python bench/bench_adversarial.py [--previous COMMIT[,COMMIT…]] [--repeats 2] [--full-run]
        [--full-run-previous]
        [--layouts default,8x256] [--settings "ppo_epochs=2;hidden=64,64"] [--out docs/results/bench-adversarial]

On the first 7 halfcheetah-expert demos, in one run and in alternating order (so that a change of load hits every
row alike), this measures

* ``mujoco``: raw MuJoCo, ``mj_step(nstep=frame_skip)`` on one ``MjData`` with random controls (env steps/s);
* ``gymnasium``: a plain loop of ``gymnasium.make("HalfCheetah-v5").step`` with random actions;
* ``vector task``: 32 copies stepped together by ``trajaug.sim.vector_task.VectorTask`` (as the generator's
  environments are), their MuJoCo steps on one thread and on two;
* ``adversarial``: the marginal rate of the adversarial phase of CAT's default config, warm start off: two
  trainings differing only in ``total_steps`` (``--small`` vs ``--large``), Δsteps / Δwall, so PPO's set-up is
  not counted, its updates are; for this source tree and, with ``--previous``, for each of those commits'
  ``trajaug/`` (extracted with ``git archive`` into a temp folder and run in a subprocess with the same Python);
* with ``--full-run``: the wall time of a full default CAT run (``augment("cat", …)`` with ``CATConfig()`` and seed
  0: warm start, 1.5M adversarial steps, sampling the 497 kept trajectories) of this tree, and with
  ``--full-run-previous`` of the first ``--previous`` commit too, with a sha256 of each output's observations and
  actions (equal: the same output).

``--settings`` times this tree with other CAT settings (``;``-separated variants of ``key=value`` pairs joined by
``:``, as in a row string; speed only: a variant's results are not the default's). ``--layouts`` times this tree
with other PPO layouts (n_envs × n_steps, or ``default``: the timed tree's own; the first is the row
``adversarial``, and the previous commits run with it). Each rate is the median over ``--repeats``; the table
gives each as a share of the Gymnasium loop.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "HalfCheetah-v5"

SOURCE_PREAMBLE = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in (getattr(f, "__module__", "") + repr(f)).lower()]
sys.path.insert(0, sys.argv[1])
import trajaug
assert trajaug.__file__.startswith(sys.argv[1]), trajaug.__file__
"""
"""Start of every snippet: import trajaug from the source root ``sys.argv[1]``, not from the editable install."""

TRAIN_SNIPPET = SOURCE_PREAMBLE + """
import dataclasses
import time
import torch
try:  # the layout by family
    from trajaug.augment.adversarial.cat import CATConfig
    from trajaug.augment.adversarial.trainer import AdversarialTrainer
    by_family = True
except ImportError:  # a commit from before it
    from trajaug.augment.adversarial_trainer import AdversarialTrainer
    from trajaug.augment.cat import CATConfig
    by_family = False
from trajaug.datasets.registry import load
from contextlib import ExitStack
torch.set_num_threads(1)
limits = ExitStack()
try:  # one BLAS thread, as augment() runs the augmenters in trees that do so
    from trajaug.core.cores import blas_threads
    limits.enter_context(blas_threads(1))
except ImportError:
    pass
demos = load("halfcheetah-expert").first_episodes(7)
layout = {} if sys.argv[3] == "default" else {"n_envs": int(sys.argv[3]), "n_steps": int(sys.argv[4])}
config = CATConfig(total_steps=int(sys.argv[2]), bc_warmstart_steps=0, **layout)
if len(sys.argv) > 5:  # a --settings variant: key=value pairs joined by ':'
    from trajaug.core.config import parse_config
    pairs = dict(pair.split("=", 1) for pair in sys.argv[5].split(":"))
    config = parse_config(CATConfig, {**dataclasses.asdict(config), **pairs}, "--settings")
trainer = AdversarialTrainer(demos, config, 0) if by_family else AdversarialTrainer(demos, config, 0.9, 0.1, 0)
started = time.perf_counter()
trainer.train()
print(time.perf_counter() - started)
"""


FULL_RUN_SNIPPET = SOURCE_PREAMBLE + """
import hashlib, json, time
import numpy as np
from trajaug.augment import augment
try:  # the layout by family, or a commit from before it
    from trajaug.augment.adversarial.cat import CATConfig
except ImportError:
    from trajaug.augment.cat import CATConfig
from trajaug.datasets.registry import load
demos = load("halfcheetah-expert").first_episodes(7)
started = time.perf_counter()
augmented, summary = augment("cat", demos, CATConfig(), None, 0)
wall = time.perf_counter() - started
digest = hashlib.sha256()
for array in (augmented.observations, augmented.actions):
    digest.update(np.ascontiguousarray(array).tobytes())
print(json.dumps({"fit s": summary["fit_seconds"], "sample s": summary["sample_seconds"], "wall s": wall,
                  "trajectories": augmented.n_episodes, "output sha256": digest.hexdigest()[:16]}))
"""


def mujoco_rate(steps: int, seed: int = 0) -> float:
    """Raw MuJoCo env steps/s (``frame_skip`` physics steps each) of the task's model."""
    import gymnasium as gym
    import mujoco

    task: Any = gym.make(ENV_ID).unwrapped
    model, data = task.model, mujoco.MjData(task.model)
    controls = np.random.default_rng(seed).uniform(-1, 1, (steps, model.nu))
    started = time.perf_counter()
    for control in controls:
        data.ctrl[:] = control
        mujoco.mj_step(model, data, nstep=task.frame_skip)
    return steps / (time.perf_counter() - started)


def vector_rate(steps: int, threads: int, copies: int = 32, seed: int = 0) -> float:
    """Env steps/s of ``copies`` environments stepped together by ``trajaug.sim.vector_task.VectorTask`` with its
    MuJoCo steps on ``threads`` threads (random controls, no resets: HalfCheetah never ends)."""
    from trajaug.sim.rollout import make_env
    from trajaug.sim.vector_task import VectorTask

    task = VectorTask([make_env(ENV_ID) for _ in range(copies)], threads=threads)
    for k, env in enumerate(task.envs):
        env.reset(seed=seed + k)
    controls = np.random.default_rng(seed).uniform(-1, 1, (steps // copies, copies, task.model.nu))
    started = time.perf_counter()
    for control in controls:
        task.step(control)
    rate = len(controls) * copies / (time.perf_counter() - started)
    task.close()
    return rate


def gymnasium_rate(steps: int, seed: int = 0) -> float:
    """Env steps/s of a plain ``gymnasium.make(ENV_ID).step`` loop (time limit and wrappers included)."""
    import gymnasium as gym

    env = gym.make(ENV_ID)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).uniform(-1, 1, (steps, env.action_space.shape[0]))  # type: ignore[index]
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - started)


Layout = tuple[int, int] | None
"""(n_envs, n_steps) of a timed training; None: the timed tree's own defaults."""


def train_seconds(source: Path, steps: int, layout: Layout, settings: str = "") -> float:
    """Wall seconds of ``AdversarialTrainer.train`` at ``steps`` adversarial steps with ``layout`` and the
    ``settings`` pairs (``key=value:…``), trajaug taken from ``source``."""
    shape = ["default", "default"] if layout is None else [str(n) for n in layout]
    result = subprocess.run([sys.executable, "-c", TRAIN_SNIPPET, str(source), str(steps), *shape,
                             *([settings] if settings else [])],
                            check=True, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])


def adversarial_rate(source: Path, small: int, large: int, layout: Layout, settings: str = "") -> float:
    """Marginal adversarial env steps/s: (large − small) / (wall(large) − wall(small))."""
    return (large - small) / (train_seconds(source, large, layout, settings)
                              - train_seconds(source, small, layout, settings))


def full_run(source: Path) -> dict[str, Any]:
    """Wall seconds (fit, sample, total), trajectories and output sha256 of a full default CAT run from
    ``source``."""
    result = subprocess.run([sys.executable, "-c", FULL_RUN_SNIPPET, str(source)], check=True,
                            capture_output=True, text=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def extract(commit: str, folder: Path) -> Path:
    """``trajaug/`` of ``commit`` unpacked under ``folder``; returns the source root to put on sys.path."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "trajaug"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", default="",
                        help="comma-separated commits of implementations to compare with")
    parser.add_argument("--full-run", action="store_true", help="also time a full default CAT run of this tree")
    parser.add_argument("--full-run-previous", action="store_true",
                        help="with --full-run, time the first --previous commit's full default run too")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--small", type=int, default=8192)
    parser.add_argument("--large", type=int, default=73728)
    parser.add_argument("--sim-steps", type=int, default=20000)
    parser.add_argument("--layouts", default="default",
                        help="comma-separated N_ENVSxN_STEPS PPO layouts of this tree to time (the first is the row "
                             "'adversarial' and the previous commits' layout; 'default': each tree's own)")
    parser.add_argument("--settings", default="",
                        help="';'-separated variants of CAT settings (key=value pairs joined by ':') to time")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/results/bench-adversarial")
    args = parser.parse_args()
    layouts: list[Layout] = [None if layout == "default" else (int(layout.split("x")[0]), int(layout.split("x")[1]))
                             for layout in args.layouts.split(",")]
    from trajaug.core.report import markdown_table, write_json, write_markdown

    rates: dict[str, list[float]] = {"mujoco": [], "gymnasium": [], "vector task, 32 copies, 1 thread": [],
                                     "vector task, 32 copies, 2 threads": []}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {("adversarial" if i == 0 else f"adversarial, {'×'.join(map(str, layout or ('default',)))} layout"):
                (ROOT, layout, "") for i, layout in enumerate(layouts)}
        for variant in (v for v in args.settings.split(";") if v):
            runs[f"adversarial, {variant}"] = (ROOT, layouts[0], variant)
        previous = [commit for commit in args.previous.split(",") if commit]
        for commit in previous:
            (Path(tmp) / commit).mkdir()
            runs[f"adversarial (previous, {commit})"] = (extract(commit, Path(tmp) / commit), layouts[0], "")
        rates.update({name: [] for name in runs})
        for _ in range(args.repeats):
            rates["mujoco"].append(mujoco_rate(args.sim_steps))
            rates["gymnasium"].append(gymnasium_rate(args.sim_steps))
            for threads in (1, 2):
                rates[f"vector task, 32 copies, {threads} thread{'s' if threads > 1 else ''}"].append(
                    vector_rate(4 * args.sim_steps, threads))
            for name, (source, layout, settings) in runs.items():
                rates[name].append(adversarial_rate(source, args.small, args.large, layout, settings))
                print(name, f"{rates[name][-1]:.0f} steps/s", flush=True)
        full_runs = []
        if args.full_run:
            sources = [("this version", ROOT)] + [(c, Path(tmp) / c) for c in previous[:1] if args.full_run_previous]
            for name, source in sources:
                full_runs.append({"implementation": name, **full_run(source)})
                print(full_runs[-1], flush=True)
    median = {name: float(np.median(values)) for name, values in rates.items()}
    rows = [{"what": name, "env steps/s (median)": round(median[name]),
             "× Gymnasium loop": median[name] / median["gymnasium"],
             "runs": " ".join(f"{v:.0f}" for v in rates[name])} for name in rates]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    record = {"rates": rates, "median": median, "full_runs": full_runs,
              "args": {k: str(v) for k, v in vars(args).items()}, "commit": commit}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(record, args.out / "bench_adversarial.json")
    text = f"# Adversarial phase speed ({ENV_ID}, 7 demos)\n\n{markdown_table(rows)}\n"
    if full_runs:
        text += f"\n## A full default CAT run (seed 0, 497 trajectories)\n\n{markdown_table(full_runs)}\n"
    write_markdown(text, args.out / "bench_adversarial.md")
    print(json.dumps(median, indent=1))


if __name__ == "__main__":
    main()
