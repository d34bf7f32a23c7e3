"""The four Four-Room agents: advantage actor-critic, + recall traces (true or learned backtracking model), + PER.

All share one tabular actor-critic (:class:`TabularActorCritic`): policy logits and state values are linear layers of
the one-hot state (embedding tables, zero-initialised: a uniform policy and V = 0), trained by plain SGD on losses
averaged per state (see the class). One *update* collects ``n_steps`` steps from each of ``n_envs`` environments (a
vectorised :class:`VectorFourRoom`) with the current policy and takes one gradient step on the advantage
actor-critic loss with an entropy bonus, with G the n-step return bootstrapped with V (V of a terminal state is 0; a
timeout is bootstrapped). On top of it:

* ``recall-true`` / ``recall-learned`` — Algorithm 1 of Goyal et al. (ICLR 2019). A buffer keeps every visited state
  with its value estimate: the critic's V(s), and for a state entered with reward r (the goal) max(V, r). Every
  ``recall_every`` updates, ``n_traces`` end states are drawn uniformly from the ``top_k`` highest-valued visited
  states with value > 0 (so no traces before the first reward), a recall trace of ``trace_length`` steps is sampled
  backward from each with the backtracking model, and the imitation loss λ · L_I, L_I = −log π(a_t | s_t) averaged
  over the traces' (s_t, a_t) pairs per state and summed over states, is added to that update's actor loss.
  ``recall-true`` uses the exact model (:class:`TrueBacktrackingModel`); ``recall-learned`` a
  :class:`LearnedBacktrackingModel` fitted by maximum likelihood on the agent's own transitions (``model_updates``
  minibatches before each imitation step; Alg. 1 line 8). The many uniform backward walks from the goal, averaged
  per state, give at each state an action distribution biased toward the goal (the walks start there and never
  return), which is what the imitation transfers to the policy.
* ``per`` — the same on-policy update, plus ``per_updates`` off-policy minibatches per update from a proportional
  prioritized replay of every transition (s, a, r, s', terminal, μ(a|s)) with μ the behaviour probability: the
  critic minimises ½ · w · δ² with δ = r + γ · V(s') · (1 − terminal) − V(s), and the actor takes the off-policy
  actor-critic step −w · min(1, π(a|s)/μ(a|s)) · δ · log π(a|s) (truncated importance ratio as in ACER); w are the
  PER importance weights (times the per-state averaging), and |δ| becomes the sampled rows' new priority.

Random streams: one generator (from the seed) drives the environments and the action sampling, a second one
everything else (traces, model fits, replay sampling), so all agents of one seed follow the same trajectories until
their first reward (common random numbers: the exploration phase before it is identical across agents).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trajaug.experiments.recall.config import AGENTS, FourRoomConfig
from trajaug.experiments.recall.fourroom import FourRoom, TrueBacktrackingModel, VectorFourRoom
from trajaug.experiments.recall.learned_model import LearnedBacktrackingModel, sample_rows
from trajaug.experiments.recall.per import PrioritizedReplay, annealed_beta


def per_state_weights(states: np.ndarray) -> torch.Tensor:
    """(B,) float32 weights 1 / (number of times each sample's state occurs in ``states``): a loss Σ_i w_i · ℓ_i
    is the sum over distinct states of the mean loss of that state's samples."""
    counts = np.bincount(states)
    return torch.from_numpy((1.0 / counts[states]).astype(np.float32))


class TabularActorCritic(nn.Module):
    """π(a|s) = softmax(θ[s]) and V(s) = w[s] over one-hot states, trained by plain SGD on per-state averaged
    losses: a step moves V(s) by ``lr_critic`` × the mean TD/return error of the batch's samples of s, and θ[s] by
    ``lr_actor`` × the mean policy gradient at s — the classical tabular actor-critic rule, stable for
    ``lr_critic`` ≤ 1 however often a state occurs in a batch. (Adam, tried first, made rarely visited entries
    overshoot through momentum and per-entry normalisation: values far outside [0, 1].)"""

    def __init__(self, n_states: int, n_actions: int, lr_actor: float, lr_critic: float) -> None:
        super().__init__()
        self.actor = nn.Embedding(n_states, n_actions)
        self.critic = nn.Embedding(n_states, 1)
        nn.init.zeros_(self.actor.weight)
        nn.init.zeros_(self.critic.weight)
        self.actor_opt = torch.optim.SGD(self.actor.parameters(), lr=lr_actor)
        self.critic_opt = torch.optim.SGD(self.critic.parameters(), lr=lr_critic)

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_states, n_actions) π(a|s) and (n_states,) V(s), float64 copies."""
        with torch.no_grad():
            return (F.softmax(self.actor.weight, -1).numpy().astype(np.float64),
                    self.critic.weight[:, 0].numpy().astype(np.float64))

    def _step(self, actor_loss: torch.Tensor, critic_loss: torch.Tensor | None) -> None:
        self.actor_opt.zero_grad()
        self.critic_opt.zero_grad()
        (actor_loss if critic_loss is None else actor_loss + critic_loss).backward()
        self.actor_opt.step()
        if critic_loss is not None:
            self.critic_opt.step()

    def imitation_loss(self, states: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        """Σ over distinct states of the mean −log π(a|s) of the (M,) pairs at that state."""
        logp = F.log_softmax(self.actor(torch.from_numpy(states)), -1)
        return -(per_state_weights(states) * logp.gather(1, torch.from_numpy(actions)[:, None])[:, 0]).sum()

    def update(self, states: np.ndarray, actions: np.ndarray, returns: np.ndarray, entropy_coef: float,
               imitation: tuple[np.ndarray, np.ndarray, float] | None = None) -> None:
        """One on-policy actor-critic step on (B,) states, actions and n-step returns G:

            L = Σ_i w_i [−(G_i − V(s_i)) · log π(a_i|s_i) − c_H · H(π(·|s_i)) + ½ (G_i − V(s_i))²],

        w_i from :func:`per_state_weights`. With ``imitation`` = (states (M,), actions (M,), λ), λ times the
        imitation loss (:meth:`imitation_loss`) of those pairs is added to the actor's loss of the same step."""
        s, a = torch.from_numpy(states), torch.from_numpy(actions)
        w = per_state_weights(states)
        logp_all = F.log_softmax(self.actor(s), -1)
        value = self.critic(s)[:, 0]
        advantage = torch.from_numpy(returns.astype(np.float32)) - value
        entropy = -(logp_all.exp() * logp_all).sum(-1)
        policy_term = advantage.detach() * logp_all.gather(1, a[:, None])[:, 0] + entropy_coef * entropy
        actor_loss = -(w * policy_term).sum()
        if imitation is not None:
            actor_loss = actor_loss + imitation[2] * self.imitation_loss(imitation[0], imitation[1])
        self._step(actor_loss, 0.5 * (w * advantage**2).sum())

    def replay_update(self, batch: dict[str, np.ndarray], weights: np.ndarray, gamma: float) -> np.ndarray:
        """One off-policy step on a PER minibatch (fields s, a, r, s2, term, mu) with importance weights u:
        critic ½ Σ_i w_i u_i δ_i², actor −Σ_i w_i u_i min(1, π/μ) δ_i log π(a_i|s_i) (w_i per-state weights);
        returns the (B,) TD errors δ."""
        s, a, s2 = (torch.from_numpy(batch[k]) for k in ("s", "a", "s2"))
        w = per_state_weights(batch["s"]) * torch.from_numpy(weights.astype(np.float32))
        value = self.critic(s)[:, 0]
        with torch.no_grad():
            next_value = self.critic(s2)[:, 0] * (1 - torch.from_numpy(batch["term"]))
            delta_target = torch.from_numpy(batch["r"]) + gamma * next_value
        delta = delta_target - value
        logp = F.log_softmax(self.actor(s), -1).gather(1, a[:, None])[:, 0]
        ratio = torch.clamp(torch.exp(logp.detach()) / torch.from_numpy(batch["mu"]), max=1.0)
        actor_loss = -(w * ratio * delta.detach() * logp).sum()
        self._step(actor_loss, 0.5 * (w * delta**2).sum())
        return delta.detach().numpy().astype(np.float64)


