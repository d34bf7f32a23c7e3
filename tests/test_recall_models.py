"""The backtracking models behind bdm / bdm-cl: ensembles with elites, truncation rules, the simulator's inverse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from trajaug.augment import augment
from trajaug.augment.backtracking.config import BDMConfig
from trajaug.augment.backtracking.ensemble import GaussianEnsemble, fit_ensemble, holdout_split
from trajaug.augment.backtracking.inverse_sim import InverseDynamics
from trajaug.augment.backtracking.model import Transitions
from trajaug.augment.backtracking.reverse import LearnedReverse, SimulatorReverse, backtrack
from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.check import physics_check
from trajaug.sim.rollout import make_env, restore, state_from_observation
from trajaug.storage.d4rl import write_d4rl

SMALL = BDMConfig(members=4, elites=2, hidden=(32, 32), steps=300, patience=3, noise_scale=0.5, margin=0.1,
                  max_disagreement=0.0, forward_bound=0.0)


@pytest.fixture(scope="module")
def demos(short_cheetah_demos: Dataset) -> Dataset:
    """2 HalfCheetah demos cut to 200 steps each (timeouts)."""
    return short_cheetah_demos


@pytest.fixture(scope="module")
def learned(demos: Dataset) -> LearnedReverse:
    return LearnedReverse(Transitions.from_dataset(demos), SMALL, seed=0)


# -- ensembles ----------------------------------------------------------------------------------------------------
def test_elites_are_the_members_with_the_lowest_held_out_loss() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (600, 1))
    y = np.sin(2 * x) + 0.1 * rng.standard_normal((600, 1))  # known noise: std 0.1
    model = GaussianEnsemble(x, y, members=5, hidden=(32, 32), seed=0)
    fit = fit_ensemble(model, x, y, elites=2, max_steps=3000, patience=10, seed=0)
    assert fit.holdout_rows == 120 and fit.train_rows == 480 and fit.epochs > 1
    # recompute every member's held-out MSE from the returned weights: the elites are the two lowest
    _, held = holdout_split(600, 0.2, np.random.default_rng([0, 13]))
    z = torch.as_tensor(((x[held] - x.mean()) / x.std()).astype(np.float32)).expand(5, -1, -1)
    with torch.no_grad():
        mean = model.forward_normalized(z)[0].numpy()[..., 0] * y.std() + y.mean()
    mse = ((mean - y[held, 0]) ** 2).mean(axis=1)
    np.testing.assert_allclose(mse / y.var(), fit.holdout_mse, rtol=1e-3)
    assert model.elites == sorted(np.argsort(mse)[:2].tolist()) == list(fit.elites)
    assert 0.1 ** 2 * 0.8 < mse.min() < 0.1 ** 2 * 1.6  # close to the noise floor, not to y's variance (≈ 0.5)
    _, std = model.predict(np.array([[0.5]]))
    assert std.shape == (2, 1, 1) and 0.06 < float(std.mean()) < 0.16  # the learned noise level


def test_a_member_stops_at_its_best_held_out_epoch() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    y = rng.normal(size=(40, 2))  # pure noise: the held-out loss only gets worse once the members overfit
    model = GaussianEnsemble(x, y, members=3, hidden=(64, 64), seed=1)
    fit = fit_ensemble(model, x, y, elites=3, max_steps=5000, patience=5, seed=1)
    assert fit.updates < 5000 and max(fit.holdout_mse) < 1.5  # stopped early, weights of the best epoch


# -- truncation ---------------------------------------------------------------------------------------------------
def test_truncation_never_emits_a_step_above_the_disagreement_bound(demos: Dataset, learned: LearnedReverse) -> None:
    starts = demos.observations[::5].astype(np.float64)
    first_actions = learned.actions(starts, np.random.default_rng(0))
    bound = float(np.median(learned.disagreement(starts, first_actions)))
    learned.max_disagreement = bound  # the shared fixture: restored below
    try:
        traces = backtrack(learned, starts, budget=6, rng=np.random.default_rng(1))
    finally:
        learned.max_disagreement = 0.0
    emitted = learned.disagreement(traces.next_observations, traces.actions)
    assert emitted.max() <= bound
    assert traces.refused["disagreement"] > 0 and traces.lengths.min() >= 1 and traces.lengths.max() <= 6
    assert len(traces.lengths) + traces.empty == len(starts)
    # every trace ran until its budget or its first refused step
    assert traces.attempted == traces.lengths.sum() + traces.refused["disagreement"]
    ends = np.cumsum(traces.lengths) - 1
    np.testing.assert_array_equal(traces.next_observations[ends], starts[traces.start_index])
    inside = np.setdiff1d(np.arange(len(traces.observations)), ends)
    np.testing.assert_array_equal(traces.next_observations[inside], traces.observations[inside + 1])


def test_learned_predecessors_stay_in_the_widened_demo_range(demos: Dataset, learned: LearnedReverse) -> None:
    traces = backtrack(learned, demos.observations[::10].astype(np.float64), 8, np.random.default_rng(2))
    assert (traces.observations >= learned.range.low).all() and (traces.observations <= learned.range.high).all()
    assert traces.lengths.tolist() == [8] * len(traces.lengths) and traces.empty == 0  # no rule on: full budgets


# -- the simulator's inverse --------------------------------------------------------------------------------------
def test_the_simulator_solve_recovers_the_predecessor(demos: Dataset) -> None:
    import mujoco

    env = make_env("HalfCheetah-v5")
    model, data = env.unwrapped.model, env.unwrapped.data  # type: ignore[attr-defined]
    rows = np.arange(0, len(demos), 5)
    before, after, touching = [], [], []
    for row in rows:  # exact float64 transitions from demo states, noting steps with a ground contact
        qpos, qvel = state_from_observation(env, demos.observations[row].astype(np.float64))
        before.append(restore(env, qpos, qvel))
        data.qacc_warmstart[:] = 0.0
        data.ctrl[:] = demos.actions[row]
        contact = False
        for _ in range(5):
            mujoco.mj_step(model, data)
            contact |= data.ncon > 0
        after.append(np.concatenate([data.qpos[1:], data.qvel]))
        touching.append(contact)
    inverse = InverseDynamics("HalfCheetah-v5")
    actions = demos.actions[rows].astype(np.float64)
    solved = inverse.predecessors(np.array(after), actions)
    free, touching_ = ~np.array(touching), np.array(touching)
    assert solved.converged.mean() >= 0.9 and free.sum() >= 5 and touching_.sum() >= 5
    errors = np.abs(solved.observations - np.array(before)).max(axis=1)
    # without contact the predecessor is unique and recovered; with one, any solution is an exact predecessor
    assert solved.converged[free].all() and errors[free].max() <= 1e-6
    assert np.isnan(solved.observations[~solved.converged]).all()
    for row in np.flatnonzero(solved.converged & touching_):
        restore(env, solved.qpos[row], solved.qvel[row])
        data.qacc_warmstart[:] = 0.0
        assert np.abs(env.step(actions[row])[0] - after[row]).max() <= 1e-6


def test_simulator_traces_pass_the_physics_check(demos: Dataset) -> None:
    config = BDMConfig(steps=50, value_steps=20, hidden=(32, 32), model="simulator", trace_length=4)
    traces, summary = augment("bdm-cl", demos, config, per_episode=8, seed=0)
    report = physics_check(traces)
    assert report.max <= 1e-4 and report.state_source == "qpos/qvel"
    assert summary["sample_steps_attempted"] == summary["sample_steps_refused"] + len(traces)
    counts = summary["sample_trace_length_counts"]
    assert sum(counts) == summary["sample_traces"] == traces.n_episodes and len(counts) == 4


def test_a_step_that_does_not_converge_ends_its_trace_and_is_counted(demos: Dataset,
                                                                     learned: LearnedReverse) -> None:
    model = SimulatorReverse(learned, "HalfCheetah-v5", BDMConfig(solve_tolerance=1e-6, solve_iterations=20))
    solve = model.inverse.predecessors
    calls = []

    def fail_from_the_second_step(next_obs: np.ndarray, actions: np.ndarray):  # type: ignore[no-untyped-def]
        result = solve(next_obs, actions)
        calls.append(len(next_obs))
        if len(calls) > 1:
            return dataclasses.replace(result, converged=np.zeros(len(next_obs), bool))
        return result

    model.inverse.predecessors = fail_from_the_second_step  # type: ignore[method-assign]
    starts = demos.observations[::30].astype(np.float64)
    traces = backtrack(model, starts, budget=5, rng=np.random.default_rng(0))
    assert len(calls) == 2 and calls[1] == len(traces.lengths) > 0 and (traces.lengths == 1).all()
    assert traces.attempted == calls[0] + calls[1] == traces.lengths.sum() + sum(traces.refused.values())
    assert traces.refused["not_converged"] >= calls[1]
    model.inverse.max_iterations = 0  # no Newton iteration at all: nothing converges, nothing is emitted
    model.inverse.predecessors = solve  # type: ignore[method-assign]
    none = backtrack(model, starts, budget=3, rng=np.random.default_rng(0))
    assert none.empty == len(starts) and none.refused == {"not_converged": len(starts)}


# -- bad input ----------------------------------------------------------------------------------------------------
def test_the_simulator_model_needs_a_known_environment(demos: Dataset, tmp_path: Path) -> None:
    path = write_d4rl(dataclasses.replace(demos, env_id=None, qpos=None, qvel=None), tmp_path / "no-env.hdf5")
    result = CliRunner().invoke(cli, ["augment", "bdm-cl", "--dataset", str(path), "--episodes", "1",
                                      "--model", "simulator", "--out", str(tmp_path / "o.hdf5")])
    assert result.exit_code == 2 and "--env-id" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    with pytest.raises(TrajaugInputError, match="free/ball joints"):
        InverseDynamics("Ant-v5")


def test_too_few_transitions_for_the_held_out_split(demos: Dataset) -> None:
    tiny = demos.take_rows(np.arange(12))
    tiny = dataclasses.replace(tiny, timeouts=np.r_[np.zeros(11, bool), True])
    with pytest.raises(TrajaugInputError, match="12 training transitions; the learned model needs at least 20"):
        augment("bdm", tiny, BDMConfig(steps=10, value_steps=5, hidden=(8,)), per_episode=1)
    with pytest.raises(TrajaugInputError, match="model must be one of learned, simulator"):
        BDMConfig(model="oracle")
