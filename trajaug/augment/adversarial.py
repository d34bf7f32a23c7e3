"""Adversarial generator training shared by CAT and GAIL: a PPO policy rewarded by the discriminator.

The generator acts in the simulator. Every episode starts in the initial state of a random demo (restored from
qpos/qvel; ``starts = reset``: a fresh reset of the task) and lasts that demo's length (``horizon = env``: the time
limit), or until the task terminates. Its observation is ``[ŝ_t, a'_t]``:
ŝ_t the state normalised with the demos' statistics and, for CAT, the distorted demo action
a'_t = clip(a_E,t + ν_t), ν_t ~ U(−σ, σ) (GAIL sees ŝ_t alone). Its reward is

    r_t = −log(1 − D(s_t, a_t)) − λ·||a_t − a'_t||²      (λ = 0 for GAIL)

i.e. minus the generator loss L_φ of the reference (§2). The reference optimises it with TRPO; we use
stable-baselines3's PPO (an on-policy method of the same family that SB3 maintains; SB3 has no TRPO in its core).
After each PPO rollout the discriminator takes one pass over the rollout's (s, a) pairs against demo pairs.

Warm start (our addition, off with ``bc_warmstart_steps=0``): before the adversarial phase, the policy mean is
fitted by regression to the demo action a_E from [ŝ, a'] (denoising for CAT, plain BC for GAIL). Two CPU cores
afford a few hundred thousand PPO steps, which from a random policy is far from enough on MuJoCo; the warm
start lets the adversarial phase spend them on correcting the compounding errors that regression leaves.

This module holds the shared config and the augmenter (fit, then sample with rejection); the training itself is
``trajaug.augment.adversarial_trainer``, the generator's environment ``trajaug.augment.generator_env``.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from trajaug.augment.adversarial_trainer import AdversarialTrainer
from trajaug.augment.base import Augmenter, Progress, execute_from_demos
from trajaug.augment.generator_env import DemoHints, episode_horizons
from trajaug.config import config_record
from trajaug.datasets.dataset import Dataset, concatenate
from trajaug.datasets.errors import TrajaugInputError

HINTS = ("time", "nearest")
"""Values of ``AdversarialConfig.hint``."""
HORIZONS = ("demo", "env")
"""Values of ``AdversarialConfig.horizon``."""
STARTS = ("demo", "reset")
"""Values of ``AdversarialConfig.starts``."""
RUN_ONLY_FIELDS = ("save_generator", "load_generator")
"""Config fields that say where files go, not how the generator trains (a chunk checkpoint may differ in them)."""
PROBE_STREAM = 1000
"""Round index of the first chunk's fall probe: its noise streams are apart from the sampling rounds' (0, 1, …)."""


@dataclass(frozen=True)
class AdversarialConfig:
    total_steps: int = 1_000_000
    """Environment steps of the adversarial PPO phase (GAIL; CAT: 1.5M, see ``CATConfig``)."""
    n_envs: int = 8
    """Parallel generator environments (stepped in one process)."""
    n_steps: int = 256
    """PPO rollout length per environment (rollout = n_envs × n_steps transitions)."""
    ppo_batch_size: int = 256
    """PPO minibatch size."""
    ppo_epochs: int = 5
    """PPO epochs per rollout."""
    ppo_lr: float = 1e-4
    """PPO Adam learning rate (small: the warm-started policy should be refined, not relearned)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE λ."""
    hidden: tuple[int, ...] = (256, 256)
    """Generator policy and value hidden sizes (tanh)."""
    log_std_init: float = -1.5
    """Initial log standard deviation of the Gaussian generator."""
    bc_warmstart_steps: int = 20_000
    """Regression steps fitting the policy mean to the demo actions before the adversarial phase (0: off;
    the reference has no warm start)."""
    disc_hidden: tuple[int, ...] = (64, 64)
    """Discriminator hidden sizes (reference 2×64 tanh)."""
    disc_lr: float = 3e-4
    """Discriminator Adam learning rate."""
    disc_entropy_weight: float = 1e-3
    """Entropy bonus of the discriminator (reference 1e-3)."""
    stochastic_sampling: bool = False
    """Sample generator actions when generating (default: the Gaussian's mean; diversity comes from ν)."""
    hint: str = "nearest"
    """Which demo action a'_t distorts (CAT only): ``nearest`` — the action at the demo state nearest to s_t
    (Euclidean in normalised state space, over every demo); ``time`` — the action of the generator's own demo at
    step t (the reference)."""
    horizon: str = "demo"
    """How long each generator episode (training and generation) runs from its start unless the task ends it:
    ``demo`` — its demo's own length (the reference); ``env`` — the environment's time limit (1000 steps on
    MuJoCo). ``env`` needs ``hint = nearest`` for CAT."""
    starts: str = "demo"
    """Where generator episodes (training and generation) start: ``demo`` — in a demo's initial state (the
    reference); ``reset`` — in a fresh reset of the task, each episode still belonging to a demo for its horizon and
    the per-demo rejection. ``reset`` needs ``hint = nearest`` for CAT."""
    training_noise: float = 0.0
    """σ of Gaussian noise added to the generator's action before it is executed while the generator trains;
    the reward judges the action it chose. 0: off (the reference)."""
    sample_rounds: int = 1
    """Rounds of candidates at most: after each, the demos with fewer than ``per_episode`` candidates that lasted
    their horizon get another ⌈per_episode / keep_fraction⌉ (rejection sampling of falls; the reward is not looked
    at). 1: one round (the rejection of ``keep_fraction`` alone)."""
    execution_noise: float = 0.0
    """σ of Gaussian noise added to the generator's action when generating (DART, Laskey et al. 2017); the
    executed action (clipped to the box) is the one stored, so every transition stays physical. 0: off (the
    reference)."""
    keep_fraction: float = 0.8
    """Discriminator rejection sampling (after Azadi et al., ICLR 2019): roll out ⌈per_episode / keep_fraction⌉
    candidates per demo and keep the ``per_episode`` that last their horizon and, among them, have the highest mean
    log D(s, a); the simulator's reward is not looked at. 1: keep every rollout (the reference)."""
    save_generator: str = ""
    """Write the trained generator (policy + discriminator, weights_only file) here."""
    load_generator: str = ""
    """Skip training: load a generator saved with --save-generator (refused on other demos than it was trained on)."""
    continue_steps: int = 0
    """With ``load_generator``: train the loaded generator and discriminator this many more adversarial steps
    before sampling (no warm start; PPO's optimiser starts afresh), so a long training can run in chunks and be
    saved again with ``save_generator``. 0: sample from the loaded generator as it is."""

    chunks: int = 1
    """Train in this many equal chunks of the run's steps (``total_steps``, or ``continue_steps`` for a loaded
    generator) and keep the chunk whose generator fell least: after each chunk ``probe_per_demo`` candidates per
    demo are rolled out as when generating and those the task ended before their horizon are counted (ties: the
    later chunk). With ``save_generator`` every chunk is checkpointed and a rerun resumes after the last one.
    1: the final generator (the reference)."""
    probe_per_demo: int = 60
    """Candidates per demo of the fall count after each chunk (``chunks`` > 1)."""

    corrects_hint: ClassVar[bool] = True
    """Whether the generator sees the hint a' (CAT); GAIL's does not, so ``hint`` constrains nothing there."""

    def __post_init__(self) -> None:
        for name in ("execution_noise", "training_noise"):
            if not getattr(self, name) >= 0:
                raise TrajaugInputError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        if self.continue_steps < 0 or (self.continue_steps and not self.load_generator):
            raise TrajaugInputError("continue_steps must be ≥ 0 and needs load_generator")
        if self.chunks < 1 or self.probe_per_demo < 1:
            raise TrajaugInputError(f"chunks and probe_per_demo must be ≥ 1, got {self.chunks}, "
                                    f"{self.probe_per_demo}")
        if self.sample_rounds < 1:
            raise TrajaugInputError(f"sample_rounds must be ≥ 1, got {self.sample_rounds}")
        if not 0 < self.keep_fraction <= 1:
            raise TrajaugInputError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")
        if self.hint not in HINTS:
            raise TrajaugInputError(f"hint must be one of {', '.join(HINTS)}, got {self.hint!r}")
        if self.horizon not in HORIZONS:
            raise TrajaugInputError(f"horizon must be one of {', '.join(HORIZONS)}, got {self.horizon!r}")
        if self.starts not in STARTS:
            raise TrajaugInputError(f"starts must be one of {', '.join(STARTS)}, got {self.starts!r}")
        if self.corrects_hint and self.horizon == "env" and self.hint == "time":
            raise TrajaugInputError("horizon env needs hint nearest: the time-indexed hint ends with its demo")
        if self.corrects_hint and self.starts == "reset" and self.hint == "time":
            raise TrajaugInputError("starts reset needs hint nearest: the time-indexed hint follows one demo")


class AdversarialAugmenter(Augmenter):
    """Common fit/sample of CAT and GAIL: train (or load) the generator, then roll it out from demo starts."""

    config: Any

    def _trainer_settings(self) -> tuple[float | None, float]:
        """(σ of the hint or None for no hint, λ)."""
        raise NotImplementedError

    def fit(self, demos: Dataset, progress: Progress | None = None) -> None:
        super().fit(demos, progress)
        sigma, l2_weight = self._trainer_settings()
        self.trainer = AdversarialTrainer(demos, self.config, sigma, l2_weight, self.seed)
        steps = self.config.total_steps
        if self.config.load_generator:
            self.trainer.load(self.config.load_generator)
            steps = self.config.continue_steps
        if self.config.chunks > 1 and steps:
            self._train_in_chunks(steps, progress)
        elif steps or not self.config.load_generator:  # a fresh generator is warm-started even with 0 steps
            self.trainer.train(progress, steps=steps)
        if self.config.save_generator:
            self.trainer.save(self.config.save_generator)

    def _train_in_chunks(self, steps: int, progress: Progress | None) -> None:
        """Train ``steps`` in ``chunks`` parts; keep the part whose probe candidates fell least (see
        ``AdversarialConfig.chunks``); ``self.chunk_falls`` records every part's count. With ``save_generator``
        each finished part is also written to ``<save_generator>.chunkK.pt`` (K = 1…chunks), and a run with the
        same config and seed goes on after the last one it finds, exactly as the interrupted run would have."""
        from trajaug.augment.rejection import lasted

        demos, chunks = self.demos, self.config.chunks
        assert demos is not None
        horizons = episode_horizons(demos, self.config.horizon)
        probe_demos = np.repeat(np.arange(demos.n_episodes), self.config.probe_per_demo)
        self.chunk_falls: list[int] = self._resume_chunks()
        demo_hints = DemoHints(demos, self.trainer.obs_mean, self.trainer.obs_std, self.config.hint)
        best: tuple[dict[str, Any], dict[str, Any]] | None = None
        for chunk in range(len(self.chunk_falls), chunks):
            self.trainer.train(progress, steps=steps // chunks + (steps % chunks if chunk == chunks - 1 else 0))
            probe = self._roll_out(probe_demos, demo_hints, horizons, PROBE_STREAM + chunk, None)
            self.chunk_falls.append(int((~lasted(probe, horizons)).sum()))
            if self.config.save_generator:
                self.trainer.save(self._chunk_path(chunk), resume={"chunk_falls": self.chunk_falls})
            if self.chunk_falls[-1] <= min(self.chunk_falls):
                best = (copy.deepcopy(self.trainer.policy.state_dict()),
                        copy.deepcopy(self.trainer.discriminator.state_dict()))
        self.chosen_chunk = len(self.chunk_falls) - 1 - self.chunk_falls[::-1].index(min(self.chunk_falls))
        if self.chosen_chunk >= self.resumed_chunks:  # trained by this run: its weights were kept in ``best``
            assert best is not None
            self.trainer.policy.load_state_dict(best[0])
            self.trainer.discriminator.load_state_dict(best[1])
        else:  # the chosen chunk was trained by an earlier, interrupted run
            self.trainer.load(self._chunk_path(self.chosen_chunk))

    def _chunk_path(self, chunk: int) -> str:
        """Where chunk ``chunk`` (0-based) of a saved training is kept."""
        return f"{self.config.save_generator}.chunk{chunk + 1}.pt"

    def _resume_chunks(self) -> list[int]:
        """Load the last chunk checkpoint of this run, if any, and return the chunks' fall counts so far."""
        self.resumed_chunks = 0
        if not self.config.save_generator:
            return []
        done = [k for k in range(self.config.chunks) if Path(self._chunk_path(k)).is_file()]
        if not done:
            return []
        path = self._chunk_path(done[-1])
        record = self.trainer.load(path)
        ours, theirs = config_record(self.config), json.loads(json.dumps(record["config"], default=str))
        for name in RUN_ONLY_FIELDS:
            ours.pop(name)
            theirs.pop(name, None)
        if record["resume"] is None or record["resume"]["seed"] != self.seed or ours != theirs:
            raise TrajaugInputError(f"{path}: a chunk of another training (config or seed differ); remove it or "
                                    "save this generator elsewhere")
        self.trainer.restore(record["resume"])
        self.resumed_chunks = len(record["resume"]["chunk_falls"])
        return list(record["resume"]["chunk_falls"])

    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        """Roll out ⌈per_episode / keep_fraction⌉ candidates per demo (more rounds for the demos that have fewer
        than ``per_episode`` lasting ones, up to ``sample_rounds``) and keep the most expert-like
        (:func:`trajaug.augment.rejection.most_expert_like`)."""
        from trajaug.augment.rejection import lasting_per_demo, most_expert_like

        demos = self.demos
        assert demos is not None
        candidates = math.ceil(round(per_episode / self.config.keep_fraction, 9))
        horizons = episode_horizons(demos, self.config.horizon)
        # stochastic sampling draws from torch's global generator: seed it here, so that a loaded generator
        # samples the same trajectories as the freshly trained one
        torch.manual_seed(int(np.random.default_rng([self.seed, 3]).integers(2**31)))
        demo_hints = DemoHints(demos, self.trainer.obs_mean, self.trainer.obs_std, self.config.hint)
        rounds: list[Dataset] = []
        short = np.arange(demos.n_episodes)  # demos with fewer than per_episode lasting candidates so far
        while len(short) and len(rounds) < self.config.sample_rounds:
            rounds.append(self._roll_out(np.repeat(short, candidates), demo_hints, horizons, len(rounds), progress))
            generated = rounds[0] if len(rounds) == 1 else concatenate(rounds)
            short = np.flatnonzero(lasting_per_demo(generated, horizons) < per_episode)
        log_d = self.trainer.discriminator.log_probability(generated.observations, generated.actions)
        kept, stats = most_expert_like(generated, log_d, per_episode, horizons)
        self.rejection = {**stats, "candidates_per_demo": candidates, "rounds": len(rounds)}
        return generated.select_episodes(kept)

    def _roll_out(self, job_demos: np.ndarray, demo_hints: DemoHints, horizons: np.ndarray, round_index: int,
                  progress: Progress | None) -> Dataset:
        """One generator rollout per entry of ``job_demos`` (demo indices), each with fresh hint noise (and
        execution noise); round 0 draws the streams the augmenter always drew, later rounds new ones."""
        demos = self.demos
        assert demos is not None
        sigma, _ = self._trainer_settings()
        longest = int(horizons.max())
        stream = [] if round_index == 0 else [round_index]
        noise = (np.random.default_rng([self.seed, 1, *stream]).uniform(
            -sigma, sigma, size=(len(job_demos), longest, demos.act_dim)) if sigma is not None else None)
        execution = (np.random.default_rng([self.seed, 2, *stream]).normal(
            0.0, self.config.execution_noise, size=(len(job_demos), longest, demos.act_dim))
            if self.config.execution_noise > 0 else None)

        def controller(jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
            hints = (None if noise is None
                     else np.clip(demo_hints(job_demos[jobs], steps, observations) + noise[jobs, steps], -1.0, 1.0))
            chosen = self.trainer.act(observations, hints)
            return chosen if execution is None else chosen + execution[jobs, steps]

        return execute_from_demos(demos, [int(d) for d in job_demos], controller,
                                  self.seed + 7919 * round_index, progress,
                                  max_steps=[int(horizons[d]) for d in job_demos],
                                  from_reset=self.config.starts == "reset")

    def sample_stats(self) -> dict[str, Any]:
        return dict(getattr(self, "rejection", {}))

    def fit_stats(self) -> dict[str, Any]:
        history = self.trainer.history
        stats: dict[str, Any] = {"rollouts": len(history)}
        if history:
            stats.update(disc_loss_first=history[0]["loss"], disc_loss_last=history[-1]["loss"],
                         generator_env_return_last=history[-1]["generator_env_return"])
        if hasattr(self, "chunk_falls"):
            assert self.demos is not None
            stats.update(chunk_falls=self.chunk_falls, chosen_chunk=self.chosen_chunk,
                         probe_candidates=self.config.probe_per_demo * self.demos.n_episodes)
        if hasattr(self.trainer, "warm_start_loss"):
            stats["warm_start_loss"] = self.trainer.warm_start_loss
        return stats
