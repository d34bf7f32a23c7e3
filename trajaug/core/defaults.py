"""Defaults shared by several commands and benchmarks, named once (the reference table's setting, reference §1)."""

from __future__ import annotations

DATASET = "halfcheetah-expert"
"""The dataset of the reference table."""
DEMOS = 7
"""Demos the reference table augments: the first 7 episodes."""
PER_EPISODE = 71
"""Augmented trajectories per demo: 7 × 71 = 497, the reference's augmented set."""
EVAL_EPISODES = 100
"""Evaluation episodes per BC policy and noise level."""
EVAL_NOISE = (0.0, 0.1)
"""Evaluation noise levels σ: standard evaluation and the perturbed one (Gaussian noise on executed actions)."""
