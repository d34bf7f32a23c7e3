"""Structural checks and the one-step physics check on real simulator-made data and deliberately broken copies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.check import check_dataset, dynamics_errors, physics_check


def _with(dataset: Dataset, **changes: object) -> Dataset:
    return dataclasses.replace(dataset, **changes)  # type: ignore[arg-type]


def test_clean_demos_have_no_problems(cheetah_demos: Dataset) -> None:
    assert check_dataset(cheetah_demos) == []
    assert check_dataset(cheetah_demos, env_id="HalfCheetah-v5") == []


def test_empty_dataset_is_a_problem(cheetah_demos: Dataset) -> None:
    assert check_dataset(cheetah_demos.take_rows(np.arange(0))) == ["dataset is empty (0 transitions)"]


def test_wrong_environment_dimensions(cheetah_demos: Dataset) -> None:
    problems = check_dataset(cheetah_demos, env_id="Hopper-v5")
    assert "observations have 17 dimensions, Hopper-v5 has 11" in problems
    assert "actions have 6 dimensions, Hopper-v5 has 3" in problems
    assert any("dataset says its environment is HalfCheetah-v5" in p for p in problems)
    narrow = _with(cheetah_demos, observations=cheetah_demos.observations[:, :11],
                   next_observations=cheetah_demos.next_observations[:, :11], qpos=None, qvel=None)
    assert check_dataset(narrow) == ["observations have 11 dimensions, HalfCheetah-v5 has 17"]


def test_unknown_environment_is_reported(cheetah_demos: Dataset) -> None:
    assert check_dataset(_with(cheetah_demos, env_id=None)) == [
        "no environment id: observation/action sizes and the action box were not checked"]
    assert any("unknown environment 'Pong-v5'" in p for p in check_dataset(cheetah_demos, env_id="Pong-v5"))


def test_action_out_of_bounds(cheetah_demos: Dataset) -> None:
    actions = cheetah_demos.actions.copy()
    actions[[5, 6], 2] = [1.5, -1.25]
    assert check_dataset(_with(cheetah_demos, actions=actions)) == [
        "2 action row(s) outside the action box [-1, 1] (max |a| = 1.5)"]


def test_broken_continuity(cheetah_demos: Dataset) -> None:
    next_obs = cheetah_demos.next_observations.copy()
    next_obs[[3, 1500, 2998], 0] += 0.25
    next_obs[7, 0] += 1e-6  # within tolerance: not reported
    next_obs[999, 0] += 5.0  # an episode's last row has no following observation: not a continuity problem
    problems = check_dataset(_with(cheetah_demos, next_observations=next_obs))
    assert len(problems) == 1
    assert problems[0].startswith("next_observations differ from the following observations in 3 row(s)")
    assert "first at row 3" in problems[0]


def test_missing_episode_end(cheetah_demos: Dataset) -> None:
    cut = cheetah_demos.take_rows(np.arange(1500))
    assert check_dataset(cut) == [
        "the last 500 row(s) (rows 1000..1499) have no terminal or timeout: unfinished episode"]


def test_episode_longer_than_time_limit(cheetah_demos: Dataset) -> None:
    timeouts = cheetah_demos.timeouts.copy()
    timeouts[999] = False
    problems = check_dataset(_with(cheetah_demos, timeouts=timeouts))
    assert problems[0] == "1 episode(s) longer than the time limit of 1000 steps (longest 2000): missing timeouts?"
    # the two joined episodes also break continuity at the old boundary
    assert len(problems) == 2 and "in 1 row(s)" in problems[1] and "first at row 999" in problems[1]


def test_state_disagreeing_with_observations(cheetah_demos: Dataset) -> None:
    assert cheetah_demos.qvel is not None
    qvel = cheetah_demos.qvel.copy()
    qvel[42, 3] += 0.1
    assert check_dataset(_with(cheetah_demos, qvel=qvel)) == [
        "qpos/qvel disagree with the observations in 1 row(s) (first at row 42)"]


def test_physics_of_simulator_data_is_exact(cheetah_demos: Dataset) -> None:
    report = physics_check(cheetah_demos)
    assert report.checked == 3000 and report.state_source == "qpos/qvel"
    assert report.max < 1e-3 and report.p95 < 1e-3 and report.median <= report.p95 <= report.max
    assert report.relative_p95 < 1e-3 and report.share_above_threshold == 0.0
    errors = dynamics_errors(cheetah_demos, np.arange(0, 3000, 7))
    assert errors.shape == (429,) and errors.max() < 1e-3


def test_physics_flags_corrupted_transitions(cheetah_demos: Dataset) -> None:
    rows = np.random.default_rng(1).choice(3000, size=30, replace=False)
    next_obs = cheetah_demos.next_observations.copy()
    next_obs[rows, 4] += 0.5
    corrupted = _with(cheetah_demos, next_observations=next_obs)
    report = physics_check(corrupted, threshold=1e-2)
    assert report.share_above_threshold == pytest.approx(30 / 3000) and report.above_threshold == 30
    assert report.max == pytest.approx(0.5, abs=1e-3)
    errors = dynamics_errors(corrupted, np.arange(3000))
    assert set(np.flatnonzero(errors > 1e-2)) == set(rows.tolist())
    assert errors[rows] == pytest.approx(np.full(30, 0.5), abs=1e-3)


def test_relative_error_uses_observation_scale(cheetah_demos: Dataset) -> None:
    next_obs = cheetah_demos.next_observations.copy()
    next_obs[:, 0] += 0.5
    report = physics_check(_with(cheetah_demos, next_observations=next_obs))
    scale = cheetah_demos.observations[:, 0].astype(np.float64).std()
    assert report.median == pytest.approx(0.5, abs=1e-3)
    assert report.relative_median == pytest.approx(0.5 / scale, rel=1e-3)
    assert report.share_above_threshold == 1.0


def test_state_rebuilt_from_observation(cheetah_demos: Dataset) -> None:
    no_state = _with(cheetah_demos, qpos=None, qvel=None)
    report = physics_check(no_state, max_transitions=600, seed=3)
    assert report.state_source == "observation" and report.checked == 600
    assert report.p95 < 1e-4 and report.max < 1e-3 and report.share_above_threshold == 0.0
    assert physics_check(no_state, max_transitions=600, seed=3) == report  # same subsample, same numbers


def test_physics_check_needs_an_environment(cheetah_demos: Dataset) -> None:
    with pytest.raises(TrajaugInputError, match="needs an environment id"):
        physics_check(_with(cheetah_demos, env_id=None), max_transitions=5)
    with pytest.raises(TrajaugInputError, match="Hopper-v5 has 11/3"):
        physics_check(cheetah_demos, max_transitions=5, env_id="Hopper-v5")
