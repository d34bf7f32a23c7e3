"""Offline RL (TD3+BC, IQL): learning on a small task, Bellman targets at terminals and timeouts, the replay rules,
checkpoints, determinism, and the shared evaluation on a task without D4RL scores."""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.offrl import IQL, TD3BC, Actor, IQLConfig, TD3BCConfig, load_checkpoint, train_offrl
from trajaug.offrl.checkpoint import CHECKPOINT_KEYS
from trajaug.offrl.nets import TwinQ
from trajaug.offrl.replay import (
    Replay,
    Transitions,
    episode_subset,
    observation_stats,
    return_range_scale,
    transitions,
)
from trajaug.offrl.train import load_dataset
from trajaug.sim.evaluate import evaluate_policy
from trajaug.sim.rollout import Job, rollout
from trajaug.storage.d4rl import read_d4rl, write_d4rl

ENV = "InvertedPendulum-v5"
GAINS = np.array([1.0, 10.0, 0.5, 1.0])
"""A linear controller a = K·s that balances InvertedPendulum-v5 for all 1000 steps; with N(0, 1.5²) noise on its
actions its episodes end after ≈ 60 steps (the pole falls: a terminal)."""


def scripted_data(episodes: int, sigma: float = 1.5, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)

    def controller(jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
        return observations @ GAINS[:, None] + sigma * rng.normal(size=(len(observations), 1))

    _, recorded = rollout(ENV, [Job(seed=i) for i in range(episodes)], controller, n_envs=10)
    assert recorded is not None
    return Dataset(**recorded)


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """30 noisy-controller episodes of InvertedPendulum-v5, through a D4RL HDF5 file and back."""
    path = write_d4rl(scripted_data(30), tmp_path_factory.mktemp("data") / "inverted_pendulum.hdf5")
    return read_d4rl(path)


class RandomPolicy(torch.nn.Module):
    """Uniform random actions in the task's box (a seeded generator)."""

    def __init__(self, bound: float, seed: int = 0) -> None:
        super().__init__()
        self.bound, self.generator = bound, torch.Generator().manual_seed(seed)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (torch.rand(len(obs), 1, generator=self.generator) * 2 - 1) * self.bound


@pytest.mark.parametrize(("algo", "config"), [("td3bc", TD3BCConfig(steps=1500, hidden=(64, 64))),
                                              ("iql", IQLConfig(steps=3000, hidden=(64, 64)))])
def test_learns_inverted_pendulum_beyond_a_random_policy(pendulum: Dataset, algo: str, config: object) -> None:
    """Both learn a policy far better than random from noisy demos (data ≈ 60 per episode, random ≈ 5; measured
    here: TD3+BC 1000 (the full episode) for seeds 0–2 at 1500 updates, IQL 150–200 at 3000)."""
    random = evaluate_policy(RandomPolicy(3.0), ENV, episodes=5, seed=0)
    policy, metrics = train_offrl(pendulum, algo, config, seed=0, eval_every=1000, eval_episodes=5,
                                  eval_noise=(0.0,))
    final = metrics["final"][0]
    assert final["return_mean"] > max(10 * random.mean, pendulum.episode_returns().mean()), (final, random.mean)
    assert math.isnan(final["normalized_mean"])  # no D4RL reference scores for this task
    assert metrics["best"][0]["return_mean"] >= final["return_mean"]
    assert metrics["replay"]["terminals"] == 30 and metrics["replay"]["dropped_rows"] == 0
    assert policy.action_scale.tolist() == [3.0] and not policy.training


def three_transitions() -> Dataset:
    """Row 0 inside an episode, row 1 its terminal end, row 2 a one-step episode cut by a timeout."""
    obs = np.array([[0.1, 0.2], [0.3, -0.1], [-0.2, 0.4]], np.float32)
    nxt = np.array([[0.3, -0.1], [0.5, 0.5], [0.7, -0.6]], np.float32)
    return Dataset(obs, np.array([[0.5], [-0.25], [0.75]], np.float32), np.array([1.0, 2.0, 3.0], np.float32), nxt,
                   np.array([False, True, False]), np.array([False, False, True]))


def replay_of(dataset: Dataset) -> Replay:
    data = transitions(dataset)
    return Replay(data, *observation_stats(data.observations, 0.0, normalize=False))


def test_td3bc_target_bootstraps_at_a_timeout_not_at_a_terminal() -> None:
    torch.manual_seed(0)
    learner = TD3BC(TD3BCConfig(hidden=(8, 8)), Actor(2, 1, (8, 8)), seed=0)
    batch = replay_of(three_transitions()).batch(torch.arange(3))
    assert batch.not_done.tolist() == [1.0, 0.0, 1.0]
    noise = torch.tensor([[3.0], [0.0], [-0.1]])  # row 0's smoothing, 0.6, is clipped at c = 0.5
    y = learner.target(batch, noise)
    with torch.no_grad():
        smoothing = (noise * 0.2).clamp(-0.5, 0.5)  # σ̃ = 0.2, c = 0.5, bound 1
        next_action = (learner.actor_target(batch.next_observations) + smoothing).clamp(-1, 1)
        next_q = learner.critic_target(torch.cat([batch.next_observations, next_action], 1)).min(0).values
    assert y[1].item() == 2.0  # terminal: r alone, no γ·Q(s') term
    for row in (0, 2):  # inside the episode and at the timeout: r + γ min_k Q'_k(s', ã')
        assert y[row].item() == pytest.approx(batch.rewards[row].item() + 0.99 * next_q[row].item(), abs=1e-6)
        assert abs(y[row].item() - batch.rewards[row].item()) > 1e-4


def test_iql_target_bootstraps_at_a_timeout_not_at_a_terminal() -> None:
    torch.manual_seed(0)
    learner = IQL(IQLConfig(hidden=(8, 8)), Actor(2, 1, (8, 8)), seed=0)
    batch = replay_of(three_transitions()).batch(torch.arange(3))
    y = learner.target(batch)
    with torch.no_grad():
        next_v = learner.value(batch.next_observations).squeeze(-1)
    assert y[1].item() == 2.0
    for row in (0, 2):
        assert y[row].item() == pytest.approx(batch.rewards[row].item() + 0.99 * next_v[row].item(), abs=1e-6)
        assert abs(y[row].item() - batch.rewards[row].item()) > 1e-4


def write_without_next(path: Path, terminals: list[bool], timeouts: list[bool], rewards: list[float]) -> Path:
    n = len(terminals)
    with h5py.File(path, "w") as f:
        f["observations"] = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
        f["actions"] = np.zeros((n, 1), np.float32)
        f["rewards"] = np.array(rewards, np.float32)
        f["terminals"], f["timeouts"] = np.array(terminals), np.array(timeouts)
    return path


def test_file_without_next_observations_drops_only_unknown_successors(tmp_path: Path) -> None:
    """Rebuilt next states are observations[i+1] inside episodes; a timeout row at an episode's end has none (left
    out, as d4rl does), a terminal row needs none (kept)."""
    path = write_without_next(tmp_path / "no_next.hdf5", [False, False, False, False, True],
                              [False, False, True, False, False], [1, 2, 3, 4, 5])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(str(path))
    assert not [w for w in caught if "next_observations" in str(w.message)]
    data = transitions(dataset)
    assert len(data) == 4 and data.dropped == 1 and data.timeouts == 0
    assert data.rewards.tolist() == [1, 2, 4, 5] and data.terminals.tolist() == [False, False, False, True]
    np.testing.assert_array_equal(data.next_observations[0], dataset.observations[1])
    stored = dataset.take_rows(np.arange(5))  # the same rows with a real next state at the timeout
    real_next = np.array(stored.next_observations)
    real_next[2] += 1.0
    kept = transitions(Dataset(stored.observations, stored.actions, stored.rewards, real_next, stored.terminals,
                               stored.timeouts))
    assert len(kept) == 5 and kept.timeouts == 1 and kept.dropped == 0
    lonely = write_without_next(tmp_path / "lonely.hdf5", [False, False], [True, True], [1, 1])
    with pytest.raises(TrajaugInputError, match="no transition has a known next state"):
        transitions(load_dataset(str(lonely)))


def test_reward_scaling_iql_only(pendulum: Dataset) -> None:
    returns = pendulum.episode_returns()
    assert IQL.reward_scale(IQLConfig(), pendulum) == pytest.approx(1000 / (returns.max() - returns.min()))
    assert IQL.reward_scale(IQLConfig(scale_rewards=False), pendulum) == 1.0
    assert TD3BC.reward_scale(TD3BCConfig(), pendulum) == 1.0
    assert return_range_scale(pendulum.first_episodes(1)) is None
    with pytest.warns(UserWarning, match="unscaled"):
        assert IQL.reward_scale(IQLConfig(), pendulum.first_episodes(1)) == 1.0


def weights(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    return torch.load(path, weights_only=True)["networks"]


def same(a: dict[str, dict[str, torch.Tensor]], b: dict[str, dict[str, torch.Tensor]]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])


@pytest.mark.parametrize(("algo", "config"), [("td3bc", TD3BCConfig(steps=60, hidden=(16, 16), batch_size=32)),
                                              ("iql", IQLConfig(steps=60, hidden=(16, 16), batch_size=32))])
def test_same_seed_same_weights_whatever_the_evaluation(pendulum: Dataset, tmp_path: Path, algo: str,
                                                       config: object) -> None:
    runs = {}
    for name, seed, every in (("a", 0, 20), ("b", 0, 0), ("c", 1, 0)):
        train_offrl(pendulum, algo, config, tmp_path / name, seed=seed, eval_every=every, eval_episodes=1,
                    eval_noise=(0.0,))
        runs[name] = weights(tmp_path / name / "policy.pt")
    assert same(runs["a"], runs["b"])  # evaluating in between draws nothing from the learner's generators
    assert not same(runs["a"], runs["c"])


def test_checkpoint_round_trip(pendulum: Dataset, tmp_path: Path) -> None:
    policy, metrics = train_offrl(pendulum, "iql", IQLConfig(steps=40, hidden=(16, 16), batch_size=32),
                                  tmp_path / "run", seed=3, eval_every=20, eval_episodes=2)
    payload = torch.load(tmp_path / "run" / "policy.pt", weights_only=True)
    assert set(CHECKPOINT_KEYS) <= set(payload) and payload["algorithm"] == "iql" and payload["seed"] == 3
    tensors = [t for net in payload["networks"].values() for t in net.values()] + list(payload["policy"].values())
    assert all(t.device.type == "cpu" for t in tensors)
    assert set(payload["networks"]) == {"actor", "value", "critic", "critic_target", "log_std"}
    loaded = load_checkpoint(tmp_path / "run" / "policy.pt")
    obs = pendulum.observations[:7]
    np.testing.assert_array_equal(loaded.policy.act(obs), policy.act(obs))
    assert loaded.env_id == ENV and loaded.config["config"]["steps"] == 40
    curve = loaded.metrics["final"]
    assert [e["action_noise"] for e in curve] == [0.0, 0.1] and metrics["best"][0]["step"] in (20, 40)
    for name in ("config.json", "curve.json", "curve.png", "metrics.json"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    with pytest.raises(FileExistsError, match="not empty"):
        train_offrl(pendulum, "iql", IQLConfig(steps=1), tmp_path / "run", eval_episodes=0)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"no zip")
    with pytest.raises(TrajaugInputError, match="garbage.pt"):
        load_checkpoint(garbage)


def test_iql_one_adam_step_equals_three_sequential_steps(pendulum: Dataset) -> None:
    """The merged update (one backward, one Adam with three groups) against CORL's V → Q → actor sequence."""
    config = IQLConfig(steps=10, hidden=(16, 16), batch_size=32)
    data = transitions(pendulum)
    batches = [Replay(data, *observation_stats(data.observations, 1e-3, True), seed=5).sample(32) for _ in range(5)]
    torch.manual_seed(0)
    merged = IQL(config, Actor(4, 1, (16, 16)), seed=0)
    torch.manual_seed(0)
    ref = IQL(config, Actor(4, 1, (16, 16)), seed=0)
    v_opt = torch.optim.Adam(ref.value.parameters(), lr=config.lr)
    q_opt = torch.optim.Adam(ref.critic.parameters(), lr=config.lr)
    a_opt = torch.optim.Adam([*ref.actor.parameters(), ref.log_std], lr=config.lr)
    for t, batch in enumerate(batches):
        merged.update(batch)
        y = ref.target(batch)
        with torch.no_grad():
            target_q = ref.critic_target(batch.observations_actions).min(0).values
        adv = target_q - ref.value(batch.observations).squeeze(-1)
        q_loss = sum(torch.nn.functional.mse_loss(q, y) for q in ref.critic(batch.observations_actions)) / 2
        for opt, loss in ((v_opt, (torch.abs(0.7 - (adv < 0).float()) * adv**2).mean()), (q_opt, q_loss)):
            opt.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            opt.step()
        with torch.no_grad():
            for target, source in zip(ref.critic_target.parameters(), ref.critic.parameters(), strict=True):
                target.copy_((1 - config.tau) * target + config.tau * source)
        dist = torch.distributions.Normal(ref.actor.forward_normalized(batch.observations),
                                          torch.exp(ref.log_std.clamp(-20, 2)))
        actor_loss = torch.mean(torch.exp(3.0 * adv.detach()).clamp(max=100) * -dist.log_prob(batch.actions).sum(-1))
        a_opt.param_groups[0]["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * t / config.steps))
        a_opt.zero_grad()
        actor_loss.backward()
        a_opt.step()
    for name, module in merged.networks().items():
        for (key, a), b in zip(module.state_dict().items(), ref.networks()[name].state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"{name}.{key}")


def test_td3bc_update_is_corl_s(pendulum: Dataset) -> None:
    """Five updates against CORL's TD3_BC.train written out (two critics with their own losses summed, the actor
    every 2nd update on critic 1, Polyak loops), from the same weights, batches and smoothing noise."""
    import copy

    config = TD3BCConfig(steps=10, hidden=(16, 16), batch_size=32)
    data = transitions(pendulum)
    replay = Replay(data, *observation_stats(data.observations, 1e-3, True), seed=5)
    batches = [replay.sample(32) for _ in range(5)]
    torch.manual_seed(0)
    actor = Actor(4, 1, (16, 16))
    actor.action_scale.fill_(3.0)
    ours = TD3BC(config, actor, seed=7)
    ref_actor, (critic_1, critic_2) = copy.deepcopy(ours.actor), copy.deepcopy(list(ours.critic.qs))
    targets = [copy.deepcopy(m) for m in (ref_actor, critic_1, critic_2)]
    actor_opt = torch.optim.Adam(ref_actor.parameters(), lr=3e-4)
    critic_opt = torch.optim.Adam([*critic_1.parameters(), *critic_2.parameters()], lr=3e-4)
    noise = torch.Generator().manual_seed(7)
    for it, batch in enumerate(batches, start=1):
        ours.update(batch)
        s, a, s2 = batch.observations, batch.actions, batch.next_observations
        with torch.no_grad():
            eps = (torch.randn(a.shape, generator=noise) * 0.2 * 3).clamp(-1.5, 1.5)  # σ̃, c × max_action, as TD3_BC
            a2 = (targets[0].forward_normalized(s2) + eps).clamp(-3, 3)
            sa2 = torch.cat([s2, a2], 1)
            y = batch.rewards[:, None] + batch.not_done[:, None] * 0.99 * torch.min(targets[1](sa2), targets[2](sa2))
        sa = torch.cat([s, a], 1)
        critic_loss = F.mse_loss(critic_1(sa), y) + F.mse_loss(critic_2(sa), y)
        critic_opt.zero_grad()
        critic_loss.backward()
        critic_opt.step()
        if it % 2 == 0:
            pi = ref_actor.forward_normalized(s)
            q = critic_1(torch.cat([s, pi], 1))
            actor_loss = -2.5 / q.abs().mean().detach() * q.mean() + F.mse_loss(pi, a)
            actor_opt.zero_grad()
            actor_loss.backward()
            actor_opt.step()
            with torch.no_grad():
                for target, source in zip(targets, (ref_actor, critic_1, critic_2), strict=True):
                    for tp, sp in zip(target.parameters(), source.parameters(), strict=True):
                        tp.copy_((1 - 0.005) * tp + 0.005 * sp)
    pairs = [(ours.actor, ref_actor), (ours.actor_target, targets[0]),
             *zip(ours.critic.qs, (critic_1, critic_2), strict=True),
             *zip(ours.critic_target.qs, targets[1:], strict=True)]
    for mine, theirs in pairs:
        for a_, b_ in zip(mine.state_dict().values(), theirs.state_dict().values(), strict=True):
            torch.testing.assert_close(a_, b_, rtol=1e-5, atol=1e-6)


def test_twin_q_first_head_passes_gradients_to_its_input_only() -> None:
    torch.manual_seed(0)
    twin = TwinQ(5, (7, 3))
    x = torch.randn(11, 5, requires_grad=True)
    q = twin.first(x)
    torch.testing.assert_close(q, twin(x)[0])
    assert not torch.equal(twin(x)[0], twin(x)[1])  # independently initialised
    q.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in twin.parameters())


def test_bad_input(pendulum: Dataset) -> None:
    with pytest.raises(TrajaugInputError, match="empty"):
        train_offrl(pendulum.take_rows(np.zeros(0, dtype=np.int64)), "td3bc", eval_episodes=0)
    with pytest.raises(TrajaugInputError, match="unknown algorithm 'sac'"):
        train_offrl(pendulum, "sac")
    with pytest.raises(TrajaugInputError, match="expected a IQLConfig"):
        train_offrl(pendulum, "iql", TD3BCConfig())
    for bad in ({"steps": 0}, {"tau": 0.0}, {"hidden": ()}):
        with pytest.raises(TrajaugInputError):
            TD3BCConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(TrajaugInputError, match="expectile"):
        IQLConfig(expectile=1.0)


def test_shared_evaluation_without_reference_scores() -> None:
    result = evaluate_policy(RandomPolicy(3.0), ENV, episodes=3, seed=0)
    assert math.isnan(result.normalized_mean) and math.isnan(result.normalized_ci95) and result.mean > 0
    assert "no D4RL reference scores" in result.summary()
    for task in ("CartPole-v1", "Pendulum-v1"):  # not MuJoCo tasks: the simulator layer cannot step them
        with pytest.raises(TrajaugInputError, match=f"unknown environment '{task}' for evaluation"):
            evaluate_policy(RandomPolicy(1.0), task, episodes=1)
    with pytest.raises(TrajaugInputError, match="unknown environment 'NoSuchTask-v0'"):
        evaluate_policy(RandomPolicy(1.0), "NoSuchTask-v0", episodes=1)


def marked(rows: int, first: float, reward: float) -> Transitions:
    """``rows`` transitions whose first observation coordinate is ``first`` + the row and whose reward is
    ``reward``: a drawn row tells which part and which row it came from."""
    rng = np.random.default_rng(rows)
    observations = rng.normal(size=(rows, 3)).astype(np.float32)
    observations[:, 0] = first + np.arange(rows)
    return Transitions(observations, rng.normal(size=(rows, 1)).astype(np.float32), np.full(rows, reward, np.float32),
                       rng.normal(size=(rows, 3)).astype(np.float32), np.zeros(rows, bool), 0, 0)


@pytest.mark.parametrize(("ratio", "batch", "real"), [(0.5, 256, 128), (0.25, 256, 64), (0.3, 100, 30),
                                                      (0.0, 64, 0), (1.0, 64, 64)])
def test_every_minibatch_holds_the_real_ratio_of_real_rows(ratio: float, batch: int, real: int) -> None:
    replay = Replay(marked(50, 0.0, 1.0), np.zeros(3), np.ones(3), seed=4, synthetic=marked(400, 1000.0, -1.0),
                    real_ratio=ratio)
    drawn = [replay.sample(batch) for _ in range(300)]
    assert [int((b.rewards > 0).sum()) for b in drawn] == [real] * 300  # exactly round(ratio · B) real rows
    assert all(bool((b.rewards[:real] > 0).all()) for b in drawn)  # real first, then synthetic
    rows = torch.cat([b.observations[:, 0] for b in drawn]).round().long().numpy()
    real_rows, synthetic_rows = rows[rows < 1000], rows[rows >= 1000] - 1000
    for part, size, count in ((real_rows, 50, real), (synthetic_rows, 400, batch - real)):
        assert len(part) == 300 * count
        if count:  # uniform within each part: every row drawn, none far from its expected count
            counts = np.bincount(part, minlength=size)
            expected = 300 * count / size
            assert counts.min() > 0 and np.abs(counts - expected).max() < 6 * np.sqrt(expected)


def test_a_replay_without_synthetic_draws_as_before() -> None:
    data = marked(70, 0.0, 1.0)
    replay, reference = Replay(data, np.zeros(3), np.ones(3), seed=9), torch.Generator().manual_seed(9)
    assert replay.real == len(replay) == 70
    for _ in range(3):  # the plain buffer's uniform draw over all rows, as it was written before mixing existed
        index = torch.randint(0, 70, (32,), generator=reference)
        assert torch.equal(replay.sample(32).observations, torch.from_numpy(data.observations[index.numpy()]))
    with pytest.raises(TrajaugInputError, match="real_ratio"):
        Replay(data, np.zeros(3), np.ones(3), synthetic=data, real_ratio=1.5)


def actor_weights(actor: Actor) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in actor.state_dict().items()}


def identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.parametrize(("algo", "config"), [("td3bc", TD3BCConfig(steps=60, hidden=(16, 16), batch_size=32)),
                                              ("iql", IQLConfig(steps=60, hidden=(16, 16), batch_size=32))])
def test_without_a_synthetic_set_a_run_is_unchanged_bit_for_bit(pendulum: Dataset, algo: str,
                                                                config: object) -> None:
    def trained(**options: object) -> dict[str, torch.Tensor]:
        return actor_weights(train_offrl(pendulum, algo, config, seed=1, eval_episodes=0, **options)[0])

    plain = trained()
    other = scripted_data(10, seed=5)  # another set of the same task, as a "synthetic" one
    assert identical(trained(real_ratio=0.25), plain)  # a ratio without a synthetic set changes nothing
    assert identical(trained(subset=1.0), plain)  # the whole dataset
    assert identical(trained(synthetic=other, real_ratio=1.0), plain)  # no synthetic row drawn; real statistics
    mixed = trained(synthetic=other)
    assert mixed.keys() == plain.keys() and not identical(mixed, plain)


def test_synthetic_run_records_the_mix_and_refuses_another_task(pendulum: Dataset) -> None:
    other = scripted_data(10, seed=5)
    _, metrics = train_offrl(pendulum, "td3bc", TD3BCConfig(steps=20, hidden=(8, 8), batch_size=16), seed=0,
                             eval_episodes=0, synthetic=other, real_ratio=0.75)
    assert metrics["synthetic"]["real_ratio"] == 0.75 and metrics["synthetic"]["transitions"] == len(other)
    assert metrics["replay"]["transitions"] == len(pendulum) and "subset" not in metrics
    cheetah = dataclasses.replace(other, observations=np.zeros((len(other), 17), np.float32),
                                  next_observations=np.zeros((len(other), 17), np.float32))
    with pytest.raises(TrajaugInputError, match="synthetic: observations and actions of size 17 and 1"):
        train_offrl(pendulum, "td3bc", eval_episodes=0, synthetic=cheetah)
    with pytest.raises(TrajaugInputError, match="synthetic: holds Hopper-v5 data"):
        train_offrl(pendulum, "td3bc", eval_episodes=0, synthetic=dataclasses.replace(other, env_id="Hopper-v5"))
    for bad in (0.0, 1.5, math.nan):
        with pytest.raises(TrajaugInputError, match="subset"):
            train_offrl(pendulum, "td3bc", eval_episodes=0, subset=bad)
    with pytest.raises(TrajaugInputError, match="real_ratio"):
        train_offrl(pendulum, "td3bc", eval_episodes=0, synthetic=other, real_ratio=-0.1)


