"""Train TD3+BC or IQL on a dataset, with a learning curve: :func:`train_offrl`.

The loop is the one both algorithms share: transitions from the dataset (:mod:`trajaug.offrl.replay`: terminals do
not bootstrap, timeouts do), states normalized once, then ``steps`` updates on minibatches drawn by a seeded
generator. Every ``eval_every`` updates, and after the last, the policy is evaluated as BC's are
(:func:`trajaug.sim.evaluate.evaluate_policy`: ``eval_episodes`` episodes in a pool, reset seeds
``eval_seeds(seed, ·)``, each action-noise σ of ``eval_noise``); the curve (normalized score vs updates) is written
as ``curve.json`` and ``curve.png``, and ``metrics.json`` records the **final** evaluation and the **best** point of
the curve, as CORL reports both.

Seeds: ``seed`` initialises the networks (torch's global generator), and derived streams seed the minibatch sampler
and TD3's smoothing noise (``torch.Generator``s of their own), so evaluation never shifts them: the same seed, data
and config give identical weights whatever ``eval_every`` (one thread, ``torch.use_deterministic_algorithms``).

Real + synthetic (SynthER's setting): ``synthetic`` is a second dataset (an augmented set, SynthER's samples, bdm's
reverse rollouts) whose transitions fill ``1 − real_ratio`` of every minibatch (:class:`~trajaug.offrl.replay.Replay`);
the states are normalized, the rewards scaled and the action bound read from the real data alone. ``subset``: train
on :func:`~trajaug.offrl.replay.episode_subset` of the (first ``episodes`` of the) dataset, drawn with ``seed``.
Without either, a run is exactly what it was before they existed.

``device`` (a run option: :mod:`trajaug.core.device`): the networks are initialised on the CPU and moved there, the
replay buffer is resident there (moved once); the generators stay on the CPU, so every device draws the same batches
and noise. Evaluation runs on a CPU copy of the actor, and the returned actor is on the CPU.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from trajaug.core import defaults
from trajaug.core.atomic import OutputExistsError, atomic_path
from trajaug.core.dataset import Dataset
from trajaug.core.device import device_record, resolve_device, synchronize
from trajaug.core.errors import TrajaugInputError
from trajaug.core.nn import deterministic_torch
from trajaug.core.report import write_json
from trajaug.datasets.info import summarize
from trajaug.offrl import resume
from trajaug.offrl.checkpoint import save_checkpoint
from trajaug.offrl.iql import IQL, IQLConfig
from trajaug.offrl.nets import Actor
from trajaug.offrl.replay import REAL_RATIO, Replay, episode_subset, observation_stats, transitions
from trajaug.offrl.td3bc import TD3BC, TD3BCConfig
from trajaug.sim.evaluate import evaluate_policy, task_info
from trajaug.sim.rollout import make_env

ALGORITHMS: dict[str, tuple[type[Any], Any]] = {"td3bc": (TD3BCConfig, TD3BC), "iql": (IQLConfig, IQL)}
"""Algorithm name → (config class, learner class)."""
OUTPUT_FILES = ("policy.pt", "config.json", "curve.json", "curve.png", "metrics.json")
REBUILT_NEXT = "next_observations missing"
"""Start of the reader's warning for a file without next observations (the rows concerned are reported instead)."""


def load_dataset(name: str, episodes: int | None = None, progress: Callable[[int], None] | None = None) -> Dataset:
    """Load ``name`` (a known name or a path) and keep its first ``episodes`` episodes (all if None).

    The reader's warning about rebuilt next observations is held back: :func:`train_offrl` reports what it means
    for offline RL (the episode-end rows dropped), or refuses a dataset with no usable transition."""
    from trajaug.datasets.registry import load

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(name, progress=progress)
    for warning in caught:
        if not str(warning.message).startswith(REBUILT_NEXT):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if episodes is None:
        return data
    try:
        return data.first_episodes(episodes)
    except ValueError as error:
        raise TrajaugInputError(f"{name}: {error}") from None


def _stream(seed: int, index: int) -> int:
    """A seed for stream ``index`` of run ``seed`` (independent of the others)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint32)[0])


def _action_scale(dataset: Dataset) -> np.ndarray:
    """The action bound m per dimension: the environment's (symmetric) Box bound; 1 without an environment."""
    if dataset.env_id is None:
        return np.ones(dataset.act_dim)
    try:
        env = make_env(dataset.env_id)
    except gym.error.Error:
        raise TrajaugInputError(f"unknown environment {dataset.env_id!r} (its action bounds are needed)") from None
    low, high = env.action_space.low, env.action_space.high  # type: ignore[attr-defined]
    env.close()
    if not (np.allclose(low, -high) and np.all(high > 0) and np.all(np.isfinite(high))):
        raise TrajaugInputError(f"{dataset.env_id}: action bounds [{low}, {high}] are not symmetric and finite")
    return np.asarray(high, dtype=np.float64)


