"""The simulator: Gymnasium v5 MuJoCo environments, state restore, and batched episode rollouts.

Everything that executes actions in MuJoCo (building expert datasets, BC evaluation, noise/mixup/CAT/GAIL
augmentation, the physics check) goes through :func:`rollout`, which steps a pool of environments in lockstep in
one process and calls the controller once per step with the whole batch of observations (batched inference); the
pool itself is stepped by :class:`trajaug.sim.vector_task.VectorTask` (one call per step for the whole batch, the
values of ``env.step``).

Restoring a state: ``restore(env, qpos, qvel)`` sets the simulator state directly. When a dataset has no
qpos/qvel, :func:`state_from_observation` rebuilds it, since for the supported locomotion tasks the observation is
``[qpos[k:], qvel]`` where the ``k`` excluded coordinates (the x (and y) position) do not affect the dynamics.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from trajaug.sim.vector_task import VectorTask

Controller = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``controller(jobs, steps, observations) -> actions``: jobs (B,) int job indices, steps (B,) int time step in
each job's episode, observations (B, obs_dim) float64; returns (B, act_dim) actions (clipped to the box later)."""


def _mujoco_warning(message: str) -> None:
    """Forward MuJoCo's warnings to Python's, except the 'settotalmass' deprecation that Gymnasium's own
    model files trigger on every environment made (not actionable for users)."""
    if "settotalmass" not in message:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


mujoco.set_mju_user_warning(_mujoco_warning)


def make_env(env_id: str) -> gym.Env:
    """The raw (unwrapped, no time limit, no checker) v5 environment; ``rollout`` applies the time limit."""
    return gym.make(env_id, disable_env_checker=True).unwrapped


def max_episode_steps(env_id: str) -> int:
    steps = gym.spec(env_id).max_episode_steps
    return int(steps) if steps else 1000


def restore(env: gym.Env, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Put the simulator in state (qpos, qvel); returns the observation there."""
    env.unwrapped.set_state(np.asarray(qpos, np.float64), np.asarray(qvel, np.float64))  # type: ignore[attr-defined]
    return env.unwrapped._get_obs()  # type: ignore[attr-defined]


def states_from_observations(env: gym.Env, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild (qpos (N, nq), qvel (N, nv)) float64 from (N, obs_dim) observations ``[qpos[k:], qvel]``; the k
    excluded positions are set to 0."""
    model = env.unwrapped.model  # type: ignore[attr-defined]
    nq, nv = model.nq, model.nv
    observations = np.asarray(observations, np.float64).reshape(len(observations), -1)
    excluded = nq + nv - observations.shape[1]
    if not 0 <= excluded <= 2:
        raise ValueError(f"observation of size {observations.shape[1]} cannot be mapped to qpos/qvel "
                         f"(nq={nq}, nv={nv})")
    qpos = np.concatenate([np.zeros((len(observations), excluded)), observations[:, : nq - excluded]], axis=1)
    return qpos, observations[:, nq - excluded:].copy()


def state_from_observation(env: gym.Env, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(qpos (nq,), qvel (nv,)) of one observation, as :func:`states_from_observations` rebuilds them."""
    qpos, qvel = states_from_observations(env, np.asarray(observation)[None])
    return qpos[0], qvel[0]


@dataclass(frozen=True)
class Job:
    """One episode to run: from ``seed`` (a fresh reset) or from a given state, for at most ``max_steps`` steps."""

    seed: int
    qpos: np.ndarray | None = None
    qvel: np.ndarray | None = None
    max_steps: int | None = None


@dataclass
class _Trace:
    observations: list
    actions: list
    rewards: list
    next_observations: list
    qpos: list
    qvel: list
    terminated: bool = False


def rollout(env_id: str, jobs: Sequence[Job], controller: Controller, n_envs: int = 32,
            record: bool = True, progress: Callable[[int], None] | None = None,
            ) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Run every job to its end; returns (returns (n_jobs,) float64, the transitions or None).

    The transitions are a dict of flat arrays named like the fields of ``trajaug.core.dataset.Dataset``
    (observations, actions, rewards, next_observations, terminals, timeouts, qpos, qvel, source_episode, env_id),
    so ``Dataset(**transitions)`` builds one; jobs are listed in order, ``source_episode`` = job index.
    Episodes end on termination or after ``job.max_steps`` (default: the environment's time limit) steps; the last
    row is marked terminal or timeout accordingly. Actions are clipped to the action box before they are executed
    and stored. (This module sits below the dataset layer and does not import it.)
    """
    limit = max_episode_steps(env_id)
    envs = [make_env(env_id) for _ in range(min(n_envs, len(jobs)))]
    task = VectorTask(envs)
    low, high = envs[0].action_space.low, envs[0].action_space.high  # type: ignore[attr-defined]
    returns = np.zeros(len(jobs))
    traces: list[_Trace | None] = [None] * len(jobs)
    slots: list[tuple[int, int] | None] = [None] * len(envs)  # (job, step) per env
    observations = np.zeros((len(envs), envs[0].observation_space.shape[0]))  # type: ignore[index]
    next_job = 0

    def start(slot: int) -> None:
        nonlocal next_job
        if next_job >= len(jobs):
            slots[slot] = None
            return
        job, env = jobs[next_job], envs[slot]
        obs, _ = env.reset(seed=job.seed)
        if job.qpos is not None:
            obs = restore(env, job.qpos, job.qvel)  # type: ignore[arg-type]
        observations[slot] = obs
        slots[slot] = (next_job, 0)
        if record:
            traces[next_job] = _Trace([], [], [], [], [], [])
        next_job += 1

    for slot in range(len(envs)):
        start(slot)
    while any(s is not None for s in slots):
        active = [i for i, s in enumerate(slots) if s is not None]
        job_ids = np.array([slots[i][0] for i in active])  # type: ignore[index]
        steps = np.array([slots[i][1] for i in active])  # type: ignore[index]
        actions = np.clip(np.asarray(controller(job_ids, steps, observations[active]), np.float64), low, high)
        qpos_before, qvel_before = task.state(np.array(active)) if record else (None, None)
        next_observations, rewards, terminations = task.step(actions, np.array(active))
        for row, slot in enumerate(active):
            job_id, step = slots[slot]  # type: ignore[misc]
            trace = traces[job_id]
            if trace is not None:
                trace.qpos.append(qpos_before[row])  # type: ignore[index]
                trace.qvel.append(qvel_before[row])  # type: ignore[index]
            obs, reward, terminated = next_observations[row], float(rewards[row]), bool(terminations[row])
            returns[job_id] += reward
            if trace is not None:
                trace.observations.append(observations[slot].copy())
                trace.actions.append(actions[row])
                trace.rewards.append(reward)
                trace.next_observations.append(obs)
                trace.terminated = bool(terminated)
            observations[slot] = obs
            job_max = jobs[job_id].max_steps or limit
            if terminated or step + 1 >= job_max:
                if progress is not None:
                    progress(1)
                start(slot)
            else:
                slots[slot] = (job_id, step + 1)
    task.close()
    return returns, (_to_arrays(env_id, traces) if record else None)


def _to_arrays(env_id: str, traces: Sequence[_Trace | None]) -> dict[str, Any]:
    done = [t for t in traces if t is not None]
    lengths = [len(t.rewards) for t in done]
    ends = np.cumsum(lengths) - 1
    terminals = np.zeros(sum(lengths), bool)
    timeouts = np.zeros(sum(lengths), bool)
    terminated = np.array([t.terminated for t in done])
    terminals[ends[terminated]] = True
    timeouts[ends[~terminated]] = True

    def cat(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(t, name)) for t in done])

    return {"observations": cat("observations"), "actions": cat("actions"), "rewards": cat("rewards"),
            "next_observations": cat("next_observations"), "terminals": terminals, "timeouts": timeouts,
            "env_id": env_id, "qpos": cat("qpos"), "qvel": cat("qvel"),
            "source_episode": np.repeat(np.arange(len(done)), lengths)}


