"""Four-Room recall traces (trajaug.experiments.recall): gridworld dynamics, the exact backtracking model, PER, the
learned backtracking model, the experiment's outputs and one behavioural check."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from trajaug.cli.recall import main as recall_main
from trajaug.core.atomic import OutputExistsError
from trajaug.core.errors import TrajaugInputError
from trajaug.experiments.recall.agents import AGENTS, nstep_returns, train_agent
from trajaug.experiments.recall.experiment import FourRoomConfig, run_fourroom
from trajaug.experiments.recall.fourroom import FourRoom, TrueBacktrackingModel, VectorFourRoom, four_room_walls
from trajaug.experiments.recall.learned_model import LearnedBacktrackingModel, RowSampler
from trajaug.experiments.recall.per import PrioritizedReplay, annealed_beta
from trajaug.experiments.recall.summary import steps_to

UP, DOWN, LEFT, RIGHT = range(4)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny tables: more threads only add contention on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------------------------- gridworld
@pytest.mark.parametrize("size", [7, 11, 19])
def test_layout_has_border_cross_and_four_doorways(size: int) -> None:
    walls = four_room_walls(size)
    m = size // 2
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
    assert (~walls[m, 1:-1]).sum() == 2 and (~walls[1:-1, m]).sum() == 2  # two doorways in each inner wall
    assert (~walls).sum() == (size - 3) ** 2 + 4  # four rooms of (m−1)² cells plus the doorways
    env = FourRoom(size, 100)
    assert env.coords(env.start) == (1, 1) and env.coords(env.goal) == (size - 2, size - 2)
    assert env.shortest_path_length() == 2 * (size - 3)  # the doorways lie on a monotone path


@pytest.mark.parametrize("size", [6, 5, 3, 20, -7])
def test_bad_sizes_are_input_errors(size: int) -> None:
    with pytest.raises(TrajaugInputError):
        FourRoom(size, 100)
    with pytest.raises(TrajaugInputError):
        FourRoomConfig(size=size).validate()


def test_walls_block_and_doorways_pass() -> None:
    env = FourRoom(11, 100)
    corner = env.start  # (1, 1): walls above and to the left
    assert env.step(corner, UP) == corner and env.step(corner, LEFT) == corner
    assert env.coords(env.step(corner, RIGHT)) == (1, 2) and env.coords(env.step(corner, DOWN)) == (2, 1)
    m = 5
    beside_wall = int(env.index[1, m - 1])  # (1, 4): the inner wall (1, 5) is to its right
    assert env.step(beside_wall, RIGHT) == beside_wall
    doorway_row = int(np.flatnonzero(~env.walls[1:-1, m])[0]) + 1
    west = int(env.index[doorway_row, m - 1])
    door = env.step(west, RIGHT)
    assert env.coords(door) == (doorway_row, m)
    assert env.coords(env.step(door, RIGHT)) == (doorway_row, m + 1)
    assert env.step(door, UP) == door and env.step(door, DOWN) == door  # a doorway's sides are walls
    # every move changes at most one coordinate by one and never enters a wall
    for state in range(env.n_states):
        for action in range(4):
            delta = np.abs(np.subtract(env.coords(env.step(state, action)), env.coords(state)))
            assert delta.sum() <= 1


def test_goal_terminates_with_reward_one_and_resets() -> None:
    env = FourRoom(7, 50)
    vec = VectorFourRoom(env, 1, np.random.default_rng(0))
    path = [RIGHT, RIGHT, RIGHT, DOWN, DOWN, DOWN, DOWN, RIGHT]  # (1,1) → doorway (1,3) → doorway (3,4) → (5,5)
    rewards = []
    for action in path:
        state_before = vec.states[0]
        next_states, reward, terminated, truncated = vec.step(np.array([action]))
        assert next_states[0] == env.step(state_before, action)
        rewards.append(reward[0])
        if terminated[0]:
            break
    assert terminated[0] and not truncated[0] and next_states[0] == env.goal
    assert rewards[-1] == 1.0 and all(r == 0.0 for r in rewards[:-1])
    assert vec.states[0] == env.start and vec.elapsed[0] == 0


def test_timeout_truncates_without_reward() -> None:
    env = FourRoom(11, 5)
    vec = VectorFourRoom(env, 3, np.random.default_rng(0))
    for t in range(5):
        next_states, reward, terminated, truncated = vec.step(np.full(3, UP))  # bump: stays at the start
        assert (next_states == env.start).all() and (reward == 0).all() and not terminated.any()
        assert truncated.all() == (t == 4)
    assert (vec.elapsed == 0).all()


def test_slip_is_seeded_and_changes_actions() -> None:
    env = FourRoom(11, 1000, slip=0.5)

    def run(seed: int) -> np.ndarray:
        vec = VectorFourRoom(env, 8, np.random.default_rng(seed))
        return np.array([vec.step(np.full(8, RIGHT))[0] for _ in range(20)])

    assert (run(3) == run(3)).all() and not (run(3) == run(4)).all()
    deterministic = VectorFourRoom(FourRoom(11, 1000), 8, np.random.default_rng(0))
    assert not (run(3) == np.array([deterministic.step(np.full(8, RIGHT))[0] for _ in range(20)])).all()


def test_success_probability_matches_monte_carlo() -> None:
    env = FourRoom(7, 30, slip=0.1)
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1, 3, 1, 3], size=env.n_states)  # biased toward down and right
    exact = env.success_probability(probs)
    vec = VectorFourRoom(env, 4000, rng)
    done = np.zeros(4000, bool)
    success = np.zeros(4000, bool)
    for _ in range(30):
        cumulative = probs[vec.states].cumsum(1)
        actions = (rng.random(4000)[:, None] >= cumulative).sum(1).clip(0, 3)
        _, _, terminated, _ = vec.step(actions)
        success |= terminated & ~done
        done |= terminated
    assert 0.05 < exact < 0.95
    assert abs(success.mean() - exact) < 4 * np.sqrt(exact * (1 - exact) / 4000)
    assert FourRoom(7, 8).success_probability(np.tile([0.0, 0.0, 0.0, 1.0], (20, 1))) == 0.0  # right only: stuck


# ------------------------------------------------------------------------------------- true backtracking
@pytest.mark.parametrize("size", [7, 11])
def test_predecessors_are_exactly_the_preimages(size: int) -> None:
    env = FourRoom(size, 100)
    for target in range(env.n_states):
        listed = env.predecessors(target)
        assert len(set(listed)) == len(listed)
        assert all(env.step(prev, action) == target and prev != env.goal for prev, action in listed)
        preimage = {(s, a) for s in range(env.n_states) for a in range(4)
                    if s != env.goal and env.step(s, a) == target}
        assert set(listed) == preimage
        moved = env.predecessors(target, self_loops=False)
        assert set(moved) == {(s, a) for s, a in preimage if s != target}
    assert (env.start, UP) in env.predecessors(env.start)  # bumping the wall is a self-loop


def test_true_traces_are_valid_forward_trajectories_and_uniform() -> None:
    env = FourRoom(11, 100)
    model = TrueBacktrackingModel(env)
    rng = np.random.default_rng(0)
    ends = rng.integers(0, env.n_states, 200)
    states, actions = model.sample_traces(ends, 12, rng)
    assert states.shape == (200, 13) and actions.shape == (200, 12)
    assert (states[:, -1] == ends).all()
    assert (env.next_state[states[:, :-1], actions] == states[:, 1:]).all()
    assert (states[:, :-1] != env.goal).all()
    one_states, one_actions = model.sample_trace(env.goal, 5, rng)
    assert one_states[-1] == env.goal and len(one_actions) == 5
    # one backward step is uniform over the predecessors
    target = int(env.index[2, 2])
    pairs = env.predecessors(target)
    prev, acts = env.sample_predecessors(np.full(40_000, target), rng)
    counts = {pair: 0 for pair in pairs}
    for pair in zip(prev.tolist(), acts.tolist(), strict=True):
        counts[pair] += 1
    assert max(abs(c / 40_000 - 1 / len(pairs)) for c in counts.values()) < 0.01
    no_loops = TrueBacktrackingModel(env, self_loops=False).sample_traces(ends, 12, rng)[0]
    assert (no_loops[:, :-1] != no_loops[:, 1:]).all()


# ------------------------------------------------------------------------------------------------------ PER
def test_per_probabilities_sampling_frequencies_and_weights() -> None:
    replay = PrioritizedReplay(8, {"x": np.int64}, alpha=0.5, eps=0.1)
    replay.add(x=np.arange(4))
    assert np.allclose(replay.probabilities(), 0.25)  # new rows get the max priority (1.0)
    td = np.array([0.0, 0.5, 1.5, 3.9])
    replay.update_priorities(np.arange(4), td)
    p = (np.abs(td) + 0.1) ** 0.5
    expected = p / p.sum()
    assert np.allclose(replay.probabilities(), expected)
    rng = np.random.default_rng(0)
    idx, weights = replay.sample(200_000, beta=0.7, rng=rng)
    frequencies = np.bincount(idx, minlength=4) / len(idx)
    assert np.abs(frequencies - expected).max() < 0.005
    w = (4 * expected) ** -0.7
    assert np.allclose(weights, (w / w.max())[idx])
    assert weights.max() <= 1.0 and np.isclose(replay.weights(np.array([0]), 0.7)[0], 1.0)  # the rarest row
    # raising one priority raises its probability and lowers the others proportionally
    replay.update_priorities(np.array([0]), np.array([10.0]))
    p[0] = 10.1**0.5
    assert np.allclose(replay.probabilities(), p / p.sum())
    assert replay.max_priority == pytest.approx(10.1**0.5)
    new = replay.add(x=np.array([9]))
    assert replay.priorities[new[0]] == pytest.approx(10.1**0.5) and replay.size == 5
    assert annealed_beta(0.4, 0.0) == 0.4 and annealed_beta(0.4, 0.5) == pytest.approx(0.7)
    assert annealed_beta(0.4, 2.0) == 1.0


def test_per_overwrites_oldest_rows() -> None:
    replay = PrioritizedReplay(3, {"x": np.int64})
    replay.add(x=np.array([1, 2]))
    replay.add(x=np.array([3, 4]))
    assert replay.size == 3 and sorted(replay.data["x"].tolist()) == [2, 3, 4]


# ---------------------------------------------------------------------------------- learned backtracking
def test_learned_model_likelihood_improves_and_traces_follow_the_dynamics() -> None:
    env = FourRoom(7, 100)
    rng = np.random.default_rng(0)
    states = rng.integers(0, env.n_states, 5000)
    states = states[states != env.goal]
    actions = rng.integers(0, 4, len(states))
    data = np.stack([states, actions, env.next_state[states, actions]], 1)
    model = LearnedBacktrackingModel(env.n_states, 4, lr=0.3)
    model.observe(data[:, 0], data[:, 1], data[:, 2])
    before = model.mean_nll(data)
    assert before == pytest.approx(np.log(4) + np.log(env.n_states), rel=1e-5)  # uniform at the start
    model.fit(5, 256, rng)
    early = model.mean_nll(data)
    model.fit(300, 256, rng)
    after = model.mean_nll(data)
    # the maximum-likelihood optimum: empirical q(a|s') · q(s|s',a) from counts
    n_sa = np.zeros((env.n_states, 4))
    np.add.at(n_sa, (data[:, 2], data[:, 1]), 1)
    n_ssa = np.zeros((env.n_states, 4, env.n_states))
    np.add.at(n_ssa, (data[:, 2], data[:, 1], data[:, 0]), 1)
    optimum = -np.mean(np.log(n_sa[data[:, 2], data[:, 1]] / n_sa.sum(1)[data[:, 2]])
                       + np.log(n_ssa[data[:, 2], data[:, 1], data[:, 0]] / n_sa[data[:, 2], data[:, 1]]))
    assert before - 0.5 > early > after
    assert optimum <= after < optimum + 0.1  # near the optimum (minibatch noise of Adam at lr 0.3 remains)
    trace_states, trace_actions = model.sample_traces(np.full(300, env.goal), 6, rng)
    valid = env.next_state[trace_states[:, :-1], trace_actions] == trace_states[:, 1:]
    assert valid.mean() > 0.95 and (trace_states[:, -1] == env.goal).all()


def test_row_sampler_matches_probabilities() -> None:
    rng = np.random.default_rng(0)
    probs = rng.random((4, 6)) ** 3
    probs[1] = [0, 0, 1, 0, 0, 0]
    probs /= probs.sum(1, keepdims=True)
    rows = np.repeat(np.arange(4), 50_000)
    draws = RowSampler(probs).sample(rows, rng)
    frequencies = np.array([np.bincount(draws[rows == r], minlength=6) / 50_000 for r in range(4)])
    assert np.abs(frequencies - probs).max() < 0.01 and (draws[rows == 1] == 2).all()


# ------------------------------------------------------------------------------------------ agents, returns
def test_nstep_returns_bootstrap_terminal_and_timeout() -> None:
    values = np.array([0.0, 0.5, 0.8, 0.2])
    rewards = np.array([[0.0], [1.0], [0.0], [0.0]])
    next_states = np.array([[1], [3], [2], [1]])
    terminated = np.array([[False], [True], [False], [False]])
    truncated = np.array([[False], [False], [True], [False]])
    g = nstep_returns(rewards, next_states, terminated, truncated, values, 0.9)[:, 0]
    assert g[3] == pytest.approx(0.9 * 0.5)  # rollout end: bootstrap V(s')
    assert g[2] == pytest.approx(0.9 * 0.8)  # timeout: bootstrap V(s'), not the next episode
    assert g[1] == pytest.approx(1.0)  # terminal: no bootstrap
    assert g[0] == pytest.approx(0.9 * 1.0)


def test_agents_share_exploration_until_the_first_reward() -> None:
    env = FourRoom(11, 121)
    config = FourRoomConfig(size=11, total_steps=4096, eval_every=1024, n_traces=64, per_batch=64, per_updates=2)
    runs = {agent: train_agent(agent, env, config, seed=5) for agent in AGENTS}
    firsts = {run.first_reward for run in runs.values()}
    assert len(firsts) == 1 and None not in firsts
    for run in runs.values():
        assert run.steps == list(range(0, 4097, 1024)) and len(run.success) == len(run.steps)
        assert run.visits.sum() == 4096 and (run.visits_learning <= run.visits).all()
    again = train_agent("recall-true", env, config, seed=5)
    assert again.success == runs["recall-true"].success


# -------------------------------------------------------------------------------------- experiment and CLI
def test_run_fourroom_writes_every_output_and_refuses_to_overwrite(tmp_path: Path) -> None:
    config = FourRoomConfig(size=7, seeds=2, total_steps=3072, eval_every=512, n_traces=32, model_updates=2,
                            per_batch=64, per_updates=2)
    out = tmp_path / "fourroom"
    lines: list[str] = []
    record = run_fourroom(config, out, progress=lines.append)
    assert lines and "Four-Room 7×7" in lines[0]
    for name in ("curves.csv", "curves.json", "runs.csv", "results.md", "reward_vs_steps.png", "config.json",
                 *(f"visits_{agent}.png" for agent in AGENTS)):
        assert (out / name).stat().st_size > 0, name
    header = (out / "curves.csv").read_text().splitlines()[0].split(",")
    assert header == ["agent", "seed", "steps", "success", "train_success"]
    saved = json.loads((out / "curves.json").read_text())
    assert {row["agent"] for row in saved["curves"]} == set(AGENTS)
    assert len(saved["runs"]) == 2 * len(AGENTS) and saved["runs"] == json.loads(json.dumps(record["runs"]))
    assert [row["agent"] for row in saved["table"]] == list(AGENTS)
    table = (out / "results.md").read_text()
    assert "AC + recall traces (true model)" in table and "ratio AC / agent" in table and "converged" in table
    assert json.loads((out / "config.json").read_text())["config"]["size"] == 7
    assert not list(out.glob(".*tmp*"))
    with pytest.raises(OutputExistsError):
        run_fourroom(config, out)
    smaller = dataclasses.replace(config, agents="ac", seeds=1)
    run_fourroom(smaller, out, force=True)
    assert {row["agent"] for row in json.loads((out / "curves.json").read_text())["curves"]} == {"ac"}


def test_cli_runs_and_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    recall_main(["fourroom", "--size", "7", "--seeds", "1", "--agents", "ac,recall-true", "--total-steps", "2048",
                 "--eval-every", "512", "--n-traces", "16", "--out", str(out)])
    captured = capsys.readouterr()
    assert "| Actor-Critic |" in captured.out and "ac seed 0" in captured.err
    for argv in (["fourroom", "--size", "8", "--out", str(tmp_path / "x")],
                 ["fourroom", "--agents", "ac,dqn", "--out", str(tmp_path / "y")],
                 ["fourroom", "--size", "7", "--out", str(out)]):  # exists, no --force
        with pytest.raises(SystemExit) as exit_info:
            recall_main(argv)
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.startswith("trajaug: error:")


def test_steps_to_threshold() -> None:
    assert steps_to([0, 10, 20], [0.1, 0.95, 0.5], 0.9) == 10
    assert steps_to([0, 10], [0.1, 0.2], 0.9) is None


# ---------------------------------------------------------------------------------------------- behaviour
def test_recall_traces_with_the_true_model_learn_size_11_reliably() -> None:
    """On an 11 × 11 Four-Room, actor-critic + recall traces (true model) reaches 0.9 success within 20k steps in
    every seed, stays there, and learns faster after its first reward than plain actor-critic (same seeds, so the
    same exploration until then)."""
    config = FourRoomConfig(size=11, total_steps=20_480, eval_every=512)
    env = FourRoom(11, config.episode_steps())
    after = {"ac": [], "recall-true": []}
    for seed in (0, 1, 2):
        for agent in after:
            run = train_agent(agent, env, config, seed)
            reached = steps_to(run.steps, run.success, 0.9)
            assert run.first_reward is not None
            if agent == "recall-true":
                assert reached is not None and reached <= 10_000, (seed, reached)
                assert min(run.success[-5:]) >= 0.9, (seed, run.success[-5:])
            after[agent].append((reached if reached is not None else config.total_steps) - run.first_reward)
    assert np.mean(after["recall-true"]) < np.mean(after["ac"])
