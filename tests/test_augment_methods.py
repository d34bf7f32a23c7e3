"""Every augmentation method: fit → sample → write → read → check, on 2 demos with tiny budgets."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trajaug.augment import REGISTRY, augment, get_augmenter
from trajaug.augment.adversarial.cat import CATConfig
from trajaug.augment.adversarial.gail import GAILConfig
from trajaug.augment.backtracking.bdm import BDMConfig
from trajaug.augment.diffusion.synther import SynthERConfig
from trajaug.augment.mixup import MixupAugmenter
from trajaug.augment.noise import NoiseConfig
from trajaug.core.dataset import UNKNOWN_SOURCE, Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.check import check_dataset, dynamics_errors
from trajaug.sim.rollout import make_env, restore
from trajaug.storage.d4rl import read_d4rl, write_d4rl

TINY_ADVERSARIAL = dict(total_steps=1024, n_envs=2, n_steps=256, ppo_batch_size=128, ppo_epochs=1,
                        hidden=(32, 32), bc_warmstart_steps=20)
TINY: dict[str, Any] = {
    "noise": NoiseConfig(),
    "mixup": None,
    "cat": CATConfig(**TINY_ADVERSARIAL),
    "gail": GAILConfig(**TINY_ADVERSARIAL),
    "bdm": BDMConfig(steps=50, trace_length=3, value_steps=20, hidden=(32, 32), max_disagreement=0.0),
    "bdm-cl": BDMConfig(steps=50, trace_length=3, value_steps=20, hidden=(32, 32), max_disagreement=0.0),
    "synther": SynthERConfig(width=32, layers=2, steps=50, batch_size=64, sample_steps=4),
}
VARIANTS: dict[str, Any] = {
    "bdm-cl:simulator": BDMConfig(steps=50, trace_length=3, value_steps=20, hidden=(32, 32), model="simulator",
                                  margin=1.0),
    "synther:simulator": dataclasses.replace(TINY["synther"], relabel="simulator"),
}
"""Further cases of the shared test: ``METHOD:label`` → config (the method is the part before the colon)."""
BACKTRACKING = ("bdm", "bdm-cl")
"""Methods whose traces may be cut (or dropped) by their truncation rules: fewer trajectories than asked."""
TRANSITION_MODELS = ("synther",)
"""Methods that sample independent transitions: ``per_episode`` × the demos' transitions one-step episodes."""


@pytest.fixture(scope="module")
def demos(cheetah_demos: Dataset) -> Dataset:
    """2 demos cut to their first 150 steps (as a timeout), so each method runs in seconds."""
    rows = np.concatenate([np.arange(0, 150), np.arange(1000, 1150)])
    short = cheetah_demos.take_rows(rows)
    timeouts = np.zeros(len(short), bool)
    timeouts[[149, 299]] = True
    return dataclasses.replace(short, timeouts=timeouts)


def test_registry_lists_every_method() -> None:
    get_augmenter("noise")
    assert set(TINY) <= set(REGISTRY)
    with pytest.raises(TrajaugInputError, match="unknown method 'nope'"):
        get_augmenter("nope")