def _check(dataset: Dataset, algo: str, config: Any, seed: int, eval_every: int, eval_episodes: int,
           out: Path | None, force: bool, state_file: Path | None) -> None:
    if algo not in ALGORITHMS:
        raise TrajaugInputError(f"unknown algorithm {algo!r}; known: {', '.join(ALGORITHMS)}")
    if not isinstance(config, ALGORITHMS[algo][0]):
        raise TrajaugInputError(f"{algo}: expected a {ALGORITHMS[algo][0].__name__}, got {type(config).__name__}")
    if seed < 0 or eval_every < 0 or eval_episodes < 0:
        raise TrajaugInputError("seed, eval_every and eval_episodes must be ≥ 0")
    if eval_episodes and dataset.env_id is None:
        raise TrajaugInputError("dataset: names no environment to evaluate on (give eval_episodes=0)")
    if eval_episodes and dataset.env_id is not None and task_info(dataset.env_id).obs_dim != dataset.obs_dim:
        raise TrajaugInputError(f"dataset: observations of size {dataset.obs_dim}, {dataset.env_id} has "
                                f"{task_info(dataset.env_id).obs_dim}")
    if out is not None and not force and out.exists() and (
            not out.is_dir() or any(state_file is None or path.resolve() != state_file.resolve()
                                   for path in out.iterdir())):
        raise OutputExistsError(f"{out}: already exists and is not empty (use --force to overwrite)")


def _check_mix(dataset: Dataset, synthetic: Dataset | None, real_ratio: float, subset: float | None) -> None:
    """Refuse a subset fraction outside (0, 1], a real ratio outside [0, 1], and a synthetic set of another task."""
    if subset is not None and not 0 < subset <= 1:
        raise TrajaugInputError(f"subset: {subset!r} is not a fraction in (0, 1]")
    if not 0 <= real_ratio <= 1:
        raise TrajaugInputError(f"real_ratio: {real_ratio!r} is not in [0, 1]")
    if synthetic is None:
        return
    if (synthetic.obs_dim, synthetic.act_dim) != (dataset.obs_dim, dataset.act_dim):
        raise TrajaugInputError(f"synthetic: observations and actions of size {synthetic.obs_dim} and "
                                f"{synthetic.act_dim}, the dataset's are {dataset.obs_dim} and {dataset.act_dim}")
    if None not in (synthetic.env_id, dataset.env_id) and synthetic.env_id != dataset.env_id:
        raise TrajaugInputError(f"synthetic: holds {synthetic.env_id} data, the dataset {dataset.env_id}")


