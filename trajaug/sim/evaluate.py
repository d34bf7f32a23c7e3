"""Evaluate a policy: many episodes in a pool of Gymnasium v5 MuJoCo environments with batched inference.

Policy-agnostic: the policy is any ``torch.nn.Module`` mapping (B, obs_dim) float32 raw observations to (B, act_dim)
actions (BC's, TD3+BC's or IQL's actor; an ``env_id`` / ``obs_dim`` attribute, when it has one, is checked against
the environment). :mod:`trajaug.bc.evaluate` and :mod:`trajaug.offrl` both evaluate through :func:`evaluate_policy`.

* Reset seeds come from :func:`trajaug.core.seeds.eval_seeds` (a range no training data uses).
* The policy is deterministic; one forward pass per environment step serves the whole pool
  (``torch.inference_mode``, float32, one thread). Results are bit-reproducible for the same seed and episodes,
  whatever the pool size (see ``MIN_INFERENCE_ROWS``).
* Perturbed evaluation (``action_noise = σ > 0``): ``a_exec = clip(π(s) + ε, low, high)``, ε ~ N(0, σ² I) drawn
  from a generator seeded by the evaluation seed. Episode ``i`` receives the same noise sequence whatever the pool
  size or the number of episodes, so results are reproducible.
* Statistics: mean, sample std (ddof 1), and the 95% Student-t CI half-width over episodes
  (:func:`trajaug.core.report.mean_ci95`); the D4RL normalized score of the mean and its CI (the score is linear in
  the return, so its CI is the return CI × 100 / (expert − random)).
* Environments: the D4RL locomotion tasks of :data:`trajaug.core.envs.ENVS`, and any other Gymnasium MuJoCo task
  with a continuous action space (e.g. ``InvertedPendulum-v5``), which has no D4RL reference scores: its normalized
  score and CI are NaN.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from trajaug.core import defaults
from trajaug.core.device import on_cpu
from trajaug.core.envs import ENVS, normalized_score, spec_for
from trajaug.core.errors import TrajaugInputError
from trajaug.core.report import mean_ci95
from trajaug.core.seeds import eval_seeds
from trajaug.sim.rollout import Job, make_env, max_episode_steps, rollout

DEFAULT_N_ENVS = 50
"""Environments stepped in lockstep; 10–100 all run at the simulator's speed, 50 amortises inference best."""
MIN_INFERENCE_ROWS = 16
"""Inference batches are zero-padded to at least this many rows. torch's CPU matmul takes other kernels for a few
rows, whose float32 rounding differs by ~1e-7; MuJoCo's chaotic dynamics amplify that into different returns, so
without padding a result would depend on the pool size (measured on x86 with torch 2.13: padded batches give
bit-identical actions for any batch size ≤ 100)."""
NOISE_STREAM = 0x6E6F6973
"""Mixed into the noise generator's seed so action noise never correlates with reset seeds."""

Rollout = Callable[..., tuple[np.ndarray, Any]]


@dataclass(frozen=True)
class EvalResult:
    """Evaluation of one policy over ``episodes`` episodes (returns are undiscounted sums of rewards)."""

    env_id: str
    returns: np.ndarray
    """(episodes,) float64 return of each episode, in reset-seed order."""
    mean: float
    std: float
    """Sample standard deviation (ddof 1) of the returns."""
    ci95: float
    """Half-width of the 95% Student-t confidence interval of the mean return (NaN for one episode)."""
    normalized_mean: float
    """D4RL normalized score (×100) of the mean return (NaN for a task without D4RL reference scores)."""
    normalized_ci95: float
    episodes: int
    seed: int
    """Evaluation seed: reset seeds are ``eval_seeds(seed, episodes)``."""
    action_noise: float
    """σ of the Gaussian noise added to executed actions (0: standard evaluation)."""
    wall_s: float
    """Wall-clock seconds of the rollouts (inference included)."""

    def to_dict(self, include_returns: bool = True) -> dict[str, Any]:
        record: dict[str, Any] = {
            "env_id": self.env_id, "episodes": self.episodes, "seed": self.seed, "action_noise": self.action_noise,
            "return_mean": self.mean, "return_std": self.std, "return_ci95": self.ci95,
            "normalized_mean": self.normalized_mean, "normalized_ci95": self.normalized_ci95, "wall_s": self.wall_s}
        if include_returns:
            record["returns"] = self.returns.tolist()
        return record

    def summary(self) -> str:
        """One human line, e.g. ``HalfCheetah-v5 100 episodes: return 10721.3 ± 28.4 (95% CI) ...``."""
        ci = f" ± {self.ci95:.1f}" if math.isfinite(self.ci95) else ""
        nci = f" ± {self.normalized_ci95:.1f}" if math.isfinite(self.normalized_ci95) else ""
        noise = f", action noise σ={self.action_noise:g}" if self.action_noise else ""
        score = (f"D4RL normalized {self.normalized_mean:.1f}{nci}" if not math.isnan(self.normalized_mean)
                 else "no D4RL reference scores")
        return (f"{self.env_id} {self.episodes} episodes (seed {self.seed}{noise}): return {self.mean:.1f}{ci} "
                f"(95% CI), std {self.std:.1f}; {score}; {self.wall_s:.1f} s")