@pytest.mark.parametrize("fraction", [0.15, 0.5, 0.9])
def test_subset_is_whole_episodes_holding_the_fraction_and_is_seeded(pendulum: Dataset, fraction: float) -> None:
    target = math.ceil(fraction * len(pendulum))
    episodes = [e.observations.tobytes() for e in pendulum.episodes()]
    for seed in (0, 1):
        subset = episode_subset(pendulum, fraction, seed)
        lengths = subset.episode_lengths()
        assert target <= len(subset) and len(subset) - lengths.max() < target  # one episode fewer is too few
        found = [episodes.index(e.observations.tobytes()) for e in subset.episodes()]  # each a whole episode
        assert found == sorted(found) and len(set(found)) == subset.n_episodes  # in the dataset's order
        again = episode_subset(pendulum, fraction, seed)
        assert np.array_equal(again.observations, subset.observations)  # the seed fixes it
    first, second = (episode_subset(pendulum, fraction, seed).observations for seed in (0, 1))
    assert first.shape != second.shape or not np.array_equal(first, second)
    assert episode_subset(pendulum, 1.0, 0) is pendulum
    for bad in (0.0, -0.5, 1.5, math.nan):
        with pytest.raises(TrajaugInputError, match=r"not a fraction in \(0, 1\]"):
            episode_subset(pendulum, bad, 0)
    _, metrics = train_offrl(pendulum, "iql", IQLConfig(steps=10, hidden=(8, 8), batch_size=16), seed=1,
                             eval_episodes=0, subset=fraction)
    expected = episode_subset(pendulum, fraction, 1)  # train_offrl draws it with the run's seed
    assert metrics["subset"] == {"fraction": fraction, "seed": 1, "episodes": expected.n_episodes,
                                 "transitions": len(expected), "of_transitions": len(pendulum)}
    assert metrics["dataset"]["transitions"] == len(expected)
