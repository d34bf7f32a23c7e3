"""SynthER: the diffusion model learns a known distribution, the output is a valid one-step-episode D4RL file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from trajaug.augment import ModelFiles, augment
from trajaug.augment.diffusion.edm import EDM, ResidualMLPDenoiser
from trajaug.augment.diffusion.relabel import step_once
from trajaug.augment.diffusion.synther import SynthERConfig
from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.datasets.check import physics_check, simulate_next
from trajaug.sim.rollout import make_env, restore, state_from_observation
from trajaug.storage.d4rl import read_d4rl, write_d4rl

TINY = SynthERConfig(width=64, layers=2, steps=300, batch_size=128, sample_steps=8)


def mixture(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two Gaussians at (−2, 1) and (2, 1), std 0.3, equal weights: mean (0, 1), var (4.09, 0.09)."""
    centres = np.where(rng.random(n) < 0.5, -2.0, 2.0)
    return np.stack([centres, np.ones(n)], axis=1) + 0.3 * rng.standard_normal((n, 2))


def trained_edm(steps: int) -> tuple[EDM, list[float], np.ndarray, np.ndarray]:
    torch.manual_seed(0)
    data = mixture(4000, np.random.default_rng(0))
    mean, std = data.mean(axis=0), data.std(axis=0)
    x = torch.as_tensor((data - mean) / std, dtype=torch.float32)
    model = EDM(ResidualMLPDenoiser(2, 128, 2), 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        loss = model.loss(x[torch.randint(len(x), (256,))])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses, mean, std


def test_denoiser_loss_falls_and_samples_match_a_known_mixture() -> None:
    model, losses, mean, std = trained_edm(1500)
    assert np.mean(losses[-200:]) < 0.9 * np.mean(losses[:50])  # EDM's weighted loss keeps an irreducible part
    samples = model.sample(4000, 32, torch.Generator().manual_seed(1)).numpy() * std + mean
    np.testing.assert_allclose(samples.mean(axis=0), [0.0, 1.0], atol=0.15)
    np.testing.assert_allclose(samples.var(axis=0), [4.09, 0.09], rtol=0.25)
    assert 0.4 < (samples[:, 0] > 0).mean() < 0.6  # both modes, equally
    assert (np.abs(np.abs(samples[:, 0]) - 2) < 0.9).mean() > 0.9  # mass at the modes, not between them


def test_output_is_one_step_episodes_with_sampled_rewards(short_cheetah_demos: Dataset, tmp_path: Path) -> None:
    augmented, summary = augment("synther", short_cheetah_demos, TINY, per_episode=2, seed=0)
    assert len(augmented) == augmented.n_episodes == 2 * len(short_cheetah_demos) == summary["sample_transitions"]
    assert (augmented.terminals ^ augmented.timeouts).all()  # every row ends its own episode, once
    assert summary["sample_rewards"] == "sampled" and "one-step" in summary["sample_episodes"]
    assert summary["sample_reward_error_p95"] >= summary["sample_reward_error_mean"] > 0
    assert np.abs(augmented.actions).max() <= 1.0
    path = write_d4rl(augmented, tmp_path / "synther.hdf5")
    result = CliRunner().invoke(cli, ["datasets", "check", str(path)])
    assert result.exit_code == 0, result.output
    again, _ = augment("synther", short_cheetah_demos, TINY, per_episode=2, seed=0)
    np.testing.assert_array_equal(again.observations, augmented.observations)  # same seed, same samples


def test_saved_model_reloads_and_samples_more(short_cheetah_demos: Dataset, tmp_path: Path) -> None:
    model = tmp_path / "synther.pt"
    first, _ = augment("synther", short_cheetah_demos, TINY, per_episode=1, seed=4, files=ModelFiles(save=str(model)))
    loaded = ModelFiles(load=str(model))
    again, summary = augment("synther", short_cheetah_demos, TINY, per_episode=1, seed=4, files=loaded)
    np.testing.assert_array_equal(again.observations, first.observations)  # the saved weights, the same sampler
    assert "fit_loss_first" not in summary  # nothing was trained
    more, _ = augment("synther", short_cheetah_demos, dataclasses.replace(TINY, transitions=1000), seed=4,
                      files=loaded)
    assert len(more) == 1000


def test_bad_input_is_one_line_and_exit_2(cheetah_file: Path, tmp_path: Path) -> None:
    tiny_file = tmp_path / "tiny.hdf5"
    demos = read_d4rl(cheetah_file).take_rows(np.arange(40))
    write_d4rl(dataclasses.replace(demos, timeouts=np.eye(1, 40, 39, dtype=bool)[0]), tiny_file)
    result = CliRunner().invoke(cli, ["augment", "synther", "--dataset", str(tiny_file), "--episodes", "1",
                                      "--out", str(tmp_path / "out.hdf5")])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("trajaug: error: synther: 40 transitions to train on; the diffusion model needs "
                                     "at least 64: use more --episodes")
    result = CliRunner().invoke(cli, ["augment", "synther", "--dataset", str(cheetah_file), "--episodes", "2",
                                      "--load-model", str(cheetah_file), "--out", str(tmp_path / "out2.hdf5")])
    assert result.exit_code == 2 and "not a SynthER model" in result.stderr
    with pytest.raises(Exception, match="steps must be ≥ 1"):
        SynthERConfig(steps=0)


def test_relabelled_set_keeps_the_samples_and_is_physical(short_cheetah_demos: Dataset) -> None:
    plain, _ = augment("synther", short_cheetah_demos, TINY, per_episode=1, seed=2)
    relabelled, summary = augment("synther", short_cheetah_demos, dataclasses.replace(TINY, relabel="simulator"),
                                  per_episode=1, seed=2)
    np.testing.assert_array_equal(relabelled.observations, plain.observations)  # the same sampled (s, a)
    np.testing.assert_array_equal(relabelled.actions, plain.actions)
    before, after = physics_check(plain), physics_check(relabelled)
    assert after.max <= 1e-4 < before.max and before.p95 > 1e-2
    assert (relabelled.terminals ^ relabelled.timeouts).all() and not relabelled.terminals.any()  # cheetah: never
    assert summary["sample_relabel"] == summary["sample_rewards"] == "simulator"
    assert summary["sample_relabel_terminals_changed"] == int((plain.terminals != relabelled.terminals).sum())
    # the sampled s' error the relabelling saw is the physics check's on the plain set (up to its float32 s')
    assert summary["sample_relabel_sampled_dynamics_error_p95"] == pytest.approx(before.p95, rel=1e-3, abs=1e-5)
    assert "sample_reward_error_mean" not in summary  # the formula's approximation says nothing about exact rewards
    assert relabelled.metadata["config"]["relabel"] == "simulator"
    assert relabelled.metadata["summary"]["sample_relabel_terminals_changed"] >= 0


def test_relabelling_is_env_step_with_its_termination() -> None:
    """Hopper, where states fall: reward, termination and s' equal a fresh ``env.step`` from the rebuilt state."""
    env = make_env("Hopper-v5")
    observation, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    observations = np.repeat(observation[None], 6, axis=0) + 0.05 * rng.standard_normal((6, 11))
    observations[:3, 0] = 0.5  # below the healthy height: terminated
    actions = rng.uniform(-1.5, 1.5, (6, 3))  # partly outside the box: clipped
    real = step_once("Hopper-v5", observations, actions)
    for k in range(6):
        env.unwrapped.data.qacc_warmstart[:] = 0.0  # type: ignore[attr-defined]
        restore(env, *state_from_observation(env, observations[k]))
        next_observation, reward, terminated, *_ = env.step(np.clip(actions[k], -1, 1))
        np.testing.assert_array_equal(real.next_observations[k], next_observation)
        assert (real.rewards[k], real.terminals[k]) == (reward, terminated)
    assert real.terminals[:3].all() and not real.terminals[3:].any()


def test_relabel_option(cheetah_file: Path, tmp_path: Path) -> None:
    tiny = ["--steps", "5", "--width", "8", "--layers", "1", "--transitions", "50", "--sample-steps", "2"]
    out = tmp_path / "relabelled.hdf5"
    result = CliRunner().invoke(cli, ["augment", "synther", "--dataset", str(cheetah_file), "--episodes", "1",
                                      *tiny, "--relabel", "simulator", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = read_d4rl(out)
    assert written.metadata["config"]["relabel"] == written.metadata["summary"]["sample_rewards"] == "simulator"
    # a 5-step model samples wild states (|s| ~ 1e3), so compare relative to the float32 s' stored
    np.testing.assert_allclose(simulate_next(written, np.arange(len(written)), "HalfCheetah-v5"),
                               written.next_observations, rtol=1e-6, atol=1e-6)
    result = CliRunner().invoke(cli, ["augment", "synther", "--dataset", str(cheetah_file), "--episodes", "1",
                                      *tiny, "--relabel", "physics", "--out", str(tmp_path / "bad.hdf5")])
    assert result.exit_code == 2 and not (tmp_path / "bad.hdf5").exists()
    assert len(result.stderr.strip().splitlines()) == 1 and "--relabel" in result.stderr, result.stderr
    with pytest.raises(Exception, match="--relabel must be one of none, simulator, got 'physics'"):
        SynthERConfig(relabel="physics")
