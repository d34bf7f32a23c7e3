"""Benchmark offline-RL training throughput: trajaug's TD3+BC and IQL against d3rlpy's, on the same file.

    .venv/bin/python bench/bench_offrl.py [--updates 2000] [--rounds 2] [--skip-d3rlpy] [--dataset halfcheetah-expert]

Updates/s of ``train_offrl`` (CORL's defaults: 256-256 networks, batch 256, Adam 3e-4; no evaluation) and of d3rlpy's
``TD3PlusBC`` and ``IQL`` configured the same way (α 2.5, smoothing 0.2 / 0.5, actor every 2 updates, τ 0.005; IQL
expectile 0.7, β 3, weights clipped at 100, cosine actor schedule, rewards scaled by 1000 / return range, standard
observation scaling), one torch thread each, on the same transitions (``halfcheetah-expert``: 100 episodes, 100k
transitions). d3rlpy 2.8 pins gym/gymnasium versions that conflict with this venv, so it runs in its own venv,
``bench/.venv-d3rlpy``, created on first use exactly as ``bench/bench_bc.py`` does (torch pinned to the local CPU
wheel), on the data saved as an .npz. BC (``train_bc``) is timed in each round too, as the reference for how busy the
machine is (the per-update work of TD3+BC is ≈ 3.8×, of IQL ≈ 5× BC's in matrix products). The runs alternate for
``--rounds`` rounds and the medians are reported. A 100k-update run takes ``100000 / rate`` seconds.
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
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bc import ensure_d3rlpy_venv  # noqa: E402  (the shared d3rlpy venv)

from trajaug.bc.train import BCConfig, train_bc  # noqa: E402
from trajaug.datasets.registry import load  # noqa: E402
from trajaug.offrl import IQLConfig, TD3BCConfig, train_offrl  # noqa: E402

D3RLPY_WORKER = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
import d3rlpy
path, algo, updates = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = np.load(path)
dataset = d3rlpy.dataset.MDPDataset(d["observations"], d["actions"], d["rewards"], d["terminals"],
                                    timeouts=d["timeouts"])
encoder = d3rlpy.models.VectorEncoderFactory([256, 256])
common = dict(batch_size=256, gamma=0.99, tau=0.005, actor_learning_rate=3e-4, critic_learning_rate=3e-4,
              actor_encoder_factory=encoder, critic_encoder_factory=encoder,
              observation_scaler=d3rlpy.preprocessing.StandardObservationScaler())
if algo == "td3bc":
    config = d3rlpy.algos.TD3PlusBCConfig(alpha=2.5, target_smoothing_sigma=0.2, target_smoothing_clip=0.5,
                                          update_actor_interval=2, **common)
else:
    schedule = d3rlpy.optimizers.CosineAnnealingLRFactory(T_max=updates)
    config = d3rlpy.algos.IQLConfig(expectile=0.7, weight_temp=3.0, max_weight=100.0, value_encoder_factory=encoder,
                                    reward_scaler=d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=1000.0),
                                    actor_optim_factory=d3rlpy.optimizers.AdamFactory(lr_scheduler_factory=schedule),
                                    **common)
learner = config.create(device="cpu:0")
learner.build_with_dataset(dataset)
fit = dict(show_progress=False, logger_adapter=d3rlpy.logging.NoopAdapterFactory(), save_interval=10**9)
learner.fit(dataset, n_steps=100, n_steps_per_epoch=100, **fit)  # warm-up
start = time.perf_counter()
learner.fit(dataset, n_steps=updates, n_steps_per_epoch=updates, **fit)
print(json.dumps({"d3rlpy": d3rlpy.__version__, "torch": torch.__version__,
                  "updates_per_s": updates / (time.perf_counter() - start)}))
"""


def ours(data, algo: str, updates: int) -> float:  # type: ignore[no-untyped-def]
    config = TD3BCConfig(steps=updates) if algo == "td3bc" else IQLConfig(steps=updates)
    _, metrics = train_offrl(data, algo, config, eval_episodes=0)
    return float(metrics["updates_per_s"])


def bc_rate(data, updates: int) -> float:  # type: ignore[no-untyped-def]
    _, metrics = train_bc(data, BCConfig(steps=updates))
    return float(metrics["steps_per_s"])


def d3rlpy_rate(python: Path, npz: Path, algo: str, updates: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([python, "-c", D3RLPY_WORKER, str(npz), algo, str(updates)], capture_output=True,
                          text=True, env=env, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"d3rlpy {algo} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000, help="updates timed per run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (median reported)")
    parser.add_argument("--dataset", default="halfcheetah-expert")
    parser.add_argument("--skip-d3rlpy", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}; torch {torch.__version__}", flush=True)
    data = load(args.dataset)
    print(f"data: {args.dataset}, {data.n_episodes} episodes, {len(data)} transitions", flush=True)

    rates: dict[str, list[float]] = {"bc": [], "td3bc": [], "iql": [], "d3rlpy td3bc": [], "d3rlpy iql": []}
    version = ""
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "data.npz"
        np.savez(npz, observations=data.observations, actions=data.actions, rewards=data.rewards,
                 terminals=data.terminals, timeouts=data.timeouts)
        python = None if args.skip_d3rlpy else ensure_d3rlpy_venv()
        for round_ in range(args.rounds):
            rates["bc"].append(bc_rate(data, args.updates))
            for algo in ("td3bc", "iql"):
                rates[algo].append(ours(data, algo, args.updates))
                if python is not None:
                    record = d3rlpy_rate(python, npz, algo, args.updates)
                    rates[f"d3rlpy {algo}"].append(record["updates_per_s"])
                    version = record["d3rlpy"]
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rates.items() if v), flush=True)

    print(f"\noffline RL training, {args.updates} updates per run, batch 256, 256-256 networks, 1 thread, "
          f"{args.rounds} rounds (median updates/s; 100k updates in minutes)")
    for name, values in rates.items():
        if values:
            median = statistics.median(values)
            label = name.replace("d3rlpy", f"d3rlpy {version}") if version else name
            print(f"    {label:18s} {median:7.0f} updates/s  {100_000 / median / 60:6.1f} min  "
                  f"(runs: {', '.join(f'{v:.0f}' for v in values)})")
    for algo in ("td3bc", "iql"):
        if rates[f"d3rlpy {algo}"]:
            ratio = statistics.median(rates[algo]) / statistics.median(rates[f"d3rlpy {algo}"])
            print(f"    ratio trajaug / d3rlpy {algo}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
