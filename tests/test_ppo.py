"""trajaug's PPO (adversarial.ppo): the same weights as stable-baselines3's PPO at the same seed, SB3's parameter
names, and GAE(λ) as the formula gives it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trajaug.augment.adversarial.config import AdversarialConfig
from trajaug.augment.adversarial.ppo import ActorCritic, Rollout, learn
from trajaug.core.cores import CORES_VARIABLE

SETTINGS = AdversarialConfig(n_steps=64, ppo_batch_size=32, ppo_epochs=2, ppo_lr=3e-4, gamma=0.99, gae_lambda=0.95)
HIDDEN, LOG_STD_INIT, SEED = (32, 32), -0.5, 3


def _pendulums():  # type: ignore[no-untyped-def]
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([lambda: gym.make("Pendulum-v1") for _ in range(2)])


def _sb3_weights(steps: int) -> dict[str, torch.Tensor]:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", _pendulums(), n_steps=SETTINGS.n_steps, batch_size=SETTINGS.ppo_batch_size,
                n_epochs=SETTINGS.ppo_epochs, learning_rate=SETTINGS.ppo_lr, gamma=SETTINGS.gamma,
                gae_lambda=SETTINGS.gae_lambda, seed=SEED, device="cpu", verbose=0,
                policy_kwargs={"net_arch": {"pi": list(HIDDEN), "vf": list(HIDDEN)}, "activation_fn": torch.nn.Tanh,
                               "log_std_init": LOG_STD_INIT})
    model.learn(steps)
    return {name: value.detach().clone() for name, value in model.policy.state_dict().items()}


def _our_weights(steps: int, calls: list[int]) -> dict[str, torch.Tensor]:
    torch.manual_seed(SEED)
    policy = ActorCritic(3, 1, HIDDEN, LOG_STD_INIT)
    learn(policy, _pendulums(), SETTINGS, steps, SEED, calls.append)
    return {name: value.detach().clone() for name, value in policy.state_dict().items()}


def test_learn_gives_stable_baselines3_ppo_weights_bit_for_bit() -> None:
    # 4 rollouts of 2 × 64 steps: Pendulum's 200-step time limit is crossed, so the bootstrap on truncation counts
    calls: list[int] = []
    ours, theirs = _our_weights(512, calls), _sb3_weights(512)
    assert calls == [128, 256, 384, 512]
    assert list(ours) == list(theirs)  # SB3's parameter names: generator files load in either
    for name in theirs:
        assert torch.equal(ours[name], theirs[name]), name
    before = ActorCritic(3, 1, HIDDEN, LOG_STD_INIT).state_dict()
    assert not torch.equal(ours["action_net.weight"], before["action_net.weight"])


def test_learn_finishes_the_last_rollout_past_the_step_budget() -> None:
    calls: list[int] = []
    _our_weights(130, calls)
    assert calls == [128, 256]


def test_gae_follows_the_recursion() -> None:
    # one environment, 3 steps, an episode starting at step 2: the advantage at step 1 does not look past it
    rollout = Rollout(n_steps=3, n_envs=1, obs_dim=1, act_dim=1)
    rollout.rewards[:, 0] = [1.0, 2.0, 3.0]
    rollout.values[:, 0] = [0.5, 0.25, 1.0]
    rollout.starts[:, 0] = [1.0, 0.0, 1.0]
    gamma, lam, last_value = 0.9, 0.8, 2.0
    rollout.finish(np.array([last_value], np.float32), np.array([False]), gamma, lam)
    a2 = 3.0 + gamma * last_value - 1.0
    a1 = 2.0 - 0.25  # the next step starts a new episode: no bootstrap
    a0 = (1.0 + gamma * 0.25 - 0.5) + gamma * lam * a1
    np.testing.assert_allclose(rollout.advantages[:, 0], [a0, a1, a2], rtol=1e-6)
    np.testing.assert_allclose(rollout.returns[:, 0], [a0 + 0.5, a1 + 0.25, a2 + 1.0], rtol=1e-6)


def test_log_prob_is_the_diagonal_gaussian_density() -> None:
    torch.manual_seed(0)
    policy = ActorCritic(4, 2, (8,), log_std_init=-1.0)
    x, actions = torch.randn(5, 4), torch.randn(5, 2)
    mean = policy.mean(x)
    expected = torch.distributions.Normal(mean, torch.full_like(mean, np.exp(-1.0))).log_prob(actions).sum(dim=1)
    torch.testing.assert_close(policy.log_prob(mean, actions), expected)
    samples = torch.stack([policy.sample(x[:1]) for _ in range(4000)])
    assert samples.std(dim=0).mean().item() == pytest.approx(np.exp(-1.0), rel=0.05)


def test_minibatch_step_gives_the_same_weights_with_or_without_the_helper_thread() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from trajaug.augment.adversarial.ppo import minibatch_step, optimizer_for

    generator = torch.Generator().manual_seed(1)
    batch = [torch.randn(shape, generator=generator) for shape in ((64, 5), (64, 2), (64,), (64,), (64,))]
    weights = []
    for helper in (None, ThreadPoolExecutor(1)):
        torch.manual_seed(0)
        policy = ActorCritic(5, 2, (16, 16), log_std_init=0.0)
        optimizer = optimizer_for(policy, lr=1e-2)
        for _ in range(3):
            minibatch_step(policy, optimizer, *batch, helper=helper)
        weights.append(policy.state_dict())
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name
    torch.manual_seed(0)
    initial = ActorCritic(5, 2, (16, 16), log_std_init=0.0).state_dict()
    assert not torch.equal(weights[0]["value_net.weight"], initial["value_net.weight"])  # both halves moved
    assert not torch.equal(weights[0]["action_net.weight"], initial["action_net.weight"])


def test_update_floor_script_times_the_step_and_its_arithmetic(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "ppo_update_floor.py"
    subprocess.run([sys.executable, str(script), "--repeats", "5", "--out", str(tmp_path)], check=True,
                   capture_output=True)
    rows = json.loads((tmp_path / "floor.json").read_text())["rows"]
    assert set(rows) == {"update, one thread", "update, V on a second thread", "matrix products", "tanh",
                         "policy inference, 8 rows"}
    assert all(value > 0 for value in rows.values())
    # a step does its matrix products and more: it cannot take less than them
    assert rows["update, one thread"] > rows["matrix products"]
    assert "| update, one thread |" in (tmp_path / "floor.md").read_text()


def test_ppo_learns_the_same_weights_on_one_core_or_two(monkeypatch: pytest.MonkeyPatch) -> None:
    config = AdversarialConfig(n_steps=64, ppo_batch_size=32, ppo_epochs=2)
    weights = []
    for share in ("1", "2"):  # one: V's backward on this thread; two: on the helper thread
        monkeypatch.setenv(CORES_VARIABLE, share)
        torch.manual_seed(0)
        policy = ActorCritic(3, 1, (16,), -0.5)
        learn(policy, _pendulums(), config, 256, 0, lambda steps: None)
        weights.append({name: value.clone() for name, value in policy.state_dict().items()})
    torch.manual_seed(0)
    initial = ActorCritic(3, 1, (16,), -0.5).state_dict()
    assert not torch.equal(weights[0]["action_net.weight"], initial["action_net.weight"])  # it learned
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name
