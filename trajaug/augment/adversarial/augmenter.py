"""Adversarial generator training shared by CAT and GAIL: a PPO policy rewarded by the discriminator.

The generator acts in the simulator. Every episode starts in the initial state of a random demo (restored from
qpos/qvel; ``starts = reset``: a fresh reset of the task) and lasts that demo's length (``horizon = env``: the time
limit), or until the task terminates. Its observation is ``[ŝ_t, a'_t]``:
ŝ_t the state normalised with the demos' statistics and, for CAT, the distorted demo action
a'_t = clip(a_E,t + ν_t), ν_t ~ U(−σ, σ) (GAIL sees ŝ_t alone). Its reward is

    r_t = −log(1 − D(s_t, a_t)) − λ·||a_t − a'_t||²      (λ = 0 for GAIL)

i.e. minus the generator loss L_φ of the reference (§2). The reference optimises it with TRPO; we use PPO, an
on-policy method of the same family (``adversarial.ppo``: stable-baselines3's PPO arithmetic, written out).
After each PPO rollout the discriminator takes one pass over the rollout's (s, a) pairs against demo pairs.

Warm start (our addition, off with ``bc_warmstart_steps=0``): before the adversarial phase, the policy mean is
fitted by regression to the demo action a_E from [ŝ, a'] (denoising for CAT, plain BC for GAIL), so that the
adversarial phase spends its PPO steps correcting the compounding errors that regression leaves rather than
learning to walk from a random policy (docs/methods/cat.md says why).

This module holds the shared config and the augmenter (fit, then sample with rejection); the training itself is
``trajaug.augment.adversarial.trainer``, the generator's environment ``trajaug.augment.adversarial.envs``.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trajaug.augment.adversarial.envs import DemoHints, episode_horizons
from trajaug.augment.adversarial.trainer import AdversarialTrainer
from trajaug.augment.base import Augmenter, Progress
from trajaug.augment.model_files import split_run_options
from trajaug.augment.simulate import execute_from_demos
from trajaug.core.config import config_record
from trajaug.core.dataset import Dataset, concatenate
from trajaug.core.errors import TrajaugInputError

PROBE_STREAM = 1000
"""Round index of the first chunk's fall probe: its noise streams are apart from the sampling rounds' (0, 1, …)."""


class AdversarialAugmenter(Augmenter):
    """Common fit/sample of CAT and GAIL: train (or load) the generator, then roll it out from demo starts."""

    config: Any
    model_files = ("save", "load", "continue_steps")
    uses_device = True

    def fit(self, demos: Dataset, progress: Progress | None = None) -> None:
        super().fit(demos, progress)
        self.trainer = AdversarialTrainer(demos, self.config, self.seed, self.device)
        steps = self.config.total_steps
        if self.files.load:
            self.trainer.load(self.files.load)
            steps = self.files.continue_steps
        if self.config.chunks > 1 and steps:
            self._train_in_chunks(steps, progress)
        elif steps or not self.files.load:  # a fresh generator is warm-started even with 0 steps
            self.trainer.train(progress, steps=steps)
        if self.files.save:
            self.trainer.save(self.files.save)

    def _train_in_chunks(self, steps: int, progress: Progress | None) -> None:
        """Train ``steps`` in ``chunks`` parts; keep the part whose probe candidates fell least (see
        ``AdversarialConfig.chunks``); ``self.chunk_falls`` records every part's count. With ``files.save``
        each finished part is also written to ``<files.save>.chunkK.pt`` (K = 1…chunks), and a run with the
        same config and seed goes on after the last one it finds, exactly as the interrupted run would have."""
        from trajaug.augment.adversarial.rejection import lasted

        demos, chunks = self.demos, self.config.chunks
        assert demos is not None
        horizons = episode_horizons(demos, self.config.horizon)
        probe_demos = np.repeat(np.arange(demos.n_episodes), self.config.probe_per_demo)
        self.chunk_falls: list[int] = self._resume_chunks()
        demo_hints = DemoHints(demos, self.trainer.obs_mean, self.trainer.obs_std, self.config.hint)
        best: tuple[dict[str, Any], dict[str, Any]] | None = None
        for chunk in range(len(self.chunk_falls), chunks):
            self.trainer.train(progress, steps=steps // chunks + (steps % chunks if chunk == chunks - 1 else 0),
                               label=f"chunk {chunk + 1}/{chunks}: environment steps")
            probe = self._roll_out(probe_demos, demo_hints, horizons, PROBE_STREAM + chunk, progress,
                                   f"chunk {chunk + 1}/{chunks}: fall probe")
            self.chunk_falls.append(int((~lasted(probe, horizons)).sum()))
            if self.files.save:
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
        return f"{self.files.save}.chunk{chunk + 1}.pt"

    def _resume_chunks(self) -> list[int]:
        """Load the last chunk checkpoint of this run, if any, and return the chunks' fall counts so far."""
        self.resumed_chunks = 0
        if not self.files.save:
            return []
        done = [k for k in range(self.config.chunks) if Path(self._chunk_path(k)).is_file()]
        if not done:
            return []
        path = self._chunk_path(done[-1])
        record = self.trainer.load(path)
        ours = config_record(self.config)
        theirs, _ = split_run_options(json.loads(json.dumps(record["config"], default=str)))
        if record["resume"] is None or record["resume"]["seed"] != self.seed or ours != theirs:
            raise TrajaugInputError(f"{path}: a chunk of another training (config or seed differ); remove it or "
                                    "save this generator elsewhere")
        self.trainer.restore(record["resume"])
        self.resumed_chunks = len(record["resume"]["chunk_falls"])
        return list(record["resume"]["chunk_falls"])

    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        """Roll out ⌈per_episode / keep_fraction⌉ candidates per demo (more rounds for the demos that have fewer
        than ``per_episode`` lasting ones, up to ``sample_rounds``) and keep the most expert-like
        (:func:`trajaug.augment.adversarial.rejection.most_expert_like`)."""
        from trajaug.augment.adversarial.rejection import lasting_per_demo, most_expert_like

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
            label = "sampling trajectories" + (f" (round {len(rounds) + 1})" if rounds else "")
            rounds.append(self._roll_out(np.repeat(short, candidates), demo_hints, horizons, len(rounds), progress,
                                         label))
            generated = rounds[0] if len(rounds) == 1 else concatenate(rounds)
            short = np.flatnonzero(lasting_per_demo(generated, horizons) < per_episode)
        log_d = self.trainer.discriminator.log_probability(generated.observations, generated.actions)
        kept, stats = most_expert_like(generated, log_d, per_episode, horizons)
        self.rejection = {**stats, "candidates_per_demo": candidates, "rounds": len(rounds)}
        return generated.select_episodes(kept)

    def _roll_out(self, job_demos: np.ndarray, demo_hints: DemoHints, horizons: np.ndarray, round_index: int,
                  progress: Progress | None, label: str) -> Dataset:
        """One generator rollout per entry of ``job_demos`` (demo indices), each with fresh hint noise (and
        execution noise); round 0 draws the streams the augmenter always drew, later rounds new ones."""
        demos = self.demos
        assert demos is not None
        sigma = self.trainer.sigma
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
                                  from_reset=self.config.starts == "reset", label=label)

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
