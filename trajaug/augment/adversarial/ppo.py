"""PPO (Schulman et al., 2017) for the adversarial generator, written out top to bottom.

One iteration collects ``n_steps`` steps in each of the ``n_envs`` environments with the current Gaussian policy,
computes GAE(λ) advantages, then takes ``epochs`` passes of Adam steps over shuffled minibatches of

    L(θ) = −E[min(r_t(θ)·Â_t, clip(r_t(θ), 1 − ε, 1 + ε)·Â_t)] + c_V·E[(V_θ(x_t) − R_t)²],
    r_t(θ) = π_θ(a_t | x_t) / π_old(a_t | x_t),   Â normalised per minibatch,

with the gradient's global norm clipped to ``MAX_GRAD_NORM``. A rollout cut by a time limit bootstraps its last
reward with γ·V(terminal observation).

The arithmetic is stable-baselines3's ``PPO`` at its defaults (ε = 0.2, c_V = 0.5, no entropy term, Adam ε = 1e-5,
max grad norm 0.5): with the same seed the weights come out bit for bit the same as SB3's (``tests/test_ppo.py``
trains both side by side). Schedules, logging, per-minibatch statistics, callbacks and the generic policy machinery
are left out. Parameter names are those of SB3's ``ActorCriticPolicy``, so a generator file loads in either.

Device: collection runs on the CPU (one small forward pass per environment step, next to the simulator). With
``device`` other than the CPU, :func:`learn` trains a copy of the policy there: each update moves the rollout's arrays
to the device once, takes the minibatch steps there, and copies the weights back to the CPU policy that collects.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trajaug.augment.adversarial.config import AdversarialConfig
from trajaug.core.cores import usable_cores
from trajaug.core.nn import mlp

CLIP_RANGE = 0.2
"""ε of the clipped surrogate (the PPO paper's and SB3's default)."""
VF_COEF = 0.5
"""c_V: weight of the value loss (SB3's default)."""
MAX_GRAD_NORM = 0.5
"""Global gradient-norm clip (SB3's default)."""
ADAM_EPS = 1e-5
"""Adam's ε (SB3's PPO default)."""
LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


class VectorEnv(Protocol):
    """What :func:`learn` needs of its environments: ``num_envs`` copies stepped together, auto-reset at an episode's
    end, with stable-baselines3's ``VecEnv`` conventions (which such a ``VecEnv`` meets too): ``seed(s)`` seeds copy
    k with s + k at the next ``reset``; ``step`` returns (observations, rewards, dones, infos), an info with
    ``terminal_observation`` and ``TimeLimit.truncated`` where an episode ended."""

    num_envs: int
    observation_space: Any
    action_space: Any

    def seed(self, seed: int) -> Any: ...

    def reset(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]: ...


class _Latent(nn.Module):
    """The two tanh MLPs (``policy_net``, ``value_net``) under SB3's name ``mlp_extractor``."""

    def __init__(self, in_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.policy_net, self.value_net = (mlp(in_dim, None, hidden, nn.Tanh) for _ in range(2))


def _orthogonal(module: nn.Module, gain: float) -> None:
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight, gain=gain)
        module.bias.data.fill_(0.0)


class ActorCritic(nn.Module):
    """π(a | x) = N(μ(x), diag(exp(log_std))²) and V(x), two tanh MLPs with linear heads.

    Input x (B, in_dim) float32; actions (B, act_dim); values and log-probabilities (B,). Orthogonal
    initialisation (gain √2 hidden, 0.01 for μ's head, 1 for V's), state-independent log-std.
    """

    def __init__(self, in_dim: int, act_dim: int, hidden: Sequence[int], log_std_init: float) -> None:
        super().__init__()
        self.mlp_extractor = _Latent(in_dim, hidden)
        self.action_net = nn.Linear(hidden[-1], act_dim)
        self.log_std = nn.Parameter(torch.ones(act_dim) * log_std_init)
        self.value_net = nn.Linear(hidden[-1], 1)
        for module, gain in ((self.mlp_extractor, math.sqrt(2)), (self.action_net, 0.01), (self.value_net, 1.0)):
            module.apply(partial(_orthogonal, gain=gain))

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """μ(x) (B, act_dim)."""
        return self.action_net(self.mlp_extractor.policy_net(x))

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """V(x) (B,)."""
        return self.value_net(self.mlp_extractor.value_net(x)).flatten()

    def std(self, mean: torch.Tensor) -> torch.Tensor:
        """σ broadcast to ``mean``'s shape."""
        return torch.ones_like(mean) * self.log_std.exp()

    def log_prob(self, mean: torch.Tensor, actions: torch.Tensor, std: torch.Tensor | None = None) -> torch.Tensor:
        """log π(a | x) (B,) of actions (B, act_dim) under N(mean, σ²), summed over action dimensions."""
        std = self.std(mean) if std is None else std
        return (-((actions - mean) ** 2) / (2 * std**2) - std.log() - LOG_SQRT_2PI).sum(dim=1)

    def sample(self, x: torch.Tensor) -> torch.Tensor:
        """a = μ(x) + σ·ξ, ξ ~ N(0, I) from torch's global generator; (B, act_dim)."""
        mean = self.mean(x)
        return _draw(mean, self.std(mean))

    def step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sampled actions (B, act_dim), V(x) (B,), their log-probabilities (B,)) for a rollout step."""
        mean = self.mean(x)
        std = self.std(mean)
        actions = _draw(mean, std)
        return actions, self.value(x), self.log_prob(mean, actions, std)


def _draw(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """mean + σ·ξ, ξ ~ N(0, I) from torch's global generator (as ``torch.distributions.Normal.rsample`` draws it)."""
    return mean + torch.empty_like(mean).normal_() * std


