"""The Four-Room experiment's config and agent names (see :mod:`trajaug.experiments.recall.experiment`)."""

from __future__ import annotations

from dataclasses import dataclass

from trajaug.core.config import check_settings, setting
from trajaug.core.errors import TrajaugInputError
from trajaug.experiments.recall.fourroom import validate_size

AGENTS = ("ac", "recall-true", "recall-learned", "per")
"""Agent names, in report order."""


@dataclass(frozen=True)
class FourRoomConfig:
    """The experiment; the defaults of the learning hyperparameters were chosen on size 19 with seeds 100–105
    (never on the reported seeds 0–4), each agent tuned over a small grid."""

    size: int = setting(19, minimum=7)
    """Grid side length including the outer walls (odd, ≥ 7)."""
    seeds: int = setting(5, minimum=1)
    """Number of seeds per agent: first_seed … first_seed + seeds − 1."""
    first_seed: int = setting(0, minimum=0)
    """First seed (report seeds 0–4; tune on other seeds, e.g. 100+)."""
    agents: str = ",".join(AGENTS)
    """Comma-separated agents: ac, recall-true, recall-learned, per."""
    total_steps: int = setting(500_000, minimum=1)
    """Environment steps per run (all parallel environments together)."""
    max_episode_steps: int = setting(0, minimum=0)
    """Episode timeout in steps; 0: size² (361 at size 19, where a uniform random policy succeeds ≈ 1.6%)."""
    slip: float = setting(0.0, minimum=0, maximum=1)
    """Probability that an action is replaced by a uniformly random one."""
    n_envs: int = setting(16, minimum=1)
    """Parallel environments (one vectorised step)."""
    n_steps: int = setting(32, minimum=1)
    """Steps per environment per update (the n of the n-step returns)."""
    gamma: float = setting(0.99, above=0, maximum=1)
    """Discount."""
    lr_actor: float = setting(10.0, above=0)
    """SGD step size of the policy-logit table (per-state averaged policy gradient)."""
    lr_critic: float = setting(0.5, above=0)
    """SGD step size of the value table: V(s) moves this fraction of the way to its mean target (≤ 1)."""
    entropy_coef: float = setting(0.01, minimum=0)
    """Weight of the entropy bonus."""
    recall_every: int = setting(1, minimum=1)
    """Updates between recall-trace imitation steps (K of Alg. 1)."""
    n_traces: int = setting(1024, minimum=1)
    """Recall traces per imitation step."""
    trace_length: int = setting(30, minimum=1)
    """Steps per recall trace."""
    trace_self_loops: bool = True
    """The true backtracking model also samples wall-bump self-loops as predecessors."""
    top_k: int = setting(16, minimum=1)
    """Traces start at states drawn uniformly from this many highest-valued visited states (value > 0)."""
    imitation_weight: float = setting(0.1, minimum=0)
    """λ: weight of the imitation loss −log π(a|s) on recall traces (averaged per state)."""
    model_lr: float = setting(0.3, above=0)
    """Adam learning rate of the learned backtracking model."""
    model_updates: int = setting(16, minimum=1)
    """Maximum-likelihood minibatches of the learned backtracking model per imitation step."""
    model_batch: int = setting(256, minimum=1)
    """Minibatch size of the learned backtracking model."""
    per_alpha: float = setting(0.6, minimum=0)
    """PER priority exponent α."""
    per_beta0: float = setting(0.4, minimum=0, maximum=1)
    """PER importance-weight exponent β at the start (annealed linearly to 1)."""
    per_eps: float = setting(1e-3, above=0)
    """PER ε added to |δ|."""
    per_capacity: int = setting(50_000, minimum=1)
    """PER buffer size (transitions)."""
    per_batch: int = setting(1024, minimum=1)
    """PER minibatch size."""
    per_updates: int = setting(16, minimum=0)
    """PER minibatches per update."""
    eval_every: int = setting(1024, minimum=1)
    """Environment steps between evaluations (exact success probability of the current policy)."""
    threshold: float = setting(0.9, above=0, maximum=1)
    """Success probability a run must reach to count as converged (steps-to-threshold)."""

    def agent_list(self) -> list[str]:
        names = [name.strip() for name in self.agents.split(",") if name.strip()]
        unknown = [name for name in names if name not in AGENTS]
        if unknown or not names:
            raise TrajaugInputError(f"--agents: unknown {unknown or self.agents!r}; choose from {', '.join(AGENTS)}")
        return list(dict.fromkeys(names))

    def episode_steps(self) -> int:
        return self.max_episode_steps or self.size * self.size

    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def __post_init__(self) -> None:
        check_settings(self)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`TrajaugInputError` on a bad value (the checks beyond each field's own limits)."""
        try:
            validate_size(self.size)
        except TrajaugInputError as error:
            raise TrajaugInputError(f"--{error}") from None  # "--size: must be odd and at least 7, got 6"
        self.agent_list()
