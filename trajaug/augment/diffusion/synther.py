"""SynthER (Lu et al., NeurIPS 2023): an unconditional diffusion model over whole transitions, sampled to new ones.

Each demo transition becomes one vector x = [s, a, r, s', terminal]; every column but the terminal is standardised
with the demos' mean and std (SynthER's ``standard`` normaliser, terminals left as 0/1). An elucidated diffusion
model (``trajaug.augment.diffusion.edm``) with SynthER's residual-MLP denoiser is trained on them with Adam, a cosine
learning-rate schedule and an EMA copy of the weights, then the EMA model samples new vectors, which are split
back into (s, a, r, s') and a terminal flag thresholded at 0.5, as SynthER does.

The output is a D4RL file like every other method's, but **each synthetic transition is its own one-step episode**
(``timeouts`` set where the sampled terminal is not), since the samples are independent; the rewards are the
sampled ones (``summary.sample_rewards = "sampled"``), and ``sample_reward_error_*`` compares them with the
environment's reward formula on (s, a, s'). By default nothing here runs the simulator; ``datasets check --physics``
says how physical the transitions are. With ``relabel = "simulator"`` the sampled (s, a) are kept and s', r and the
terminal are the environment's own after one step from s (``trajaug.augment.diffusion.relabel``), so the set is
physical by construction and its rewards are ``"simulator"``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trajaug.augment.base import Augmenter, register
from trajaug.augment.diffusion.edm import EDM, EDMConstants, ResidualMLPDenoiser
from trajaug.augment.diffusion.relabel import RELABELS, check_restorable, step_once
from trajaug.augment.rewards import formula_reward
from trajaug.core.config import check_settings, setting
from trajaug.core.dataset import Dataset
from trajaug.core.device import cpu_state
from trajaug.core.errors import TrajaugInputError
from trajaug.core.progress import Progress, start_phase, tick

MIN_TRANSITIONS = 64
"""Fewest demo transitions SynthER trains on (one batch of a tiny budget)."""
TRAINING = "Diffusion model training"
"""``--help`` section of the fields that say how the denoiser is trained."""


@dataclass(frozen=True)
class SynthERConfig:
    width: int = setting(256, minimum=1, section=TRAINING)
    """Hidden units of the residual-MLP denoiser (SynthER: 2048; docs/methods/synther.md says why 256)."""
    layers: int = setting(4, minimum=1, section=TRAINING)
    """Residual blocks of the denoiser (SynthER: 6)."""
    steps: int = setting(20_000, minimum=1, section=TRAINING)
    """Training updates (SynthER: 100k)."""
    batch_size: int = setting(256, minimum=1, section=TRAINING)
    """Transitions per update (SynthER: 1024)."""
    lr: float = setting(3e-4, above=0, section=TRAINING)
    """Adam learning rate, cosine-annealed to 0 over ``steps`` (SynthER: 3e-4, cosine)."""
    ema_decay: float = setting(0.995, minimum=0, below=1, section=TRAINING)
    """Decay of the EMA copy of the weights that samples, updated every 10 steps (SynthER: 0.995)."""
    sample_steps: int = setting(32, minimum=1)
    """Noise levels of the stochastic Heun sampler (SynthER: 128)."""
    transitions: int = setting(0, minimum=0)
    """Transitions to sample; 0: ``per_episode`` × the demos' transitions, as many as the other methods' sets
    from the same demos hold (SynthER's own setting: 5M)."""
    terminal_threshold: float = setting(0.5, minimum=0, maximum=1)
    """A sampled terminal above it ends its transition's episode as terminal (SynthER: 0.5)."""
    relabel: str = setting("none", choices=RELABELS)
    """What becomes of the sampled s', r and terminal: ``none`` keeps the model's own (SynthER); ``simulator``
    restores each sampled s in the simulator, steps its (clipped) action once and stores the environment's s',
    reward and termination instead (docs/methods/synther.md, "Relabelling")."""

    def __post_init__(self) -> None:
        check_settings(self)


def transition_vectors(demos: Dataset) -> np.ndarray:
    """(N, 2·obs_dim + act_dim + 2) float64 rows [s, a, r, s', terminal] of ``demos``."""
    return np.concatenate([demos.observations, demos.actions, demos.rewards[:, None], demos.next_observations,
                           demos.terminals[:, None]], axis=1).astype(np.float64)


def new_models(d: int, config: SynthERConfig, seed: int, device: torch.device) -> tuple[EDM, EDM]:
    """(the denoiser that trains, its EMA copy that samples) for vectors of size ``d``: initialised on the CPU from
    torch's global generator seeded with ``seed`` (the same weights whatever the device), then moved to ``device``."""
    torch.manual_seed(seed)
    model = EDM(ResidualMLPDenoiser(d, config.width, config.layers), d, EDMConstants())
    ema = EDM(ResidualMLPDenoiser(d, config.width, config.layers), d, EDMConstants())
    return model.to(device), ema.to(device)


@register("synther")
class SynthERAugmenter(Augmenter):
    Config = SynthERConfig
    config: SynthERConfig
    uses_simulator = False
    model_files = ("save", "load")
    uses_device = True

    def fit(self, demos: Dataset, progress: Progress | None = None) -> None:
        super().fit(demos, progress)
        c = self.config
        data = transition_vectors(demos)
        if len(data) < MIN_TRANSITIONS and not self.files.load:
            raise TrajaugInputError(f"synther: {len(data)} transitions to train on; the diffusion model needs at "
                                    f"least {MIN_TRANSITIONS}: use more --episodes")
        if c.relabel == "simulator":
            assert demos.env_id is not None
            check_restorable(demos.env_id)  # before training, not after it
        self.mean, self.std = data.mean(axis=0), data.std(axis=0) + 1e-3
        self.mean[-1], self.std[-1] = 0.0, 1.0  # terminals are modelled unnormalised
        self.model, self.ema = new_models(data.shape[1], c, self.seed, self.device)
        started = time.perf_counter()
        if self.files.load:
            self._load(Path(self.files.load), data.shape[1])
            self.losses: list[float] = []
        else:
            x = torch.as_tensor((data - self.mean) / self.std, dtype=torch.float32).to(self.device)  # moved once
            self.losses = self._train(x, progress).tolist()
            if self.files.save:
                self._save(Path(self.files.save))
        self.fit_seconds = time.perf_counter() - started

    def _train(self, x: torch.Tensor, progress: Progress | None) -> torch.Tensor:
        """Train ``self.model`` (and its EMA copy) on the standardised rows ``x``, on their device; returns each
        update's loss (a tensor on that device, read once at the end: no host sync per update)."""
        c = self.config
        self.ema.load_state_dict(self.model.state_dict())
        optimizer = torch.optim.Adam(self.model.parameters(), lr=c.lr, betas=(0.9, 0.99))
        generator = torch.Generator().manual_seed(self.seed)  # minibatch rows: the same on every device
        losses = torch.empty(c.steps, device=x.device)
        start_phase(progress, "training: updates", c.steps)
        for step in range(c.steps):
            for group in optimizer.param_groups:  # cosine annealing to 0
                group["lr"] = 0.5 * c.lr * (1 + math.cos(math.pi * step / c.steps))
            rows = torch.randint(len(x), (c.batch_size,), generator=generator).to(x.device, non_blocking=True)
            loss = self.model.loss(x[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 10 == 9:
                with torch.no_grad():
                    for averaged, current in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                        averaged.mul_(c.ema_decay).add_(current, alpha=1 - c.ema_decay)
            losses[step] = loss.detach()
            tick(progress, step, c.steps, every=100)
        return losses

    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        demos = self.demos
        assert demos is not None and demos.env_id is not None
        c = self.config
        n = c.transitions or per_episode * len(demos)
        generator = torch.Generator(self.device).manual_seed(self.seed + 1)  # the sampler's noise, drawn on the device
        chunks = []
        start_phase(progress, "sampling: transitions", n)
        for start in range(0, n, 50_000):  # bounded memory for millions of samples
            chunks.append(self.ema.sample(min(50_000, n - start), c.sample_steps, generator).cpu().double().numpy())
            if progress is not None:
                progress(len(chunks[-1]))
        samples = np.concatenate(chunks) * self.std + self.mean
        o, a = demos.obs_dim, demos.act_dim
        obs, actions, rewards = samples[:, :o], samples[:, o:o + a], samples[:, o + a]
        next_obs, terminals = samples[:, o + a + 1:2 * o + a + 1], samples[:, -1] > c.terminal_threshold
        clipped = np.clip(actions, -1, 1)
        relabelled: dict[str, Any] = {"relabel": c.relabel}
        if c.relabel == "simulator":
            next_obs, rewards, terminals = self._relabel(obs, clipped, rewards, next_obs, terminals, relabelled,
                                                         progress)
        self.stats = {**self._stats(obs, clipped, rewards, next_obs, terminals, actions), **relabelled}
        return Dataset(observations=obs.astype(np.float32), actions=clipped.astype(np.float32),
                       rewards=rewards.astype(np.float32), next_observations=next_obs.astype(np.float32),
                       terminals=terminals, timeouts=~terminals, env_id=demos.env_id)

    def _relabel(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
                 terminals: np.ndarray, stats: dict[str, Any], progress: Progress | None,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The environment's own (s', r, terminal) of the sampled (s, a) as they are stored (float32, ``actions``
        already in the box), in place of the sampled ones; how much they change goes into ``stats``."""
        assert self.demos is not None and self.demos.env_id is not None
        real = step_once(self.demos.env_id, obs.astype(np.float32).astype(np.float64),
                         actions.astype(np.float32).astype(np.float64), progress)
        error = np.abs(real.next_observations - next_obs).max(axis=1)  # the sampled s' error, as the physics check
        stats.update(rewards="simulator", relabel_terminals_changed=int((real.terminals != terminals).sum()),
                     relabel_sampled_dynamics_error_p95=float(np.percentile(error, 95)),
                     relabel_sampled_reward_error_mean=float(np.abs(real.rewards - rewards).mean()))
        return real.next_observations, real.rewards, real.terminals

    def _stats(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
               terminals: np.ndarray, raw_actions: np.ndarray) -> dict[str, Any]:
        assert self.demos is not None and self.demos.env_id is not None
        stats: dict[str, Any] = {"episodes": "one-step (each transition its own episode)", "rewards": "sampled",
                                 "transitions": len(obs), "terminal_share": float(terminals.mean()),
                                 "actions_clipped_share": float((np.abs(raw_actions) > 1).any(axis=1).mean())}
        formula = formula_reward(self.demos.env_id)
        if formula is not None and self.config.relabel == "none":  # relabelled rewards are the environment's
            error = np.abs(rewards - formula(obs, actions, next_obs))
            stats.update(reward_error_mean=float(error.mean()), reward_error_p95=float(np.percentile(error, 95)))
        return stats

    def fit_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"train_seconds": getattr(self, "fit_seconds", None)}
        if getattr(self, "losses", None):
            tail = self.losses[-max(1, len(self.losses) // 20):]
            stats.update(loss_first=self.losses[0], loss_last=float(np.mean(tail)))
        return stats

    def sample_stats(self) -> dict[str, Any]:
        return dict(getattr(self, "stats", {}))

    def _save(self, path: Path) -> None:
        from trajaug.core.atomic import atomic_path

        payload = {"ema": cpu_state(self.ema.state_dict()), "mean": torch.as_tensor(self.mean),
                   "std": torch.as_tensor(self.std), "width": self.config.width, "layers": self.config.layers}
        with atomic_path(path, force=True) as tmp:
            torch.save(payload, tmp)

    def _load(self, path: Path, d: int) -> None:
        try:
            payload = torch.load(path, weights_only=True, map_location=self.device)
            self.ema.load_state_dict(payload["ema"])
        except FileNotFoundError:
            raise TrajaugInputError(f"{path}: no such file (--load-model)") from None
        except Exception as error:  # torch.load and load_state_dict raise many types for a foreign file
            raise TrajaugInputError(f"{path}: not a SynthER model for transitions of size {d} with --width "
                                    f"{self.config.width} --layers {self.config.layers} ({type(error).__name__})"
                                    ) from None
        self.mean, self.std = payload["mean"].cpu().numpy(), payload["std"].cpu().numpy()
