"""The config of the adversarial generator training shared by CAT and GAIL (see :mod:`adversarial.augmenter`).

The defaults are the reference's where it has one (reference §2); our additions (warm start, nearest-state hint,
rejection sampling) say so in their docstrings, and the method page (docs/methods/cat.md) says how they were chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from trajaug.core.config import check_settings, setting
from trajaug.core.errors import TrajaugInputError

__all__ = ["HINTS", "HORIZONS", "STARTS", "TRAINING", "AdversarialConfig"]

HINTS = ("time", "nearest")
"""Values of ``AdversarialConfig.hint``."""
HORIZONS = ("demo", "env")
"""Values of ``AdversarialConfig.horizon``."""
STARTS = ("demo", "reset")
"""Values of ``AdversarialConfig.starts``."""
TRAINING = "Generator training (PPO and discriminator)"
"""``--help`` section of the fields that say how the generator is trained rather than what the method makes."""


@dataclass(frozen=True)
class AdversarialConfig:
    total_steps: int = setting(1_000_000, minimum=0, section=TRAINING)
    """Environment steps of the adversarial PPO phase (GAIL; CAT: 1.5M, see ``CATConfig``)."""
    n_envs: int = setting(32, minimum=1, section=TRAINING)
    """Parallel generator environments, stepped together in one process (their MuJoCo steps on two threads from
    16 environments on)."""
    n_steps: int = setting(64, minimum=1, section=TRAINING)
    """PPO rollout length per environment (rollout = n_envs × n_steps = 2048 transitions)."""
    ppo_batch_size: int = setting(256, minimum=1, section=TRAINING)
    """PPO minibatch size."""
    ppo_epochs: int = setting(5, minimum=1, section=TRAINING)
    """PPO epochs per rollout."""
    ppo_lr: float = setting(1e-4, above=0, section=TRAINING)
    """PPO Adam learning rate (small: the warm-started policy should be refined, not relearned)."""
    gamma: float = setting(0.99, above=0, maximum=1, section=TRAINING)
    """Discount factor."""
    gae_lambda: float = setting(0.95, minimum=0, maximum=1, section=TRAINING)
    """GAE λ."""
    hidden: tuple[int, ...] = setting((128, 128), minimum=1, section=TRAINING)
    """Generator policy and value hidden sizes (tanh; reference 2×64, see the CAT page for why ours are larger)."""
    log_std_init: float = setting(-1.5, minimum=-20, maximum=2, section=TRAINING)
    """Initial log standard deviation of the Gaussian generator."""
    bc_warmstart_steps: int = setting(20_000, minimum=0, section=TRAINING)
    """Regression steps fitting the policy mean to the demo actions before the adversarial phase (0: off;
    the reference has no warm start)."""
    disc_hidden: tuple[int, ...] = setting((64, 64), minimum=1, section=TRAINING)
    """Discriminator hidden sizes (reference 2×64 tanh)."""
    disc_lr: float = setting(3e-4, above=0, section=TRAINING)
    """Discriminator Adam learning rate."""
    disc_entropy_weight: float = setting(1e-3, minimum=0, section=TRAINING)
    """Entropy bonus of the discriminator (reference 1e-3)."""
    stochastic_sampling: bool = False
    """Sample generator actions when generating (default: the Gaussian's mean; diversity comes from ν)."""
    hint: str = setting("nearest", choices=HINTS)
    """Which demo action a'_t distorts (CAT only): ``nearest`` — the action at the demo state nearest to s_t
    (Euclidean in normalised state space, over every demo); ``time`` — the action of the generator's own demo at
    step t (the reference)."""
    horizon: str = setting("demo", choices=HORIZONS)
    """How long each generator episode (training and generation) runs from its start unless the task ends it:
    ``demo`` — its demo's own length (the reference); ``env`` — the environment's time limit (1000 steps on
    MuJoCo). ``env`` needs ``hint = nearest`` for CAT."""
    starts: str = setting("demo", choices=STARTS)
    """Where generator episodes (training and generation) start: ``demo`` — in a demo's initial state (the
    reference); ``reset`` — in a fresh reset of the task, each episode still belonging to a demo for its horizon and
    the per-demo rejection. ``reset`` needs ``hint = nearest`` for CAT."""
    training_noise: float = setting(0.0, minimum=0, section=TRAINING)
    """σ of Gaussian noise added to the generator's action before it is executed while the generator trains;
    the reward judges the action it chose. 0: off (the reference)."""
    sample_rounds: int = setting(1, minimum=1)
    """Rounds of candidates at most: after each, the demos with fewer than ``per_episode`` candidates that lasted
    their horizon get another ⌈per_episode / keep_fraction⌉ (rejection sampling of falls; the reward is not looked
    at). 1: one round (the rejection of ``keep_fraction`` alone)."""
    execution_noise: float = setting(0.0, minimum=0)
    """σ of Gaussian noise added to the generator's action when generating (DART, Laskey et al. 2017); the
    executed action (clipped to the box) is the one stored, so every transition stays physical. 0: off (the
    reference)."""
    keep_fraction: float = setting(0.8, above=0, maximum=1)
    """Discriminator rejection sampling (after Azadi et al., ICLR 2019): roll out ⌈per_episode / keep_fraction⌉
    candidates per demo and keep the ``per_episode`` that last their horizon and, among them, have the highest mean
    log D(s, a); the simulator's reward is not looked at. 1: keep every rollout (the reference)."""
    chunks: int = setting(1, minimum=1, section=TRAINING)
    """Train in this many equal chunks of the run's steps (``total_steps``, or ``--continue-steps`` for a loaded
    generator) and keep the chunk whose generator fell least: after each chunk ``probe_per_demo`` candidates per
    demo are rolled out as when generating and those the task ended before their horizon are counted (ties: the
    later chunk). With ``--save-model`` every chunk is checkpointed and a rerun resumes after the last one.
    1: the final generator (the reference)."""
    probe_per_demo: int = setting(60, minimum=1, section=TRAINING)
    """Candidates per demo of the fall count after each chunk (``chunks`` > 1)."""

    @property
    def distortion(self) -> tuple[float, float] | None:
        """(σ of the hint a' the generator corrects, λ of the ||a − a'||² term) for CAT; None for GAIL, whose
        generator sees no hint (so ``hint`` constrains nothing there) and has no L2 term."""
        return None

    def __post_init__(self) -> None:
        check_settings(self)
        if self.distortion is not None and self.horizon == "env" and self.hint == "time":
            raise TrajaugInputError("--horizon env needs --hint nearest: the time-indexed hint ends with its demo")
        if self.distortion is not None and self.starts == "reset" and self.hint == "time":
            raise TrajaugInputError("--starts reset needs --hint nearest: the time-indexed hint follows one demo")