STEP_CHUNK = 50_000
"""Transitions stepped per :func:`rollout` call in :func:`step_states` (bounded memory for millions of rows)."""


def step_states(env_id: str, qpos: np.ndarray, qvel: np.ndarray, actions: np.ndarray, n_envs: int = 64,
                progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """One environment step from each given state: row i restores (qpos[i], qvel[i]) after a fresh reset (which
    clears MuJoCo's solver warm start, so a row's outcome depends on nothing else) and applies actions[i], clipped
    to the action box. qpos (N, nq), qvel (N, nv), actions (N, act_dim); returns ``next_observations``
    (N, obs_dim) float64, ``rewards`` (N,) float64 and ``terminals`` (N,) bool, the values of ``env.step``.
    ``progress`` gets one unit per row."""
    parts = []
    for start in range(0, len(actions), STEP_CHUNK):
        chunk = np.arange(start, min(start + STEP_CHUNK, len(actions)))
        jobs = [Job(seed=0, qpos=qpos[row], qvel=qvel[row], max_steps=1) for row in chunk]

        def controller(job_ids: np.ndarray, steps: np.ndarray, _: np.ndarray, chunk: np.ndarray = chunk,
                       ) -> np.ndarray:
            return np.asarray(actions[chunk[job_ids]], np.float64)

        _, stepped = rollout(env_id, jobs, controller, n_envs=n_envs, progress=progress)
        assert stepped is not None and len(stepped["rewards"]) == len(chunk)  # one step per job, in job order
        parts.append(stepped)
    if not parts:
        env = make_env(env_id)
        obs_dim = env.observation_space.shape[0]  # type: ignore[index]
        env.close()
        return {"next_observations": np.zeros((0, obs_dim)), "rewards": np.zeros(0), "terminals": np.zeros(0, bool)}
    return {key: np.concatenate([p[key] for p in parts]) for key in ("next_observations", "rewards", "terminals")}