class Rollout:
    """One iteration's transitions, (n_steps, n_envs, …) float32, and their GAE(λ) advantages and returns."""

    def __init__(self, n_steps: int, n_envs: int, obs_dim: int, act_dim: int) -> None:
        self.observations = np.zeros((n_steps, n_envs, obs_dim), np.float32)
        self.actions = np.zeros((n_steps, n_envs, act_dim), np.float32)
        self.rewards, self.starts, self.values, self.log_probs, self.advantages, self.returns = (
            np.zeros((n_steps, n_envs), np.float32) for _ in range(6))

    def finish(self, last_values: np.ndarray, dones: np.ndarray, gamma: float, gae_lambda: float) -> None:
        """GAE(λ): Â_t = δ_t + γλ·(1 − done)·Â_{t+1}, δ_t = r_t + γ·(1 − done)·V_{t+1} − V_t; R_t = Â_t + V_t."""
        last = np.zeros_like(last_values)
        for t in reversed(range(len(self.rewards))):
            if t == len(self.rewards) - 1:
                not_done, next_values = 1.0 - dones.astype(np.float32), last_values
            else:
                not_done, next_values = 1.0 - self.starts[t + 1], self.values[t + 1]
            delta = self.rewards[t] + gamma * next_values * not_done - self.values[t]
            last = delta + gamma * gae_lambda * not_done * last
            self.advantages[t] = last
        np.add(self.advantages, self.values, out=self.returns)

    def flat(self) -> dict[str, np.ndarray]:
        """The arrays environment by environment: (n_envs · n_steps, …)."""
        names = ("observations", "actions", "log_probs", "advantages", "returns")
        return {name: _env_major(getattr(self, name)) for name in names}


def _env_major(array: np.ndarray) -> np.ndarray:
    return array.swapaxes(0, 1).reshape(array.shape[0] * array.shape[1], *array.shape[2:])


def update(policy: ActorCritic, optimizer: torch.optim.Optimizer, rollout: Rollout, config: AdversarialConfig,
           shuffle: np.random.RandomState, helper: ThreadPoolExecutor | None) -> None:
    """``config.ppo_epochs`` passes of Adam steps over minibatches of ``config.ppo_batch_size`` on the loss of the
    module docstring.

    π and V share no parameters, so the loss's two terms are back-propagated apart, V's on ``helper``'s thread
    while π's runs on this one: the same gradients as one backward pass of their sum, on two cores at once.
    """
    device = policy.log_std.device  # the rollout's arrays move to the policy's device once per update
    data = {name: torch.from_numpy(array).to(device) for name, array in rollout.flat().items()}
    size = len(data["observations"])
    for _ in range(config.ppo_epochs):
        order = shuffle.permutation(size)
        for start in range(0, size, config.ppo_batch_size):
            rows = torch.from_numpy(order[start:start + config.ppo_batch_size]).to(device, non_blocking=True)
            x, actions, old_log_prob, advantages, returns = (
                data[name][rows] for name in ("observations", "actions", "log_probs", "advantages", "returns"))
            minibatch_step(policy, optimizer, x, actions, old_log_prob, advantages, returns, helper)


def minibatch_step(policy: ActorCritic, optimizer: torch.optim.Optimizer, x: torch.Tensor, actions: torch.Tensor,
                   old_log_prob: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
                   helper: ThreadPoolExecutor | None) -> None:
    """One Adam step on a minibatch: x (B, in_dim), actions (B, act_dim), the rest (B,); V's half of the backward
    pass on ``helper``'s thread (None: on this one, after π's)."""
    optimizer.zero_grad()
    value_term = helper.submit(_value_backward, policy, x, returns) if helper is not None else None
    _policy_backward(policy, x, actions, old_log_prob, advantages)
    if value_term is None:
        _value_backward(policy, x, returns)
    else:
        value_term.result()
    nn.utils.clip_grad_norm_(policy.parameters(), MAX_GRAD_NORM)
    optimizer.step()


