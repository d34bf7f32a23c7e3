"""SAC with and without recall traces on a MuJoCo task (Goyal et al., ICLR 2019: Alg. 1 with SAC, Alg. 2 starts).

The agent is stable-baselines3's SAC. With recall traces, a callback runs a *recall round* every ``recall_every``
environment steps once learning has started:

1. **Values.** ``candidates`` states s' are drawn from the replay buffer and scored by SAC's own critic,
   V(s') ≈ min_i Q_i(s', μ(s')) with μ the actor's mean action.
2. **Backtracking model.** The learned model of :mod:`trajaug.augment.backtracking.model`,
   q(Δs, a | s') = q(Δs | a, s') · q(a | s'), takes ``model_steps`` maximum-likelihood updates on the buffer
   transitions (s, a, s') whose s' is in the top ``model_top_k`` share of the candidates by value (Alg. 1 line 8:
   the model is fitted where the agent does well).
3. **Start states (Alg. 2).** ``buffer``: the top ``top_k`` share of the candidates by value (argmax V(s));
   ``goal-gan``: a Goal GAN (:class:`backtracking.starts.GoalGAN`) trained on those states, whose samples are
   decoded to the nearest buffer state.
4. **Imitation.** ``n_traces`` recall traces of ``trace_length`` steps are sampled backward from the start states,
   and the actor takes ``imitation_steps`` Adam steps (its own optimizer) on

       L_I = −λ_I · mean_{(s_t, a_t) ∈ traces} log π(a_t | s_t)

   with λ_I = ``imitation_weight`` (SAC's squashed Gaussian log-likelihood; trace actions clipped into (−1, 1)).

Everything else is SB3's SAC (one gradient step per environment step, its default), identical across variants, so
the comparison isolates the recall traces. Evaluation every ``eval_every`` steps: ``eval_episodes`` deterministic
episodes on reset seeds from :func:`trajaug.core.seeds.eval_seeds` (disjoint from training seeds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trajaug.augment.backtracking.model import BacktrackingModel, Transitions, train_backtracking
from trajaug.augment.backtracking.starts import GoalGAN
from trajaug.core.config import check_settings, setting
from trajaug.core.errors import TrajaugInputError

START_MODES = ("buffer", "goal-gan")


@dataclass(frozen=True)
class SACRecallConfig:
    env_id: str = "Hopper-v5"
    """MuJoCo task (Gymnasium v5 id)."""
    total_steps: int = setting(30_000, minimum=1)
    """Environment steps per run (the paper runs 1M)."""
    learning_starts: int = setting(5_000, minimum=0)
    """Uniform-random steps before SAC learns (SB3 ``learning_starts``)."""
    hidden: tuple[int, ...] = setting((256, 256), minimum=1)
    """SAC actor and critic hidden sizes (SB3's default)."""
    recall_every: int = setting(1_000, minimum=1)
    """Environment steps between recall rounds."""
    candidates: int = setting(5_000, minimum=1)
    """Buffer states scored by the critic per round."""
    top_k: float = setting(0.05, above=0, maximum=1)
    """Share of the candidates (by value) used as trace start states (Alg. 2)."""
    model_top_k: float = setting(0.5, above=0, maximum=1)
    """Share of the candidates (by value) whose incoming transitions train the backtracking model."""
    model_steps: int = setting(100, minimum=0)
    """Backtracking-model updates per round (the model persists across rounds)."""
    model_hidden: tuple[int, ...] = setting((128, 128), minimum=1)
    """Backtracking-model hidden sizes."""
    model_lr: float = setting(1e-3, above=0)
    """Backtracking-model Adam learning rate."""
    trace_length: int = setting(5, minimum=1)
    """Steps per recall trace (ROMI uses 1–5, BMIL a 1 → 10 curriculum)."""
    n_traces: int = setting(128, minimum=1)
    """Recall traces per round."""
    imitation_steps: int = setting(10, minimum=0)
    """Actor updates on the imitation loss per round."""
    imitation_batch: int = setting(256, minimum=1)
    """(s, a) pairs per imitation update."""
    imitation_weight: float = setting(0.1, minimum=0)
    """λ_I, the weight of the imitation loss."""
    start: str = setting("buffer", choices=START_MODES)
    """Where traces start: ``buffer`` (top-valued buffer states) or ``goal-gan`` (Goal GAN over them)."""
    gan_steps: int = setting(200, minimum=0)
    """Goal GAN updates per round (``goal-gan`` only)."""
    eval_every: int = setting(3_000, minimum=1)
    """Environment steps between evaluations."""
    eval_episodes: int = setting(5, minimum=1)
    """Deterministic evaluation episodes per evaluation."""

    def __post_init__(self) -> None:
        import gymnasium

        check_settings(self)
        if self.env_id not in gymnasium.envs.registry:
            raise TrajaugInputError(f"--env-id {self.env_id!r}: not a Gymnasium environment id (e.g. Hopper-v5)")


class RecallRounds:
    """The recall rounds of the module docstring, run against an SB3 SAC model (``rounds`` counts them)."""

    def __init__(self, config: SACRecallConfig, seed: int) -> None:
        if config.start not in START_MODES:
            raise ValueError(f"start must be one of {', '.join(START_MODES)}, got {config.start!r}")
        self.config = config
        self.seed = seed
        self.rng = np.random.default_rng([seed, 17])
        self.generator = torch.Generator().manual_seed(seed)
        self.model: BacktrackingModel | None = None
        self.rounds = 0
        self.stats: list[dict[str, float]] = []

    def values(self, sac: Any, states: np.ndarray) -> np.ndarray:
        """(B,) min_i Q_i(s, μ(s)) for (B, obs_dim) states."""
        with torch.no_grad():
            obs = torch.as_tensor(states, dtype=torch.float32)
            actions = sac.actor(obs, deterministic=True)
            return torch.cat(sac.critic(obs, actions), dim=1).min(dim=1).values.numpy()

    def run(self, sac: Any, steps: int) -> None:
        """One recall round (see the module docstring) on ``sac``'s replay buffer."""
        cfg = self.config
        buffer = sac.replay_buffer
        size = buffer.size()
        rows = self.rng.choice(size, size=min(cfg.candidates, size), replace=False)
        data = Transitions(np.array(buffer.observations[rows, 0], np.float32),
                           np.array(buffer.actions[rows, 0], np.float32),
                           np.array(buffer.next_observations[rows, 0], np.float32))
        values = self.values(sac, data.next_observations)
        order = np.argsort(-values)
        model_rows = order[:max(1, int(cfg.model_top_k * len(order)))]
        if self.model is None:
            self.model = BacktrackingModel(data, cfg.model_hidden, self.seed)
        nll = train_backtracking(self.model, data, model_rows, cfg.model_steps, 256, cfg.model_lr,
                                 self.seed + self.rounds)
        start_rows = order[:max(1, int(cfg.top_k * len(order)))]
        starts = data.next_observations[start_rows]
        if cfg.start == "goal-gan":
            gan = GoalGAN(starts, (64, 64), 1e-3, self.seed + self.rounds)
            gan.train(cfg.gan_steps)
            starts = starts[gan.nearest(gan.sample(cfg.n_traces))]
        else:
            starts = starts[self.rng.integers(0, len(starts), size=cfg.n_traces)]
        obs, actions, _ = self.model.traces(starts, cfg.trace_length, self.generator)
        loss = self.imitate(sac, obs.reshape(-1, obs.shape[-1]), actions.reshape(-1, actions.shape[-1]))
        self.rounds += 1
        self.stats.append({"steps": steps, "model_nll": float(np.mean(nll[-10:])), "imitation_loss": loss,
                           "start_value": float(values[start_rows].mean()), "mean_value": float(values.mean())})

    def imitate(self, sac: Any, observations: np.ndarray, actions: np.ndarray) -> float:
        """``imitation_steps`` actor updates on L_I over the trace pairs; returns the last −mean log π."""
        cfg = self.config
        obs = torch.as_tensor(observations, dtype=torch.float32)
        act = torch.as_tensor(np.clip(actions, -1 + 1e-4, 1 - 1e-4), dtype=torch.float32)
        last = float("nan")
        for _ in range(cfg.imitation_steps):
            batch = torch.as_tensor(self.rng.integers(0, len(obs), size=cfg.imitation_batch))
            mean, log_std, _ = sac.actor.get_action_dist_params(obs[batch])
            log_prob = sac.actor.action_dist.proba_distribution(mean, log_std).log_prob(act[batch])
            loss = -log_prob.mean()
            sac.actor.optimizer.zero_grad()
            (cfg.imitation_weight * loss).backward()
            sac.actor.optimizer.step()
            last = float(loss.detach())
        return last


def evaluate_sac(sac: Any, env_id: str, episodes: int, seed: int) -> float:
    """Mean return of ``episodes`` deterministic episodes on evaluation reset seeds."""
    import gymnasium as gym

    from trajaug.core.seeds import eval_seeds

    env = gym.make(env_id)
    returns = []
    for reset_seed in eval_seeds(seed, episodes):
        obs, _ = env.reset(seed=int(reset_seed))
        total, done = 0.0, False
        while not done:
            action, _ = sac.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run_sac(config: SACRecallConfig, seed: int, recall: bool) -> dict[str, Any]:
    """One SAC run (with recall rounds if ``recall``); returns its evaluation curve and recall statistics."""
    import gymnasium as gym
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    env = gym.make(config.env_id)
    sac = SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, learning_starts=config.learning_starts,
              policy_kwargs={"net_arch": list(config.hidden)})
    rounds = RecallRounds(config, seed) if recall else None
    curve: list[dict[str, float]] = []
    started = time.perf_counter()

    class Hooks(BaseCallback):
        def _on_step(self) -> bool:
            steps = self.num_timesteps
            if rounds is not None and steps > config.learning_starts and steps % config.recall_every == 0:
                rounds.run(sac, steps)
            if steps % config.eval_every == 0:
                curve.append({"steps": steps, "return": evaluate_sac(sac, config.env_id, config.eval_episodes, seed),
                              "wall_s": time.perf_counter() - started})
            return True

    sac.learn(total_timesteps=config.total_steps, callback=Hooks())
    env.close()
    return {"seed": seed, "recall": recall, "curve": curve, "recall_stats": rounds.stats if rounds else [],
            "wall_s": time.perf_counter() - started}
