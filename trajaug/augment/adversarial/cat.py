"""CAT — Corrected Augmentation for Trajectories (Antotsiou et al., ICRA 2021).

1. Distort:  a'_t = clip(a_E,t + ν_t, −1, 1),  ν_t ~ U(−σ, σ),  σ = 0.9.
2. Correct:  a generator π_φ(a | s, a') acts in the simulator from a demo's initial state; a discriminator
   D_u(s, a) separates demo pairs from generated ones,
       L_u = −E_expert[log D(s, a)] − E_π[log(1 − D(s, a))]            (+ 1e-3 entropy bonus)
       L_φ =  E_π[log(1 − D(s, a))] + λ·||a − a'||²,   λ = 0.1
   π_φ is trained by on-policy RL (PPO) on the reward −L_φ per step (trajaug.augment.adversarial.augmenter).
3. Augment: for every demo, ``per_episode`` times, draw a fresh distortion of its actions and let the trained
   π_φ correct it step by step in the simulator, from the demo's initial state, for the demo's length.

The trained generator can be saved (``--save-generator``) and reused (``--load-generator``) to sample more.
"""

from __future__ import annotations

from dataclasses import dataclass

from trajaug.augment.adversarial.augmenter import AdversarialAugmenter
from trajaug.augment.adversarial.config import AdversarialConfig
from trajaug.augment.base import register
from trajaug.core.config import inherit, setting


@dataclass(frozen=True)
class CATConfig(AdversarialConfig):
    total_steps: int = inherit(AdversarialConfig, "total_steps", 1_500_000)
    """Environment steps of the adversarial PPO phase (GAIL keeps 1M; docs/methods/cat.md says why)."""
    sigma: float = setting(0.9, minimum=0)
    """Half-width σ of the uniform distortion of demo actions (reference: 0.9)."""
    l2_weight: float = setting(0.1, minimum=0)
    """λ: weight of ||a − a'||² in the generator loss (reference code: 0.1)."""

    @property
    def distortion(self) -> tuple[float, float]:
        return self.sigma, self.l2_weight


@register("cat")
class CATAugmenter(AdversarialAugmenter):
    Config = CATConfig
    config: CATConfig
