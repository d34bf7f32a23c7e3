"""The config of bdm and bdm-cl, passed whole to the reverse models (:mod:`trajaug.augment.backtracking.reverse`)
and the start rules (:mod:`trajaug.augment.backtracking.starts`). Defaults are the references' (ROMI, BMIL, MBPO)
where they have one; the method page (docs/methods/backtracking.md) says how the others were chosen."""

from __future__ import annotations

from dataclasses import dataclass

from trajaug.augment.backtracking.starts import GAN_DECODINGS, SEGMENTS, START_RULES
from trajaug.core.config import check_settings, setting
from trajaug.core.errors import TrajaugInputError

REWARD_MODES = ("auto", "formula", "learned")
MODELS = ("learned", "simulator")
MODELS_TRAINING = "Model training (ensembles, value, Goal GAN, reward)"
"""``--help`` section of the fields that say how bdm's models are trained."""
MIN_TRANSITIONS = 20
"""Fewest training transitions the learned ensembles accept (a fifth of them is held out)."""


@dataclass(frozen=True)
class BDMConfig:
    model: str = setting("learned", choices=MODELS)
    """Backtracking model: learned (probabilistic ensembles) or simulator (MuJoCo's exact predecessor; needs a
    known HalfCheetah, Hopper or Walker2d environment)."""
    trace_length: int = setting(10, minimum=1)
    """Budget L of every recall trace, steps (BMIL's longest: 10); refused steps cut a trace short; bdm-cl: L stages
    of budgets 1, 2, ..., L."""
    start: str = setting("high-value", choices=START_RULES)
    """Where traces start: high-value (top-k demo states by V), goal-gan, or uniform (Alg. 2); bdm-cl applies it
    inside each stage's window."""
    segment: str = setting("all", choices=SEGMENTS)
    """Part of each demo start states come from: all, head, middle or tail (thirds of t / T); bdm-cl splits it
    into its stage windows."""
    top_k: float = setting(0.2, above=0, maximum=1)
    """Share of each demo's states (by value; bdm-cl: of each window) that high-value and goal-gan starts come
    from."""
    train_top_k: float = setting(1.0, above=0, maximum=1)
    """Alg. 1: train on this share of the most valuable transitions (by V(s_{t+1})) of the chosen demos; 1: all."""
    train_top_trajectories: int = setting(0, minimum=0)
    """Alg. 1: train on the best N demos by return (0: all)."""
    members: int = setting(7, minimum=1, section=MODELS_TRAINING)
    """Members of each ensemble (ROMI, MBPO: 7)."""
    elites: int = setting(5, minimum=1, section=MODELS_TRAINING)
    """Members with the lowest held-out MSE used for sampling (ROMI, MBPO: 5)."""
    holdout: float = setting(0.2, above=0, below=1, section=MODELS_TRAINING)
    """Share of the training transitions held out for early stopping and elite selection (BMIL: 0.2)."""
    patience: int = setting(5, minimum=1, section=MODELS_TRAINING)
    """Epochs without a 1% held-out improvement before training stops (BMIL, MBPO: 5)."""
    steps: int = setting(2000, minimum=1, section=MODELS_TRAINING)
    """Most Adam updates per ensemble (training usually stops earlier, by ``patience``)."""
    batch_size: int = setting(256, minimum=1, section=MODELS_TRAINING)
    """Transitions per member and update."""
    hidden: tuple[int, ...] = setting((200, 200), minimum=1, section=MODELS_TRAINING)
    """Hidden sizes of every ensemble member (SiLU MLPs; ROMI: 4×200, BMIL: 4×256)."""
    lr: float = setting(1e-3, above=0, section=MODELS_TRAINING)
    """Adam learning rate of the ensembles (ROMI, BMIL: 1e-3)."""
    noise_scale: float = setting(0.5, minimum=0)
    """Multiplies the models' std when sampling (1: sample q as trained; 0: follow the means)."""
    margin: float = setting(0.1, minimum=0)
    """Predecessors are kept inside the demos' observed range widened by this share of it on each side (learned:
    clamped; simulator: the trace ends)."""
    max_disagreement: float = setting(1.0, minimum=0)
    """Learned model: end a trace where the state elites' mean predecessors disagree by more than this (std over
    elites, max over dimensions, observation units; 0: off)."""
    forward_bound: float = setting(0.0, minimum=0)
    """Learned model: end a trace where a forward ensemble's forward(s, a) lands farther than this from s'
    (max-abs, observation units; 0: no forward model)."""
    solve_tolerance: float = setting(1e-6, above=0)
    """Simulator model: largest max-abs gap between step(s, a) and s' accepted as solved (observation units)."""
    solve_iterations: int = setting(20, minimum=1)
    """Simulator model: Newton iterations per MuJoCo step before the solve counts as not converged."""
    candidates: int = setting(1, minimum=1)
    """Simulator model: actions drawn per step; the solved predecessor nearest the learned model's guess is kept."""
    gamma: float = setting(0.99, above=0, below=1, section=MODELS_TRAINING)
    """Discount of the value estimate's Monte-Carlo return-to-go."""
    value_steps: int = setting(2000, minimum=0, section=MODELS_TRAINING)
    """Updates of the value MLP regressing the return-to-go (0: rank states by the return-to-go itself)."""
    gan_steps: int = setting(2000, minimum=0, section=MODELS_TRAINING)
    """Goal GAN updates (--start goal-gan; bdm-cl: one GAN per stage, the updates split evenly)."""
    gan_lr: float = setting(2e-4, above=0, section=MODELS_TRAINING)
    """Goal GAN Adam learning rate (generator and discriminator)."""
    gan_decode: str = setting("nearest", choices=GAN_DECODINGS)
    """Goal GAN sample → start state: nearest (top-k demo state) or raw (the sample itself)."""
    reward: str = setting("auto", choices=REWARD_MODES)
    """Rewards of synthetic transitions: auto, formula (the env's v5 reward from observations) or learned."""
    reward_steps: int = setting(3000, minimum=0, section=MODELS_TRAINING)
    """Updates of the learned reward model (used by reward=learned, or auto without a formula)."""
    max_dynamics_error: float = setting(0.0, minimum=0)
    """Drop transitions whose one-step dynamics error (simulator check) exceeds this (0: keep all)."""

    def __post_init__(self) -> None:
        check_settings(self)
        if self.elites > self.members:
            raise TrajaugInputError(f"--elites must be ≤ --members ({self.members}), got {self.elites}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
