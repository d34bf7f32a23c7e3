"""Train a bundled expert actor with stable-baselines3 SAC (optional extra ``trajaug[train]``).

The command behind ``trajaug datasets train-expert ENV``. Training is resumable: every ``checkpoint_every``
environment steps the SAC model, its replay buffer and a ``progress.json`` are written to ``run_dir``; running the
same command again continues from there. After each checkpoint the deterministic actor is evaluated on
``eval_episodes`` episodes (evaluation seeds 10_000+, never the seeds data is later built with) and, when it beats the
best so far, exported as a small weights file (see :mod:`trajaug.experts.bundled`) to ``export_to``.

Update-to-data ratio: SAC's default is one gradient step per environment step; we use ``train_freq=2,
gradient_steps=1`` (ratio 0.5), which roughly doubles throughput (docs/experts.md).

``device`` (a run option, :mod:`trajaug.core.device`) is stable-baselines3's ``device=``: SAC's networks and its
gradient steps run there, the environment on the CPU; ``progress.json`` records it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.core.atomic import atomic_path
from trajaug.core.device import device_record, resolve_device
from trajaug.core.progress import Progress, start_phase, tick
from trajaug.experts.bundled import ExpertActor, save_actor


@dataclass(frozen=True)
class ExpertTrainingConfig:
    env_id: str
    """Gymnasium v5 environment id, e.g. ``HalfCheetah-v5``."""
    total_steps: int = 1_000_000
    """Environment steps in all (over every resumed run)."""
    checkpoint_every: int = 20_000
    """Environment steps between checkpoints and evaluations."""
    eval_episodes: int = 5
    """Deterministic evaluation episodes per checkpoint."""
    seed: int = 0
    """Seed of SAC, its environment and its exploration."""
    learning_starts: int = 10_000
    """Uniform-random steps before learning (SB3 ``learning_starts``)."""
    train_freq: int = 2
    """Environment steps between gradient phases."""
    gradient_steps: int = 1
    """Gradient steps per phase."""
    hidden: tuple[int, ...] = (256, 256)
    """Actor and critic hidden sizes (SB3's default for SAC)."""
    stop_in_band: tuple[float, float] | None = None
    """Stop at the first checkpoint whose evaluation return lies in this (low, high) band (D4RL's medium level:
    about a third of the expert's return); None trains for ``total_steps``."""
    keep_checkpoints: bool = False
    """Also write every checkpoint's stochastic actor (mean and log-std heads) to ``run_dir/checkpoints/`` (the
    medium-replay level is rolled out from them)."""


def _evaluate_actor(actor: ExpertActor, env_id: str, episodes: int) -> float:
    import gymnasium as gym
    import torch

    env = gym.make(env_id)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + episode)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                action = actor(torch.as_tensor(obs, dtype=torch.float32)).numpy()
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def _actor_from_sb3(model, env_id: str, hidden: tuple[int, ...],  # type: ignore[no-untyped-def]
                    stochastic: bool = False) -> ExpertActor:
    """Copy SB3's SAC actor (latent_pi → mu → tanh, and the log_std head if ``stochastic``) into an
    :class:`ExpertActor`."""
    import torch

    obs_dim = model.observation_space.shape[0]
    act_dim = model.action_space.shape[0]
    actor = ExpertActor(env_id, obs_dim, act_dim, hidden, stochastic=stochastic)
    linears = [m for m in model.actor.latent_pi if isinstance(m, torch.nn.Linear)] + [model.actor.mu]
    ours = [m for m in actor.net if isinstance(m, torch.nn.Linear)]
    if actor.log_std is not None:
        linears.append(model.actor.log_std)
        ours.append(actor.log_std)
    with torch.no_grad():
        for src, dst in zip(linears, ours, strict=True):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return actor


def train_expert(config: ExpertTrainingConfig, run_dir: Path, export_to: Path, progress: Progress | None = None,
                 device: str = "cpu") -> dict:
    """Run (or resume) SAC training on ``device`` (``auto``, ``cpu``, ``cuda[:N]``, ``mps``); returns the progress
    record. See the module docstring. ``progress`` is a phase of ``total_steps`` environment steps (those of an
    earlier run counted as done), advanced every 1000."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    class Advance(BaseCallback):  # type: ignore[misc]
        def _on_step(self) -> bool:
            tick(progress, self.n_calls - 1, chunk)
            return True

    where = resolve_device(device)
    torch.set_num_threads(1)
    run_dir.mkdir(parents=True, exist_ok=True)
    model_path, buffer_path = run_dir / "sac.zip", run_dir / "replay.pkl"
    progress_path = run_dir / "progress.json"
    record: dict[str, Any] = json.loads(progress_path.read_text()) if progress_path.exists() else {
        "config": asdict(config), "steps": 0, "best_return": None, "history": []}
    record["device"] = device_record(where)
    env = gym.make(config.env_id)
    if model_path.exists():
        model = SAC.load(model_path, env=env, device=where)
        if buffer_path.exists():
            model.load_replay_buffer(buffer_path)
    else:
        model = SAC("MlpPolicy", env, seed=config.seed, device=where, verbose=0,
                    learning_starts=config.learning_starts, train_freq=config.train_freq,
                    gradient_steps=config.gradient_steps,
                    policy_kwargs={"net_arch": list(config.hidden)})
    start_phase(progress, f"{config.env_id}: SAC environment steps", config.total_steps)
    if progress is not None and record["steps"]:
        progress(min(record["steps"], config.total_steps))
    while record["steps"] < config.total_steps and not record.get("stopped_at_return"):
        started = time.time()
        chunk = min(config.checkpoint_every, config.total_steps - record["steps"])
        model.learn(chunk, reset_num_timesteps=False, progress_bar=False, callback=Advance())
        record["steps"] += chunk
        actor = _actor_from_sb3(model, config.env_id, config.hidden, stochastic=config.keep_checkpoints)
        mean_return = _evaluate_actor(actor, config.env_id, config.eval_episodes)
        record["history"].append({"steps": record["steps"], "return": mean_return,
                                    "seconds": time.time() - started})
        if config.keep_checkpoints:
            save_actor(actor, run_dir / "checkpoints" / f"steps-{record['steps']:08d}.pt",
                       extra={"steps": record["steps"], "eval_return": mean_return})
        if config.stop_in_band is not None and config.stop_in_band[0] <= mean_return <= config.stop_in_band[1]:
            record["stopped_at_return"] = {"steps": record["steps"], "return": mean_return}
        if record["best_return"] is None or mean_return > record["best_return"]:
            record["best_return"] = mean_return
            record["best_steps"] = record["steps"]
            save_actor(actor, export_to, extra={"steps": record["steps"], "eval_return": mean_return})
        with atomic_path(model_path, force=True) as tmp:
            model.save(tmp)
        with atomic_path(buffer_path, force=True) as tmp:
            model.save_replay_buffer(tmp)
        with atomic_path(progress_path, force=True) as tmp:
            tmp.write_text(json.dumps(record, indent=1))
        print(f"{config.env_id} steps={record['steps']} return={mean_return:.1f} "
              f"best={record['best_return']:.1f} ({time.time() - started:.0f}s)", flush=True)
    return record
