"""Minari ids wherever a dataset is taken (``registry.load``, ``datasets info``): read from $MINARI_DATASETS_PATH when
present there, one line saying how to download one that is not."""

from __future__ import annotations

import json
import warnings

import minari
import numpy as np
import pytest
from click.testing import CliRunner
from minari.data_collector.episode_buffer import EpisodeBuffer

from trajaug.cli.main import cli
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets import registry

MEDIUM_ID = "mujoco/halfcheetah/medium-v0"


def minari_made(dataset_id: str, lengths: tuple[int, ...] = (5, 4)) -> list[EpisodeBuffer]:
    """A dataset written by Minari's own ``create_dataset_from_buffers`` into the (tmp) Minari root; its episodes
    end with a truncation."""
    rng = np.random.default_rng(0)
    buffers = [EpisodeBuffer(observations=rng.normal(size=(t + 1, 17)), actions=rng.uniform(-1, 1, (t, 6)),
                             rewards=rng.normal(size=t), terminations=np.zeros(t, bool),
                             truncations=np.arange(t) == t - 1, infos={})
               for t in lengths]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(dataset_id, buffers, env="HalfCheetah-v5", algorithm_name="sac",
                                           author="someone", author_email="a@b", code_permalink="none",
                                           description="test")
    return buffers


def test_a_local_minari_id_is_read_by_load_and_by_datasets_info() -> None:
    buffers = minari_made(MEDIUM_ID)
    data = registry.load(MEDIUM_ID)
    assert len(data) == 9 and data.n_episodes == 2 and data.env_id == "HalfCheetah-v5"
    np.testing.assert_array_equal(data.actions[:5], buffers[0].actions.astype(np.float32))
    assert registry.resolve(MEDIUM_ID).kind == "minari"
    result = CliRunner().invoke(cli, ["datasets", "info", MEDIUM_ID, "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["resolved_as"] == "minari" and info["location"] == MEDIUM_ID
    assert info["transitions"] == 9 and info["episodes"] == 2 and info["env_id"] == "HalfCheetah-v5"
    # the level name finds the same local Minari dataset
    assert registry.resolve("halfcheetah-medium").kind == "minari"
    assert len(registry.load("halfcheetah-medium")) == 9


def test_other_namespaces_are_ids_too() -> None:
    minari_made("someone/cheetah/runs-v3", lengths=(3,))
    assert len(registry.load("someone/cheetah/runs-v3")) == 3


def test_an_absent_id_says_how_to_download_it() -> None:
    with pytest.raises(TrajaugInputError, match="minari download mujoco/hopper/expert-v0"):
        registry.load("mujoco/hopper/expert-v0")
    result = CliRunner().invoke(cli, ["datasets", "info", "mujoco/hopper/expert-v0"])
    assert result.exit_code == 2 and "`minari download mujoco/hopper/expert-v0`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    with pytest.raises(TrajaugInputError, match="nothere.hdf5: no such file"):  # a file path stays a file path
        registry.load("some/dir/nothere.hdf5")
