"""Benchmark BC: evaluation speed against the raw simulator, training throughput against d3rlpy's BC.

    .venv/bin/python bench/bench_bc.py [--updates 3000] [--rounds 2] [--skip-d3rlpy]

(a) Evaluation: raw HalfCheetah-v5 ``env.step`` rate on one core (no policy), then ``evaluate_policy`` over 100
    episodes (100k steps) of a BC policy, batched inference, one process; prints the wall time and its ratio to the
    pure-simulation time of 100k steps.
(b) Training: updates/s of ``train_bc`` and of d3rlpy's BC (``BCConfig().create().fit``, as its users run it) on the
    same data (halfcheetah-expert, 100 episodes), network (256-256 ReLU MLP, tanh output, MSE), batch size 256,
    Adam 3e-4, standard observation scaling, one torch thread each. d3rlpy 2.8 pins gym/gymnasium versions that
    conflict with this venv, so it runs in its own venv, ``bench/.venv-d3rlpy`` (created on first use with
    ``pip install torch==2.13.0 d3rlpy``: torch pinned to the local CPU wheel), on the data saved as an .npz.
    The two run alternately for ``--rounds`` rounds; the medians are reported (the machine may be busy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from trajaug.bc.evaluate import evaluate_policy
from trajaug.bc.train import BCConfig, train_bc
from trajaug.datasets.registry import load
from trajaug.sim.rollout import make_env

ENV_ID = "HalfCheetah-v5"
BENCH_DIR = Path(__file__).resolve().parent
D3RLPY_VENV = BENCH_DIR / ".venv-d3rlpy"

D3RLPY_WORKER = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
import d3rlpy
path, updates = sys.argv[1], int(sys.argv[2])
d = np.load(path)
dataset = d3rlpy.dataset.MDPDataset(d["observations"], d["actions"], d["rewards"], d["terminals"],
                                    timeouts=d["timeouts"])
bc = d3rlpy.algos.BCConfig(batch_size=256, learning_rate=3e-4,
                           encoder_factory=d3rlpy.models.VectorEncoderFactory([256, 256]),
                           observation_scaler=d3rlpy.preprocessing.StandardObservationScaler()).create(device="cpu:0")
bc.build_with_dataset(dataset)
fit = dict(show_progress=False, logger_adapter=d3rlpy.logging.NoopAdapterFactory(), save_interval=10**9)
bc.fit(dataset, n_steps=200, n_steps_per_epoch=200, **fit)  # warm-up
start = time.perf_counter()
bc.fit(dataset, n_steps=updates, n_steps_per_epoch=updates, **fit)
fit_rate = updates / (time.perf_counter() - start)
start = time.perf_counter()
for _ in range(updates):
    bc.update(dataset.sample_transition_batch(256))
loop_rate = updates / (time.perf_counter() - start)
print(json.dumps({"d3rlpy": d3rlpy.__version__, "torch": torch.__version__, "fit_updates_per_s": fit_rate,
                  "loop_updates_per_s": loop_rate}))
"""


def ensure_d3rlpy_venv() -> Path:
    """The d3rlpy venv's python, creating the venv on first use."""
    python = D3RLPY_VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import d3rlpy"], capture_output=True).returncode == 0:
        return python
    print(f"creating {D3RLPY_VENV} (torch==2.13.0 + d3rlpy; one-time, a few minutes) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", D3RLPY_VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "torch==2.13.0", "d3rlpy"], check=True)
    return python


def raw_sim_rate(steps: int = 20_000) -> float:
    """HalfCheetah-v5 env.step calls per second with precomputed random actions (no policy, one env)."""
    env = make_env(ENV_ID)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, 6))
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return steps / (time.perf_counter() - start)


def ours_rate(data, updates: int) -> float:  # type: ignore[no-untyped-def]
    _, metrics = train_bc(data, BCConfig(steps=updates, seed=0))
    return float(metrics["steps_per_s"])


def d3rlpy_rate(python: Path, npz: Path, updates: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([python, "-c", D3RLPY_WORKER, str(npz), str(updates)], capture_output=True, text=True,
                          env=env, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"d3rlpy run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000, help="BC updates timed per run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating ours/d3rlpy rounds (median reported)")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes")
    parser.add_argument("--skip-d3rlpy", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}; torch {torch.__version__}", flush=True)

    data = load("halfcheetah-expert")
    print(f"data: halfcheetah-expert, {data.n_episodes} episodes, {len(data)} transitions", flush=True)

    # (a) evaluation speed
    sim = raw_sim_rate()
    policy, _ = train_bc(data, BCConfig(steps=500))
    result = evaluate_policy(policy, ENV_ID, episodes=args.episodes, seed=0)
    steps = args.episodes * 1000  # HalfCheetah never terminates: 1000 steps per episode
    pure = steps / sim
    print(f"\n(a) evaluation, {args.episodes} episodes = {steps} steps")
    print(f"    raw simulator        {sim:9.0f} steps/s  -> {pure:5.2f} s for {steps} steps")
    print(f"    evaluate_policy      {steps / result.wall_s:9.0f} steps/s  -> {result.wall_s:5.2f} s "
          f"(ratio to raw simulation {result.wall_s / pure:.2f}x; target <= 15 s)")

    # (b) training throughput
    ours: list[float] = []
    theirs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "halfcheetah_expert.npz"
        np.savez(npz, observations=data.observations, actions=data.actions, rewards=data.rewards,
                 terminals=data.terminals, timeouts=data.timeouts)
        python = None if args.skip_d3rlpy else ensure_d3rlpy_venv()
        for _ in range(args.rounds):
            ours.append(ours_rate(data, args.updates))
            if python is not None:
                theirs.append(d3rlpy_rate(python, npz, args.updates))
    ours_median = statistics.median(ours)
    print(f"\n(b) BC training, {args.updates} updates, batch 256, 256-256 MLP, 1 thread, {args.rounds} rounds (median)")
    print(f"    trajaug train_bc     {ours_median:9.0f} updates/s   (runs: {', '.join(f'{r:.0f}' for r in ours)})")
    if theirs:
        fit = statistics.median(r["fit_updates_per_s"] for r in theirs)
        loop = statistics.median(r["loop_updates_per_s"] for r in theirs)
        runs = ", ".join(f"{r['fit_updates_per_s']:.0f}" for r in theirs)
        print(f"    d3rlpy {theirs[0]['d3rlpy']} BC.fit    {fit:9.0f} updates/s   (runs: {runs})")
        print(f"    d3rlpy sample+update {loop:9.0f} updates/s   (its bare loop, no fit bookkeeping)")
        print(f"    ratio trajaug / d3rlpy BC.fit: {ours_median / fit:.2f}x (target >= 1.5x); "
              f"vs bare loop {ours_median / loop:.2f}x")


if __name__ == "__main__":
    main()
