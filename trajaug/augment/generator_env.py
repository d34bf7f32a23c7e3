"""The generator's world: demo-start episodes and the hint a' the CAT generator corrects.

``DemoStartEnv`` is the gymnasium environment PPO trains the generator in (see ``trajaug.augment.adversarial``);
``DemoHints`` finds the demo action behind a hint; ``distort`` draws the hint's noise. Nothing here learns.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from trajaug.augment.base import demo_action_table, demo_start_jobs
from trajaug.datasets.dataset import Dataset
from trajaug.sim import make_env, max_episode_steps, restore


def episode_horizons(demos: Dataset, horizon: str) -> np.ndarray:
    """(n_episodes,) int: the steps a generator episode from each demo's start may last
    (``AdversarialConfig.horizon``: ``demo`` or ``env``)."""
    if horizon == "env":
        assert demos.env_id is not None
        return np.full(demos.n_episodes, max_episode_steps(demos.env_id))
    return demos.episode_lengths()


class DemoHints:
    """The undistorted demo action a_E behind the hint a' (see ``AdversarialConfig.hint``).

    ``__call__(demo_ids (B,), steps (B,), states (B, obs_dim))`` → (B, act_dim) float64.
    """

    def __init__(self, demos: Dataset, obs_mean: np.ndarray, obs_std: np.ndarray, mode: str) -> None:
        self.actions, self.starts = demo_action_table(demos)
        self.mode, self.obs_mean, self.obs_std = mode, obs_mean, obs_std
        self.normalized = (demos.observations.astype(np.float64) - obs_mean) / obs_std
        self.squared_norms = (self.normalized ** 2).sum(axis=1)

    def nearest_rows(self, states: np.ndarray) -> np.ndarray:
        """Row index (B,) of the demo state nearest to each of ``states`` (B, obs_dim)."""
        queries = (np.asarray(states, np.float64) - self.obs_mean) / self.obs_std
        # ||q − x||² without ||q||², which is the same for every demo row x and so cannot change the argmin
        distances = self.squared_norms[None, :] - 2.0 * queries @ self.normalized.T
        return np.argmin(distances, axis=1)

    def __call__(self, demo_ids: np.ndarray, steps: np.ndarray, states: np.ndarray) -> np.ndarray:
        if self.mode == "nearest":
            return self.actions[self.nearest_rows(states)]
        return self.actions[self.starts[demo_ids] + steps]


class DemoStartEnv(gym.Env):
    """Generator environment (see the module docstring); observation (obs_dim + hint_dim,), action the task's.
    An episode of demo d is truncated after ``horizons[d]`` steps (:func:`episode_horizons`); it starts in
    demo d's initial state (``starts = "demo"``) or in a fresh reset of the task (``"reset"``). ``action_noise`` σ:
    N(0, σ²) is added to every action before it is executed (clipped to the box); the reward still judges the
    action the generator chose."""

    def __init__(self, demos: Dataset, obs_mean: np.ndarray, obs_std: np.ndarray, sigma: float | None,
                 seed: int, hint: str, horizons: np.ndarray, starts: str, action_noise: float) -> None:
        assert demos.env_id is not None
        self.sim = make_env(demos.env_id)
        self.demos, self.obs_mean, self.obs_std, self.sigma = demos, obs_mean, obs_std, sigma
        self.hints = DemoHints(demos, obs_mean, obs_std, hint)
        self.lengths = np.asarray(horizons)
        self.starts, self.action_noise = starts, action_noise
        self.start_states = [(np.asarray(job.qpos), np.asarray(job.qvel))
                             for job in demo_start_jobs(demos, list(range(demos.n_episodes)), seed)]
        hint_dim = demos.act_dim if sigma is not None else 0
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (demos.obs_dim + hint_dim,), np.float32)
        self.action_space = self.sim.action_space
        self.rng = np.random.default_rng(seed)
        self.demo, self.step_index, self.episode_return = 0, 0, 0.0
        self.state = np.zeros(demos.obs_dim)

    def _observation(self) -> np.ndarray:
        normalized = (self.state - self.obs_mean) / self.obs_std
        if self.sigma is None:
            return normalized.astype(np.float32)
        demo_action = self.hints(np.array([self.demo]), np.array([self.step_index]), self.state[None])[0]
        hint = distort(demo_action, self.sigma, self.rng)
        return np.concatenate([normalized, hint]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.demo = int(self.rng.integers(self.demos.n_episodes))
        self.state, _ = self.sim.reset(seed=int(self.rng.integers(2**31)))
        if self.starts == "demo":
            self.state = restore(self.sim, *self.start_states[self.demo])
        self.step_index, self.episode_return = 0, 0.0
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.action_noise > 0:
            box = self.action_space
            action = np.clip(action + self.rng.normal(0.0, self.action_noise, np.shape(action)),
                             box.low, box.high)  # type: ignore[attr-defined]
        self.state, reward, terminated, _, _ = self.sim.step(action)
        self.step_index += 1
        self.episode_return += float(reward)
        truncated = self.step_index >= self.lengths[self.demo]
        info = {"env_return": self.episode_return} if terminated or truncated else {}
        observation = self._observation() if not (terminated or truncated) else self._last_observation()
        return observation, float(reward), bool(terminated), bool(truncated), info

    def _last_observation(self) -> np.ndarray:
        normalized = ((self.state - self.obs_mean) / self.obs_std).astype(np.float32)
        if self.sigma is None:
            return normalized
        return np.concatenate([normalized, np.zeros(self.demos.act_dim, np.float32)])


def distort(actions: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """a' = clip(a + ν, −1, 1), ν ~ U(−σ, σ) elementwise; any shape."""
    return np.clip(actions + rng.uniform(-sigma, sigma, size=np.shape(actions)), -1.0, 1.0)
