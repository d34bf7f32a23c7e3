"""Seed ranges, kept apart so evaluation never reuses a seed that made training data.

* data (expert datasets, augmentation):      reset seeds in [0, 10⁶)
* evaluation (``bc eval``, benchmarks):       reset seeds in [10⁶, 2·10⁶)
* expert training's own checkpoint evaluation: seeds 10⁴ + i of its own, used only to pick the checkpoint
"""

DATA_SEED_BASE = 0
EVAL_SEED_BASE = 1_000_000


def eval_seeds(seed: int, episodes: int) -> list[int]:
    """Reset seeds of ``episodes`` evaluation episodes for evaluation seed ``seed`` (≥ 0, < 1000 episodes/seed)."""
    if episodes > 1000:
        raise ValueError("episodes: at most 1000 evaluation episodes per seed")
    return [EVAL_SEED_BASE + seed * 1000 + i for i in range(episodes)]
