"""Actors and rollouts behind D4RL's dataset levels (Fu et al. 2020): random, medium, medium-replay.

Bundled files next to the experts, each in :func:`trajaug.experts.bundled.save_actor`'s format with SAC's log-std head
(``ExpertActor(stochastic=True)``):

* ``<key>-random.pt``: a randomly initialised SAC actor, made once by :func:`make_random_actor` (fixed torch seed),
  so the random level does not depend on torch's initialisation code;
* ``<key>-medium.pt``: the SAC run's actor when its evaluation return first reached about a third of the expert's;
* ``<key>-replay.pt``: that run's checkpoint actors up to medium, each with the environment step at which it came
  into use (:func:`save_replay`, :func:`load_replay`); made by :func:`bundle_run` from a ``train-expert`` run dir.

Rollouts (:func:`rollout_transitions`) run episodes in order until a transition budget is reached and cut the last
one there with a timeout (D4RL's 1M-transition files end that way). Stochastic actions are
``a = tanh(μ(s) + σ(s)·ε)`` with ε drawn from ``np.random.default_rng([seed, stream, episode])`` (after the episode's
reset seed) and indexed by step, computed in float64 and rounded to float32 as :func:`~trajaug.experts.bundled.
expert_actions` does (build recipe 2), so a row is the same whatever the batch or pool size, and whether the
episodes run in this process or, from :data:`PARALLEL_FROM` transitions, shared among two worker processes.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trajaug.core.atomic import atomic_path
from trajaug.core.dataset import Dataset
from trajaug.core.envs import spec_for
from trajaug.core.errors import TrajaugInputError
from trajaug.core.nn import torch_threads
from trajaug.core.seeds import DATA_SEED_BASE
from trajaug.experts.bundled import EXPERTS_DIR, ExpertActor, expert_actions, load_actor, save_actor
from trajaug.sim.rollout import Job, max_episode_steps, rollout

ACTORS_DIR = EXPERTS_DIR
"""Where the level actors are bundled (tests point it at a tmp folder of tiny actors)."""
LEVEL_RECIPE = 1
"""How a level is rolled out (recorded in each build; a cache made by another recipe is stale)."""
STREAMS = {"random": 1, "medium": 2, "uniform": 3}
"""Noise and reset-seed stream of each rollout; medium-replay's checkpoint ``k`` uses ``100 + k``."""
REPLAY_FORMAT = "trajaug-replay-1"
MAX_REPLAY_BYTES = 4_000_000
PARALLEL_FROM = 100_000
"""Rollouts of at least this many transitions share their episodes among worker processes (a few seconds to
start)."""
LOG_PROB_EPS = 1e-6
"""stable-baselines3's ε in the tanh log-det correction ``log(1 − tanh(u)² + ε)``."""


def level_actor_path(key: str, kind: str) -> Path:
    """Bundled file of ``kind`` (``random``, ``medium`` or ``replay``) for an environment key such as ``hopper``."""
    return ACTORS_DIR / f"{key}-{kind}.pt"


