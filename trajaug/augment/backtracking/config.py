"""The config of bdm and bdm-cl, passed whole to the reverse models (:mod:`trajaug.augment.backtracking.reverse`)
and the start rules (:mod:`trajaug.augment.backtracking.starts`). Defaults are the references' (ROMI, BMIL, MBPO)
where they have one; the method page (docs/methods/backtracking.md) says how the others were chosen."""

from __future__ import annotations

from dataclasses import dataclass

from trajaug.augment.backtracking.starts import GAN_DECODINGS, SEGMENTS, START_RULES
from trajaug.core.errors import TrajaugInputError

REWARD_MODES = ("auto", "formula", "learned")
MODELS = ("learned", "simulator")
MIN_TRANSITIONS = 20
"""Fewest training transitions the learned ensembles accept (a fifth of them is held out)."""


@dataclass(frozen=True)
class BDMConfig:
    model: str = "learned"
    """Backtracking model: learned (probabilistic ensembles) or simulator (MuJoCo's exact predecessor; needs a
    known HalfCheetah, Hopper or Walker2d environment)."""
    trace_length: int = 10
    """Budget L of every recall trace, steps (BMIL's longest: 10); refused steps cut a trace short; bdm-cl: L stages
    of budgets 1, 2, ..., L."""
    start: str = "high-value"
    """Where traces start: high-value (top-k demo states by V), goal-gan, or uniform (Alg. 2); bdm-cl applies it
    inside each stage's window."""
    segment: str = "all"
    """Part of each demo start states come from: all, head, middle or tail (thirds of t / T); bdm-cl splits it
    into its stage windows."""
    top_k: float = 0.2
    """Share of each demo's states (by value; bdm-cl: of each window) that high-value and goal-gan starts come
    from."""
    train_top_k: float = 1.0
    """Alg. 1: train on this share of the most valuable transitions (by V(s_{t+1})) of the chosen demos; 1: all."""
    train_top_trajectories: int = 0
    """Alg. 1: train on the best N demos by return (0: all)."""
    members: int = 7
    """Members of each ensemble (ROMI, MBPO: 7)."""
    elites: int = 5
    """Members with the lowest held-out MSE used for sampling (ROMI, MBPO: 5)."""
    holdout: float = 0.2
    """Share of the training transitions held out for early stopping and elite selection (BMIL: 0.2)."""
    patience: int = 5
    """Epochs without a 1% held-out improvement before training stops (BMIL, MBPO: 5)."""
    steps: int = 2000
    """Most Adam updates per ensemble (training usually stops earlier, by ``patience``)."""
    batch_size: int = 256
    """Transitions per member and update."""
    hidden: tuple[int, ...] = (200, 200)
    """Hidden sizes of every ensemble member (SiLU MLPs; ROMI: 4×200, BMIL: 4×256)."""
    lr: float = 1e-3
    """Adam learning rate of the ensembles (ROMI, BMIL: 1e-3)."""
    noise_scale: float = 0.5
    """Multiplies the models' std when sampling (1: sample q as trained; 0: follow the means)."""
    margin: float = 0.1
    """Predecessors are kept inside the demos' observed range widened by this share of it on each side (learned:
    clamped; simulator: the trace ends)."""
    max_disagreement: float = 1.0
    """Learned model: end a trace where the state elites' mean predecessors disagree by more than this (std over
    elites, max over dimensions, observation units; 0: off)."""
    forward_bound: float = 0.0
    """Learned model: end a trace where a forward ensemble's forward(s, a) lands farther than this from s'
    (max-abs, observation units; 0: no forward model)."""
    solve_tolerance: float = 1e-6
    """Simulator model: largest max-abs gap between step(s, a) and s' accepted as solved (observation units)."""
    solve_iterations: int = 20
    """Simulator model: Newton iterations per MuJoCo step before the solve counts as not converged."""
    candidates: int = 1
    """Simulator model: actions drawn per step; the solved predecessor nearest the learned model's guess is kept."""
    gamma: float = 0.99
    """Discount of the value estimate's Monte-Carlo return-to-go."""
    value_steps: int = 2000
    """Updates of the value MLP regressing the return-to-go (0: rank states by the return-to-go itself)."""
    gan_steps: int = 2000
    """Goal GAN updates (--start goal-gan; bdm-cl: one GAN per stage, the updates split evenly)."""
    gan_lr: float = 2e-4
    """Goal GAN Adam learning rate (generator and discriminator)."""
    gan_decode: str = "nearest"
    """Goal GAN sample → start state: nearest (top-k demo state) or raw (the sample itself)."""
    reward: str = "auto"
    """Rewards of synthetic transitions: auto, formula (the env's v5 reward from observations) or learned."""
    reward_steps: int = 3000
    """Updates of the learned reward model (used by reward=learned, or auto without a formula)."""
    max_dynamics_error: float = 0.0
    """Drop transitions whose one-step dynamics error (simulator check) exceeds this (0: keep all)."""

    def __post_init__(self) -> None:
        for name, allowed in (("start", START_RULES), ("segment", SEGMENTS), ("gan_decode", GAN_DECODINGS),
                              ("reward", REWARD_MODES)):
            if getattr(self, name) not in allowed:
                raise TrajaugInputError(f"bdm config: {name} must be one of {', '.join(allowed)}, "
                                        f"got {getattr(self, name)!r}")
        if self.trace_length < 1 or self.steps < 1 or self.batch_size < 1:
            raise TrajaugInputError("bdm config: trace_length, steps and batch_size must be ≥ 1")
        if not (0 < self.top_k <= 1 and 0 < self.train_top_k <= 1 and 0 < self.gamma < 1):
            raise TrajaugInputError("bdm config: top_k and train_top_k must lie in (0, 1], gamma in (0, 1)")
        if min(self.value_steps, self.gan_steps, self.reward_steps, self.train_top_trajectories) < 0 or not (
                self.noise_scale >= 0 and self.max_dynamics_error >= 0):
            raise TrajaugInputError("bdm config: step counts, noise_scale and max_dynamics_error must be ≥ 0")
        if self.model not in MODELS:
            raise TrajaugInputError(f"bdm config: model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if not (1 <= self.elites <= self.members and 0 < self.holdout < 1 and self.patience >= 1
                and min(self.margin, self.max_disagreement, self.forward_bound) >= 0 and self.solve_tolerance > 0
                and self.solve_iterations >= 1):
            raise TrajaugInputError("bdm config: need 1 ≤ elites ≤ members, holdout in (0, 1), patience ≥ 1, "
                                    "margin, max_disagreement, forward_bound ≥ 0, solve_tolerance > 0")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