def nstep_returns(rewards: np.ndarray, next_states: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                  values: np.ndarray, gamma: float) -> np.ndarray:
    """(T, E) n-step returns of a rollout of T steps in E environments: G_t = r_t + γ · G_{t+1} within an episode,
    bootstrapped with V(s'_t) at the rollout's end and at timeouts, and 0 beyond a terminal step."""
    steps = len(rewards)
    returns = np.empty_like(rewards)
    next_value = values[next_states] * (1.0 - terminated)
    running = next_value[-1]
    for t in range(steps - 1, -1, -1):
        if t < steps - 1:
            running = np.where(terminated[t] | truncated[t], next_value[t], running)
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


class RecallTraces:
    """Alg. 1's buffer of visited states and values, and the recall-trace imitation step."""

    def __init__(self, model: TrueBacktrackingModel | LearnedBacktrackingModel, n_states: int,
                 config: FourRoomConfig) -> None:
        self.model, self.config = model, config
        self.visited = np.zeros(n_states, dtype=bool)
        self.reward_into = np.full(n_states, -np.inf)
        self.traces_made = 0

    def observe(self, states: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_states: np.ndarray) -> None:
        """Record (N,) transitions: visited states, rewarded entries, and the learned model's training data."""
        self.visited[states] = True
        self.visited[next_states] = True
        rewarded = rewards > 0
        np.maximum.at(self.reward_into, next_states[rewarded], rewards[rewarded])
        if isinstance(self.model, LearnedBacktrackingModel):
            self.model.observe(states, actions, next_states)

    def start_states(self, values: np.ndarray) -> np.ndarray:
        """The ``top_k`` visited states of highest value estimate max(V(s), reward into s) with value > 0."""
        estimate = np.where(self.visited, np.maximum(values, self.reward_into), -np.inf)
        order = np.argsort(-estimate, kind="stable")[:self.config.top_k]
        return order[estimate[order] > 0]

    def traces(self, values: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float] | None:
        """``n_traces`` recall traces from the top-valued states as imitation pairs (states (M,), actions (M,), λ)
        for :meth:`TabularActorCritic.update`; None before any state has a positive value. Fits the learned
        model first (Alg. 1 line 8)."""
        config = self.config
        if isinstance(self.model, LearnedBacktrackingModel):
            self.model.fit(config.model_updates, config.model_batch, rng)
        starts = self.start_states(values)
        if len(starts) == 0:
            return None
        ends = starts[rng.integers(0, len(starts), config.n_traces)]
        states, actions = self.model.sample_traces(ends, config.trace_length, rng)
        self.traces_made += len(ends)
        return states[:, :-1].ravel(), actions.ravel(), config.imitation_weight


