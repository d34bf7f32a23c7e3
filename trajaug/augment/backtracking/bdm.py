"""BDM and BDM-CL: recall traces of a backtracking model (Goyal et al., ICLR 2019) as offline augmentation.

``bdm``: fit the backtracking model q(Δs, a | s') = q(Δs | a, s') · q(a | s') (:mod:`backtracking.model`)
by maximum likelihood on the demos' one-step transitions (optionally only the most valuable ones, Alg. 1), pick
``per_episode`` start states per demo (:mod:`backtracking.starts`, Alg. 2), and backtrack ``trace_length`` steps
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

The model (``model``, :mod:`backtracking.reverse`): ``learned`` (default) fits q(a | s') and q(Δs | s', a) as
probabilistic ensembles (7 members, 5 elites on a 20% hold-out, early stopping; ROMI / MBPO) and cuts a trace where
the elites disagree (``max_disagreement``) or a forward ensemble does not land back on s' (``forward_bound``);
``simulator`` keeps the learned q(a | s') and takes the predecessor s from MuJoCo's exact inverse
(:mod:`backtracking.inverse_sim`), ending a trace where the solve does not converge. ``trace_length`` is a
budget: the realised lengths and the refused steps by reason are in the output's summary (``sample_*``).

Rewards of synthetic transitions (``reward``; stored as ``reward_source``): ``formula`` is the v5 reward read off
the observations (:mod:`trajaug.augment.rewards`), ``learned`` regresses r on (s, a, s') from the demos (an MLP),
``auto`` takes the formula where it exists (Ant's contact cost is not observable) and learns otherwise.

Learned-model states are not physical (``trajaug datasets check --physics``); with ``max_dynamics_error`` > 0 the
simulator restores each transition once (check only) and transitions with a larger one-step error are dropped
(:func:`trajaug.datasets.filter.filter_by_dynamics`), which cuts traces into shorter episodes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from trajaug.augment.backtracking.config import MIN_TRANSITIONS, BDMConfig
from trajaug.augment.backtracking.model import Transitions
from trajaug.augment.backtracking.reverse import (
    LearnedReverse,
    ReverseModel,
    SimulatorReverse,
    backtrack,
    trace_statistics,
)
from trajaug.augment.backtracking.starts import (
    goal_gan_starts,
    high_value_starts,
    segment_bounds,
    top_share,
    uniform_starts,
    value_estimate,
    window_mask,
)
from trajaug.augment.base import Augmenter, register
from trajaug.augment.rewards import reward_model
from trajaug.core.config import inherit
from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.core.progress import Progress, start_phase
from trajaug.datasets.filter import filter_by_dynamics
from trajaug.sim.rollout import make_env, states_from_observations


class BacktrackingAugmenter(Augmenter):
    """Common fit/sample of bdm and bdm-cl (module docstring); ``curriculum`` selects the generation schedule."""

    Config = BDMConfig
    config: BDMConfig
    uses_simulator: ClassVar[bool] = False
    uses_device: ClassVar[bool] = True
    """The reverse (and forward) ensembles train on ``device``; the value and reward regressors (64-64) and the goal
    GAN stay on the CPU."""
    curriculum: ClassVar[bool] = False

    def fit(self, demos: Dataset, progress: Progress | None = None) -> None:
        super().fit(demos, progress)
        c = self.config
        start_phase(progress, "fitting the value, the backtracking model, the reward", 3)
        self.values = value_estimate(demos, c.gamma, c.value_steps, (64, 64), self.seed)
        if progress is not None:
            progress(1)
        rows = self._training_rows(demos)
        if len(rows) < MIN_TRANSITIONS:
            raise TrajaugInputError(f"{self.name}: {len(rows)} training transitions; the learned model needs at least "
                                    f"{MIN_TRANSITIONS} ({c.holdout:.0%} are held out to pick elites and stop "
                                    "early): use more --episodes or a larger --train-top-k")
        full = Transitions.from_dataset(demos)
        data = Transitions(full.observations[rows], full.actions[rows], full.next_observations[rows])
        simulator = c.model == "simulator"
        learned = LearnedReverse(data, c, self.seed, states=not simulator or c.candidates > 1, device=self.device)
        assert demos.env_id is not None
        self.model: ReverseModel = SimulatorReverse(learned, demos.env_id, c) if simulator else learned
        if progress is not None:
            progress(1)
        self.reward_fn, self.reward_source = reward_model(demos, c.reward, c.reward_steps, self.seed)
        if progress is not None:
            progress(1)
        self.stats: dict[str, Any] = {
            "train_transitions": len(rows), "model": c.model,
            **{f"{name}_{key}": value for name, fit in learned.fits.items() for key, value in (
                ("holdout_mse", [round(v, 5) for v in fit.holdout_mse]), ("elites", list(fit.elites)),
                ("epochs", fit.epochs), ("updates", fit.updates))},
            "reward_source": self.reward_source, "value_source": "mlp" if c.value_steps else "return-to-go",
            "reward_error_on_demos": float(np.mean(np.abs(self.reward_fn(
                demos.observations, demos.actions, demos.next_observations) - demos.rewards)))}
        self.trace_stats: dict[str, Any] = {}

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

    def _traces(self, per_episode: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
        """[observations, actions, next_observations] (M, ·) of every stage's traces, one after the other, the
        (n_traces,) realised length of each, and the exact (qpos, qvel) (M, nq + nv) or None; also sets
        ``self.trace_source`` (n_traces,) to each trace's demo and ``self.trace_stats``."""
        demos = self.demos
        assert demos is not None
        parts: list[list[np.ndarray]] = [[], [], [], []]
        lengths, sources, budgets = [], [], []
        attempted, empty, refused = 0, 0, Counter[str]()
        stages = self.schedule(per_episode)
        for stage, (length, low, high, count) in enumerate(stages):
            if count == 0:
                continue
            try:
                states, source = self._starts(count, window_mask(demos, low, high), len(stages), stage)
            except ValueError as error:
                raise TrajaugInputError(f"{self.name}: {error}") from None
            traces = backtrack(self.model, states, length, self.rng)
            exact = (np.concatenate([traces.qpos, traces.qvel], 1) if traces.qpos is not None
                     and traces.qvel is not None else np.zeros((len(traces.observations), 0)))
            if len(traces.lengths):
                for part, array in zip(parts, (traces.observations, traces.actions, traces.next_observations,
                                               exact), strict=True):
                    part.append(array)
            lengths.append(traces.lengths)
            sources.append(source[traces.start_index])
            budgets.append(np.full(len(states), length))
            attempted, empty = attempted + traces.attempted, empty + traces.empty
            refused.update(traces.refused)
        self.trace_source = np.concatenate(sources)
        realised, budget = np.concatenate(lengths), np.concatenate(budgets)
        self.trace_stats = trace_statistics(budget, realised, attempted, empty, refused)
        if not len(realised):
            raise TrajaugInputError(f"{self.name}: every trace was cut before its first step ({dict(refused)}); "
                                    "widen --margin, raise --max-disagreement / --forward-bound (learned model) or "
                                    "--solve-iterations (simulator model), or ask for more --per-episode")
        obs, actions, next_obs, exact = (np.concatenate(p) for p in parts)
        return [obs, actions, next_obs], realised, exact if exact.shape[1] else None

    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        demos, c = self.demos, self.config
        assert demos is not None and demos.env_id is not None
        start_phase(progress, "backtracking traces", demos.n_episodes * per_episode)
        (obs, actions, next_obs), lengths, exact = self._traces(per_episode)
        obs, actions, next_obs = (np.asarray(x, np.float32) for x in (obs, actions, next_obs))
        env = make_env(demos.env_id)
        if exact is not None:  # the simulator model's own float64 states
            nq = env.unwrapped.model.nq  # type: ignore[attr-defined]
            qpos, qvel = exact[:, :nq], exact[:, nq:]
        else:  # the stored observations' states
            qpos, qvel = states_from_observations(env, obs)
        timeouts = np.zeros(len(obs), bool)
        timeouts[np.cumsum(lengths) - 1] = True
        traces = Dataset(obs, actions, self.reward_fn(obs, actions, next_obs), next_obs,
                         np.zeros(len(obs), bool), timeouts, env_id=demos.env_id, qpos=qpos, qvel=qvel,
                         source_episode=np.repeat(self.trace_source, lengths))
        self.trace_stats.update(transitions_generated=len(traces))
        if c.max_dynamics_error > 0:
            traces, errors = filter_by_dynamics(traces, c.max_dynamics_error)
            if not len(traces):
                raise TrajaugInputError(f"{self.name}: every transition has a dynamics error above "
                                        f"--max-dynamics-error {c.max_dynamics_error:g} (smallest "
                                        f"{float(errors.min()):.3g}); raise it")
            self.trace_stats.update(dropped_transitions=int((errors > c.max_dynamics_error).sum()),
                                    dynamics_error_median=float(np.median(errors)),
                                    dynamics_error_p95=float(np.percentile(errors, 95)))
        if progress is not None:
            progress(len(lengths))
        return traces

    def sample_stats(self) -> dict[str, Any]:
        return dict(self.trace_stats)

    def fit_stats(self) -> dict[str, Any]:
        return dict(self.stats)


@register("bdm")
class BDMAugmenter(BacktrackingAugmenter):
    """Backtracking model; every trace of ``trace_length`` steps from starts over the whole ``--segment``."""


@dataclass(frozen=True)
class BDMCLConfig(BDMConfig):
    start: str = inherit(BDMConfig, "start", "uniform")
    """Where traces start inside each stage's window: uniform (default: the curriculum sets the positions),
    high-value or goal-gan. Ranking by value inside the windows would undo the curriculum at the head: the value
    rises while the demo accelerates, so the head window's top states are its last ones and the first steps of
    every demo get no trace (docs/methods/backtracking.md)."""


@register("bdm-cl")
class BDMCLAugmenter(BacktrackingAugmenter):
    """The same model; traces generated in stages whose starts move tail → head and whose length grows 1 → L."""

    Config = BDMCLConfig
    config: BDMCLConfig
    curriculum: ClassVar[bool] = True

