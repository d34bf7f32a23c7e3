"""BDM and BDM-CL: recall traces of a backtracking model (Goyal et al., ICLR 2019) as offline augmentation.

``bdm``: fit the backtracking model q(Δs, a | s') = q(Δs | a, s') · q(a | s') (:mod:`trajaug.augment.backtracking`)
by maximum likelihood on the demos' one-step transitions (optionally only the most valuable ones, Alg. 1), pick
``per_episode`` start states per demo (:mod:`trajaug.augment.starts`, Alg. 2), and backtrack ``trace_length`` steps
from each. Every trace is stored in forward order as one episode ending in a timeout; ``source_episode`` is the demo
its start state came from (for goal-gan: the demo holding the decoded state). No simulator generates anything.

``bdm-cl``: the same model, with the reverse curriculum of the slides (start states move from the tail of the demos
toward the head; by default uniformly inside each stage's window, see :class:`BDMCLConfig`) and BMIL's growing trace
length, as a schedule of K = ``trace_length`` generation stages (the
outer loop of Alg. 1, which produces traces while training goes on; offline, every stage's traces are kept, in stage
order, since the consumer trains on the union). Stage k = 1..K backtracks traces of length k from starts drawn by
``--start`` inside the k-th of K equal windows of relative position t / T counted from the tail of ``--segment``:
with the whole demo, stage 1 starts in [1 − 1/K, 1) and stage K in [0, 1/K). Each demo's ``per_episode`` traces are
split evenly over the stages, the remainder going to the stages nearest the head. (High-value starts over the whole
demo leave its first, slow steps without data, and BC from such data never sets off from the initial state; the
curriculum reaches the head.)

Rewards of synthetic transitions (``reward``; the choice is stored as ``reward_source`` in the output's summary):
``formula`` uses the Gymnasium v5 reward of HalfCheetah, Hopper and Walker2d, read off the observations:
r = w_fwd · v_x − w_ctrl · ||a||² (+ healthy_reward · is_healthy(s') for Hopper/Walker2d), with the env's own
weights and ranges and v_x = (v_x(s) + v_x(s')) / 2, v_x = qvel[0] = observation[nq − 1]; the env's own v_x is the
x displacement over the step / dt, which the endpoint average approximates (0.23 mean absolute error per step on
expert HalfCheetah data, against 0.30 for v_x(s') alone). ``learned`` regresses r on (s, a, s') from the demos
(an MLP); ``auto`` takes the formula where it exists (Ant's contact cost is not observable) and learns otherwise.

The synthetic states are not physical (see ``trajaug datasets check --physics``); with ``max_dynamics_error`` > 0
the simulator restores each transition once (check only) and transitions with a larger one-step error are dropped
(:func:`trajaug.datasets.filter.filter_by_dynamics`), which cuts traces into shorter episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from trajaug.augment.backtracking import BacktrackingModel, MLPRegressor, Transitions, train_backtracking
from trajaug.augment.base import Augmenter, Progress, register
from trajaug.augment.starts import (
    GAN_DECODINGS,
    SEGMENTS,
    START_RULES,
    goal_gan_starts,
    high_value_starts,
    segment_bounds,
    top_share,
    uniform_starts,
    value_estimate,
    window_mask,
)
from trajaug.datasets.dataset import Dataset
from trajaug.datasets.errors import TrajaugInputError
from trajaug.datasets.filter import filter_by_dynamics
from trajaug.sim import make_env, state_from_observation

REWARD_MODES = ("auto", "formula", "learned")
RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BDMConfig:
    trace_length: int = 10
    """Steps L of every recall trace (BMIL's longest); bdm-cl: L stages of traces of 1, 2, ..., L steps."""
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
    steps: int = 10_000
    """Adam updates of the backtracking model."""
    batch_size: int = 256
    """Transitions per update of the backtracking model."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden sizes of both Gaussian heads (SiLU MLPs; BMIL uses 4×256)."""
    lr: float = 1e-3
    """Adam learning rate of the backtracking model."""
    noise_scale: float = 0.5
    """Multiplies the heads' std when sampling (1: sample q as trained; 0: follow the means). 0.5 was chosen on
    seeds 100–102 (``trajaug bench seed-table --first-seed 100``, uniform starts): BC on bdm data reached 70% of the
    demos' return against 55% with 1.0; the reported tables use seeds 0–4."""
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
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


def formula_reward(env_id: str) -> RewardFn | None:
    """The v5 reward of ``env_id`` as a function of (s (B, obs_dim), a (B, act_dim), s' (B, obs_dim)) → (B,)
    float64, from the environment's own weights (module docstring); None where observations do not determine it."""
    if env_id.split("-v")[0].lower() not in ("halfcheetah", "hopper", "walker2d"):
        return None
    env = make_env(env_id)
    model = env.unwrapped.model  # type: ignore[attr-defined]
    forward, ctrl = env.unwrapped._forward_reward_weight, env.unwrapped._ctrl_cost_weight  # type: ignore[attr-defined]
    healthy = getattr(env.unwrapped, "_healthy_reward", 0.0)
    velocity = model.nq - (model.nq + model.nv - env.observation_space.shape[0])  # type: ignore[index]

    def is_healthy(next_obs: np.ndarray) -> np.ndarray:
        z, angle = next_obs[:, 0], next_obs[:, 1]
        ok = np.ones(len(next_obs), bool)
        for values, (low, high) in ((z, env.unwrapped._healthy_z_range),  # type: ignore[attr-defined]
                                    (angle, env.unwrapped._healthy_angle_range)):  # type: ignore[attr-defined]
            ok &= (values > low) & (values < high)
        state_range = getattr(env.unwrapped, "_healthy_state_range", None)
        if state_range is not None:  # Hopper: state_vector()[2:] = observation[1:]
            ok &= ((next_obs[:, 1:] > state_range[0]) & (next_obs[:, 1:] < state_range[1])).all(axis=1)
        return ok

    def reward(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        obs, actions, next_obs = (np.asarray(x, np.float64) for x in (obs, actions, next_obs))
        value = forward * 0.5 * (obs[:, velocity] + next_obs[:, velocity]) - ctrl * (actions ** 2).sum(axis=1)
        return value + healthy * is_healthy(next_obs) if healthy else value

    return reward


class BacktrackingAugmenter(Augmenter):
    """Common fit/sample of bdm and bdm-cl (module docstring); ``curriculum`` selects the generation schedule."""

    Config = BDMConfig
    config: BDMConfig
    uses_simulator: ClassVar[bool] = False
    curriculum: ClassVar[bool] = False

    def fit(self, demos: Dataset, progress: Progress | None = None) -> None:
        super().fit(demos, progress)
        c = self.config
        self.values = value_estimate(demos, c.gamma, c.value_steps, (64, 64), self.seed)
        data = Transitions.from_dataset(demos)
        self.model = BacktrackingModel(data, c.hidden, self.seed)
        rows = self._training_rows(demos)
        self.history = train_backtracking(self.model, data, rows, c.steps, c.batch_size, c.lr, self.seed)
        self.reward_fn, self.reward_source = self._reward_model(demos)
        self.stats: dict[str, Any] = {
            "train_transitions": len(rows),
            "nll_first": float(np.mean(self.history[:100])), "nll_last": float(np.mean(self.history[-100:])),
            "reward_source": self.reward_source, "value_source": "mlp" if c.value_steps else "return-to-go",
            "reward_error_on_demos": float(np.mean(np.abs(self.reward_fn(
                demos.observations, demos.actions, demos.next_observations) - demos.rewards)))}

    def _training_rows(self, demos: Dataset) -> np.ndarray:
        """Alg. 1: rows of the best demos by return, then their top share by V(s_{t+1})."""
        c = self.config
        bounds = demos.episode_bounds
        best = np.argsort(-demos.episode_returns(), kind="stable")
        keep = best[: c.train_top_trajectories] if c.train_top_trajectories else best
        rows = np.sort(np.concatenate([np.arange(*bounds[e]) for e in keep]))
        next_value = self.values.copy()  # V(s_{t+1}) = V of the next row, the row's own at an episode's end
        inside = np.ones(len(demos), bool)
        inside[bounds[:, 1] - 1] = False
        next_value[np.flatnonzero(inside)] = self.values[np.flatnonzero(inside) + 1]
        return np.sort(top_share(rows, next_value, c.train_top_k))

    def schedule(self, per_episode: int) -> list[tuple[int, float, float, int]]:
        """Generation stages as (trace length, window low, window high, traces per demo): module docstring."""
        length = self.config.trace_length
        low, high = segment_bounds(self.config.segment)
        if not self.curriculum:
            return [(length, low, high, per_episode)]
        width = (high - low) / length
        base, extra = divmod(per_episode, length)
        return [(k, high - k * width, high - (k - 1) * width, base + int(k > length - extra))
                for k in range(1, length + 1)]

    def _reward_model(self, demos: Dataset) -> tuple[RewardFn, str]:
        assert demos.env_id is not None
        mode = self.config.reward
        formula = formula_reward(demos.env_id) if mode != "learned" else None
        if mode == "formula" and formula is None:
            raise TrajaugInputError(f"--reward formula: {demos.env_id}'s reward cannot be computed from "
                                    "observations; use --reward learned")
        if formula is not None:
            return formula, "formula"
        inputs = np.concatenate([demos.observations, demos.actions, demos.next_observations], axis=1)
        model, _ = MLPRegressor.fit(inputs, demos.rewards[:, None], (64, 64), self.config.reward_steps, self.seed)

        def learned(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
            return model.predict(np.concatenate([obs, actions, next_obs], axis=1))[:, 0]

        return learned, "learned"

    def _starts(self, per_episode: int, mask: np.ndarray, stages: int, stage: int) -> tuple[np.ndarray, np.ndarray]:
        demos, c = self.demos, self.config
        assert demos is not None
        if c.start == "high-value":
            return high_value_starts(demos, self.values, c.top_k, per_episode, self.rng, mask)
        if c.start == "uniform":
            return uniform_starts(demos, per_episode, self.rng, mask)
        starts, _ = goal_gan_starts(demos, self.values, c.top_k, per_episode * demos.n_episodes, mask,
                                    max(1, c.gan_steps // stages), (64, 64), c.gan_lr, c.gan_decode,
                                    self.seed * 1_000 + stage)
        return starts

    def _traces(self, per_episode: int) -> tuple[list[np.ndarray], np.ndarray]:
        """[observations, actions, next_observations] (M, ·) of every stage's traces, one after the other, and the
        (n_traces,) length of each; also sets ``self.trace_source`` (n_traces,) to each trace's demo."""
        demos, c = self.demos, self.config
        assert demos is not None
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + 1)
        parts: list[list[np.ndarray]] = [[], [], []]
        lengths, sources = [], []
        stages = self.schedule(per_episode)
        for stage, (length, low, high, count) in enumerate(stages):
            if count == 0:
                continue
            try:
                states, source = self._starts(count, window_mask(demos, low, high), len(stages), stage)
            except ValueError as error:
                raise TrajaugInputError(f"{self.name}: {error}") from None
            for part, array in zip(parts, self.model.traces(states, length, generator, c.noise_scale), strict=True):
                part.append(array.reshape(len(states) * length, -1))
            lengths.append(np.full(len(states), length))
            sources.append(source)
        self.trace_source = np.concatenate(sources)
        return [np.concatenate(p) for p in parts], np.concatenate(lengths)

    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        demos, c = self.demos, self.config
        assert demos is not None and demos.env_id is not None
        (obs, actions, next_obs), lengths = self._traces(per_episode)
        env = make_env(demos.env_id)
        qpos, qvel = (np.stack(x) for x in zip(*(state_from_observation(env, o) for o in obs.astype(np.float64)),
                                               strict=True))
        timeouts = np.zeros(len(obs), bool)
        timeouts[np.cumsum(lengths) - 1] = True
        traces = Dataset(obs, actions, self.reward_fn(obs, actions, next_obs), next_obs,
                         np.zeros(len(obs), bool), timeouts, env_id=demos.env_id, qpos=qpos, qvel=qvel,
                         source_episode=np.repeat(self.trace_source, lengths))
        self.stats.update(traces=len(lengths), trace_length_mean=float(lengths.mean()),
                          transitions_generated=len(traces))
        if c.max_dynamics_error > 0:
            traces, errors = filter_by_dynamics(traces, c.max_dynamics_error)
            if not len(traces):
                raise TrajaugInputError(f"{self.name}: every transition has a dynamics error above "
                                        f"--max-dynamics-error {c.max_dynamics_error:g} (smallest "
                                        f"{float(errors.min()):.3g}); raise it")
            self.stats.update(dropped_transitions=int((errors > c.max_dynamics_error).sum()),
                              dynamics_error_median=float(np.median(errors)),
                              dynamics_error_p95=float(np.percentile(errors, 95)))
        if progress is not None:
            progress(len(lengths))
        return traces

    def fit_stats(self) -> dict[str, Any]:
        return dict(self.stats)


@register("bdm")
class BDMAugmenter(BacktrackingAugmenter):
    """Backtracking model; every trace of ``trace_length`` steps from starts over the whole ``--segment``."""


@dataclass(frozen=True)
class BDMCLConfig(BDMConfig):
    start: str = "uniform"
    """Where traces start inside each stage's window: uniform (default: the curriculum sets the positions),
    high-value or goal-gan. Ranking by value inside the windows would undo the curriculum at the head: the value
    rises while the demo accelerates, so the head window's top states are its last ones and the first ≈ 70 steps
    of every demo get no trace (``bench/start_coverage.py``, ``bench/stalls.py``)."""


@register("bdm-cl")
class BDMCLAugmenter(BacktrackingAugmenter):
    """The same model; traces generated in stages whose starts move tail → head and whose length grows 1 → L."""

    Config = BDMCLConfig
    config: BDMCLConfig
    curriculum: ClassVar[bool] = True

