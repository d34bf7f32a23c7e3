"""Shared fixtures: every cache points into a tmp dir; small real datasets made by the bundled expert."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from trajaug.core.dataset import Dataset
from trajaug.experts.bundled import build_expert_dataset, bundled_actor_path, load_actor
from trajaug.storage.d4rl import write_d4rl


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point TRAJAUG_HOME, D4RL_DATASET_DIR and MINARI_DATASETS_PATH at empty tmp folders."""
    home = tmp_path / "caches"
    for variable, folder in (("TRAJAUG_HOME", "trajaug"), ("D4RL_DATASET_DIR", "d4rl"),
                             ("MINARI_DATASETS_PATH", "minari")):
        (home / folder).mkdir(parents=True)
        monkeypatch.setenv(variable, str(home / folder))
    return home


@pytest.fixture(scope="session")
def cheetah_demos() -> Dataset:
    """3 HalfCheetah-v5 expert episodes (3000 transitions, with qpos/qvel) from the bundled actor."""
    return build_expert_dataset("HalfCheetah-v5", load_actor(bundled_actor_path("halfcheetah")), episodes=3)


@pytest.fixture(scope="session")
def short_cheetah_demos(cheetah_demos: Dataset) -> Dataset:
    """The first 2 of ``cheetah_demos`` cut to their first 200 steps (each closed by a timeout)."""
    short = cheetah_demos.take_rows(np.concatenate([np.arange(0, 200), np.arange(1000, 1200)]))
    timeouts = np.zeros(len(short), bool)
    timeouts[[199, 399]] = True
    return dataclasses.replace(short, timeouts=timeouts)


@pytest.fixture
def cheetah_file(cheetah_demos: Dataset, tmp_path: Path) -> Path:
    """``cheetah_demos`` written as a D4RL HDF5 file in a tmp dir."""
    return write_d4rl(cheetah_demos, tmp_path / "halfcheetah_demos.hdf5")


@pytest.fixture
def short_episodes(cheetah_demos: Dataset, tmp_path: Path) -> Path:
    """The first 600 steps of a HalfCheetah expert episode cut into 6 episodes of 100 (timeouts), as a file."""
    rows = cheetah_demos.take_rows(np.arange(600))
    timeouts = np.zeros(600, bool)
    timeouts[99::100] = True
    return write_d4rl(dataclasses.replace(rows, timeouts=timeouts), tmp_path / "cheetah_short.hdf5")