@pytest.mark.parametrize("case", sorted(TINY) + sorted(VARIANTS))
def test_fit_sample_write_read_check(case: str, demos: Dataset, tmp_path: Path) -> None:
    method = case.split(":")[0]
    config = {**TINY, **VARIANTS}[case]
    per_episode = 2
    augmented, summary = augment(method, demos, config, per_episode=per_episode, seed=3)
    expected = demos.n_episodes * (demos.n_episodes - 1) if method == "mixup" else demos.n_episodes
    if method in TRANSITION_MODELS:
        assert augmented.n_episodes == len(augmented) == per_episode * len(demos) == summary["trajectories"]
    elif method in BACKTRACKING:
        assert summary["sample_traces_requested"] == expected * per_episode
        assert 0 < augmented.n_episodes == summary["trajectories"] == summary["sample_traces"] <= expected * per_episode
    else:
        assert augmented.n_episodes == expected * per_episode == summary["trajectories"]
    assert augmented.method_names == (method,)
    sources = {UNKNOWN_SOURCE} if method in TRANSITION_MODELS else {0, 1}  # a sample comes from no one demo
    assert set(np.unique(augmented.source_episode)) == sources
    assert check_dataset(augmented) == []
    back = read_d4rl(write_d4rl(augmented, tmp_path / f"{method}.hdf5"))
    np.testing.assert_array_equal(back.observations, augmented.observations)
    assert back.metadata["method"] == method and back.metadata["seed"] == 3
    config = get_augmenter(method)().config if config is None else config
    assert back.metadata["config"] == json.loads(json.dumps(dataclasses.asdict(config)))
    # simulator-executed methods: every stored transition is physically valid, one step at a time, and rewards
    # are the simulator's (model-generated ones, uses_simulator = False, are checked in their own tests)
    rows = np.arange(0, len(back), 7)
    if get_augmenter(method).uses_simulator:
        assert dynamics_errors(back, rows).max() < 1e-2
        assert _reward_errors(back, rows).max() < 1e-4
    if case in ("bdm-cl:simulator", "synther:simulator"):  # exact model, relabelled samples: physical by construction
        assert dynamics_errors(back, np.arange(len(back))).max() < 1e-4


def _reward_errors(data: Dataset, rows: np.ndarray) -> np.ndarray:
    assert data.qpos is not None and data.qvel is not None and data.env_id is not None
    env = make_env(data.env_id)
    env.reset(seed=0)
    errors = []
    for row in rows:
        restore(env, data.qpos[row], data.qvel[row])
        _, reward, *_ = env.step(data.actions[row])
        errors.append(abs(reward - data.rewards[row]))
    return np.array(errors)


def test_same_seed_same_result(demos: Dataset) -> None:
    first, _ = augment("noise", demos, per_episode=1, seed=5)
    second, _ = augment("noise", demos, per_episode=1, seed=5)
    other, _ = augment("noise", demos, per_episode=1, seed=6)
    np.testing.assert_array_equal(first.actions, second.actions)
    assert not np.array_equal(first.actions, other.actions)


def test_noise_stays_within_sigma_of_the_demo_actions(demos: Dataset) -> None:
    augmented, _ = augment("noise", demos, NoiseConfig(sigma=0.3), per_episode=3, seed=0)
    for episode in augmented.episodes():
        demo = demos.episode(int(augmented.source_episode[episode.start]))
        difference = episode.actions - demo.actions[: len(episode)]
        assert np.abs(difference).max() <= 0.3 + 1e-6
        assert np.abs(difference).max() > 0.2  # the noise is really there


def test_mixup_pairs_and_weights(demos: Dataset, cheetah_demos: Dataset) -> None:
    three = cheetah_demos  # 3 demos → 6 ordered pairs
    mixer = MixupAugmenter(seed=0)
    mixer.fit(three)
    mixed = mixer.sample(per_episode=2)
    assert mixed.n_episodes == 12
    assert (mixer.mix_weights >= 0.5).all() and (mixer.mix_weights <= 1.0).all()
    first_episode = mixed.episode(0)  # pair (0, 1), weight mix_weights[0]
    weight = mixer.mix_weights[0]
    expected = weight * three.episode(0).actions + (1 - weight) * three.episode(1).actions
    np.testing.assert_allclose(first_episode.actions, np.clip(expected, -1, 1), atol=1e-6)
    with pytest.raises(TrajaugInputError, match="at least 2"):
        augment("mixup", demos.first_episodes(1))


def test_with_expert_copies_the_demos(demos: Dataset) -> None:
    augmented, _ = augment("noise", demos, per_episode=1, seed=0, with_expert=True)
    assert augmented.method_names == ("noise", "expert")
    assert (augmented.method == 1).sum() == len(demos)
    np.testing.assert_array_equal(augmented.observations[augmented.method == 1], demos.observations)


def test_bad_demos_are_rejected(demos: Dataset) -> None:
    with pytest.raises(TrajaugInputError, match="names no environment"):
        augment("noise", dataclasses.replace(demos, env_id=None))
    with pytest.raises(TrajaugInputError, match="size 17/6, Hopper-v5 has 11/3"):
        augment("noise", dataclasses.replace(demos, env_id="Hopper-v5"))