@dataclass
class RunResult:
    """One agent × seed run: the curve at every evaluation point and the state-visitation counts."""

    agent: str
    seed: int
    steps: list[int]
    """Environment steps (all environments together) at each evaluation point."""
    success: list[float]
    """Exact probability that the current stochastic policy reaches the goal within the timeout (= expected
    undiscounted return) at each evaluation point."""
    train_success: list[float]
    """Fraction of the training episodes that ended since the previous evaluation point that reached the goal
    (NaN where none ended)."""
    visits: np.ndarray
    """(n_states,) visits of each state during training."""
    visits_learning: np.ndarray
    """(n_states,) visits until the first evaluation at which the success reached ``config.threshold``."""
    episodes: int
    wall_s: float
    first_reward: int | None = None
    """Environment steps (all environments together) up to and including the first rewarded step; None if never."""


def rollout(vec: VectorFourRoom, probs: np.ndarray, n_steps: int,
            rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``n_steps`` steps of every environment of ``vec`` under the tabular policy ``probs`` (n_states, 4):
    states, actions, rewards (float64), next_states, terminated, truncated, each (n_steps, n_envs)."""
    shape = (n_steps, len(vec.states))
    states, actions, next_states = (np.empty(shape, np.int64) for _ in range(3))
    rewards = np.empty(shape)
    terminated, truncated = np.empty(shape, bool), np.empty(shape, bool)
    for t in range(n_steps):
        states[t] = vec.states
        actions[t] = sample_rows(probs[states[t]], rng)
        next_states[t], rewards[t], terminated[t], truncated[t] = vec.step(actions[t])
    return states, actions, rewards, next_states, terminated, truncated


def train_agent(agent: str, env: FourRoom, config: FourRoomConfig, seed: int,
                on_eval: Callable[[int, float], None] | None = None) -> RunResult:
    """Train one agent for ``config.total_steps`` environment steps and evaluate it every ``config.eval_every``
    steps (exact success probability); deterministic given ``seed`` (torch draws no random numbers here).
    ``on_eval(steps, success)`` is called at every evaluation point."""
    if agent not in AGENTS:
        raise ValueError(f"unknown agent {agent!r}")
    started = time.perf_counter()
    torch.set_num_threads(1)
    # Two streams (module docstring): environments and actions; traces, model fits and replay sampling.
    rng, aux_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    vec = VectorFourRoom(env, config.n_envs, rng)
    ac = TabularActorCritic(env.n_states, env.n_actions, config.lr_actor, config.lr_critic)
    recall: RecallTraces | None = None
    if agent.startswith("recall"):
        model = (TrueBacktrackingModel(env, config.trace_self_loops) if agent == "recall-true" else
                 LearnedBacktrackingModel(env.n_states, env.n_actions, config.model_lr))
        recall = RecallTraces(model, env.n_states, config)
    replay = (PrioritizedReplay(config.per_capacity, {"s": np.int64, "a": np.int64, "r": np.float32,
                                                      "s2": np.int64, "term": np.float32, "mu": np.float32},
                                config.per_alpha, config.per_eps) if agent == "per" else None)
    result = RunResult(agent, seed, [], [], [], np.zeros(env.n_states, dtype=np.int64),
                       np.zeros(env.n_states, dtype=np.int64), 0, 0.0)
    learning = True
    steps = updates = ended = succeeded = 0
    next_eval = 0
    while True:
        probs, values = ac.tables()
        if steps >= next_eval:
            result.steps.append(steps)
            result.success.append(env.success_probability(probs))
            result.train_success.append(succeeded / ended if ended else float("nan"))
            ended = succeeded = 0
            next_eval += config.eval_every
            learning = learning and result.success[-1] < config.threshold
            if on_eval is not None:
                on_eval(steps, result.success[-1])
        if steps >= config.total_steps:
            break
        states, actions, rewards, next_states, terminated, truncated = rollout(vec, probs, config.n_steps, rng)
        if result.first_reward is None and terminated.any():
            result.first_reward = steps + (int(np.argmax(terminated.any(axis=1))) + 1) * config.n_envs
        steps += states.size
        updates += 1
        ended += int(terminated.sum() + truncated.sum())
        succeeded += int(terminated.sum())
        result.episodes += int(terminated.sum() + truncated.sum())
        visits = np.bincount(states.ravel(), minlength=env.n_states)
        result.visits += visits
        if learning:
            result.visits_learning += visits
        returns = nstep_returns(rewards, next_states, terminated, truncated, values, config.gamma)
        flat_s, flat_a = states.ravel(), actions.ravel()
        imitation = None
        if recall is not None:
            recall.observe(flat_s, flat_a, rewards.ravel(), next_states.ravel())
            if updates % config.recall_every == 0:
                imitation = recall.traces(values, aux_rng)
        ac.update(flat_s, flat_a, returns.ravel(), config.entropy_coef, imitation)
        if replay is not None:
            replay.add(s=flat_s, a=flat_a, r=rewards.ravel(), s2=next_states.ravel(),
                       term=terminated.ravel(), mu=probs[flat_s, flat_a])
            beta = annealed_beta(config.per_beta0, steps / config.total_steps)
            for _ in range(config.per_updates):
                idx, weights = replay.sample(config.per_batch, beta, aux_rng)
                replay.update_priorities(idx, ac.replay_update(replay.get(idx), weights, config.gamma))
    result.wall_s = time.perf_counter() - started
    return result
