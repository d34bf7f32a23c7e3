"""Recall traces with truncation: backtracking models that may stop a trace, and the loop that grows traces.

A backtracking model proposes, for B successor states s' at once, an action a ~ q(a | s') and a predecessor s, and
says for each row whether the step is accepted; a refused step ends its trace (it is never emitted), so the trace
length L of the config is a *budget* that these rules may cut short:

* :class:`LearnedReverse` (``--model learned``; ROMI / BMIL / MOPO): q(a | s') and q(Δs | s', a), Δs = s − s', are
  probabilistic ensembles (:mod:`backtracking.ensemble`); each sampled step uses one random elite of each.
  The predecessor is clamped to the demos' observed range widened by ``margin`` × the range on each side. The step
  is refused when the elites' means of s disagree by more than ``max_disagreement`` (std over elites, max over
  dimensions, observation units; TATU/MOPO-style uncertainty truncation), or, with a forward ensemble, when its
  elites' mean forward(s, a) lands farther than ``forward_bound`` (max-abs, observation units) from s'.
* :class:`SimulatorReverse` (``--model simulator``): a ~ q(a | s') from the learned action ensemble, s from the
  simulator's exact inverse (:mod:`backtracking.inverse_sim`); refused when the solve does not converge or the
  predecessor leaves the demos' widened range (clamping would break the physics).

:func:`backtrack` runs a model from B start states for up to L steps and returns the traces in forward order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from trajaug.augment.backtracking.config import BDMConfig
from trajaug.augment.backtracking.ensemble import EnsembleFit, GaussianEnsemble, fit_ensemble
from trajaug.augment.backtracking.inverse_sim import InverseDynamics
from trajaug.augment.backtracking.model import Transitions


def train_ensemble(inputs: np.ndarray, targets: np.ndarray, config: BDMConfig, seed: int,
                   device: str | torch.device = "cpu") -> tuple[GaussianEnsemble, EnsembleFit]:
    """A fitted ensemble from (N, in_dim) → (N, out_dim) as ``config`` says (members, elites, hidden, holdout,
    patience, steps, batch_size, lr; :func:`trajaug.augment.backtracking.ensemble.fit_ensemble`), trained on
    ``device``."""
    model = GaussianEnsemble(inputs, targets, config.members, config.hidden, seed, device)
    fit = fit_ensemble(model, inputs, targets, config.elites, config.holdout, config.batch_size, config.lr,
                       config.steps, config.patience, seed)
    return model, fit


def sample_elites(model: GaussianEnsemble, inputs: np.ndarray, rng: np.random.Generator,
                  noise_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(a sample (B, out_dim) from one random elite per row, the elites' means (n_elites, B, out_dim))."""
    mean, std = model.predict(inputs)
    pick = rng.integers(len(mean), size=len(inputs))
    rows = np.arange(len(inputs))
    noise = rng.standard_normal(mean.shape[1:])
    return mean[pick, rows] + noise_scale * std[pick, rows] * noise, mean


@dataclass
class Step:
    """One backtracking step for B rows: predecessors (B, obs_dim), actions (B, act_dim), accepted (B,) bool,
    ``refused`` reason per refused row ('' for accepted ones), optional exact qpos/qvel (B, nq) / (B, nv)."""

    states: np.ndarray
    actions: np.ndarray
    accepted: np.ndarray
    refused: np.ndarray
    qpos: np.ndarray | None = None
    qvel: np.ndarray | None = None


class ReverseModel(Protocol):
    def step(self, next_obs: np.ndarray, rng: np.random.Generator) -> Step: ...


class StateRange:
    """The demos' observed range per dimension, widened by ``margin`` × its width on each side."""

    def __init__(self, data: Transitions, margin: float) -> None:
        states = np.concatenate([data.observations, data.next_observations]).astype(np.float64)
        low, high = states.min(axis=0), states.max(axis=0)
        self.low, self.high = low - margin * (high - low), high + margin * (high - low)

    def clamp(self, states: np.ndarray) -> np.ndarray:
        return np.clip(states, self.low, self.high)

    def inside(self, states: np.ndarray) -> np.ndarray:
        return ((states >= self.low) & (states <= self.high)).all(axis=1)


