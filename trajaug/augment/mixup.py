"""Mixup: blend the actions of two demos step by step, executed in the simulator from the first demo's start.

For every ordered pair (i, j), i ≠ j, of demos (7 demos → 42 pairs) and every augmented trajectory:

    λ ~ Beta(α, α),   λ' = max(λ, 1 − λ) ≥ 0.5,   a'_t = λ'·a_i,t + (1 − λ')·a_j,t,   α = 0.1 (reference)

one λ per trajectory (``mix = trajectory``) or a fresh one at every step (``mix = step``; the slides do not say
which); the trajectory runs for min(len_i, len_j) steps (or until the task terminates).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from typing import ClassVar

import numpy as np

from trajaug.augment.base import Augmenter, Progress, register
from trajaug.augment.simulate import demo_action_table, execute_from_demos
from trajaug.core.config import check_settings, setting
from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError

MIX_MODES = ("trajectory", "step")
"""Values of ``MixupConfig.mix``."""


@dataclass(frozen=True)
class MixupConfig:
    alpha: float = setting(0.1, above=0)
    """Beta(α, α) parameter of the mixing weight (reference: 0.1, so λ' is mostly close to 1)."""
    mix: str = setting("trajectory", choices=MIX_MODES)
    """How often λ is drawn: trajectory (once per trajectory) or step (at every step)."""

    def __post_init__(self) -> None:
        check_settings(self)


@register("mixup")
class MixupAugmenter(Augmenter):
    Config = MixupConfig
    config: MixupConfig
    default_per_episode: ClassVar[int] = 1
    """Trajectories per ordered pair of demos."""

    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        demos = self.demos
        assert demos is not None
        if demos.n_episodes < 2:
            raise TrajaugInputError("mixup needs at least 2 demonstrations")
        actions, starts = demo_action_table(demos)
        lengths = demos.episode_lengths()
        pairs = [pair for pair in permutations(range(demos.n_episodes), 2) for _ in range(per_episode)]
        first = np.array([i for i, _ in pairs])
        second = np.array([j for _, j in pairs])
        horizon = np.minimum(lengths[first], lengths[second])
        per_step = self.config.mix == "step"
        raw = self.rng.beta(self.config.alpha, self.config.alpha,
                            size=(len(pairs), int(horizon.max())) if per_step else len(pairs))
        self.mix_weights = np.maximum(raw, 1.0 - raw)
        """λ' (all ≥ 0.5) of each trajectory (n_trajectories,), or of each step (n_trajectories, max horizon)."""

        def controller(jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
            weight = (self.mix_weights[jobs, steps] if per_step else self.mix_weights[jobs])[:, None]
            return weight * actions[starts[first[jobs]] + steps] + (1 - weight) * actions[starts[second[jobs]] + steps]

        return execute_from_demos(demos, [int(i) for i in first], controller, self.seed, progress,
                                  max_steps=[int(h) for h in horizon])