def make_random_actor(env_id: str, seed: int = 0, hidden: tuple[int, ...] = (256, 256)) -> ExpertActor:
    """A stochastic SAC actor with PyTorch's default initialisation (as stable-baselines3's SAC starts), drawn with
    torch seed ``seed`` without touching the global generator."""
    spec = spec_for(env_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        actor = ExpertActor(spec.env_id, spec.obs_dim, spec.act_dim, hidden, stochastic=True)
    actor.extra = {"steps": 0, "init_seed": seed}
    return actor.eval()


def bundle_random(env_id: str, out_dir: Path | None = None, seed: int = 0) -> Path:
    """Write :func:`make_random_actor`'s actor as ``<key>-random.pt`` in ``out_dir`` (default: the bundled
    folder); returns its path."""
    path = (out_dir or ACTORS_DIR) / f"{spec_for(env_id).key}-random.pt"
    actor = make_random_actor(env_id, seed)
    save_actor(actor, path, extra=actor.extra)
    return path


# -- medium-replay: the run's checkpoints ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Replay:
    """What a SAC run did until medium: ``learning_starts`` uniform-random steps, then each actor of ``stages``
    ``(first step, actor)`` until the next one's first step, the last one until ``total_steps``."""

    env_id: str
    learning_starts: int
    total_steps: int
    stages: tuple[tuple[int, ExpertActor], ...]

    def budgets(self) -> list[int]:
        """Environment steps per phase: the uniform-random one first, then one per stage (the first stage also
        covers any steps between ``learning_starts`` and its own first step)."""
        starts = [self.learning_starts] + [step for step, _ in self.stages[1:]] + [self.total_steps]
        return [self.learning_starts] + [b - a for a, b in zip(starts, starts[1:], strict=False)]


def save_replay(path: Path, replay: Replay) -> None:
    """Write ``replay`` atomically (a dict loadable with ``torch.load(weights_only=True)``)."""
    starts = [step for step, _ in replay.stages]
    if not starts or starts[0] < replay.learning_starts or starts != sorted(set(starts)) or \
            starts[-1] >= replay.total_steps:
        raise TrajaugInputError(f"replay stages must start at increasing steps in [learning_starts, total_steps), "
                                f"got {starts} with {replay.learning_starts} and {replay.total_steps}")
    first = replay.stages[0][1]
    payload = {"format": REPLAY_FORMAT, "env_id": replay.env_id, "obs_dim": first.obs_dim, "act_dim": first.act_dim,
               "learning_starts": replay.learning_starts, "total_steps": replay.total_steps,
               "stages": [{"steps": step, "hidden": list(actor.hidden), "state_dict": actor.state_dict(),
                           "extra": dict(actor.extra)} for step, actor in replay.stages]}
    with atomic_path(path, force=True) as tmp:
        torch.save(payload, tmp)


def load_replay(path: Path) -> Replay:
    """Read a file written by :func:`save_replay`."""
    payload = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(payload, dict) or payload.get("format") != REPLAY_FORMAT:
        raise TrajaugInputError(f"{path}: not a medium-replay actor file ({REPLAY_FORMAT})")
    stages = []
    for stage in payload["stages"]:
        actor = ExpertActor(payload["env_id"], payload["obs_dim"], payload["act_dim"], tuple(stage["hidden"]),
                            stochastic=True)
        actor.load_state_dict(stage["state_dict"])
        actor.extra = stage["extra"]
        stages.append((int(stage["steps"]), actor.eval()))
    return Replay(payload["env_id"], int(payload["learning_starts"]), int(payload["total_steps"]), tuple(stages))


def bundle_run(run_dir: Path, out_dir: Path | None = None, max_checkpoints: int = 12) -> tuple[Path, Path]:
    """Make ``<key>-medium.pt`` and ``<key>-replay.pt`` in ``out_dir`` (default: the bundled folder) from a
    ``trajaug datasets train-expert --stop-in-band LOW HIGH --keep-checkpoints`` run dir; returns their paths.

    Medium is the checkpoint at ``progress.json``'s ``stopped_at_return`` step (else ``best_actor.pt``); replay keeps
    at most ``max_checkpoints`` evenly spaced checkpoints before it (the first always), fewer if the file would
    exceed 4 MB, each covering the steps until the next kept one.
    """
    progress_file = run_dir / "progress.json"
    progress: dict[str, Any] = json.loads(progress_file.read_text()) if progress_file.is_file() else {}
    learning_starts = int(progress.get("config", {}).get("learning_starts", 10_000))
    checkpoints = {int(p.stem.split("-")[1]): p for p in sorted((run_dir / "checkpoints").glob("steps-*.pt"))}
    stopped = progress.get("stopped_at_return") or {}
    medium_file = checkpoints.get(int(stopped.get("steps", -1)), run_dir / "best_actor.pt")
    if not medium_file.is_file():
        raise TrajaugInputError(f"{run_dir}: no medium actor (neither a stopped_at_return checkpoint nor "
                                "best_actor.pt)")
    medium = load_actor(medium_file)
    if medium.log_std is None:
        raise TrajaugInputError(f"{medium_file}: a deterministic actor; train with --keep-checkpoints")
    medium_steps = int(medium.extra.get("steps", 0))
    before = [step for step in sorted(checkpoints) if learning_starts <= step < medium_steps]
    if not before:
        raise TrajaugInputError(f"{run_dir}: no checkpoints between learning_starts ({learning_starts}) and the "
                                f"medium actor's step {medium_steps}")
    key = spec_for(medium.env_id).key
    out_dir = out_dir or ACTORS_DIR
    replay_path = out_dir / f"{key}-replay.pt"
    for count in range(min(max_checkpoints, len(before)), 0, -1):
        kept = sorted({before[int(i)] for i in np.round(np.linspace(0, len(before) - 1, count))})
        stages = tuple((step, load_actor(checkpoints[step])) for step in kept)
        save_replay(replay_path, Replay(medium.env_id, learning_starts, medium_steps, stages))
        if replay_path.stat().st_size <= MAX_REPLAY_BYTES:
            break
    medium_path = out_dir / f"{key}-medium.pt"
    save_actor(medium, medium_path, extra={**medium.extra, "run": str(run_dir), "stop_in_band":
                                           progress.get("config", {}).get("stop_in_band")})
    return medium_path, replay_path


# -- rollouts --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rollout:
    """Transitions of a level build and the log-probability (N,) float32 of each action under the policy that took
    it (D4RL's ``infos/action_log_probs``, computed in float64; NaN for a deterministic actor)."""

    dataset: Dataset
    log_probs: np.ndarray


def _draws(seed: int, stream: int, episode: int, shape: tuple[int, int], uniform: bool = False
           ) -> tuple[int, np.ndarray]:
    """An episode's reset seed and its noise (horizon, act_dim) float64, row t for step t: standard normal, or
    uniform in [-1, 1] (the action box of these tasks) with ``uniform``."""
    rng = np.random.default_rng([seed, stream, episode])
    reset_seed = int(rng.integers(2**31))
    return reset_seed, (rng.uniform(-1.0, 1.0, shape) if uniform else rng.standard_normal(shape))


class _Policy:
    """The controller of :func:`rollout`: per-episode noise from :func:`_draws`, float64 inference, log-probs kept
    by (episode, step)."""

    def __init__(self, actor: ExpertActor | None, deterministic: bool, seed: int, stream: int, act_dim: int,
                 horizon: int) -> None:
        self.actor64 = copy.deepcopy(actor).double() if actor is not None else None
        self.deterministic, self.seed, self.stream = deterministic, seed, stream
        self.shape = (horizon, act_dim)
        self.first = 0  # episode number of rollout's job 0 (rollouts run in chunks)
        self.noise: dict[int, np.ndarray] = {}
        self.records: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def reset_seed(self, episode: int) -> int:
        return DATA_SEED_BASE + self.seed * 10_000 + episode if self.deterministic else \
            _draws(self.seed, self.stream, episode, (0, self.shape[1]))[0]

    def __call__(self, jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
        episodes = self.first + jobs
        if self.deterministic:
            assert self.actor64 is not None
            self.records.append((episodes, steps, np.full(len(episodes), np.nan, np.float32)))
            return expert_actions(self.actor64, observations)
        live = set(episodes.tolist())
        self.noise = {e: v for e, v in self.noise.items() if e in live}
        for e in live - self.noise.keys():
            self.noise[e] = _draws(self.seed, self.stream, e, self.shape, uniform=self.actor64 is None)[1]
        eps = np.stack([self.noise[e][t] for e, t in zip(episodes.tolist(), steps.tolist(), strict=True)])
        if self.actor64 is None:  # uniform in the box: density 2^-act_dim
            actions = eps.astype(np.float32)
            log_prob = np.full(len(eps), -eps.shape[1] * math.log(2.0))
        else:
            with torch.no_grad():
                obs = torch.as_tensor(np.array(observations, dtype=np.float32), dtype=torch.float64)
                mean, log_std = self.actor64.gaussian(obs)
                noise = torch.as_tensor(eps)
                pre_tanh = mean + log_std.exp() * noise
                actions = torch.tanh(pre_tanh).numpy().astype(np.float32)
                log_prob = (-0.5 * noise**2 - log_std - 0.5 * math.log(2 * math.pi)
                            - torch.log(1 - torch.tanh(pre_tanh) ** 2 + LOG_PROB_EPS)).sum(-1).numpy()
        # float32, as the actions: the float64 value's last bits depend on the batch
        log_prob = np.asarray(log_prob).astype(np.float32)
        self.records.append((episodes, steps, log_prob))
        return actions

    def log_probs(self) -> np.ndarray:
        """Log-probs in the rows' order (episode, then step); clears the record and the noise."""
        episodes, steps, values = (np.concatenate(parts) for parts in zip(*self.records, strict=True))
        self.records, self.noise = [], {}
        return values[np.lexsort((steps, episodes))]


def _episodes(policy: _Policy, env_id: str, first: int, count: int, n_envs: int,
              progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """Rows (:func:`rollout`'s arrays) and log-probs of episodes ``first … first + count − 1``, in order; runs here
    or in a worker process."""
    with torch_threads(1):  # batches of ≤ 50 rows: one thread is fastest, and far faster on a busy machine
        policy.first = first
        jobs = [Job(seed=policy.reset_seed(i)) for i in range(first, first + count)]
        _, arrays = rollout(env_id, jobs, policy, n_envs=n_envs, progress=progress)
    assert arrays is not None
    return arrays, policy.log_probs()


def _in_processes(calls: list[tuple[Any, ...]]) -> list[tuple[dict[str, Any], np.ndarray]]:
    """``_episodes(*args)`` for each ``args``, each in its own Python process, in parallel; results in order.

    The processes start with ``python -c`` (not multiprocessing's spawn, which re-runs the caller's ``__main__``
    script and fails in one without an ``if __name__ == "__main__"`` guard); arguments and results travel as pickles
    in a private temporary folder."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="trajaug-build-") as folder:
        started = []
        for index, args in enumerate(calls):
            source, result = Path(folder) / f"{index}.in", Path(folder) / f"{index}.out"
            source.write_bytes(pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL))
            code = f"from trajaug.experts.levels import _worker; _worker({str(source)!r}, {str(result)!r})"
            started.append((subprocess.Popen([sys.executable, "-c", code], env=env), result))
        failed = [process.returncode for process, _ in started if process.wait() != 0]
        if failed:
            raise RuntimeError(f"a build worker process failed (exit codes {failed})")
        return [pickle.loads(result.read_bytes()) for _, result in started]


def _worker(source: str, result: str) -> None:
    """Entry point of a worker process of :func:`_in_processes`."""
    output = _episodes(*pickle.loads(Path(source).read_bytes()))
    Path(result).write_bytes(pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL))


def rollout_transitions(env_id: str, actor: ExpertActor | None, transitions: int, seed: int = 0, stream: int = 0,
                        deterministic: bool = False, n_envs: int = 50, workers: int | None = None,
                        progress: Callable[[int], None] | None = None) -> Rollout:
    """Episodes of ``actor`` (None: uniform-random actions) in order until ``transitions`` rows, the last episode
    cut there with a timeout. ``deterministic``: ``a = tanh(μ(s))`` from the expert's reset seeds
    (``DATA_SEED_BASE + seed·10⁴ + i``, so its first episodes are :func:`~trajaug.experts.bundled.
    build_expert_dataset`'s); otherwise sampled (see the module docstring). Rows carry qpos/qvel (float64).

    ``workers``: processes that share the episodes (default: two, on two cores, from :data:`PARALLEL_FROM`
    transitions, else one); the rows are the same for any number."""
    spec = spec_for(env_id)
    if actor is not None and actor.obs_dim != spec.obs_dim:
        raise TrajaugInputError(f"actor is for observations of size {actor.obs_dim}, {env_id} has {spec.obs_dim}")
    if transitions < 1:
        raise TrajaugInputError(f"transitions must be at least 1, got {transitions}")
    horizon = max_episode_steps(spec.env_id)
    policy = _Policy(actor, deterministic, seed, stream, spec.act_dim, horizon)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if transitions >= PARALLEL_FROM else 1
    parts: list[tuple[dict[str, Any], np.ndarray]] = []
    total = started = 0
    while total < transitions:
        mean_length = total / started / 1.05 if started else horizon  # aim 5% over: fewer chunks
        count = max(1, math.ceil((transitions - total) / mean_length))
        if workers <= 1:
            parts.append(_episodes(policy, spec.env_id, started, count, n_envs, progress))
        else:
            bounds = np.linspace(started, started + count, workers + 1).astype(int).tolist()
            done = _in_processes([(policy, spec.env_id, a, b - a, n_envs)
                                  for a, b in zip(bounds, bounds[1:], strict=False) if b > a])
            parts += done
            if progress is not None:
                progress(sum(int((arrays["terminals"] | arrays["timeouts"]).sum()) for arrays, _ in done))
        total = sum(len(arrays["rewards"]) for arrays, _ in parts)
        started += count

    def column(key: str) -> np.ndarray:
        return np.concatenate([arrays[key] for arrays, _ in parts])[:transitions]

    terminals, timeouts = column("terminals"), column("timeouts")
    timeouts[-1] = not terminals[-1]  # the cut episode ends with a timeout
    ends = terminals | timeouts
    dataset = Dataset(column("observations"), column("actions"), column("rewards"), column("next_observations"),
                      terminals, timeouts, env_id=spec.env_id, qpos=column("qpos"), qvel=column("qvel"),
                      source_episode=np.concatenate([[0], np.cumsum(ends[:-1])]).astype(np.int32))
    return Rollout(dataset, np.concatenate([log_probs for _, log_probs in parts])[:transitions])


def rollout_replay(replay: Replay, seed: int = 0, progress: Callable[[int], None] | None = None
                   ) -> tuple[list[Rollout], list[dict[str, Any]]]:
    """Regenerate a SAC run's replay buffer: ``learning_starts`` uniform-random steps, then each stage's actor
    sampled for its budget (:meth:`Replay.budgets`); returns one rollout per phase and a record of each phase."""
    phases: list[tuple[ExpertActor | None, int, int]] = [(None, STREAMS["uniform"], 0)]
    phases += [(actor, 100 + k, step) for k, (step, actor) in enumerate(replay.stages)]
    rollouts, records = [], []
    for (actor, stream, first_step), budget in zip(phases, replay.budgets(), strict=True):
        if budget <= 0:
            continue
        part = rollout_transitions(replay.env_id, actor, budget, seed=seed, stream=stream, progress=progress)
        rollouts.append(part)
        records.append({"policy": "uniform" if actor is None else f"checkpoint at step {first_step}",
                        "first_step": first_step, "transitions": budget, "episodes": part.dataset.n_episodes,
                        "stream": stream, "eval_return": None if actor is None else actor.extra.get("eval_return")})
    return rollouts, records