class LearnedReverse:
    """The learned backtracking model (module docstring); ``forward_bound`` 0: no forward model."""

    def __init__(self, data: Transitions, config: BDMConfig, seed: int, states: bool = True,
                 device: str | torch.device = "cpu") -> None:
        """Train the action ensemble and, with ``states``, the state (and forward) ensembles on ``device``."""
        self.noise_scale, self.max_disagreement = config.noise_scale, config.max_disagreement
        self.forward_bound = forward_bound = config.forward_bound
        self.range = StateRange(data, config.margin)
        self.fits: dict[str, EnsembleFit] = {}
        obs, actions, next_obs = (np.asarray(x, np.float64) for x in
                                  (data.observations, data.actions, data.next_observations))
        self.action_model, self.fits["action"] = train_ensemble(next_obs, actions, config, seed, device)
        self.state_model: GaussianEnsemble | None = None
        self.forward_model: GaussianEnsemble | None = None
        if states:
            self.state_model, self.fits["state"] = train_ensemble(
                np.concatenate([next_obs, actions], 1), obs - next_obs, config, seed + 1, device)
        if states and forward_bound > 0:
            self.forward_model, self.fits["forward"] = train_ensemble(
                np.concatenate([obs, actions], 1), next_obs - obs, config, seed + 2, device)

    def actions(self, next_obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(B, act_dim) a ~ q(a | s') (one random elite per row), clipped to the box [−1, 1]."""
        return np.clip(sample_elites(self.action_model, next_obs, rng, self.noise_scale)[0], -1.0, 1.0)

    def step(self, next_obs: np.ndarray, rng: np.random.Generator) -> Step:
        assert self.state_model is not None
        actions = self.actions(next_obs, rng)
        inputs = np.concatenate([next_obs, actions], 1)
        delta, means = sample_elites(self.state_model, inputs, rng, self.noise_scale)
        states = self.range.clamp(next_obs + delta)
        refused = np.full(len(next_obs), "", dtype=object)
        if self.max_disagreement > 0:
            refused[means.std(axis=0).max(axis=1) > self.max_disagreement] = "disagreement"
        if self.forward_model is not None:
            predicted = states + self.forward_model.predict(np.concatenate([states, actions], 1))[0].mean(0)
            far = np.abs(predicted - next_obs).max(axis=1) > self.forward_bound
            refused[far & (refused == "")] = "forward"
        return Step(states, actions, refused == "", refused)

    def predecessor_guess(self, next_obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(B, obs_dim) s' + the state elites' average mean Δs: the learned model's predecessor."""
        assert self.state_model is not None
        return next_obs + self.state_model.predict(np.concatenate([next_obs, actions], 1))[0].mean(0)

    def disagreement(self, next_obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(B,) std over the state elites' mean predecessors, max over dimensions (observation units)."""
        assert self.state_model is not None
        return self.state_model.predict(np.concatenate([next_obs, actions], 1))[0].std(axis=0).max(axis=1)


class SimulatorReverse:
    """The exact backtracking model: learned q(a | s'), the simulator's predecessor (module docstring). With
    ``candidates`` K > 1, K actions are drawn per step and the solved predecessor nearest (max-abs) to the learned
    state model's mean guess is kept, which holds traces near the states the demos visit."""

    def __init__(self, actions: LearnedReverse, env_id: str, config: BDMConfig) -> None:
        self.action_source, self.range, self.candidates = actions, actions.range, config.candidates
        self.inverse = InverseDynamics(env_id, config.solve_tolerance, config.solve_iterations)

    def step(self, next_obs: np.ndarray, rng: np.random.Generator) -> Step:
        count = len(next_obs)
        best: Step | None = None
        distance = np.full(count, np.inf)
        for _ in range(self.candidates):
            actions = self.action_source.actions(next_obs, rng)
            solved = self.inverse.predecessors(next_obs, actions)
            refused = np.full(count, "", dtype=object)
            refused[~solved.converged] = "not_converged"
            outside = solved.converged & ~self.range.inside(np.nan_to_num(solved.observations))
            refused[outside] = "out_of_range"
            candidate = Step(solved.observations, actions, refused == "", refused, solved.qpos, solved.qvel)
            if best is None:
                best = candidate
                if self.candidates == 1:
                    break
                guess = self.action_source.predecessor_guess(next_obs, actions)
                distance = np.where(candidate.accepted, np.abs(solved.observations - guess).max(1), np.inf)
                continue
            gap = np.where(candidate.accepted, np.abs(solved.observations - guess).max(1), np.inf)
            better = gap < distance
            for name in ("states", "actions", "accepted", "refused", "qpos", "qvel"):
                getattr(best, name)[better] = getattr(candidate, name)[better]
            distance = np.minimum(distance, gap)
        assert best is not None
        return best


@dataclass
class Traces:
    """Recall traces in forward order, one after the other: observations, actions, next_observations (M, ·),
    qpos/qvel (M, ·) when the model gives them, lengths (n_traces,) ≥ 1, ``start_index`` (n_traces,) the start
    state each came from; ``attempted`` steps and the ``refused`` steps by reason; ``empty`` traces (the first
    step was refused: nothing emitted)."""

    observations: np.ndarray
    actions: np.ndarray
    next_observations: np.ndarray
    lengths: np.ndarray
    start_index: np.ndarray
    qpos: np.ndarray | None
    qvel: np.ndarray | None
    attempted: int
    refused: dict[str, int] = field(default_factory=dict)
    empty: int = 0


def backtrack(model: ReverseModel, starts: np.ndarray, budget: int, rng: np.random.Generator) -> Traces:
    """Traces of up to ``budget`` steps ending in each of the (B, obs_dim) ``starts``; a refused step ends its
    trace. ``next_observations[-1]`` of every trace is its start and ``next_observations[t] == observations[t+1]``."""
    count = len(starts)
    states: list[np.ndarray] = [np.asarray(starts, np.float64)]
    actions: list[np.ndarray] = []
    exact: list[tuple[np.ndarray, np.ndarray] | None] = []
    lengths = np.zeros(count, np.int64)
    alive = np.ones(count, bool)
    refused: Counter[str] = Counter()
    attempted = 0
    for _ in range(budget):
        rows = np.flatnonzero(alive)
        if not len(rows):
            break
        step = model.step(states[-1][rows], rng)
        attempted += len(rows)
        refused.update(str(r) for r in step.refused[~step.accepted])
        current, acted = np.full_like(states[-1], np.nan), np.full((count, step.actions.shape[1]), np.nan)
        current[rows], acted[rows] = step.states, step.actions
        if step.qpos is not None and step.qvel is not None:
            step_qpos, step_qvel = (np.full((count, x.shape[1]), np.nan) for x in (step.qpos, step.qvel))
            step_qpos[rows], step_qvel[rows] = step.qpos, step.qvel
            exact.append((step_qpos, step_qvel))
        else:
            exact.append(None)
        alive[rows[~step.accepted]] = False
        lengths[alive] += 1
        states.append(current)
        actions.append(acted)
    kept = np.flatnonzero(lengths > 0)
    steps = [np.arange(lengths[b], 0, -1) for b in kept]  # step k: predecessor states[k] of states[k - 1]
    trace_of = np.repeat(kept, lengths[kept])
    index = np.concatenate(steps) if steps else np.zeros(0, np.int64)
    stacked = np.stack(states)
    act_dim = actions[0].shape[1] if actions else 0
    acts = np.stack(actions) if actions else np.zeros((1, count, 0))
    qpos: np.ndarray | None = None
    qvel: np.ndarray | None = None
    solved = [e for e in exact if e is not None]
    if solved and len(solved) == len(exact):
        qpos, qvel = (np.stack([e[k] for e in solved])[index - 1, trace_of] if len(index)
                      else np.zeros((0, solved[0][k].shape[1])) for k in (0, 1))
    return Traces(observations=stacked[index, trace_of],
                  actions=acts[index - 1, trace_of] if len(index) else np.zeros((0, act_dim)),
                  next_observations=stacked[index - 1, trace_of], lengths=lengths[kept], start_index=kept,
                  qpos=qpos, qvel=qvel, attempted=attempted, refused=dict(refused), empty=int(count - len(kept)))


def trace_statistics(budgets: np.ndarray, lengths: np.ndarray, attempted: int, empty: int,
                     refused: Counter[str]) -> dict[str, object]:
    """Summary of traces with (n_requested,) budgets and (n_traces,) realised lengths (``sample_*`` in the
    output's metadata): counts, length percentiles and histogram (index k: length k + 1), refused steps by reason."""
    total = int(sum(refused.values()))
    return {
        "traces_requested": len(budgets), "traces": len(lengths), "traces_empty": empty,
        "trace_budget_mean": float(budgets.mean()),
        "trace_length_mean": float(lengths.mean()) if len(lengths) else 0.0,
        **{f"trace_length_p{q}": float(np.percentile(lengths, q)) if len(lengths) else 0.0 for q in (10, 50, 90)},
        "trace_length_counts": np.bincount(lengths, minlength=int(budgets.max()) + 1)[1:].tolist(),
        "steps_attempted": attempted, "steps_refused": total,
        "refused_share": float(total / attempted) if attempted else 0.0,
        **{f"refused_{reason}": count for reason, count in sorted(refused.items())}}
