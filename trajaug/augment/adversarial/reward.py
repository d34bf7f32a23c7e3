"""Hooks of the adversarial trainer into PPO: the discriminator reward and the discriminator updates.

``DiscriminatorReward`` wraps the generator's environments (a ``VectorEnv`` itself) and replaces the simulator's
reward with r = −log(1 − D(s, a)) − λ·||a − a'||², remembering every (s, a) it scored; ``DiscriminatorUpdates`` runs
at the end of each rollout (``ppo.learn``'s ``after_rollout``): it trains D on those pairs against demo pairs and
logs statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trajaug.augment.adversarial.envs import DemoStartEnvs
from trajaug.augment.base import Progress
from trajaug.augment.networks import Discriminator
from trajaug.core.dataset import Dataset


class DiscriminatorReward:
    """``envs`` with the adversarial reward instead of the simulator's; observations are [ŝ, a'] (see
    :mod:`trajaug.augment.adversarial.augmenter`)."""

    def __init__(self, envs: DemoStartEnvs, discriminator: Discriminator, obs_dim: int, obs_mean: np.ndarray,
                 obs_std: np.ndarray, l2_weight: float) -> None:
        self.envs, self.num_envs = envs, envs.num_envs
        self.observation_space, self.action_space = envs.observation_space, envs.action_space
        self.discriminator, self.obs_dim, self.l2_weight = discriminator, obs_dim, l2_weight
        self.obs_mean, self.obs_std = obs_mean, obs_std
        self.last_obs = np.zeros((envs.num_envs, envs.observation_space.shape[0]), np.float32)
        self.states: list[np.ndarray] = []
        self.scored_actions: list[np.ndarray] = []
        self.env_returns: list[float] = []

    def seed(self, seed: int) -> None:
        self.envs.seed(seed)

    def reset(self) -> np.ndarray:
        self.last_obs = np.asarray(self.envs.reset())
        return self.last_obs

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step ``envs``; each row's reward scores the state it acted in and the action it chose."""
        chosen = np.asarray(actions, np.float64)
        observations, _, dones, infos = self.envs.step(actions)
        states = self.last_obs[:, : self.obs_dim] * self.obs_std + self.obs_mean
        hints = self.last_obs[:, self.obs_dim:]
        reward = self.discriminator.reward(states, chosen)
        if hints.shape[1]:
            reward = reward - self.l2_weight * ((chosen - hints) ** 2).sum(axis=1)
        self.states.append(states)
        self.scored_actions.append(chosen)
        self.env_returns += [info["env_return"] for info in infos if "env_return" in info]
        self.last_obs = np.asarray(observations)
        return observations, reward.astype(np.float32), dones, infos

    def take_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The (s, a) pairs scored since the last call, as (M, obs_dim), (M, act_dim) arrays."""
        states, actions = np.concatenate(self.states), np.concatenate(self.scored_actions)
        self.states, self.scored_actions = [], []
        return states, actions


class DiscriminatorUpdates:
    """After each PPO rollout: one discriminator pass over the rollout; history and progress."""

    def __init__(self, demos: Dataset, discriminator: Discriminator, rng: np.random.Generator,
                 history: list[dict[str, float]], rewarded: DiscriminatorReward, progress: Progress | None) -> None:
        self.demos, self.discriminator, self.rng, self.history = demos, discriminator, rng, history
        self.rewarded, self.progress = rewarded, progress

    def __call__(self, steps: int) -> None:
        """Called with the environment steps done so far."""
        states, actions = self.rewarded.take_pairs()
        demos = self.demos
        stats = self.discriminator.update(demos.observations, demos.actions, states, actions, self.rng)
        returns = self.rewarded.env_returns
        stats["generator_env_return"] = float(np.mean(returns)) if returns else float("nan")
        stats["steps"] = float(steps)
        self.rewarded.env_returns = []
        self.history.append(stats)
        if self.progress is not None:
            self.progress(len(states))
