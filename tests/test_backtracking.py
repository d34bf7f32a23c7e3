"""The backtracking model, start-state rules, bdm / bdm-cl and the physics check on their output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from trajaug.augment import augment
from trajaug.augment.backtracking.bdm import BDMAugmenter, BDMCLAugmenter, BDMConfig
from trajaug.augment.backtracking.model import BacktrackingModel, Transitions, as_tensor, train_backtracking
from trajaug.augment.backtracking.starts import (
    goal_gan_starts,
    high_value_starts,
    returns_to_go,
    segment_mask,
    top_share,
    uniform_starts,
    value_estimate,
)
from trajaug.augment.rewards import formula_reward
from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.check import dynamics_errors, physics_check
from trajaug.storage.d4rl import read_d4rl

TINY = BDMConfig(steps=60, trace_length=3, value_steps=20, hidden=(32, 32), gan_steps=20, max_disagreement=0.0)


@pytest.fixture(scope="module")
def demos(short_cheetah_demos: Dataset) -> Dataset:
    """2 HalfCheetah demos cut to 200 steps each (timeouts)."""
    return short_cheetah_demos


def _episodes(rewards: list[list[float]], terminal: list[bool]) -> Dataset:
    n = sum(len(r) for r in rewards)
    ends = np.cumsum([len(r) for r in rewards]) - 1
    terminals, timeouts = np.zeros(n, bool), np.zeros(n, bool)
    terminals[ends[np.array(terminal)]] = True
    timeouts[ends[~np.array(terminal)]] = True
    obs = np.arange(n, dtype=np.float32)[:, None].repeat(2, 1)
    return Dataset(obs, np.zeros((n, 1)), np.concatenate(rewards), obs + 1, terminals, timeouts)


# -- the model ----------------------------------------------------------------------------------------------------
def test_nll_decreases_on_training_data(demos: Dataset) -> None:
    data = Transitions.from_dataset(demos)
    model = BacktrackingModel(data, (64, 64), seed=0)
    tensors = [as_tensor(x) for x in (data.next_observations, data.actions, data.observations)]
    before = float(model.nll(*tensors).mean().detach())
    history = train_backtracking(model, data, np.arange(len(demos)), 400, 128, 1e-3, seed=0)
    after = float(model.nll(*tensors).mean().detach())
    assert len(history) == 400
    assert after < before - 20  # nats per transition, summed over 23 dimensions
    assert np.mean(history[-50:]) < np.mean(history[:50]) - 20


def test_recovers_the_predecessor_of_a_linear_system() -> None:
    """s' = A s + B a with a = K s + noise: the state head's mean given (s', a) must be A⁻¹(s' − B a)."""
    rng = np.random.default_rng(0)
    A = np.array([[0.9, 0.2, 0.0], [-0.1, 1.0, 0.3], [0.0, -0.2, 0.8]])
    B = np.array([[0.5, 0.0], [0.0, 0.4], [0.3, -0.3]])
    K = np.array([[0.2, -0.1, 0.0], [0.0, 0.1, 0.2]])

    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = rng.normal(size=(n, 3))
        a = np.clip(s @ K.T + 0.1 * rng.normal(size=(n, 2)), -1, 1)
        return s.astype(np.float32), a.astype(np.float32), (s @ A.T + a @ B.T).astype(np.float32)

    s, a, s_next = draw(4000)
    data = Transitions(s, a, s_next)
    model = BacktrackingModel(data, (64, 64), seed=1)
    train_backtracking(model, data, np.arange(len(s)), 2500, 256, 3e-3, seed=1)
    s, a, s_next = draw(500)
    predicted = model.predecessor_mean(s_next, a)
    assert np.abs(predicted - s).max() < 0.15
    assert np.abs(predicted - s).mean() < 0.03
    # q(a | s') is Gaussian and linear here: its mean must match least squares of a on s'
    coefficients, *_ = np.linalg.lstsq(np.c_[s_next, np.ones(len(s_next))], a, rcond=None)
    assert np.abs(model.action_mean(s_next) - np.c_[s_next, np.ones(len(s_next))] @ coefficients).mean() < 0.03


def test_traces_have_the_requested_length_and_forward_order(demos: Dataset) -> None:
    model = BacktrackingModel(Transitions.from_dataset(demos), (16,), seed=0)
    starts = demos.observations[[10, 50, 90, 130, 250]]
    obs, actions, next_obs = model.traces(starts, 4, torch.Generator().manual_seed(0))
    assert obs.shape == next_obs.shape == (5, 4, 17) and actions.shape == (5, 4, 6)
    np.testing.assert_array_equal(next_obs[:, -1], starts)
    np.testing.assert_array_equal(next_obs[:, :-1], obs[:, 1:])
    assert np.abs(actions).max() <= 1.0 and np.isfinite(obs).all()
    again = model.traces(starts, 4, torch.Generator().manual_seed(0))[0]
    other = model.traces(starts, 4, torch.Generator().manual_seed(1))[0]
    np.testing.assert_array_equal(obs, again)
    assert not np.array_equal(obs, other)


# -- start states ---------------------------------------------------------------------------------------------------
def test_returns_to_go_complete_timeouts_at_the_episode_pace() -> None:
    data = _episodes([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 4.0]], [True, False, True])
    values = returns_to_go(data, gamma=0.5)
    np.testing.assert_allclose(values[:3], [1.75, 1.5, 1.0])  # terminal: nothing after the end
    np.testing.assert_allclose(values[3:6], [2.0, 2.0, 2.0])  # timeout: constant reward 1 → 1 / (1 − γ)
    np.testing.assert_allclose(values[6:], [1.0, 2.0, 4.0])


def test_high_value_starts_are_each_demos_highest_value_states(demos: Dataset) -> None:
    values = value_estimate(demos, 0.99, steps=0, hidden=(), seed=0)
    states, source = high_value_starts(demos, values, 0.1, 15, np.random.default_rng(0), segment_mask(demos, "all"))
    assert states.shape == (30, 17)
    np.testing.assert_array_equal(source, np.repeat([0, 1], 15))
    for demo in (0, 1):
        start, stop = demos.episode_bounds[demo]
        best = start + np.argsort(-values[start:stop])[:20]  # ⌈0.1 · 200⌉ states
        chosen = [int(np.flatnonzero((demos.observations == state).all(axis=1))[0]) for state in states[source == demo]]
        assert set(chosen) <= set(best.tolist()) and len(set(chosen)) == 15
        assert min(values[chosen]) >= np.sort(values[start:stop])[-20]
    np.testing.assert_array_equal(top_share(np.arange(5), np.array([3.0, 9, 1, 7, 5]), 0.4), [1, 3])


def test_the_value_mlp_ranks_like_the_return_to_go(demos: Dataset) -> None:
    fitted = value_estimate(demos, 0.99, steps=300, hidden=(64, 64), seed=0)
    targets = returns_to_go(demos, 0.99)
    assert 1 - np.mean((fitted - targets) ** 2) / targets.var() > 0.4  # explained variance
    assert targets[np.argsort(-fitted)[:80]].mean() > np.median(targets)  # its top 20% are above the median


def test_segments_and_uniform_starts(demos: Dataset) -> None:
    head, middle, tail = (segment_mask(demos, s) for s in ("head", "middle", "tail"))
    assert (head.astype(int) + middle + tail == 1).all()
    assert np.flatnonzero(tail[:200]).tolist() == list(range(134, 200))  # t / T ≥ 2/3 of a 200-step demo
    states, source = uniform_starts(demos, 40, np.random.default_rng(0), tail)
    rows = [int(np.flatnonzero((demos.observations == s).all(axis=1))[0]) for s in states]
    assert tail[rows].all() and (source == np.repeat([0, 1], 40)).all()
    with pytest.raises(ValueError, match="segment must be one of"):
        segment_mask(demos, "start")


def test_goal_gan_starts_at_a_tiny_budget(demos: Dataset) -> None:
    values = returns_to_go(demos, 0.99)
    mask = segment_mask(demos, "all")
    (states, source), gan = goal_gan_starts(demos, values, 0.2, 25, mask, 30, (32,), 1e-3, "nearest", seed=0)
    top = np.concatenate([top_share(np.arange(*b), values, 0.2) for b in demos.episode_bounds])
    assert states.shape == (25, 17) and set(source.tolist()) <= {0, 1}
    assert all((demos.observations[top] == s).all(axis=1).any() for s in states)
    (raw, _), _ = goal_gan_starts(demos, values, 0.2, 25, mask, 30, (32,), 1e-3, "raw", seed=0)
    assert raw.shape == (25, 17) and not (demos.observations[top] == raw[0]).all(axis=1).any()
    augmented, _ = augment("bdm", demos, dataclasses.replace(TINY, start="goal-gan"), per_episode=3, seed=0)
    assert augmented.n_episodes == 6 and len(augmented) == 18


# -- bdm / bdm-cl -----------------------------------------------------------------------------------------------
def test_curriculum_moves_from_the_tail_to_the_head(demos: Dataset) -> None:
    config = dataclasses.replace(TINY, trace_length=4)
    assert BDMCLAugmenter(config).schedule(6) == [(1, 0.75, 1.0, 1), (2, 0.5, 0.75, 1), (3, 0.25, 0.5, 2),
                                                  (4, 0.0, 0.25, 2)]
    assert BDMAugmenter(config).schedule(6) == [(4, 0.0, 1.0, 6)]
    assert BDMCLAugmenter(dataclasses.replace(config, segment="tail")).schedule(4)[0][1:3] == pytest.approx(
        (11 / 12, 1.0))
    augmented, summary = augment("bdm-cl", demos, config, per_episode=6, seed=0)
    lengths = np.diff(augmented.episode_bounds, axis=1)[:, 0]
    assert lengths.tolist() == [1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]  # stage by stage, both demos in each
    assert summary["sample_traces"] == 12 and summary["sample_trace_length_mean"] == pytest.approx(2.833, abs=1e-3)
    windows = {1: (150, 200), 2: (100, 150), 3: (50, 100), 4: (0, 50)}  # of each 200-step demo
    for episode in augmented.episodes():
        start = episode.next_observations[-1]  # the state the trace leads into: a demo state
        row = int(np.flatnonzero((demos.observations == start).all(axis=1))[0])
        low, high = windows[len(episode)]
        assert low <= row % 200 < high and row // 200 == augmented.source_episode[episode.start]


def test_output_states_rewards_and_determinism(demos: Dataset) -> None:
    first, summary = augment("bdm", demos, TINY, per_episode=4, seed=2)
    second, _ = augment("bdm", demos, TINY, per_episode=4, seed=2)
    other, _ = augment("bdm", demos, TINY, per_episode=4, seed=3)
    np.testing.assert_array_equal(first.observations, second.observations)
    assert not np.array_equal(first.observations, other.observations)
    assert first.qpos is not None and first.qvel is not None
    assert (first.qpos[:, 0] == 0).all()
    np.testing.assert_array_equal(first.qpos[:, 1:], first.observations[:, :8])
    np.testing.assert_array_equal(first.qvel, first.observations[:, 8:])
    assert summary["fit_reward_source"] == "formula"
    x_velocity = 0.5 * (first.observations[:, 8] + first.next_observations[:, 8])
    expected = x_velocity - 0.1 * (first.actions.astype(np.float64) ** 2).sum(axis=1)
    np.testing.assert_allclose(first.rewards, expected, rtol=1e-5, atol=1e-5)
    learned, summary = augment("bdm", demos, dataclasses.replace(TINY, reward="learned", reward_steps=20), 2)
    assert summary["fit_reward_source"] == "learned"


def test_reward_formula_matches_the_simulator_on_demos(cheetah_demos: Dataset) -> None:
    reward = formula_reward("HalfCheetah-v5")
    assert reward is not None and formula_reward("Ant-v5") is None
    d = cheetah_demos
    estimate = reward(d.observations, d.actions, d.next_observations)
    assert np.abs(estimate - d.rewards).mean() < 0.4  # per step; the simulator's reward is ≈ 5 per step here
    episode_sums = np.add.reduceat(estimate, d.episode_bounds[:, 0])
    np.testing.assert_allclose(episode_sums, d.episode_returns(), rtol=0.02)


def test_reward_formula_is_refused_where_observations_do_not_determine_it() -> None:
    rng = np.random.default_rng(0)
    n = 40
    timeouts = np.zeros(n, bool)
    timeouts[[19, 39]] = True
    ant = Dataset(rng.normal(size=(n, 27)), rng.uniform(-1, 1, (n, 8)), rng.normal(size=n), rng.normal(size=(n, 27)),
                  np.zeros(n, bool), timeouts, env_id="Ant-v5")
    with pytest.raises(TrajaugInputError, match="Ant-v5's reward cannot be computed from observations"):
        augment("bdm", ant, dataclasses.replace(TINY, reward="formula"), per_episode=1)
    _, summary = augment("bdm", ant, dataclasses.replace(TINY, reward_steps=20), per_episode=1)
    assert summary["fit_reward_source"] == "learned"


def test_config_is_validated() -> None:
    with pytest.raises(TrajaugInputError, match="start must be one of high-value, goal-gan, uniform"):
        BDMConfig(start="best")
    with pytest.raises(TrajaugInputError, match=r"--top-k must be in \(0, 1\]"):
        BDMConfig(top_k=0.0)


def test_physics_check_flags_bdm_output_and_the_filter_bounds_it(demos: Dataset) -> None:
    config = dataclasses.replace(TINY, steps=300, hidden=(64, 64))
    raw, _ = augment("bdm", demos, config, per_episode=10, seed=0)
    report = physics_check(raw)
    assert report.median > 0.1 and report.share_above_threshold > 0.9  # simulator data: ≈ 1e-6, share 0
    errors = dynamics_errors(raw, np.arange(len(raw)))
    bound = float(np.median(errors))
    filtered, summary = augment("bdm", demos, dataclasses.replace(config, max_dynamics_error=bound),
                                per_episode=10, seed=0)
    assert len(filtered) == int((errors <= bound).sum()) > 0
    assert dynamics_errors(filtered, np.arange(len(filtered))).max() <= bound
    assert summary["sample_dropped_transitions"] == len(raw) - len(filtered)
    with pytest.raises(TrajaugInputError, match="every transition has a dynamics error above"):
        augment("bdm", demos, dataclasses.replace(config, max_dynamics_error=1e-9), per_episode=2, seed=0)


def test_both_methods_run_from_the_cli_on_a_d4rl_file(cheetah_file: Path, tmp_path: Path) -> None:
    for method in ("bdm", "bdm-cl"):
        out = tmp_path / f"{method}.hdf5"
        result = CliRunner().invoke(cli, ["augment", method, "--dataset", str(cheetah_file), "--episodes", "2",
                                          "--per-episode", "4", "--trace-length", "2", "--steps", "20",
                                          "--value-steps", "10", "--max-disagreement", "0", "--out", str(out)])
        assert result.exit_code == 0, result.output
        data = read_d4rl(out)
        assert data.n_episodes == 8 and len(data) == (16 if method == "bdm" else 12)
        assert data.metadata["summary"]["fit_reward_source"] == "formula"
        assert data.metadata["config"]["trace_length"] == 2
    bad = CliRunner().invoke(cli, ["augment", "bdm", "--dataset", str(cheetah_file), "--start", "best"])
    assert bad.exit_code == 2 and "'--start': 'best' is not one of 'high-value', 'goal-gan', 'uniform'" in bad.stderr


def test_bdm_cl_starts_uniformly_in_its_windows_and_reaches_the_head(demos: Dataset) -> None:
    from trajaug.augment.backtracking.bdm import BDMCLConfig

    assert BDMCLConfig().start == "uniform" and BDMConfig().start == "high-value"
    assert BDMCLAugmenter.Config is BDMCLConfig and BDMCLConfig().noise_scale == BDMConfig().noise_scale == 0.5

    def head_start_rows(start: str) -> np.ndarray:
        config = BDMCLConfig(**{**dataclasses.asdict(TINY), "trace_length": 4, "start": start})
        augmented, _ = augment("bdm-cl", demos, config, per_episode=40, seed=0)
        rows = [int(np.flatnonzero((demos.observations == e.next_observations[-1]).all(axis=1))[0]) % 200
                for e in augmented.episodes() if len(e) == 4]  # the last stage: window [0, 50) of each demo
        return np.array(rows)

    uniform, high_value = head_start_rows("uniform"), head_start_rows("high-value")
    assert uniform.max() < 50 and high_value.max() < 50
    # the cheetah accelerates from rest, so value ranking keeps the window's late states; uniform starts reach the head
    assert uniform.min() < 10 and uniform.mean() < high_value.mean() - 5
