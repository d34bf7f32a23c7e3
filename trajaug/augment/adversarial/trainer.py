"""The generator and discriminator of CAT and GAIL, and how they are trained (see ``adversarial.augmenter``).

``AdversarialTrainer`` holds the PPO policy π(a | [ŝ, a']) (``adversarial.ppo``) and the discriminator D(s, a):
a warm start regresses the policy mean on the demo actions, then PPO maximises the discriminator reward of
``ppo_hooks`` while D takes one pass per rollout. It saves and loads both as a ``weights_only`` file.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trajaug.augment.adversarial.config import AdversarialConfig
from trajaug.augment.adversarial.envs import DemoStartEnvs, distort, episode_horizons
from trajaug.augment.adversarial.ppo import ActorCritic, learn
from trajaug.augment.networks import Discriminator
from trajaug.core.dataset import Dataset
from trajaug.core.device import cpu_state
from trajaug.core.errors import TrajaugInputError
from trajaug.core.progress import Progress, start_phase, tick


class AdversarialTrainer:
    """Trains the generator policy and the discriminator as ``config`` says (CAT's or GAIL's: its ``distortion``)."""

    def __init__(self, demos: Dataset, config: AdversarialConfig, seed: int,
                 device: str | torch.device = "cpu") -> None:
        """``device``: where the PPO and discriminator updates run; collection, the warm start and sampling run
        on the CPU, and the generator it holds (``policy``) is on the CPU."""
        self.demos, self.config, self.seed, self.device = demos, config, seed, device
        self.sigma: float | None = None  # σ of the hint (None: no hint, GAIL) and λ of the L2 term
        self.l2_weight = 0.0
        if config.distortion is not None:
            self.sigma, self.l2_weight = config.distortion
        self.obs_mean = demos.observations.mean(axis=0).astype(np.float64)
        self.obs_std = demos.observations.std(axis=0).astype(np.float64) + 1e-3
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        self.discriminator = Discriminator(demos.obs_dim, demos.act_dim, self.obs_mean, self.obs_std,
                                           config.disc_hidden, config.disc_lr, config.disc_entropy_weight,
                                           device=device)
        self.history: list[dict[str, float]] = []
        self.policy: Any = None

    @property
    def hint_dim(self) -> int:
        return self.demos.act_dim if self.sigma is not None else 0

    def inputs(self, states: np.ndarray, hints: np.ndarray | None) -> np.ndarray:
        """Generator input [ŝ, a'] (B, obs_dim + hint_dim) float32 from raw states and hints."""
        normalized = (states - self.obs_mean) / self.obs_std
        parts = [normalized] if hints is None else [normalized, hints]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def train(self, progress: Progress | None = None, steps: int | None = None,
              label: str = "environment steps") -> None:
        """Warm-start (unless a generator was loaded) and run ``steps`` adversarial steps (default
        ``total_steps``); a loaded generator goes on from its weights, with a fresh optimizer. ``progress`` is told
        of the warm start's updates, then of a phase ``label`` of environment steps (whole rollouts)."""
        from trajaug.augment.adversarial.reward import DiscriminatorReward, DiscriminatorUpdates

        c = self.config
        horizons = episode_horizons(self.demos, c.horizon)
        envs = DemoStartEnvs(self.demos, self.obs_mean, self.obs_std, self.sigma,
                               [self.seed * 1000 + k for k in range(c.n_envs)], c.hint, horizons, c.starts,
                               c.training_noise)
        rewarded = DiscriminatorReward(envs, self.discriminator, self.demos.obs_dim, self.obs_mean, self.obs_std,
                                       self.l2_weight)
        steps = c.total_steps if steps is None else steps
        loaded = self.policy
        torch.manual_seed(self.seed)  # the initialisation's draws, then the actions' (as every chunk did before)
        self.policy = self._new_policy()
        if loaded is not None:  # go on from the loaded weights
            self.policy.load_state_dict(loaded.state_dict())
        elif c.bc_warmstart_steps:
            self._warm_start(progress)
        if steps:
            rollout = c.n_envs * c.n_steps
            start_phase(progress, label, -(-steps // rollout) * rollout)
            learn(self.policy, rewarded, c, steps, self.seed,
                  DiscriminatorUpdates(self.demos, self.discriminator, self.rng, self.history, rewarded, progress),
                  self.device)

    def _new_policy(self) -> ActorCritic:
        """A freshly initialised generator π(a | [ŝ, a']) (draws from torch's global generator)."""
        return ActorCritic(self.demos.obs_dim + self.hint_dim, self.demos.act_dim, self.config.hidden,
                           self.config.log_std_init)

    def _warm_start(self, progress: Progress | None) -> None:
        """Fit the policy mean to a_E from [ŝ, a'] by MSE (fresh distortion every batch)."""
        start_phase(progress, "warm start: updates", self.config.bc_warmstart_steps)
        states, actions = self.demos.observations.astype(np.float64), self.demos.actions.astype(np.float64)
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=1e-3, foreach=True)  # the loop's values, faster
        for step in range(self.config.bc_warmstart_steps):
            rows = self.rng.integers(0, len(states), size=256)
            hints = distort(actions[rows], self.sigma, self.rng) if self.sigma is not None else None
            inputs = torch.as_tensor(self.inputs(states[rows], hints))
            mean = self.policy.mean(inputs)
            loss = ((mean - torch.as_tensor(actions[rows], dtype=torch.float32)) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tick(progress, step, self.config.bc_warmstart_steps)
        self.warm_start_loss = float(loss.detach())

    @torch.inference_mode()
    def act(self, states: np.ndarray, hints: np.ndarray | None) -> np.ndarray:
        """Generator actions for raw states (B, obs_dim) and hints (B, act_dim) or None."""
        inputs = torch.as_tensor(self.inputs(states, hints))
        chosen = self.policy.sample(inputs) if self.config.stochastic_sampling else self.policy.mean(inputs)
        return chosen.numpy()

    # -- save / load (weights_only=True) ---------------------------------------------------------------------
    def save(self, path: str | Path, resume: dict[str, Any] | None = None) -> None:
        """Write the generator; ``resume`` (a chunk checkpoint's record) adds what a later process needs to go on
        exactly as this one would: the seed, the discriminator's Adam state, the batch rng and the history."""
        from trajaug.core.atomic import atomic_path

        payload = {"env_id": self.demos.env_id, "demos_sha256": demos_sha256(self.demos),
                   "config": dataclasses.asdict(self.config), "sigma": self.sigma,
                   "l2_weight": self.l2_weight, "obs_mean": torch.as_tensor(self.obs_mean),
                   "obs_std": torch.as_tensor(self.obs_std), "policy": self.policy.state_dict(),
                   "discriminator": cpu_state(self.discriminator.state_dict())}
        if resume is not None:
            payload["resume"] = {**resume, "seed": self.seed, "rng": self.rng.bit_generator.state,
                                 "discriminator_optimizer": cpu_state(self.discriminator.optimizer.state_dict()),
                                 "history": self.history, "warm_start_loss": getattr(self, "warm_start_loss", None)}
        with atomic_path(Path(path), force=True) as tmp:
            torch.save(payload, tmp)

    def restore(self, resume: dict[str, Any]) -> None:
        """Go on from a chunk checkpoint (``load`` it first): the training state ``save(resume=…)`` recorded."""
        self.rng.bit_generator.state = resume["rng"]
        self.discriminator.optimizer.load_state_dict(resume["discriminator_optimizer"])
        self.history = list(resume["history"])
        if resume["warm_start_loss"] is not None:
            self.warm_start_loss = resume["warm_start_loss"]

    def load(self, path: str | Path) -> dict[str, Any]:
        """Load a saved generator and discriminator; returns the file's config and, for a chunk checkpoint, its
        ``resume`` record (``{"config": …, "resume": …}``)."""
        if not Path(path).is_file():
            raise TrajaugInputError(f"{path}: no such file")
        try:
            payload = torch.load(path, weights_only=True, map_location="cpu")
            trained_for = (payload["env_id"], payload["sigma"], payload["config"].get("hint", "time"))
        except Exception as error:  # torch.load raises many types for a file that is not a checkpoint
            raise TrajaugInputError(f"{path}: not a trajaug generator ({type(error).__name__})") from None
        if trained_for[:2] != (self.demos.env_id, self.sigma):
            raise TrajaugInputError(f"{path}: generator was trained for {trained_for[0]} "
                                    f"(σ={trained_for[1]}), not for these demos")
        trained_on, these = payload.get("demos_sha256"), demos_sha256(self.demos)  # absent in older files
        if trained_on is not None and trained_on != these:
            raise TrajaugInputError(f"{path}: generator was trained on other demos (sha256 {trained_on[:12]}…, "
                                    f"these are {these[:12]}…)")
        if self.sigma is not None and trained_for[2] != self.config.hint:
            raise TrajaugInputError(f"{path}: generator was trained with --hint {trained_for[2]}, "
                                    f"not {self.config.hint}")
        self.policy = self._new_policy()
        try:
            self.policy.load_state_dict(payload["policy"])
        except RuntimeError:
            raise TrajaugInputError(f"{path}: generator network sizes differ from --hidden "
                                    f"{self.config.hidden}") from None
        self.obs_mean, self.obs_std = payload["obs_mean"].numpy(), payload["obs_std"].numpy()
        self.discriminator.load_state_dict(payload["discriminator"])
        return {"config": payload["config"], "resume": payload.get("resume")}


def demos_sha256(demos: Dataset) -> str:
    """sha256 of the demos' observations, actions and episode ends: which demos a generator was trained on, the
    same for the same demos in any file (a dataset rebuilt on another CPU can hold other episodes)."""
    digest = hashlib.sha256()
    for array in (demos.observations, demos.actions, demos.terminals, demos.timeouts):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