def train_offrl(dataset: Dataset, algo: str, config: Any = None, out_dir: str | Path | None = None, *,
                seed: int = 0, eval_every: int = 5000, eval_episodes: int = 10,
                eval_noise: Sequence[float] = defaults.EVAL_NOISE, force: bool = False,
                provenance: Mapping[str, Any] | None = None,
                progress: Callable[[int], None] | None = None,
                device: str | torch.device = "cpu", synthetic: Dataset | None = None, real_ratio: float = REAL_RATIO,
                subset: float | None = None, resume_file: str | Path | None = None) -> tuple[Actor, dict[str, Any]]:
    """Train ``algo`` (``"td3bc"`` or ``"iql"``) on ``dataset``; returns (policy in eval mode, metrics).

    ``config``: a :class:`TD3BCConfig` / :class:`IQLConfig` (default: CORL's). ``eval_every``: updates between
    evaluations (0: only after the last); ``eval_episodes`` (CORL: 10; 0: no evaluation) per σ of ``eval_noise``.
    With ``out_dir``, writes ``policy.pt``, ``config.json``, ``curve.json``, ``curve.png`` and ``metrics.json``
    (last); a non-empty ``out_dir`` raises :class:`OutputExistsError` before training unless ``force``.
    ``progress(n)`` is called every 1000 updates. ``device``: where the networks train (``auto``, ``cpu``,
    ``cuda[:N]``, ``mps``; recorded in the metrics under ``"device"``). ``synthetic``: transitions to mix into
    every minibatch, ``1 − real_ratio`` of it (recorded under ``"synthetic"``); ``subset``: a fraction in (0, 1]
    of the dataset's transitions, whole episodes drawn with ``seed`` (recorded under ``"subset"``); see the module
    docstring. ``resume_file``: where the run keeps its state while unfinished (:mod:`trajaug.offrl.resume`): a
    state of this same run found there is continued from (the result is the uninterrupted run's; the steps it
    resumed at are recorded under ``"resumed_at"``), and it is removed at the end; with ``force`` the run starts
    over. Bad input raises :class:`TrajaugInputError`.
    """
    config = config if config is not None else ALGORITHMS.get(algo, (TD3BCConfig,))[0]()
    out = Path(out_dir) if out_dir is not None else None
    state_file = Path(resume_file) if resume_file is not None else None
    _check(dataset, algo, config, seed, eval_every, eval_episodes, out, force, state_file)
    if force and state_file is not None:
        state_file.unlink(missing_ok=True)
    _check_mix(dataset, synthetic, real_ratio, subset)
    where = resolve_device(device)
    whole = len(dataset)
    if subset is not None and subset < 1:
        dataset = episode_subset(dataset, subset, seed)
    data = transitions(dataset)
    extra = transitions(synthetic, "synthetic") if synthetic is not None else None
    learner_cls = ALGORITHMS[algo][1]
    reward_scale = learner_cls.reward_scale(config, dataset)
    mean, std = observation_stats(data.observations, config.obs_eps, config.normalize_obs)
    replay = Replay(data, mean, std, reward_scale, seed=_stream(seed, 1), device=where, synthetic=extra,
                    real_ratio=real_ratio)
    dropped = data.dropped + (extra.dropped if extra is not None else 0)
    if dropped:
        warnings.warn(f"{dropped} episode-end rows without a stored next observation left out (their "
                      "successor is unknown; terminals and stored timeouts are kept)", UserWarning, stacklevel=2)
    noise_levels = [float(sigma) for sigma in eval_noise] if eval_episodes else []
    losses = torch.empty(config.steps, len(learner_cls.LOSSES), device=where)

    with deterministic_torch(config.threads):
        torch.manual_seed(seed)
        actor = Actor(dataset.obs_dim, dataset.act_dim, config.hidden, dataset.env_id)
        actor.set_normalizer(mean, std)
        actor.action_scale.copy_(torch.as_tensor(_action_scale(dataset), dtype=torch.float32))
        actor.to(where)
        learner = learner_cls(config, actor, seed=_stream(seed, 2))
        actor.train()
        run, key = resume.RunState(0, [], 0.0, 0.0, []), ""
        if state_file is not None:  # go on from this run's saved state, if there is one
            key = resume.run_key(replay, algo=algo, config=config.to_dict(), seed=seed, eval_every=eval_every,
                                 eval_episodes=eval_episodes, noise=noise_levels, device=str(where))
            run = resume.restore(state_file, key, learner, replay, losses) or run
        points, save_every = run.points, eval_every or resume.EVERY_WITHOUT_EVALUATION
        if progress is not None and run.step:
            progress(run.step - run.step % 1000)
        start, window = time.perf_counter(), points[-1]["step"] if points else 0
        for step in range(run.step, config.steps):
            losses[step] = learner.update(replay.sample(config.batch_size))
            done = step + 1
            if progress is not None and done % 1000 == 0:
                progress(1000)
            evaluate = noise_levels and (done == config.steps or (eval_every and done % eval_every == 0))
            keep = state_file is not None and done < config.steps and done % save_every == 0
            if evaluate or keep:
                synchronize(where)
                run.wall_s += time.perf_counter() - start
                if evaluate:
                    points.append(_evaluate(actor, dataset.env_id, done, losses[window:done], learner_cls.LOSSES,
                                            eval_episodes, seed, noise_levels))
                    run.eval_wall_s += sum(e["wall_s"] for e in points[-1]["evals"])
                    window = done
                if keep:
                    assert state_file is not None
                    run.step = done
                    resume.save(state_file, key, learner, replay, losses, run)
                start = time.perf_counter()
        synchronize(where)
        run.wall_s += time.perf_counter() - start
        actor.to("cpu").eval()
        if progress is not None and config.steps % 1000:
            progress(config.steps % 1000)

    metrics = _metrics(algo, config, seed, losses.cpu(), learner_cls.LOSSES, run.wall_s, run.eval_wall_s, points,
                       dataset, data, reward_scale, eval_episodes)
    metrics["device"] = device_record(where)
    if run.resumed_at:
        metrics["resumed_at"] = run.resumed_at
    if subset is not None:
        metrics["subset"] = {"fraction": subset, "seed": seed, "episodes": dataset.n_episodes,
                             "transitions": len(dataset), "of_transitions": whole}
    if synthetic is not None and extra is not None:
        metrics["synthetic"] = {"real_ratio": real_ratio, "transitions": len(extra), "dropped_rows": extra.dropped,
                                "terminals": int(extra.terminals.sum()), "dataset": summarize(synthetic)}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        resolved = {"algorithm": algo, "env_id": dataset.env_id, "seed": seed, "config": config.to_dict(),
                    "evaluation": {"every": eval_every, "episodes": eval_episodes, "action_noise": noise_levels,
                                   "seed": seed},
                    "data": dict(provenance or {})}
        save_checkpoint(out / "policy.pt", algo, actor, learner.networks(), resolved, seed, metrics, force=True)
        write_json(resolved, out / "config.json")
        write_json({"algorithm": algo, "env_id": dataset.env_id, "points": points}, out / "curve.json")
        name = (provenance or {}).get("dataset", dataset.env_id)
        _plot_curve(points, noise_levels, f"{algo} on {name}", out / "curve.png")
        write_json(metrics, out / "metrics.json")
    if state_file is not None:
        state_file.unlink(missing_ok=True)
    return actor, metrics


