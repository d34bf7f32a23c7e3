"""The batched task step gives Gymnasium's values bit for bit, step for step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from trajaug.sim.rollout import make_env, step_states
from trajaug.sim.vector_task import VectorTask, task_constants


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "InvertedPendulum-v5"])
@pytest.mark.parametrize(("dtype", "threads"), [(np.float32, 1), (np.float64, 1), (np.float64, 2)])
def test_vector_step_equals_gymnasium_step(env_id: str, dtype: type, threads: int) -> None:
    n, steps = 4, 150  # with two threads: all four copies split over both, the subsets of two on one
    references = [gym.make(env_id).unwrapped for _ in range(n)]
    task = VectorTask([make_env(env_id) for _ in range(n)], threads=threads)
    assert task.threads == threads
    for k in range(n):
        np.testing.assert_array_equal(task.envs[k].reset(seed=k)[0], references[k].reset(seed=k)[0])
    rng = np.random.default_rng(0)
    ended = 0
    for step in range(steps):
        actions = rng.uniform(-1.5, 1.5, size=(n, task.model.nu)).astype(dtype)  # outside the box too
        rows = np.arange(n) if step % 3 else np.array([2, 0])  # a subset of the copies, out of order
        observations, rewards, terminated = task.step(actions[: len(rows)], rows)
        for i, k in enumerate(rows):
            obs, reward, term, _, _ = references[k].step(actions[i])
            np.testing.assert_array_equal(observations[i], obs)
            assert rewards[i] == reward and terminated[i] == term
            if term:  # both restart from the same reset
                ended += 1
                np.testing.assert_array_equal(task.envs[k].reset(seed=100 + step)[0],
                                              references[k].reset(seed=100 + step)[0])
    task.close()
    if env_id in ("Hopper-v5", "InvertedPendulum-v5"):  # random actions topple these: termination was exercised
        assert ended > 0


def test_task_constants_are_read_from_the_environment() -> None:
    hopper = task_constants(gym.make("Hopper-v5", ctrl_cost_weight=0.5, healthy_z_range=(0.5, 3.0)))
    assert hopper is not None
    assert hopper.ctrl_weight == 0.5 and hopper.z_range == (0.5, 3.0) and hopper.state_range == (-100.0, 100.0)
    cheetah = task_constants(gym.make("HalfCheetah-v5"))
    assert cheetah is not None and cheetah.z_range is None and cheetah.ctrl_weight == 0.1
    assert task_constants(gym.make("InvertedPendulum-v5")) is None


def test_step_states_gives_env_step_from_each_state_whatever_ran_before() -> None:
    """One step from restored states equals ``env.step`` after ``set_state`` on a fresh environment, and a row's
    outcome does not depend on which rows share the call (the solver's warm start never leaks between rows)."""
    env = make_env("Hopper-v5")
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    qpos, qvel, actions = [], [], []
    for _ in range(40):  # states along a random walk, some after a fall
        action = rng.uniform(-1, 1, env.action_space.shape)
        qpos.append(env.unwrapped.data.qpos.copy())
        qvel.append(env.unwrapped.data.qvel.copy())
        actions.append(action)
        if env.step(action)[2]:
            env.reset(seed=int(rng.integers(100)))
    qpos_a, qvel_a, actions_a = np.array(qpos), np.array(qvel), np.array(actions)
    full = step_states("Hopper-v5", qpos_a, qvel_a, actions_a, n_envs=3)
    part = step_states("Hopper-v5", qpos_a[::-7], qvel_a[::-7], actions_a[::-7], n_envs=2)
    np.testing.assert_array_equal(full["next_observations"][::-7], part["next_observations"])
    np.testing.assert_array_equal(full["rewards"][::-7], part["rewards"])
    for i in (0, 17, 39):
        fresh = make_env("Hopper-v5")
        fresh.reset(seed=5)
        fresh.set_state(qpos_a[i], qvel_a[i])
        obs, reward, terminated, _, _ = fresh.step(actions_a[i])
        np.testing.assert_array_equal(full["next_observations"][i], obs)
        assert full["rewards"][i] == reward and full["terminals"][i] == terminated
    assert full["terminals"].dtype == bool and full["next_observations"].shape == (40, 11)
    assert step_states("Hopper-v5", qpos_a[:0], qvel_a[:0], actions_a[:0])["next_observations"].shape == (0, 11)
