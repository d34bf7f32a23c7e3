"""CAT — Corrected Augmentation for Trajectories (Antotsiou et al., ICRA 2021).

1. Distort:  a'_t = clip(a_E,t + ν_t, −1, 1),  ν_t ~ U(−σ, σ),  σ = 0.9.
2. Correct:  a generator π_φ(a | s, a') acts in the simulator from a demo's initial state; a discriminator
   D_u(s, a) separates demo pairs from generated ones,
       L_u = −E_expert[log D(s, a)] − E_π[log(1 − D(s, a))]            (+ 1e-3 entropy bonus)
       L_φ =  E_π[log(1 − D(s, a))] + λ·||a − a'||²,   λ = 0.1
   π_φ is trained by on-policy RL (PPO) on the reward −L_φ per step (trajaug.augment.adversarial).
3. Augment: for every demo, ``per_episode`` times, draw a fresh distortion of its actions and let the trained
   π_φ correct it step by step in the simulator, from the demo's initial state, for the demo's length.

The trained generator can be saved (``--save-generator``) and reused (``--load-generator``) to sample more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trajaug.augment.adversarial import AdversarialConfig, AdversarialTrainer
from trajaug.augment.base import Augmenter, Progress, demo_action_table, execute_from_demos, register
from trajaug.datasets.dataset import Dataset


@dataclass(frozen=True)
class CATConfig(AdversarialConfig):
    sigma: float = 0.9
    """Half-width σ of the uniform distortion of demo actions (reference: 0.9)."""
    l2_weight: float = 0.1
    """λ: weight of ||a − a'||² in the generator loss (reference code: 0.1)."""
    save_generator: str = ""
    """Write the trained generator (policy + discriminator, weights_only file) here."""
    load_generator: str = ""
    """Skip training: load a generator saved with --save-generator."""


class AdversarialAugmenter(Augmenter):
    """Common fit/sample of CAT and GAIL: train (or load) the generator, then roll it out from demo starts."""

    config: Any

    def _trainer_settings(self) -> tuple[float | None, float]:
        """(σ of the hint or None for no hint, λ)."""
        raise NotImplementedError

    def fit(self, demos: Dataset, progress: Progress | None = None) -> None:
        super().fit(demos, progress)
        sigma, l2_weight = self._trainer_settings()
        self.trainer = AdversarialTrainer(demos, self.config, sigma, l2_weight, self.seed)
        if self.config.load_generator:
            self.trainer.load(self.config.load_generator)
        else:
            self.trainer.train(progress)
        if self.config.save_generator:
            self.trainer.save(self.config.save_generator)

    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        demos = self.demos
        assert demos is not None
        sigma, _ = self._trainer_settings()
        actions, starts = demo_action_table(demos)
        job_demos = np.repeat(np.arange(demos.n_episodes), per_episode)
        longest = int(np.diff(demos.episode_bounds, axis=1).max())
        hints_rng = np.random.default_rng([self.seed, 1])
        noise = (hints_rng.uniform(-sigma, sigma, size=(len(job_demos), longest, demos.act_dim))
                 if sigma is not None else None)

        def controller(jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
            if noise is None:
                return self.trainer.act(observations, None)
            hints = np.clip(actions[starts[job_demos[jobs]] + steps] + noise[jobs, steps], -1.0, 1.0)
            return self.trainer.act(observations, hints)

        return execute_from_demos(demos, [int(d) for d in job_demos], controller, self.seed, progress)

    def fit_stats(self) -> dict[str, Any]:
        history = self.trainer.history
        stats: dict[str, Any] = {"rollouts": len(history)}
        if history:
            stats.update(disc_loss_first=history[0]["loss"], disc_loss_last=history[-1]["loss"],
                         generator_env_return_last=history[-1]["generator_env_return"])
        if hasattr(self.trainer, "warm_start_loss"):
            stats["warm_start_loss"] = self.trainer.warm_start_loss
        return stats


@register("cat")
class CATAugmenter(AdversarialAugmenter):
    Config = CATConfig
    config: CATConfig

    def _trainer_settings(self) -> tuple[float | None, float]:
        return self.config.sigma, self.config.l2_weight
