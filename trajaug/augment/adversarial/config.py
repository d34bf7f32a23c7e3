"""The config of the adversarial generator training shared by CAT and GAIL (see :mod:`adversarial.augmenter`).

The defaults are the reference's where it has one (reference §2); our additions (warm start, nearest-state hint,
rejection sampling) say so in their docstrings, and the method page (docs/methods/cat.md) says how they were chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from trajaug.core.errors import TrajaugInputError

__all__ = ["HINTS", "HORIZONS", "STARTS", "AdversarialConfig"]

HINTS = ("time", "nearest")
"""Values of ``AdversarialConfig.hint``."""
HORIZONS = ("demo", "env")
"""Values of ``AdversarialConfig.horizon``."""
STARTS = ("demo", "reset")
"""Values of ``AdversarialConfig.starts``."""
@dataclass(frozen=True)
class AdversarialConfig:
    total_steps: int = 1_000_000
    """Environment steps of the adversarial PPO phase (GAIL; CAT: 1.5M, see ``CATConfig``)."""
    n_envs: int = 8
    """Parallel generator environments (stepped in one process)."""
    n_steps: int = 256
    """PPO rollout length per environment (rollout = n_envs × n_steps transitions)."""
    ppo_batch_size: int = 256
    """PPO minibatch size."""
    ppo_epochs: int = 5
    """PPO epochs per rollout."""
    ppo_lr: float = 1e-4
    """PPO Adam learning rate (small: the warm-started policy should be refined, not relearned)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE λ."""
    hidden: tuple[int, ...] = (256, 256)
    """Generator policy and value hidden sizes (tanh)."""
    log_std_init: float = -1.5
    """Initial log standard deviation of the Gaussian generator."""
    bc_warmstart_steps: int = 20_000
    """Regression steps fitting the policy mean to the demo actions before the adversarial phase (0: off;
    the reference has no warm start)."""
    disc_hidden: tuple[int, ...] = (64, 64)
    """Discriminator hidden sizes (reference 2×64 tanh)."""
    disc_lr: float = 3e-4
    """Discriminator Adam learning rate."""
    disc_entropy_weight: float = 1e-3
    """Entropy bonus of the discriminator (reference 1e-3)."""
    stochastic_sampling: bool = False
    """Sample generator actions when generating (default: the Gaussian's mean; diversity comes from ν)."""
    hint: str = "nearest"
    """Which demo action a'_t distorts (CAT only): ``nearest`` — the action at the demo state nearest to s_t
    (Euclidean in normalised state space, over every demo); ``time`` — the action of the generator's own demo at
    step t (the reference)."""
    horizon: str = "demo"
    """How long each generator episode (training and generation) runs from its start unless the task ends it:
    ``demo`` — its demo's own length (the reference); ``env`` — the environment's time limit (1000 steps on
    MuJoCo). ``env`` needs ``hint = nearest`` for CAT."""
    starts: str = "demo"
    """Where generator episodes (training and generation) start: ``demo`` — in a demo's initial state (the
    reference); ``reset`` — in a fresh reset of the task, each episode still belonging to a demo for its horizon and
    the per-demo rejection. ``reset`` needs ``hint = nearest`` for CAT."""
    training_noise: float = 0.0
    """σ of Gaussian noise added to the generator's action before it is executed while the generator trains;
    the reward judges the action it chose. 0: off (the reference)."""
    sample_rounds: int = 1
    """Rounds of candidates at most: after each, the demos with fewer than ``per_episode`` candidates that lasted
    their horizon get another ⌈per_episode / keep_fraction⌉ (rejection sampling of falls; the reward is not looked
    at). 1: one round (the rejection of ``keep_fraction`` alone)."""
    execution_noise: float = 0.0
    """σ of Gaussian noise added to the generator's action when generating (DART, Laskey et al. 2017); the
    executed action (clipped to the box) is the one stored, so every transition stays physical. 0: off (the
    reference)."""
    keep_fraction: float = 0.8
    """Discriminator rejection sampling (after Azadi et al., ICLR 2019): roll out ⌈per_episode / keep_fraction⌉
    candidates per demo and keep the ``per_episode`` that last their horizon and, among them, have the highest mean
    log D(s, a); the simulator's reward is not looked at. 1: keep every rollout (the reference)."""
    chunks: int = 1
    """Train in this many equal chunks of the run's steps (``total_steps``, or ``--continue-steps`` for a loaded
    generator) and keep the chunk whose generator fell least: after each chunk ``probe_per_demo`` candidates per
    demo are rolled out as when generating and those the task ended before their horizon are counted (ties: the
    later chunk). With ``--save-model`` every chunk is checkpointed and a rerun resumes after the last one.
    1: the final generator (the reference)."""
    probe_per_demo: int = 60
    """Candidates per demo of the fall count after each chunk (``chunks`` > 1)."""

    @property
    def distortion(self) -> tuple[float, float] | None:
        """(σ of the hint a' the generator corrects, λ of the ||a − a'||² term) for CAT; None for GAIL, whose
        generator sees no hint (so ``hint`` constrains nothing there) and has no L2 term."""
        return None

    def __post_init__(self) -> None:
        for name in ("execution_noise", "training_noise"):
            if not getattr(self, name) >= 0:
                raise TrajaugInputError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        if self.chunks < 1 or self.probe_per_demo < 1:
            raise TrajaugInputError(f"chunks and probe_per_demo must be ≥ 1, got {self.chunks}, "
                                    f"{self.probe_per_demo}")
        if self.sample_rounds < 1:
            raise TrajaugInputError(f"sample_rounds must be ≥ 1, got {self.sample_rounds}")
        if not 0 < self.keep_fraction <= 1:
            raise TrajaugInputError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")
        if self.hint not in HINTS:
            raise TrajaugInputError(f"hint must be one of {', '.join(HINTS)}, got {self.hint!r}")
        if self.horizon not in HORIZONS:
            raise TrajaugInputError(f"horizon must be one of {', '.join(HORIZONS)}, got {self.horizon!r}")
        if self.starts not in STARTS:
            raise TrajaugInputError(f"starts must be one of {', '.join(STARTS)}, got {self.starts!r}")
        if self.distortion is not None and self.horizon == "env" and self.hint == "time":
            raise TrajaugInputError("horizon env needs hint nearest: the time-indexed hint ends with its demo")
        if self.distortion is not None and self.starts == "reset" and self.hint == "time":
            raise TrajaugInputError("starts reset needs hint nearest: the time-indexed hint follows one demo")
