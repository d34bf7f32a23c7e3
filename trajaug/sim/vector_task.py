"""Many copies of a Gymnasium v5 locomotion task stepped in one call.

``VectorTask(envs).step(actions)`` advances every copy's ``MjData`` with one ``mujoco.mj_step(…, nstep=frame_skip)``
call each and computes the observations, rewards and terminations of the whole batch in NumPy, with the constants
(reward weights, health ranges, velocity clip) read from the environments themselves. The values are those of
``env.step``, bit for bit (``tests/test_vector_task.py`` checks them step for step against ``gymnasium.make``); what
is skipped is the per-call Python of ``env.step`` (its info dict, its checks) and ``mj_rnePostConstraint``, which
only fills contact-force fields that these tasks never read. HalfCheetah, Hopper and Walker2d take the batched path;
any other task is stepped through its own ``env.step``, one copy at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from trajaug.core.cores import usable_cores

BATCHED_TASKS = ("HalfCheetahEnv", "HopperEnv", "Walker2dEnv")
"""Class names of the Gymnasium v5 environments whose step the batch computes itself."""


@dataclass(frozen=True)
class TaskConstants:
    """The v5 task's reward and termination constants (read from an environment by :func:`task_constants`).

    reward = (forward_weight · Δx / dt + healthy_reward · healthy) − ctrl_weight · ‖a‖²; terminated = not healthy
    when ``terminate_when_unhealthy``; healthy: z ∈ ``z_range``, torso angle ∈ ``angle_range`` and, for Hopper,
    every entry of (qpos[2:], qvel) in ``state_range`` (all open intervals; HalfCheetah is always healthy).
    """

    forward_weight: float
    ctrl_weight: float
    healthy_reward: float = 0.0
    terminate_when_unhealthy: bool = False
    exclude_x: bool = True
    velocity_clip: float | None = None
    z_range: tuple[float, float] | None = None
    angle_range: tuple[float, float] | None = None
    state_range: tuple[float, float] | None = None


def task_constants(env: gym.Env) -> TaskConstants | None:
    """The constants of a HalfCheetah, Hopper or Walker2d v5 environment; None for any other task."""
    task = env.unwrapped
    name = type(task).__name__
    if name not in BATCHED_TASKS:
        return None
    t: Any = task
    forward, ctrl, exclude = float(t._forward_reward_weight), float(t._ctrl_cost_weight), bool(
        t._exclude_current_positions_from_observation)
    if name == "HalfCheetahEnv":
        return TaskConstants(forward, ctrl, exclude_x=exclude)
    state_range = getattr(t, "_healthy_state_range", None)
    return TaskConstants(forward, ctrl, healthy_reward=float(t._healthy_reward),
                         terminate_when_unhealthy=bool(t._terminate_when_unhealthy), exclude_x=exclude,
                         velocity_clip=10.0, z_range=_pair(t._healthy_z_range),
                         angle_range=_pair(t._healthy_angle_range),
                         state_range=None if state_range is None else _pair(state_range))


def _pair(values: Any) -> tuple[float, float]:
    low, high = values
    return float(low), float(high)


def _inside(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    return (bounds[0] < values) & (values < bounds[1])


class VectorTask:
    """Steps ``envs`` (raw v5 environments of one task, e.g. ``trajaug.sim.rollout.make_env``) together; resets stay the
    environments' own (``envs[k].reset``, ``set_state``), since the batch steps the very ``MjData`` they hold."""

    def __init__(self, envs: list[gym.Env], threads: int | None = None) -> None:
        """``threads``: threads the MuJoCo steps of one call are split over (MuJoCo releases the GIL, so a second
        thread steps half of the copies on a second core; the values are the same); None: two for 16 copies or
        more where this process may use two cores (``trajaug.core.cores``), else one."""
        self.envs = envs
        self.threads = threads if threads is not None else (2 if len(envs) >= 16 and usable_cores() >= 2 else 1)
        self._helpers = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        first = envs[0].unwrapped
        self.model = first.model  # type: ignore[attr-defined]
        self.datas = [env.unwrapped.data for env in envs]  # type: ignore[attr-defined]
        self.frame_skip = int(first.frame_skip)  # type: ignore[attr-defined]
        self.dt = float(first.dt)  # type: ignore[attr-defined]
        self.constants = task_constants(first)

    def state(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(qpos (m, nq), qvel (m, nv)) float64 copies of the copies ``rows``."""
        return (np.array([self.datas[k].qpos for k in rows]), np.array([self.datas[k].qvel for k in rows]))

    def _advance(self, rows: np.ndarray, actions: np.ndarray) -> None:
        """One environment step (``frame_skip`` MuJoCo steps) of copies ``rows`` with ``actions``."""
        for k, action in zip(rows, actions, strict=True):
            data = self.datas[k]
            data.ctrl[:] = action
            mujoco.mj_step(self.model, data, nstep=self.frame_skip)

    def close(self) -> None:
        """Stop the helper threads (the environments stay open)."""
        if self._helpers is not None:
            self._helpers.shutdown()

    def step(self, actions: np.ndarray, rows: np.ndarray | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step copies ``rows`` (default all) with ``actions`` (m, act_dim), any float dtype (as ``env.step``
        receives it); returns observations (m, obs_dim) float64, rewards (m,) float64, terminated (m,) bool."""
        rows = np.arange(len(self.envs)) if rows is None else np.asarray(rows)
        c = self.constants
        if c is None:
            results = [self.envs[k].step(action) for k, action in zip(rows, actions, strict=True)]
            return (np.array([r[0] for r in results], np.float64), np.array([r[1] for r in results], np.float64),
                    np.array([r[2] for r in results], bool))
        x_before = np.array([self.datas[k].qpos[0] for k in rows])
        parts = np.array_split(np.arange(len(rows)), self.threads if len(rows) >= 2 * self.threads else 1)
        helpers = self._helpers
        if helpers is None or len(parts) == 1:
            self._advance(rows, actions)
        else:
            actions = np.asarray(actions)
            pending = [helpers.submit(self._advance, rows[p], actions[p]) for p in parts[1:]]
            self._advance(rows[parts[0]], actions[parts[0]])
            for future in pending:
                future.result()
        qpos, qvel = self.state(rows)
        healthy = np.ones(len(rows), bool)
        if c.z_range is not None and c.angle_range is not None:
            healthy = _inside(qpos[:, 1], c.z_range) & _inside(qpos[:, 2], c.angle_range)
            if c.state_range is not None:
                healthy &= _inside(np.concatenate([qpos[:, 2:], qvel], axis=1), c.state_range).all(axis=1)
        forward = c.forward_weight * ((qpos[:, 0] - x_before) / self.dt)
        ctrl_cost = c.ctrl_weight * np.square(actions).sum(axis=1)
        rewards = (forward + healthy * c.healthy_reward) - ctrl_cost
        velocity = qvel if c.velocity_clip is None else np.clip(qvel, -c.velocity_clip, c.velocity_clip)
        observations = np.concatenate([qpos[:, 1:] if c.exclude_x else qpos, velocity], axis=1)
        terminated = ~healthy if c.terminate_when_unhealthy else np.zeros(len(rows), bool)
        return observations, rewards.astype(np.float64), terminated