def _policy_backward(policy: ActorCritic, x: torch.Tensor, actions: torch.Tensor, old_log_prob: torch.Tensor,
                     advantages: torch.Tensor) -> None:
    """Back-propagate −E[min(r·Â, clip(r, 1 − ε, 1 + ε)·Â)], Â normalised over the minibatch."""
    log_prob = policy.log_prob(policy.mean(x), actions)
    if len(advantages) > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob - old_log_prob)
    surrogate = torch.min(advantages * ratio, advantages * torch.clamp(ratio, 1 - CLIP_RANGE, 1 + CLIP_RANGE))
    (-surrogate.mean()).backward()


def _value_backward(policy: ActorCritic, x: torch.Tensor, returns: torch.Tensor) -> None:
    """Back-propagate c_V·E[(V(x) − R)²]."""
    (VF_COEF * F.mse_loss(returns, policy.value(x))).backward()


def optimizer_for(policy: ActorCritic, lr: float) -> torch.optim.Adam:
    """Adam over ``policy`` (``foreach``: one kernel per step for all tensors, the same values as the loop)."""
    return torch.optim.Adam(policy.parameters(), lr=lr, eps=ADAM_EPS, foreach=True)


def trains_apart(device: str | torch.device) -> bool:
    """Whether PPO's updates run on another device than collection (the CPU), hence on a copy of the policy."""
    return torch.device(device).type != "cpu"


def learn(policy: ActorCritic, envs: VectorEnv, config: AdversarialConfig, steps: int, seed: int,
          after_rollout: Callable[[int], None], device: str | torch.device = "cpu") -> None:
    """Run PPO iterations (``config``: n_steps, ppo_batch_size, ppo_epochs, ppo_lr, gamma, gae_lambda) until
    ``steps`` environment steps are done (the last iteration is completed).

    ``envs`` (:class:`VectorEnv`) is seeded with ``seed`` (environment k: seed + k) and reset. Minibatches are
    shuffled by ``RandomState(seed)``, actions sampled from torch's global generator, which the caller seeds.
    ``after_rollout(steps so far)`` runs after each rollout, before the update. ``policy`` (on the CPU) collects;
    the updates run on ``device`` (module docstring).
    """
    trained = copy.deepcopy(policy).to(device) if trains_apart(device) else policy
    optimizer, shuffle = optimizer_for(trained, config.ppo_lr), np.random.RandomState(seed)
    envs.seed(seed)
    obs_dim, act_dim = envs.observation_space.shape[0], envs.action_space.shape[0]
    low, high = envs.action_space.low, envs.action_space.high
    n_envs, done_steps = envs.num_envs, 0
    last_obs, starts = envs.reset(), np.ones(envs.num_envs, bool)
    # the helper thread keeps this thread's torch thread count (a new thread would start with OpenMP's default);
    # none where this process has one core (a pool's worker): a second thread would wait for a core, not use one
    with ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(torch.get_num_threads(),)) as pool:
        helper = pool if usable_cores() >= 2 else None
        while done_steps < steps:
            rollout = Rollout(config.n_steps, n_envs, obs_dim, act_dim)
            for t in range(config.n_steps):
                with torch.inference_mode():
                    actions, values, log_probs = policy.step(torch.as_tensor(last_obs))
                actions_np = actions.numpy()
                observations, rewards, dones, infos = envs.step(np.clip(actions_np, low, high))
                done_steps += n_envs
                for k in np.flatnonzero(dones):  # a time limit, not a fall: bootstrap with γ·V(terminal observation)
                    if infos[k].get("TimeLimit.truncated", False) and "terminal_observation" in infos[k]:
                        with torch.inference_mode():
                            terminal = policy.value(torch.as_tensor(infos[k]["terminal_observation"][None]))
                            rewards[k] += config.gamma * terminal
                rollout.observations[t], rollout.actions[t], rollout.rewards[t] = last_obs, actions_np, rewards
                rollout.starts[t], rollout.values[t] = starts, values.numpy()
                rollout.log_probs[t] = log_probs.numpy()
                last_obs, starts = observations, dones
            with torch.inference_mode():
                last_values = policy.value(torch.as_tensor(last_obs)).numpy()
            rollout.finish(last_values, dones, config.gamma, config.gae_lambda)
            after_rollout(done_steps)
            if trained is policy:
                update(policy, optimizer, rollout, config, shuffle, helper)
            else:  # V's backward on a second thread pays on the CPU only
                update(trained, optimizer, rollout, config, shuffle, None)
                policy.load_state_dict(trained.state_dict())
