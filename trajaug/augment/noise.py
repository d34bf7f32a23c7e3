"""Noise: replay each demo's actions with uniform noise, executed in the simulator (the table's "noise network").

    a'_t = clip(a_E,t + ν_t, −1, 1),   ν_t ~ U(−σ, σ) per action dimension,   σ = 0.9 (CAT reference)

Each augmented trajectory starts in its demo's initial state and runs for the demo's length, so every
transition is physically valid; its rewards are the simulator's. This is CAT without the correction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trajaug.augment.base import Augmenter, Progress, register
from trajaug.augment.simulate import demo_action_table, execute_from_demos
from trajaug.core.config import check_settings, setting
from trajaug.core.dataset import Dataset


@dataclass(frozen=True)
class NoiseConfig:
    sigma: float = setting(0.9, minimum=0)
    """Half-width σ of the uniform noise added to every action dimension (CAT reference: 0.9)."""

    def __post_init__(self) -> None:
        check_settings(self)


@register("noise")
class NoiseAugmenter(Augmenter):
    Config = NoiseConfig
    config: NoiseConfig

    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        assert self.demos is not None
        actions, starts = demo_action_table(self.demos)
        job_demos = [d for d in range(self.demos.n_episodes) for _ in range(per_episode)]
        longest = int(self.demos.episode_lengths().max())
        sigma = self.config.sigma
        noise = self.rng.uniform(-sigma, sigma, size=(len(job_demos), longest, self.demos.act_dim))
        demo_of_job = np.asarray(job_demos)

        def controller(jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
            return actions[starts[demo_of_job[jobs]] + steps] + noise[jobs, steps]

        return execute_from_demos(self.demos, job_demos, controller, self.seed, progress)
