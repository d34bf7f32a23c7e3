"""The generator's world: demo-start episodes and the hint a' the CAT generator corrects.

``DemoStartEnvs`` are the environments PPO trains the generator in (see ``trajaug.augment.adversarial.augmenter``);
``DemoHints`` finds the demo action behind a hint; ``distort`` draws the hint's noise. Nothing here learns.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from trajaug.augment.simulate import demo_action_table, demo_start_jobs
from trajaug.core.dataset import Dataset
from trajaug.sim.rollout import make_env, max_episode_steps, restore
from trajaug.sim.vector_task import VectorTask


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
        normalized = (demos.observations.astype(np.float64) - obs_mean) / obs_std
        self.squared_norms = (normalized ** 2).sum(axis=1).astype(np.float32)
        # (obs_dim, N) float32: one single-precision matrix product per batch, ~10× faster than float64's here
        self.normalized_t = np.ascontiguousarray(normalized.T, np.float32)

    def nearest_rows(self, states: np.ndarray) -> np.ndarray:
        """Row index (B,) of the demo state nearest to each of ``states`` (B, obs_dim), all in one query (distances
        in float32: rows closer than its rounding, ~1e-6 of the squared norms, may swap)."""
        queries = ((np.asarray(states, np.float64) - self.obs_mean) / self.obs_std).astype(np.float32)
        # ||q − x||² without ||q||², which is the same for every demo row x and so cannot change the argmin
        distances = self.squared_norms[None, :] - 2.0 * (queries @ self.normalized_t)
        return np.argmin(distances, axis=1)

    def __call__(self, demo_ids: np.ndarray, steps: np.ndarray, states: np.ndarray) -> np.ndarray:
        if self.mode == "nearest":
            return self.actions[self.nearest_rows(states)]
        return self.actions[self.starts[demo_ids] + steps]


class DemoStartEnvs:
    """The generator environments PPO trains in (see the module docstring; a ``trajaug.augment.adversarial.ppo.
    VectorEnv``), stepped together: one batched MuJoCo
    step (``trajaug.sim.vector_task``) and one hint lookup per vector step. Observation (obs_dim + hint_dim,) float32,
    action the task's. An episode of demo d is truncated after ``horizons[d]`` steps (:func:`episode_horizons`);
    it starts in demo d's initial state (``starts = "demo"``) or in a fresh reset of the task (``"reset"``).
    ``action_noise`` σ: N(0, σ²) is added to every action before it is executed (clipped to the box); the reward
    still judges the action the generator chose. Environment k draws its randomness from its own generator
    (``seeds[k]``, or seed + k after ``seed(seed)``, as PPO seeds it before the first reset), in the order a single
    gymnasium environment of it would; rewards, dones and infos follow stable-baselines3's ``DummyVecEnv``
    (auto-reset, ``terminal_observation``, ``TimeLimit.truncated``) plus ``env_return`` at an episode's end."""

    num_envs: int
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Box

    def __init__(self, demos: Dataset, obs_mean: np.ndarray, obs_std: np.ndarray, sigma: float | None,
                 seeds: list[int], hint: str, horizons: np.ndarray, starts: str, action_noise: float) -> None:
        assert demos.env_id is not None
        self.task = VectorTask([make_env(demos.env_id) for _ in seeds])
        self.demos, self.obs_mean, self.obs_std, self.sigma = demos, obs_mean, obs_std, sigma
        self.hints = DemoHints(demos, obs_mean, obs_std, hint)
        self.lengths = np.asarray(horizons)
        self.starts, self.action_noise = starts, action_noise
        self.start_states = [(np.asarray(job.qpos), np.asarray(job.qvel))
                             for job in demo_start_jobs(demos, list(range(demos.n_episodes)), 0)]
        self.num_envs = n = len(seeds)
        self.observation_space = generator_space(demos, sigma)
        self.action_space = self.task.envs[0].action_space  # type: ignore[assignment]
        self.rngs = [np.random.default_rng(seed) for seed in seeds]
        self.next_seeds: list[int | None] = [None] * n
        self.demo, self.step_index = np.zeros(n, int), np.zeros(n, int)
        self.episode_return = np.zeros(n)
        self.states = np.zeros((n, demos.obs_dim))

    def _start(self, k: int, seed: int | None) -> None:
        """Begin a new episode in environment k (a demo drawn at random, then a seeded task reset)."""
        if seed is not None:
            self.rngs[k] = np.random.default_rng(seed)
        rng, env = self.rngs[k], self.task.envs[k]
        self.demo[k] = int(rng.integers(self.demos.n_episodes))
        state, _ = env.reset(seed=int(rng.integers(2**31)))
        self.states[k] = restore(env, *self.start_states[self.demo[k]]) if self.starts == "demo" else state
        self.step_index[k], self.episode_return[k] = 0, 0.0

    def _observations(self, rows: np.ndarray) -> np.ndarray:
        """Generator inputs (len(rows), obs_dim + hint_dim) float32: [ŝ, a'] with fresh hint noise per row."""
        normalized = (self.states[rows] - self.obs_mean) / self.obs_std
        if self.sigma is None:
            return normalized.astype(np.float32)
        demo_actions = self.hints(self.demo[rows], self.step_index[rows], self.states[rows])
        # distort's draws, environment by environment from its own generator; one clip for the batch
        noise = np.array([self.rngs[k].uniform(-self.sigma, self.sigma, size=self.demos.act_dim) for k in rows])
        hints = distorted(demo_actions, noise)
        return np.concatenate([normalized, hints], axis=1).astype(np.float32)

    def seed(self, seed: int) -> None:
        """Environment k starts from generator ``seed + k`` at the next :meth:`reset`."""
        self.next_seeds = [seed + k for k in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        """Start every environment (seeded by the last :meth:`seed`, if any); their observations (n, dim)."""
        for k in range(self.num_envs):
            self._start(k, self.next_seeds[k])
        self.next_seeds = [None] * self.num_envs
        return self._observations(np.arange(self.num_envs))

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Execute ``actions`` (n, act_dim) in the n environments; (observations, rewards, dones, infos)."""
        if self.action_noise > 0:
            box = self.action_space
            actions = np.array([np.clip(a + rng.normal(0.0, self.action_noise, np.shape(a)),
                                        box.low, box.high)  # type: ignore[attr-defined]
                                for a, rng in zip(actions, self.rngs, strict=True)])
        self.states, rewards, terminated = self.task.step(actions)
        self.step_index += 1
        self.episode_return += rewards
        truncated = self.step_index >= self.lengths[self.demo]
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": bool(truncated[k] and not terminated[k])}
                                       for k in range(self.num_envs)]
        for k in np.flatnonzero(dones):
            infos[k]["env_return"] = float(self.episode_return[k])
            last = np.zeros(self.observation_space.shape[0], np.float32)  # type: ignore[index]
            last[: self.demos.obs_dim] = (self.states[k] - self.obs_mean) / self.obs_std
            infos[k]["terminal_observation"] = last
            self._start(int(k), None)
        return self._observations(np.arange(self.num_envs)), rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.task.close()
        for env in self.task.envs:
            env.close()


def generator_space(demos: Dataset, sigma: float | None) -> gym.spaces.Box:
    """The generator's observation space: (obs_dim + act_dim,) with a hint (σ given, CAT), (obs_dim,) without."""
    hint_dim = demos.act_dim if sigma is not None else 0
    return gym.spaces.Box(-np.inf, np.inf, (demos.obs_dim + hint_dim,), np.float32)


def distort(actions: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """a' = clip(a + ν, −1, 1), ν ~ U(−σ, σ) elementwise; any shape."""
    return distorted(actions, rng.uniform(-sigma, sigma, size=np.shape(actions)))


def distorted(actions: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """a' = clip(a + ν, −1, 1) for noise ν already drawn (e.g. row by row from per-environment generators)."""
    return np.clip(actions + noise, -1.0, 1.0)
