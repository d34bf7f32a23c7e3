"""CAT/GAIL machinery: the discriminator learns, the generator saves and loads, the reward is the formula."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from trajaug.augment import ModelFiles, get_augmenter
from trajaug.augment.adversarial.cat import CATConfig
from trajaug.augment.adversarial.envs import distort
from trajaug.augment.adversarial.gail import GAILConfig
from trajaug.augment.adversarial.trainer import AdversarialTrainer
from trajaug.augment.networks import Discriminator
from trajaug.core.dataset import Dataset, concatenate
from trajaug.core.errors import TrajaugInputError

TINY = CATConfig(total_steps=512, n_envs=2, n_steps=256, ppo_batch_size=128, ppo_epochs=1, hidden=(64, 64),
                 bc_warmstart_steps=1000)
GAIL_TINY = GAILConfig(total_steps=512, n_envs=2, n_steps=256, ppo_batch_size=128, ppo_epochs=1, hidden=(64, 64),
                       bc_warmstart_steps=1000)


def test_discriminator_loss_falls_against_random_actions(cheetah_demos: Dataset) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    states, actions = cheetah_demos.observations, cheetah_demos.actions
    disc = Discriminator(17, 6, states.mean(0), states.std(0) + 1e-3, hidden=(64, 64), lr=1e-3)
    generated = rng.uniform(-1, 1, size=actions.shape)
    first = disc.update(states, actions, states, generated, rng)
    last = disc.update(states, actions, states, generated, rng, epochs=60)
    assert first["loss"] > 1.2  # ≈ 2·log 2 at the start
    assert last["loss"] < 0.5 * first["loss"]
    assert last["expert_accuracy"] > 0.85 and last["generated_accuracy"] > 0.85


def test_reward_is_minus_log_one_minus_d(cheetah_demos: Dataset) -> None:
    states, actions = cheetah_demos.observations[:5], cheetah_demos.actions[:5]
    disc = Discriminator(17, 6, np.zeros(17), np.ones(17), hidden=(64, 64), lr=3e-4)
    with torch.no_grad():
        d = torch.sigmoid(disc(torch.tensor(states), torch.tensor(actions))).double().numpy()
    np.testing.assert_allclose(disc.reward(states, actions), -np.log(1 - d), rtol=1e-5)


def test_warm_start_denoises_and_generator_round_trips(cheetah_demos: Dataset, tmp_path: Path) -> None:
    trainer = AdversarialTrainer(cheetah_demos, TINY, seed=0)
    trainer.train()
    rng = np.random.default_rng(1)
    states, actions = cheetah_demos.observations[:500], cheetah_demos.actions[:500]
    hints = distort(actions, 0.9, rng)
    corrected = trainer.act(states, hints)
    # the corrected action is closer to the expert's than the distorted hint is
    assert ((corrected - actions) ** 2).mean() < 0.5 * ((hints - actions) ** 2).mean()
    assert len(trainer.history) == 1 and np.isfinite(trainer.history[0]["loss"])
    path = tmp_path / "generator.pt"
    trainer.save(path)
    loaded = AdversarialTrainer(cheetah_demos, TINY, seed=7)
    loaded.load(path)
    np.testing.assert_allclose(loaded.act(states, hints), corrected, atol=1e-6)
    other = AdversarialTrainer(cheetah_demos, GAIL_TINY, seed=0)
    with pytest.raises(TrajaugInputError, match="not for these demos"):
        other.load(path)
    other_hint = AdversarialTrainer(cheetah_demos, dataclasses.replace(TINY, hint="time"), seed=0)
    with pytest.raises(TrajaugInputError, match="trained with --hint nearest, not time"):
        other_hint.load(path)
    fewer = AdversarialTrainer(cheetah_demos.first_episodes(1), TINY, seed=0)
    with pytest.raises(TrajaugInputError, match="generator was trained on other demos"):
        fewer.load(path)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(TrajaugInputError, match="not a trajaug generator"):
        loaded.load(tmp_path / "junk.pt")
    with pytest.raises(TrajaugInputError, match="missing.pt: no such file"):
        loaded.load(tmp_path / "missing.pt")


def test_a_loaded_generator_goes_on_training_from_its_weights(cheetah_demos: Dataset, tmp_path: Path) -> None:
    from trajaug.augment.adversarial.cat import CATAugmenter

    demos = cheetah_demos.first_episodes(1)
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    trained = CATAugmenter(TINY, seed=2, files=ModelFiles(save=str(first)))
    trained.fit(demos)
    states = demos.observations[:200]
    hints = distort(demos.actions[:200], 0.9, np.random.default_rng(0))
    before = trained.trainer.act(states, hints)
    resumed = CATAugmenter(TINY, seed=2, files=ModelFiles(load=str(first), continue_steps=512, save=str(second)))
    resumed.fit(demos)
    stats = resumed.fit_stats()
    # one more PPO rollout of 2 × 256 steps and one more discriminator pass; no second warm start
    assert stats["rollouts"] == 1 and "warm_start_loss" not in stats
    after = resumed.trainer.act(states, hints)
    # it started from the loaded weights (close to them), then PPO and the discriminator moved on
    assert 0 < np.abs(after - before).mean() < 0.1 * np.abs(hints - before).mean()
    again = CATAugmenter(TINY, seed=2, files=ModelFiles(load=str(second)))
    again.fit(demos)
    np.testing.assert_allclose(again.trainer.act(states, hints), after, atol=1e-6)
    assert not np.allclose(again.trainer.discriminator.log_probability(states, demos.actions[:200]),
                           trained.trainer.discriminator.log_probability(states, demos.actions[:200]))
    with pytest.raises(TrajaugInputError, match="--continue-steps needs --load-model"):
        ModelFiles(continue_steps=1000)
    with pytest.raises(TrajaugInputError, match="noise: does not take save"):
        get_augmenter("noise")(files=ModelFiles(save=str(first)))


def test_execution_noise_perturbs_the_executed_actions_and_stays_physical(cheetah_demos: Dataset,
                                                                          tmp_path: Path) -> None:
    from trajaug.augment import augment
    from trajaug.datasets.check import physics_check

    demos = cheetah_demos.first_episodes(1)
    path = tmp_path / "generator.pt"
    every = dataclasses.replace(TINY, keep_fraction=1.0)  # no rejection: the same two rollouts in both runs
    clean, _ = augment("cat", demos, dataclasses.replace(every, total_steps=0), per_episode=2, seed=3,
                       files=ModelFiles(save=str(path)))
    noisy, _ = augment("cat", demos, dataclasses.replace(every, execution_noise=0.2), per_episode=2, seed=3,
                       files=ModelFiles(load=str(path)))
    # same start state and generator: the first executed actions differ by the (clipped) noise alone
    first = noisy.episode_bounds[:, 0]
    difference = noisy.actions[first] - clean.actions[first]
    assert np.abs(difference).max() > 0.05 and np.abs(difference).max() <= 1.0
    assert 0.1 < float(np.abs(noisy.actions - clean.actions[: len(noisy)]).mean()) < 0.6
    assert np.abs(noisy.actions).max() <= 1.0  # executed actions are clipped to the box, then stored
    report = physics_check(noisy, max_transitions=300, seed=0)
    assert report.p95 < 1e-2  # the stored action is the executed one: every transition is physical
    with pytest.raises(TrajaugInputError, match="--execution-noise must be ≥ 0"):
        CATConfig(execution_noise=-0.1)


def test_nearest_hint_is_the_action_of_the_nearest_demo_state(cheetah_demos: Dataset) -> None:
    from trajaug.augment.adversarial.envs import DemoHints

    demos = cheetah_demos.first_episodes(2)
    mean, std = demos.observations.mean(0), demos.observations.std(0) + 1e-3
    nearest, timed = DemoHints(demos, mean, std, "nearest"), DemoHints(demos, mean, std, "time")
    rows = np.array([3, 250, demos.episode_bounds[1, 0] + 40])
    states = demos.observations[rows] + 1e-4 * std  # slightly off the demo states
    # on (or next to) a demo state both hints give that state's action
    np.testing.assert_array_equal(nearest(np.zeros(3, int), np.zeros(3, int), states), demos.actions[rows])
    np.testing.assert_array_equal(timed(np.array([0, 0, 1]), np.array([3, 250, 40]), states), demos.actions[rows])
    # away from its time step, the state-indexed hint follows the state, the time-indexed one the clock
    np.testing.assert_array_equal(nearest(np.array([0]), np.array([0]), demos.observations[[250]]),
                                  demos.actions[[250]])
    np.testing.assert_array_equal(timed(np.array([0]), np.array([0]), demos.observations[[250]]),
                                  demos.actions[[0]])
    with pytest.raises(TrajaugInputError, match="hint must be one of time, nearest"):
        CATConfig(hint="phase")


@pytest.mark.parametrize("method", ["cat", "gail"])
def test_rejection_keeps_each_demos_most_expert_like_rollouts(cheetah_demos: Dataset, tmp_path: Path,
                                                             method: str) -> None:
    from trajaug.augment import augment
    from trajaug.augment.adversarial.gail import GAILConfig

    demos = cheetah_demos.first_episodes(2)
    path = tmp_path / "generator.pt"
    config_class = CATConfig if method == "cat" else GAILConfig
    budget = ("total_steps", "n_envs", "n_steps", "ppo_batch_size", "ppo_epochs", "hidden", "bc_warmstart_steps")
    tiny = config_class(**{name: getattr(TINY, name) for name in budget})
    # keep_fraction 1, 4 per demo: exactly the 4 candidates per demo that keep_fraction 0.5 draws for 2 per demo
    every, _ = augment(method, demos, dataclasses.replace(tiny, keep_fraction=1.0), per_episode=4, seed=5,
                       files=ModelFiles(save=str(path)))
    kept, summary = augment(method, demos, dataclasses.replace(tiny, keep_fraction=0.5), per_episode=2, seed=5,
                            files=ModelFiles(load=str(path)))
    trainer = AdversarialTrainer(demos, tiny, seed=0)
    trainer.load(path)
    log_d = trainer.discriminator.log_probability(every.observations, every.actions)
    scores = np.array([log_d[a:b].mean() for a, b in every.episode_bounds]).reshape(2, 4)
    best = np.sort(np.argsort(-scores, axis=1)[:, :2] + np.array([[0], [4]]), axis=1).ravel()
    expected = every.select_episodes(best)
    assert kept.n_episodes == 4 and list(np.bincount(kept.source_episode[kept.episode_bounds[:, 0]])) == [2, 2]
    np.testing.assert_array_equal(kept.observations, expected.observations)
    rejected = np.setdiff1d(np.arange(8), best)
    assert summary["sample_candidates_per_demo"] == 4 and summary["sample_kept_per_demo"] == 2
    assert summary["sample_rejected_return_mean"] == pytest.approx(every.episode_returns()[rejected].mean())
    assert summary["sample_kept_mean_log_d"] > summary["sample_rejected_mean_log_d"]
    assert summary["augmented_return_mean"] == pytest.approx(expected.episode_returns().mean())
    with pytest.raises(TrajaugInputError, match=r"--keep-fraction must be in \(0, 1\]"):
        CATConfig(keep_fraction=0.0)


def test_horizon_env_runs_generator_episodes_to_the_time_limit(cheetah_demos: Dataset) -> None:
    from trajaug.augment import augment

    first = cheetah_demos.first_episodes(1)
    timeouts = np.zeros(30, bool)
    timeouts[-1] = True
    short = dataclasses.replace(first.take_rows(np.arange(30)), timeouts=timeouts)  # a 30-step demo
    budget = dataclasses.replace(TINY, total_steps=0, keep_fraction=1.0)
    as_demo, _ = augment("cat", short, budget, per_episode=2, seed=1)
    to_limit, summary = augment("cat", short, dataclasses.replace(budget, horizon="env"), per_episode=2, seed=1)
    assert as_demo.episode_lengths().tolist() == [30, 30]
    assert to_limit.episode_lengths().tolist() == [1000, 1000]  # HalfCheetah never terminates: its time limit
    assert to_limit.timeouts.sum() == 2 and summary["sample_kept_ended_early"] == 0
    # the same generator and start: the first 30 steps are the same trajectory
    np.testing.assert_allclose(to_limit.observations[:30], as_demo.observations[:30], atol=1e-5)
    with pytest.raises(TrajaugInputError, match="--horizon env needs --hint nearest"):
        CATConfig(horizon="env", hint="time")
    from trajaug.augment.adversarial.gail import GAILConfig

    assert GAILConfig(horizon="env", hint="time", starts="reset").horizon == "env"  # GAIL sees no hint
    with pytest.raises(TrajaugInputError, match="horizon must be one of demo, env"):
        CATConfig(horizon="forever")


def test_reset_starts_and_training_noise_change_the_generators_episodes(cheetah_demos: Dataset) -> None:
    from trajaug.augment import augment
    from trajaug.augment.adversarial.envs import DemoStartEnvs
    from trajaug.sim.rollout import make_env

    demos = cheetah_demos.first_episodes(2)
    mean, std = demos.observations.mean(0), demos.observations.std(0) + 1e-3
    horizons = demos.episode_lengths()

    def env(starts: str, action_noise: float) -> DemoStartEnvs:
        return DemoStartEnvs(demos, mean, std, 0.9, [7], "nearest", horizons, starts, action_noise)

    def first_state(vec: DemoStartEnvs, seed: int) -> np.ndarray:
        vec.seed(seed)  # used by the next reset, as stable-baselines3 seeds its environments
        return vec.reset()[0, :demos.obs_dim]

    # demo starts: every episode begins in one of the two demos' first states; reset starts: in fresh resets
    demo_env, reset_env = env("demo", 0.0), env("reset", 0.0)
    demo_starts = [first_state(demo_env, k) for k in range(6)]
    reset_starts = [first_state(reset_env, k) for k in range(6)]
    normalized_demo_firsts = (demos.observations[demos.episode_bounds[:, 0]] - mean) / std
    assert all(np.abs(normalized_demo_firsts - s).sum(1).min() < 1e-4 for s in demo_starts)
    assert all(np.abs(normalized_demo_firsts - s).sum(1).min() > 1e-3 for s in reset_starts)
    assert len({tuple(np.round(s, 6)) for s in reset_starts}) == 6
    # training noise perturbs the executed action: the same action from the same state lands elsewhere
    action = np.full(demos.act_dim, 0.3, np.float32)
    landed = {}
    for name, noise in (("clean", 0.0), ("again", 0.0), ("noisy", 0.5)):
        stepped = env("demo", noise)
        first_state(stepped, 3)
        landed[name] = stepped.step(action[None])[0][0]
    np.testing.assert_array_equal(landed["clean"], landed["again"])
    assert np.abs(landed["clean"] - landed["noisy"]).max() > 1e-3
    # generation from resets: the candidates start in the task's own initial states, not the demos'
    budget = dataclasses.replace(TINY, total_steps=0, keep_fraction=1.0, starts="reset")
    generated, _ = augment("cat", demos, budget, per_episode=2, seed=1)
    firsts = generated.observations[generated.episode_bounds[:, 0]]
    assert len({tuple(row) for row in firsts.round(6)}) == 4
    assert np.abs(firsts[:, None] - demos.observations[demos.episode_bounds[:, 0]][None]).sum(2).min() > 1e-4
    task = make_env(demos.env_id)  # each candidate k starts in the task's reset with its job seed (1 · 1000003 + k)
    resets = np.array([task.reset(seed=1_000_003 + k)[0] for k in range(4)], np.float32)
    np.testing.assert_allclose(np.sort(firsts, axis=0), np.sort(resets, axis=0), atol=1e-6)
    with pytest.raises(TrajaugInputError, match="--starts reset needs --hint nearest"):
        CATConfig(starts="reset", hint="time")
    with pytest.raises(TrajaugInputError, match="starts must be one of demo, reset"):
        CATConfig(starts="anywhere")
    with pytest.raises(TrajaugInputError, match="--training-noise must be ≥ 0"):
        CATConfig(training_noise=-1.0)


def _episodes(lengths: list[int], terminated: list[bool], marks: list[float]) -> Dataset:
    """Episodes of the given lengths, 1-D observations equal to each episode's mark, ended by a terminal or
    a timeout."""
    rows = sum(lengths)
    ends = np.cumsum(lengths) - 1
    terminals, timeouts = np.zeros(rows, bool), np.zeros(rows, bool)
    terminals[ends[terminated]] = True
    timeouts[ends[~np.asarray(terminated)]] = True
    observations = np.repeat(marks, lengths)[:, None].astype(np.float32)
    return Dataset(observations, np.zeros((rows, 1), np.float32), np.ones(rows, np.float32), observations,
                   terminals, timeouts, env_id="Hopper-v5")


def test_rejection_ranks_rollouts_that_end_early_last() -> None:
    from trajaug.augment.adversarial.rejection import lasting_per_demo, most_expert_like

    # 4 candidates for each of two demos (horizons 10 and 6 steps); the mark stands for mean log D
    generated = _episodes([10, 10, 4, 10, 6, 2, 6, 6], [False, False, True, False, False, True, False, False],
                          [-3.0, -1.0, -0.1, -2.0, -5.0, -0.2, -4.0, -6.0])
    generated = dataclasses.replace(generated, source_episode=np.repeat([0, 0, 0, 0, 1, 1, 1, 1],
                                                                        generated.episode_lengths()))
    horizons = np.array([10, 6])
    assert lasting_per_demo(generated, horizons).tolist() == [3, 3]
    kept, stats = most_expert_like(generated, generated.observations[:, 0].astype(np.float64), 2, horizons)
    # demo 0: the fallen rollout (−0.1, best score) loses to the two best that lasted (−1, −2); demo 1: same
    assert kept.tolist() == [1, 3, 4, 6]
    assert stats["candidates_ended_early"] == 2 and stats["kept_ended_early"] == 0 and stats["candidates"] == 8
    # rejected: −3 and −0.1 (lengths 10, 4), −0.2 and −6 (2, 6); every reward is 1
    assert stats["rejected_return_mean"] == pytest.approx((10 + 4 + 2 + 6) / 4)
    # candidates from another round, listed after the first round's, join their demo's ranking
    later = dataclasses.replace(generated.select_episodes([5]), source_episode=np.zeros(2, np.int32))
    both = concatenate([generated, _episodes([10], [False], [-0.5]), later])
    both = dataclasses.replace(both, source_episode=np.concatenate([generated.source_episode, np.zeros(10, np.int32),
                                                                    np.zeros(2, np.int32)]))
    kept, _ = most_expert_like(both, both.observations[:, 0].astype(np.float64), 2, horizons)
    assert kept.tolist() == [1, 4, 6, 8]  # demo 0: −0.5 (later round) and −1; demo 1 unchanged


def test_more_sampling_rounds_refill_the_demos_whose_candidates_fell(cheetah_demos: Dataset) -> None:
    from trajaug.augment import augment
    from trajaug.experts.bundled import build_expert_dataset, bundled_actor_path, load_actor

    # an untrained generator (no warm start, no adversarial phase) makes Hopper fall: every round is drawn
    hopper = build_expert_dataset("Hopper-v5", load_actor(bundled_actor_path("hopper")), episodes=1)
    untrained = CATConfig(total_steps=0, bc_warmstart_steps=0, n_envs=1, hidden=(16,), keep_fraction=0.5)
    _, summary_once = augment("cat", hopper, untrained, per_episode=2, seed=4)
    thrice, summary = augment("cat", hopper, dataclasses.replace(untrained, sample_rounds=3), per_episode=2, seed=4)
    assert summary["sample_rounds"] == 3 and summary["sample_candidates"] == 12
    assert summary["sample_candidates_ended_early"] == 12 and summary["sample_kept_ended_early"] == 2
    assert thrice.n_episodes == 2 and summary["sample_kept_mean_log_d"] >= summary["sample_rejected_mean_log_d"]
    # later rounds draw new hints: if they repeated the first round, the candidates' mean return would be its mean
    assert summary["sample_candidate_return_mean"] != pytest.approx(summary_once["sample_candidate_return_mean"])
    # HalfCheetah never ends early: one round is enough and it is the round the augmenter always drew
    demos = cheetah_demos.first_episodes(1)
    every = dataclasses.replace(TINY, total_steps=0, keep_fraction=1.0)
    one, summary_one = augment("cat", demos, dataclasses.replace(every, sample_rounds=3), per_episode=2, seed=4)
    plain, _ = augment("cat", demos, every, per_episode=2, seed=4)
    assert summary_one["sample_rounds"] == 1 and summary_one["sample_candidates"] == 2
    np.testing.assert_array_equal(one.observations, plain.observations)
    with pytest.raises(TrajaugInputError, match="--sample-rounds must be ≥ 1"):
        CATConfig(sample_rounds=0)


def test_chunked_training_keeps_the_chunk_whose_probe_fell_least(cheetah_demos: Dataset, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import trajaug.augment.adversarial.rejection as rejection
    from trajaug.augment.adversarial.cat import CATAugmenter

    demos = cheetah_demos.first_episodes(1)
    # HalfCheetah never falls: the probe's verdicts are scripted, 2 candidates per chunk, falls 1, 1, 2
    verdicts = iter([[True, False], [False, True], [False, False]])
    monkeypatch.setattr(rejection, "lasted", lambda generated, horizons: np.array(next(verdicts)))
    snapshots: list[dict[str, torch.Tensor]] = []
    warm_starts: list[int] = []
    train, warm_start = AdversarialTrainer.train, AdversarialTrainer._warm_start

    def recorded_train(self: AdversarialTrainer, *args: object, **kwargs: object) -> None:
        train(self, *args, **kwargs)  # type: ignore[arg-type]
        snapshots.append({k: v.clone() for k, v in self.policy.state_dict().items()})

    def counted_warm_start(self: AdversarialTrainer, *args: object) -> None:
        warm_starts.append(1)
        warm_start(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(AdversarialTrainer, "train", recorded_train)
    monkeypatch.setattr(AdversarialTrainer, "_warm_start", counted_warm_start)
    path = tmp_path / "chosen.pt"  # (its chunk checkpoints go next to it)
    augmenter = CATAugmenter(dataclasses.replace(TINY, total_steps=3 * 512, chunks=3, probe_per_demo=2), seed=1,
                             files=ModelFiles(save=str(path)))
    augmenter.fit(demos)
    stats = augmenter.fit_stats()
    assert stats["chunk_falls"] == [1, 1, 2] and stats["chosen_chunk"] == 1  # ties go to the later chunk
    assert stats["probe_candidates"] == 2 and stats["rollouts"] == 3 and len(warm_starts) == 1
    kept = augmenter.trainer.policy.state_dict()
    assert all(torch.equal(kept[k], snapshots[1][k]) for k in kept)
    assert not all(torch.equal(kept[k], snapshots[2][k]) for k in kept)  # the last chunk moved on
    loaded = AdversarialTrainer(demos, TINY, seed=0)
    loaded.load(path)  # the saved generator is the chosen one
    states, hints = demos.observations[:50], distort(demos.actions[:50], 0.9, np.random.default_rng(0))
    np.testing.assert_allclose(loaded.act(states, hints), augmenter.trainer.act(states, hints), atol=1e-6)
    with pytest.raises(TrajaugInputError, match="--chunks must be ≥ 1"):
        CATConfig(chunks=0)


def test_the_fall_probe_counts_the_kept_generators_falls() -> None:
    from trajaug.augment.adversarial.augmenter import PROBE_STREAM
    from trajaug.augment.adversarial.cat import CATAugmenter
    from trajaug.augment.adversarial.envs import DemoHints, episode_horizons
    from trajaug.augment.adversarial.rejection import lasted
    from trajaug.experts.bundled import build_expert_dataset, bundled_actor_path, load_actor

    # a barely trained generator: Hopper falls in some of its probe candidates, not in all
    hopper = build_expert_dataset("Hopper-v5", load_actor(bundled_actor_path("hopper")), episodes=1)
    config = dataclasses.replace(TINY, total_steps=2 * 512, chunks=2, probe_per_demo=6, bc_warmstart_steps=300)
    augmenter = CATAugmenter(config, seed=6)
    augmenter.fit(hopper)
    falls, chosen = augmenter.chunk_falls, augmenter.chosen_chunk
    assert len(falls) == 2 and max(falls) > 0 and min(falls) < 6 and falls[chosen] == min(falls)
    # probing the kept generator again, with the chosen chunk's noise streams, finds the same falls
    horizons = episode_horizons(hopper, "demo")
    hints = DemoHints(hopper, augmenter.trainer.obs_mean, augmenter.trainer.obs_std, "nearest")
    again = augmenter._roll_out(np.zeros(6, int), hints, horizons, PROBE_STREAM + chosen, None, "probe")
    assert int((~lasted(again, horizons)).sum()) == falls[chosen]


def test_an_interrupted_chunked_training_goes_on_from_its_last_chunk(cheetah_demos: Dataset,
                                                                     tmp_path: Path) -> None:
    import shutil

    from trajaug.augment.adversarial.cat import CATAugmenter

    demos = cheetah_demos.first_episodes(1)
    config = dataclasses.replace(TINY, total_steps=2 * 512, chunks=2, probe_per_demo=2)
    tmp_path = tmp_path / "generators"
    tmp_path.mkdir()
    whole = CATAugmenter(config, seed=5, files=ModelFiles(save=str(tmp_path / "whole.pt")))
    whole.fit(demos)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole.pt", "whole.pt.chunk1.pt", "whole.pt.chunk2.pt"]
    # a run killed after its first chunk left that chunk's checkpoint behind; the rerun goes on from it
    shutil.copy(tmp_path / "whole.pt.chunk1.pt", tmp_path / "rerun.pt.chunk1.pt")
    rerun = CATAugmenter(config, seed=5, files=ModelFiles(save=str(tmp_path / "rerun.pt")))
    rerun.fit(demos)
    assert rerun.resumed_chunks == 1 and rerun.chunk_falls == whole.chunk_falls
    assert rerun.fit_stats()["rollouts"] == whole.fit_stats()["rollouts"] == 2
    assert rerun.fit_stats()["warm_start_loss"] == whole.fit_stats()["warm_start_loss"]
    states, hints = demos.observations[:100], distort(demos.actions[:100], 0.9, np.random.default_rng(0))
    # the second chunk has the very weights of the uninterrupted run's (generator and discriminator)
    a = AdversarialTrainer(demos, TINY, seed=0)
    b = AdversarialTrainer(demos, TINY, seed=0)
    a.load(tmp_path / "whole.pt.chunk2.pt")
    b.load(tmp_path / "rerun.pt.chunk2.pt")
    np.testing.assert_array_equal(a.act(states, hints), b.act(states, hints))
    np.testing.assert_array_equal(a.discriminator.log_probability(states, demos.actions[:100]),
                                  b.discriminator.log_probability(states, demos.actions[:100]))
    np.testing.assert_array_equal(rerun.trainer.act(states, hints), whole.trainer.act(states, hints))
    other_seed = CATAugmenter(config, seed=6, files=ModelFiles(save=str(tmp_path / "rerun.pt")))
    with pytest.raises(TrajaugInputError, match=r"rerun.pt.chunk2.pt: a chunk of another training"):
        other_seed.fit(demos)


def test_batched_nearest_hint_finds_the_neighbours_of_single_queries(cheetah_demos: Dataset) -> None:
    from trajaug.augment.adversarial.envs import DemoHints

    mean, std = cheetah_demos.observations.mean(0), cheetah_demos.observations.std(0) + 1e-3
    hints = DemoHints(cheetah_demos, mean, std, "nearest")
    rng = np.random.default_rng(0)
    states = cheetah_demos.observations[rng.integers(len(cheetah_demos), size=400)]
    states = states + rng.normal(0.0, 0.3, states.shape) * std  # off the demo states, as a drifting generator
    normalized = (cheetah_demos.observations - mean) / std
    expected = [np.argmin((((s - mean) / std - normalized) ** 2).sum(axis=1)) for s in states]  # one at a time
    np.testing.assert_array_equal(hints.nearest_rows(states), expected)


def test_generator_vec_env_replays_like_the_simulator(short_cheetah_demos: Dataset) -> None:
    from trajaug.augment.adversarial.envs import DemoStartEnvs
    from trajaug.sim.rollout import make_env, restore

    demos = short_cheetah_demos
    mean, std = demos.observations.mean(0), demos.observations.std(0) + 1e-3
    horizons = np.array([5, 7])
    env = DemoStartEnvs(demos, mean, std, 0.5, [3, 4], "time", horizons, "demo", 0.0)
    observations = env.reset()
    assert observations.shape == (2, 17 + 6) and observations.dtype == np.float32
    rng = np.random.default_rng(0)
    executed: list[list[np.ndarray]] = [[], []]
    episodes = []
    for _ in range(8):
        actions = rng.uniform(-1, 1, (2, 6)).astype(np.float32)
        demo_before = env.demo.copy()
        observations, _, dones, infos = env.step(actions)
        for k in range(2):
            executed[k].append(actions[k])
            # the hint is the own demo's action at this step, distorted by at most σ
            if not dones[k]:
                demo_action = demos.actions[demos.episode_bounds[env.demo[k], 0] + env.step_index[k]]
                assert np.abs(observations[k, 17:] - demo_action).max() <= 0.5 + 1e-6
            if dones[k]:
                assert infos[k]["TimeLimit.truncated"] and len(executed[k]) == horizons[demo_before[k]]
                episodes.append((demo_before[k], executed[k], infos[k]))
                executed[k] = []
    assert len(episodes) >= 2
    sim = make_env("HalfCheetah-v5")
    for demo, actions, info in episodes:  # replaying the actions from the demo's start gives the same episode
        sim.reset(seed=0)
        restore(sim, demos.qpos[demos.episode_bounds[demo, 0]], demos.qvel[demos.episode_bounds[demo, 0]])
        total = 0.0
        for action in actions:
            state, reward, *_ = sim.step(action)
            total += float(reward)
        assert info["env_return"] == pytest.approx(total, abs=1e-9)
        np.testing.assert_allclose(info["terminal_observation"][:17], ((state - mean) / std).astype(np.float32))
        np.testing.assert_array_equal(info["terminal_observation"][17:], 0.0)

