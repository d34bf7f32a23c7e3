"""The exact backtracking model: the simulator's own predecessor of a state under an action.

Given a successor observation s' and an action a, find the state s with f(s, a) = s', where f is one environment
step of the Gymnasium v5 task (``frame_skip`` MuJoCo steps of ``timestep`` with ctrl = a). The environment step is
inverted one MuJoCo step at a time, last first: each MuJoCo step is close to the identity (h = 0.01 s for
HalfCheetah, 0.002 s for Hopper and Walker2d), so Newton's method started from the successor itself converges in a
few iterations, where a Newton solve of the whole 5-step map from a model's guess often does not (the backtracking
page gives the figures).

* Euler integrator (HalfCheetah): MuJoCo's semi-implicit Euler step is qvel⁺ = qvel + h·qacc(qpos, qvel, u),
  qpos⁺ = qpos + h·qvel⁺ (hinge and slide joints), so qpos = qpos⁺ − h·qvel⁺ exactly and only qvel is solved for:
  g(qvel) = qvel⁺ (nv unknowns).
* Other integrators (RK4: Hopper, Walker2d): the full state (qpos, qvel) is solved for (nq + nv unknowns).

Jacobians are central finite differences (ε = 1e-6) of one MuJoCo step, recomputed every iteration; a Newton step is
halved up to 8 times until the residual's max-norm falls. The solver warm start is cleared before every evaluation.
A solve is accepted only when the whole environment step, run from the solution exactly as the physics check runs
it (``trajaug datasets check --physics``), lands within ``tolerance`` of s' (max-abs, observation units); else it is
*non-converged*. Contacts make some steps non-invertible (the Jacobian is singular where a contact absorbs a
velocity) or non-unique (several predecessors reach s'; any of them is physical): the first are counted as
non-converged, the second are valid transitions. A predecessor whose observation is not its state (Hopper and
Walker2d clip observed velocities to ±10) is refused too, since the observation could not restore it.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from trajaug.core.errors import TrajaugInputError
from trajaug.sim.rollout import make_env, restore

FD_EPS = 1e-6
"""Finite-difference step of the Jacobians (state units)."""
LINE_SEARCH_HALVINGS = 8
"""A Newton step is halved at most this many times while the residual does not fall."""


@dataclass(frozen=True)
class Predecessors:
    """Solved predecessors of B successors: observations (B, obs_dim), qpos (B, nq), qvel (B, nv) float64,
    converged (B,) bool (rows that did not converge hold NaN), iterations (B,) Newton iterations summed over the
    MuJoCo steps."""

    observations: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


class InverseDynamics:
    """Predecessor solver of one Gymnasium v5 MuJoCo task (module docstring)."""

    def __init__(self, env_id: str, tolerance: float = 1e-6, max_iterations: int = 20) -> None:
        self.env = make_env(env_id)
        unwrapped = self.env.unwrapped
        self.model, self.data = unwrapped.model, unwrapped.data  # type: ignore[attr-defined]
        m = self.model
        allowed = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
        if any(int(t) not in allowed for t in m.jnt_type) or m.na:
            raise TrajaugInputError(f"--model simulator: {env_id} has free/ball joints or actuator states; the "
                                    "predecessor solve supports hinge and slide joints only (use --model learned)")
        self.frame_skip = int(unwrapped.frame_skip)  # type: ignore[attr-defined]
        self.excluded = m.nq + m.nv - self.env.observation_space.shape[0]  # type: ignore[index]
        self.euler = int(m.opt.integrator) == int(mujoco.mjtIntegrator.mjINT_EULER)
        self.tolerance, self.max_iterations = tolerance, max_iterations

    def _step(self, x: np.ndarray, action: np.ndarray) -> np.ndarray:
        """One MuJoCo step from x = (qpos, qvel) under ctrl = action; returns the next (qpos, qvel)."""
        m, d = self.model, self.data
        d.qpos[:], d.qvel[:] = x[: m.nq], x[m.nq:]
        d.qacc_warmstart[:] = 0.0
        d.ctrl[:] = action
        mujoco.mj_step(m, d)
        return np.concatenate([d.qpos, d.qvel])

    def _newton(self, residual: object, guess: np.ndarray) -> tuple[np.ndarray, bool, int]:
        """Solve residual(u) = 0 from ``guess``; returns (u, converged to 1e-10, iterations)."""
        fun = residual  # (n,) -> (n,)
        u = guess.copy()
        r = fun(u)  # type: ignore[operator]
        for iteration in range(self.max_iterations):
            size = float(np.abs(r).max()) if np.isfinite(r).all() else np.inf
            if size < 1e-10:
                return u, True, iteration
            if not np.isfinite(size):
                return u, False, iteration
            jacobian = np.empty((len(u), len(u)))
            for j in range(len(u)):
                du = np.zeros(len(u))
                du[j] = FD_EPS
                jacobian[:, j] = (fun(u + du) - fun(u - du)) / (2 * FD_EPS)  # type: ignore[operator]
            try:
                direction = np.linalg.solve(jacobian, r)
            except np.linalg.LinAlgError:
                return u, False, iteration
            scale = 1.0
            for _ in range(LINE_SEARCH_HALVINGS + 1):
                candidate = u - scale * direction
                r_new = fun(candidate)  # type: ignore[operator]
                if np.isfinite(r_new).all() and np.abs(r_new).max() < size:
                    break
                scale *= 0.5
            else:
                return u, False, iteration
            u, r = candidate, r_new
        return u, bool(np.abs(r).max() < 1e-10), self.max_iterations

    def _invert_mujoco_step(self, target: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, bool, int]:
        m = self.model
        if self.euler:
            qpos = target[: m.nq] - m.opt.timestep * target[m.nq:]
            velocity, ok, n = self._newton(lambda v: self._step(np.concatenate([qpos, v]), action)[m.nq:]
                                           - target[m.nq:], target[m.nq:])
            return np.concatenate([qpos, velocity]), ok, n
        return self._newton(lambda x: self._step(x, action) - target, target)

    def solve(self, next_observation: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, int]:
        """(qpos (nq,), qvel (nv,), converged, iterations) of the predecessor of one observation under ``action``;
        the excluded root coordinates of the successor are 0."""
        m = self.model
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        successor = np.concatenate([np.zeros(self.excluded), np.asarray(next_observation, np.float64)])
        x, converged, total = successor, True, 0
        for _ in range(self.frame_skip):
            x, ok, iterations = self._invert_mujoco_step(x, action)
            converged, total = converged and ok, total + iterations
            if not converged:
                break
        qpos, qvel = x[: m.nq].copy(), x[m.nq:].copy()
        if converged:
            observation = restore(self.env, qpos, qvel)
            if np.abs(observation - np.concatenate([qpos[self.excluded:], qvel])).max() > 0:
                return qpos, qvel, False, total  # the observation clips this state: not restorable from it
            self.data.qacc_warmstart[:] = 0.0
            reached = self.env.step(action)[0]
            converged = bool(np.abs(reached - next_observation).max() <= self.tolerance)
        return qpos, qvel, converged, total

    def predecessors(self, next_observations: np.ndarray, actions: np.ndarray) -> Predecessors:
        """Solve every row of (B, obs_dim) successors under (B, act_dim) actions."""
        count, m = len(next_observations), self.model
        qpos, qvel = np.full((count, m.nq), np.nan), np.full((count, m.nv), np.nan)
        converged, iterations = np.zeros(count, bool), np.zeros(count, np.int64)
        for row in range(count):
            p, v, ok, n = self.solve(next_observations[row], actions[row])
            converged[row], iterations[row] = ok, n
            if ok:
                qpos[row], qvel[row] = p, v
        observations = np.concatenate([qpos[:, self.excluded:], qvel], axis=1)
        return Predecessors(observations, qpos, qvel, converged, iterations)

    def close(self) -> None:
        self.env.close()
