"""Rewards of synthetic transitions: the Gymnasium v5 reward formula read off the observations.

``formula`` uses the v5 reward of HalfCheetah, Hopper and Walker2d: r = w_fwd · v_x − w_ctrl · ||a||²
(+ healthy_reward · is_healthy(s') for Hopper/Walker2d), with the env's own weights and ranges and
v_x = (v_x(s) + v_x(s')) / 2, v_x = qvel[0] = observation[nq − 1]; the env's own v_x is the x displacement over the
step / dt, which the endpoint average approximates (0.23 mean absolute error per step on expert HalfCheetah data,
against 0.30 for v_x(s') alone).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.sim.rollout import make_env

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def formula_reward(env_id: str) -> RewardFn | None:
    """The v5 reward of ``env_id`` as a function of (s (B, obs_dim), a (B, act_dim), s' (B, obs_dim)) → (B,)
    float64, from the environment's own weights (module docstring); None where observations do not determine it."""
    if env_id.split("-v")[0].lower() not in ("halfcheetah", "hopper", "walker2d"):
        return None
    env = make_env(env_id)
    model = env.unwrapped.model  # type: ignore[attr-defined]
    forward, ctrl = env.unwrapped._forward_reward_weight, env.unwrapped._ctrl_cost_weight  # type: ignore[attr-defined]
    healthy = getattr(env.unwrapped, "_healthy_reward", 0.0)
    velocity = model.nq - (model.nq + model.nv - env.observation_space.shape[0])  # type: ignore[index]

    def is_healthy(next_obs: np.ndarray) -> np.ndarray:
        z, angle = next_obs[:, 0], next_obs[:, 1]
        ok = np.ones(len(next_obs), bool)
        for values, (low, high) in ((z, env.unwrapped._healthy_z_range),  # type: ignore[attr-defined]
                                    (angle, env.unwrapped._healthy_angle_range)):  # type: ignore[attr-defined]
            ok &= (values > low) & (values < high)
        state_range = getattr(env.unwrapped, "_healthy_state_range", None)
        if state_range is not None:  # Hopper: state_vector()[2:] = observation[1:]
            ok &= ((next_obs[:, 1:] > state_range[0]) & (next_obs[:, 1:] < state_range[1])).all(axis=1)
        return ok

    def reward(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        obs, actions, next_obs = (np.asarray(x, np.float64) for x in (obs, actions, next_obs))
        value = forward * 0.5 * (obs[:, velocity] + next_obs[:, velocity]) - ctrl * (actions ** 2).sum(axis=1)
        return value + healthy * is_healthy(next_obs) if healthy else value

    return reward


def reward_model(demos: Dataset, mode: str, steps: int, seed: int) -> tuple[RewardFn, str]:
    """(reward function, its source): the formula (``formula``, or ``auto`` where one exists), else an MLP
    regressing r on (s, a, s') from the demos for ``steps`` updates (``learned``)."""
    from trajaug.augment.networks import MLPRegressor

    assert demos.env_id is not None
    formula = formula_reward(demos.env_id) if mode != "learned" else None
    if mode == "formula" and formula is None:
        raise TrajaugInputError(f"--reward formula: {demos.env_id}'s reward cannot be computed from "
                                "observations; use --reward learned")
    if formula is not None:
        return formula, "formula"
    inputs = np.concatenate([demos.observations, demos.actions, demos.next_observations], axis=1)
    model, _ = MLPRegressor.fit(inputs, demos.rewards[:, None], (64, 64), steps, seed)

    def learned(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        return model.predict(np.concatenate([obs, actions, next_obs], axis=1))[:, 0]

    return learned, "learned"