@dataclass(frozen=True)
class TaskInfo:
    """What evaluation needs to know about a task: its family key, dimensions and D4RL scores (if any)."""

    key: str
    obs_dim: int
    act_dim: int
    random_score: float
    expert_score: float


def task_info(env_id: str) -> TaskInfo:
    """The task's dimensions and D4RL reference scores (NaN for a MuJoCo task outside ``ENVS``).

    Raises TrajaugInputError for an id Gymnasium does not know, or a task that is not a MuJoCo task with a
    continuous (Box) action space (the simulator layer steps MuJoCo tasks only)."""
    if env_id.split("-v")[0].lower() in ENVS:
        spec = spec_for(env_id)
        return TaskInfo(spec.key, spec.obs_dim, spec.act_dim, spec.random_score, spec.expert_score)
    known = ", ".join(spec.env_id for spec in ENVS.values())
    try:
        env = make_env(env_id)
    except gym.error.Error:
        raise TrajaugInputError(f"unknown environment {env_id!r}; known: {known}") from None
    try:
        observation, action = env.observation_space, env.action_space
        mujoco_task = hasattr(env.unwrapped, "model") and hasattr(env.unwrapped, "frame_skip")
    finally:
        env.close()
    if not (mujoco_task and isinstance(action, gym.spaces.Box) and isinstance(observation, gym.spaces.Box)
            and len(action.shape) == 1 and len(observation.shape) == 1):
        raise TrajaugInputError(f"unknown environment {env_id!r} for evaluation: trajaug evaluates Gymnasium "
                                f"MuJoCo tasks with continuous actions (with D4RL scores: {known})")
    return TaskInfo(env_id.split("-v")[0].lower(), int(observation.shape[0]), int(action.shape[0]), math.nan,
                    math.nan)


def check_policy_env(policy: torch.nn.Module, env_id: str) -> TaskInfo:
    """Raise TrajaugInputError if ``policy`` (its ``env_id`` / ``obs_dim`` attributes) does not fit ``env_id``."""
    task = task_info(env_id)
    trained_on = getattr(policy, "env_id", None)
    if trained_on is not None and task_info(trained_on).key != task.key:
        raise TrajaugInputError(f"the policy was trained on {trained_on}, cannot evaluate it on {env_id}")
    obs_dim = getattr(policy, "obs_dim", task.obs_dim)
    if obs_dim != task.obs_dim:
        raise TrajaugInputError(f"the policy takes observations of size {obs_dim}, {env_id} has {task.obs_dim}")
    return task


def evaluate_policy(policy: torch.nn.Module, env_id: str, episodes: int = defaults.EVAL_EPISODES, seed: int = 0,
                    action_noise: float = 0.0, n_envs: int = DEFAULT_N_ENVS,
                    progress: Callable[[int], None] | None = None, *, run: Rollout = rollout) -> EvalResult:
    """Run ``policy`` ((B, obs_dim) float32 tensor → (B, act_dim) actions) for ``episodes`` episodes of ``env_id``.

    ``progress(1)`` is called as each episode ends. ``run`` is the episode runner
    (:func:`trajaug.sim.rollout.rollout`). Raises TrajaugInputError for a policy trained on another environment,
    or for bad arguments.
    """
    task = check_policy_env(policy, env_id)
    policy = on_cpu(policy)  # a network trained on a GPU is evaluated on a CPU copy, next to the simulator
    if episodes < 1:
        raise TrajaugInputError(f"episodes: must be ≥ 1, got {episodes}")
    if not action_noise >= 0:
        raise TrajaugInputError(f"action noise: must be ≥ 0, got {action_noise}")
    try:
        seeds = eval_seeds(seed, episodes)
    except ValueError as error:
        raise TrajaugInputError(str(error)) from None
    noise = None
    if action_noise > 0:
        rng = np.random.default_rng([NOISE_STREAM, seed])
        noise = rng.normal(0.0, action_noise, size=(episodes, max_episode_steps(env_id), task.act_dim))

    def controller(jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
        rows = len(observations)
        batch = np.zeros((max(rows, MIN_INFERENCE_ROWS), observations.shape[1]), dtype=np.float32)
        batch[:rows] = observations
        with torch.inference_mode():
            actions = policy(torch.from_numpy(batch)).numpy()[:rows]
        return actions if noise is None else actions + noise[jobs, steps]

    was_training, threads = policy.training, torch.get_num_threads()
    policy.eval()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        returns, _ = run(env_id, [Job(seed=s) for s in seeds], controller, n_envs=max(1, n_envs), record=False,
                         progress=progress)
        wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
        policy.train(was_training)
    mean, ci = mean_ci95(returns)
    scale = 100.0 / (task.expert_score - task.random_score)
    normalized = normalized_score(env_id, mean) if task.key in ENVS else math.nan
    return EvalResult(env_id=env_id, returns=returns, mean=mean, std=float(returns.std(ddof=1)) if episodes > 1
                      else 0.0, ci95=ci, normalized_mean=normalized, normalized_ci95=ci * scale,
                      episodes=episodes, seed=seed, action_noise=float(action_noise), wall_s=wall)