def _evaluate(actor: Actor, env_id: str | None, step: int, window: torch.Tensor, names: tuple[str, ...],
              episodes: int, seed: int, noise_levels: list[float]) -> dict[str, Any]:
    """One curve point: the mean losses since the previous point and an evaluation per σ."""
    assert env_id is not None
    evals = [evaluate_policy(actor, env_id, episodes, seed, sigma).to_dict(include_returns=False)
             for sigma in noise_levels]
    means = window.double().nanmean(dim=0).tolist() if len(window) else [math.nan] * len(names)
    return {"step": step, "losses": dict(zip(names, means, strict=True)), "evals": evals}


def _best(points: list[dict[str, Any]], sigma: float) -> dict[str, Any] | None:
    """The curve point with the highest mean return at noise σ (the normalized score is increasing in it)."""
    rows = [(p["step"], e) for p in points for e in p["evals"] if e["action_noise"] == sigma]
    if not rows:
        return None
    step, best = max(rows, key=lambda row: row[1]["return_mean"])
    return {"step": step, **{k: best[k] for k in ("action_noise", "return_mean", "return_ci95", "normalized_mean",
                                                  "normalized_ci95")}}


def _metrics(algo: str, config: Any, seed: int, losses: torch.Tensor, names: tuple[str, ...], wall: float,
             eval_wall: float, points: list[dict[str, Any]], dataset: Dataset, data: Any, reward_scale: float,
             eval_episodes: int) -> dict[str, Any]:
    tail = losses[-max(1, len(losses) // 100):].double().nanmean(dim=0).tolist()
    summary = summarize(dataset)
    if "file_sha256" in dataset.metadata:
        summary["file_sha256"] = dataset.metadata["file_sha256"]
    final = points[-1]["evals"] if points else []
    return {
        "algorithm": algo, "steps": int(config.steps), "seed": seed,
        "loss_final": dict(zip(names, tail, strict=True)),
        "wall_s": wall, "updates_per_s": config.steps / wall if wall > 0 else math.inf, "eval_wall_s": eval_wall,
        "eval_episodes": eval_episodes,
        "final": final, "best": [b for e in final if (b := _best(points, e["action_noise"])) is not None],
        "replay": {"transitions": len(data), "terminals": int(data.terminals.sum()),
                   "timeouts_bootstrapped": data.timeouts, "dropped_rows": data.dropped,
                   "reward_scale": reward_scale},
        "torch_version": torch.__version__, "dataset": summary,
    }


def _plot_curve(points: list[dict[str, Any]], noise_levels: list[float], title: str, path: Path) -> None:
    """Normalized score (return, for a task without D4RL scores) vs updates, one line per σ with its 95% CI."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    normalized = bool(points) and all(math.isfinite(e["normalized_mean"] if e["normalized_mean"] is not None
                                                    else math.nan) for p in points for e in p["evals"])
    key = "normalized" if normalized else "return"
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=110)
    try:
        steps = np.array([p["step"] for p in points], dtype=np.float64)
        for sigma in noise_levels:
            evals = [next(e for e in p["evals"] if e["action_noise"] == sigma) for p in points]
            mean = np.array([e[f"{key}_mean"] for e in evals], dtype=np.float64)
            ci = np.nan_to_num(np.array([e[f"{key}_ci95"] if e[f"{key}_ci95"] is not None else math.nan
                                         for e in evals], dtype=np.float64))
            line = ax.plot(steps, mean, marker="o", markersize=3, label=f"σ = {sigma:g}")[0]
            ax.fill_between(steps, mean - ci, mean + ci, alpha=0.15, color=line.get_color())
        ax.set_xlabel("updates")
        ax.set_ylabel("D4RL normalized score" if normalized else "return")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if noise_levels:
            ax.legend(fontsize=8)
        fig.tight_layout()
        with atomic_path(path, force=True) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
