"""GAIL as an augmenter (Ho & Ermon, 2016): a discriminator-rewarded policy rolled out from the demos' starts.

The same adversarial machinery as CAT (trajaug.augment.adversarial.augmenter) without the distorted-action input and
without the ||a − a'||² term: the generator π(a | s) is trained by PPO on r = −log(1 − D(s, a)). Its rollouts,
``per_episode`` per demo from each demo's initial state, are the augmented trajectories. Sampling defaults to
the stochastic policy here, since without a distorted input the mean policy would repeat one trajectory per demo.
"""

from __future__ import annotations

from dataclasses import dataclass

from trajaug.augment.adversarial.augmenter import AdversarialAugmenter
from trajaug.augment.adversarial.config import AdversarialConfig
from trajaug.augment.base import register
from trajaug.core.config import inherit


@dataclass(frozen=True)
class GAILConfig(AdversarialConfig):
    stochastic_sampling: bool = inherit(AdversarialConfig, "stochastic_sampling", True)
    """Sample generator actions when generating (the only source of diversity for GAIL)."""


@register("gail")
class GAILAugmenter(AdversarialAugmenter):
    Config = GAILConfig
    config: GAILConfig
