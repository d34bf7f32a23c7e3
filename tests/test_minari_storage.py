"""Minari storage: files Minari itself opens, exact D4RL → Minari → D4RL round trips, refusals and errors."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import minari
import numpy as np
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer

from trajaug.core.atomic import OutputExistsError
from trajaug.core.dataset import Dataset, TrailingEpisodeWarning
from trajaug.core.errors import DatasetError
from trajaug.datasets.registry import load, resolve
from trajaug.storage import minari_write as minari_storage
from trajaug.storage.d4rl import read_d4rl, write_d4rl
from trajaug.storage.minari import read_minari
from trajaug.storage.minari_write import write_minari

ARRAYS = ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts", "qpos", "qvel",
          "source_episode", "method")
DEMO_ID = "trajaug/halfcheetah/demos-v0"


def _minari_root() -> Path:
    return Path(os.environ["MINARI_DATASETS_PATH"])


def _assert_same(a: Dataset, b: Dataset) -> None:
    for name in ARRAYS:
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right, err_msg=name)


def _leftovers(folder: Path) -> list[str]:
    """Hidden temporary folders a writer left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_minari_opens_written_dataset(cheetah_demos: Dataset) -> None:
    path = write_minari(cheetah_demos, DEMO_ID)
    assert path == _minari_root() / DEMO_ID
    assert (path / "data" / "main_data.hdf5").is_file()
    opened = minari.load_dataset(DEMO_ID)
    assert opened.total_episodes == 3 and opened.total_steps == 3000
    episodes = list(opened.iterate_episodes())
    assert [len(e) for e in episodes] == [1000, 1000, 1000]
    first = episodes[0]
    assert first.observations.shape == (1001, 17) and first.actions.shape == (1000, 6)
    np.testing.assert_array_equal(first.observations[:-1], cheetah_demos.observations[:1000])
    np.testing.assert_array_equal(first.observations[1:], cheetah_demos.next_observations[:1000])
    assert first.truncations[-1] and not first.truncations[:-1].any() and not first.terminations.any()
    assert first.infos["qpos"].shape == (1001, 9) and np.isnan(first.infos["qpos"][-1]).all()
    assert opened.spec.env_spec is not None and opened.spec.env_spec.id == "HalfCheetah-v5"
    assert DEMO_ID in minari.list_local_datasets()
    assert _leftovers(path.parent) == []


def test_round_trip_d4rl_minari_d4rl_is_exact(cheetah_file: Path, tmp_path: Path) -> None:
    original = read_d4rl(cheetah_file)
    write_minari(original, DEMO_ID)
    via_minari = read_minari(DEMO_ID)
    back = read_d4rl(write_d4rl(via_minari, tmp_path / "back.hdf5"))
    for dataset in (via_minari, back):
        _assert_same(original, dataset)
        assert dataset.env_id == "HalfCheetah-v5"
        assert dataset.method_names == original.method_names
        assert dataset.metadata == original.metadata
    _assert_same(original, read_minari(str(_minari_root() / DEMO_ID)))  # by folder path, too
    _assert_same(original, read_minari(str(_minari_root() / DEMO_ID / "data")))


def test_round_trip_keeps_mixed_provenance(cheetah_demos: Dataset) -> None:
    """Two methods and per-transition source episodes survive; a dataset without qpos/qvel stays without."""
    method = np.repeat(np.array([0, 1, 0], np.int16), 1000)
    source = np.repeat(np.array([7, 7, 2], np.int32), 1000)
    mixed = dataclasses.replace(cheetah_demos, qpos=None, qvel=None, method=method, source_episode=source,
                                method_names=("expert", "noise"), metadata={"method": "noise", "sigma": 0.1})
    back = read_minari(str(write_minari(mixed, "trajaug/mixed-v1")))
    np.testing.assert_array_equal(back.method, method)
    np.testing.assert_array_equal(back.source_episode, source)
    assert back.method_names == ("expert", "noise") and back.metadata == {"method": "noise", "sigma": 0.1}
    assert back.qpos is None and back.qvel is None


def test_registry_resolves_a_local_minari_dataset(cheetah_demos: Dataset) -> None:
    write_minari(cheetah_demos.first_episodes(2), "mujoco/halfcheetah/expert-v0")
    assert resolve("halfcheetah-expert").kind == "minari"
    loaded = load("halfcheetah-expert")
    assert len(loaded) == 2000 and loaded.n_episodes == 2 and loaded.env_id == "HalfCheetah-v5"


def test_overwrite_needs_force(cheetah_demos: Dataset) -> None:
    write_minari(cheetah_demos.first_episodes(1), DEMO_ID)
    with pytest.raises(OutputExistsError, match="already exists"):
        write_minari(cheetah_demos, DEMO_ID)
    assert read_minari(DEMO_ID).n_episodes == 1  # untouched
    write_minari(cheetah_demos, DEMO_ID, force=True)
    assert minari.load_dataset(DEMO_ID).total_episodes == 3
    assert _leftovers(_minari_root() / DEMO_ID).__len__() == 0
    assert _leftovers((_minari_root() / DEMO_ID).parent) == []


def test_failed_write_leaves_nothing(cheetah_demos: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    write_minari(cheetah_demos.first_episodes(1), DEMO_ID)
    real_buffer = minari_storage._buffer

    def failing_buffer(dataset: Dataset, index: int) -> EpisodeBuffer:
        if index == 1:
            raise RuntimeError("disk full")
        return real_buffer(dataset, index)

    monkeypatch.setattr(minari_storage, "_buffer", failing_buffer)
    with pytest.raises(RuntimeError, match="disk full"):
        write_minari(cheetah_demos, DEMO_ID, force=True)
    with pytest.raises(RuntimeError, match="disk full"):
        write_minari(cheetah_demos, "trajaug/halfcheetah/other-v0")
    parent = (_minari_root() / DEMO_ID).parent
    assert _leftovers(parent) == [] and not (parent / "other-v0").exists()
    assert read_minari(DEMO_ID).n_episodes == 1  # the old dataset is intact


def test_discontinuous_next_observations_are_refused(cheetah_demos: Dataset) -> None:
    broken = cheetah_demos.next_observations.copy()
    broken[[10, 20]] += 0.5
    with pytest.raises(DatasetError, match=r"trajaug/broken-v0: .*in 2 row\(s\).*cannot represent"):
        write_minari(dataclasses.replace(cheetah_demos, next_observations=broken), "trajaug/broken-v0")
    assert not (_minari_root() / "trajaug" / "broken-v0").exists()


def test_missing_invalid_and_corrupt_datasets(cheetah_demos: Dataset) -> None:
    with pytest.raises(DatasetError, match="nowhere/nothing-v0: no Minari dataset"):
        read_minari("nowhere/nothing-v0")
    with pytest.raises(DatasetError, match="not a Minari dataset id"):
        write_minari(cheetah_demos, "no version")
    path = write_minari(cheetah_demos.first_episodes(1), DEMO_ID)
    (path / "data" / "main_data.hdf5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DatasetError, match=f"{DEMO_ID}: cannot read as a Minari dataset"):
        read_minari(DEMO_ID)
    (path / "data" / "metadata.json").write_text("{broken")
    with pytest.raises(DatasetError, match=f"{DEMO_ID}: cannot read"):
        read_minari(DEMO_ID)


def test_reads_a_dataset_written_by_minari_itself() -> None:
    """A foreign dataset (made with ``minari.create_dataset_from_buffers``, other infos, a v4 env spec, the first
    episode without an end flag) is read; the unfinished non-final episode is marked as a timeout."""
    rng = np.random.default_rng(0)
    lengths = (4, 3)
    buffers = [EpisodeBuffer(observations=rng.normal(size=(t + 1, 17)), actions=rng.uniform(-1, 1, (t, 6)),
                             rewards=rng.normal(size=t), terminations=np.zeros(t, bool),
                             truncations=np.arange(t) == t - 1 if i else np.zeros(t, bool),
                             infos={"x_position": rng.normal(size=t + 1)})
               for i, t in enumerate(lengths)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers("other/cheetah-v0", buffers, env="HalfCheetah-v4",
                                           algorithm_name="random", author="someone", author_email="a@b",
                                           code_permalink="none", description="test")
    with pytest.warns(UserWarning, match="1 episode"):
        dataset = read_minari("other/cheetah-v0")
    assert dataset.env_id == "HalfCheetah-v5" and len(dataset) == 7 and dataset.n_episodes == 2
    np.testing.assert_array_equal(dataset.timeouts, [0, 0, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(dataset.observations[:4], buffers[0].observations[:-1].astype(np.float32))
    np.testing.assert_array_equal(dataset.next_observations[4:], buffers[1].observations[1:].astype(np.float32))
    assert dataset.qpos is None and dataset.method_names == ("expert",)
    assert np.all(dataset.source_episode == -1) and dataset.metadata == {"minari_id": "other/cheetah-v0"}


def test_trailing_unfinished_episode_round_trips(cheetah_demos: Dataset) -> None:
    cut = cheetah_demos.take_rows(np.arange(1500))
    write_minari(cut, DEMO_ID)
    with pytest.warns(TrailingEpisodeWarning, match="last episode"):
        back = read_minari(DEMO_ID)
    _assert_same(cut, back)
    assert back.n_episodes == 2


def test_empty_dataset_round_trips() -> None:
    empty = Dataset(np.zeros((0, 17)), np.zeros((0, 6)), np.zeros(0), np.zeros((0, 17)), np.zeros(0, bool),
                    np.zeros(0, bool), env_id="HalfCheetah-v5")
    write_minari(empty, "trajaug/empty-v0")
    assert minari.load_dataset("trajaug/empty-v0").total_episodes == 0
    back = read_minari("trajaug/empty-v0")
    assert len(back) == 0 and back.observations.shape == (0, 17) and back.actions.shape == (0, 6)


def test_datasets_convert_round_trip_and_a_missing_id(cheetah_file: Path, tmp_path: Path) -> None:
    """`datasets convert`: D4RL file → Minari id → D4RL file is exact; an id spelled like one but absent is one line
    naming it, exit 2."""
    from click.testing import CliRunner

    from trajaug.cli.main import cli
    from trajaug.storage import format_of, looks_like_minari_id

    assert looks_like_minari_id(DEMO_ID) and not looks_like_minari_id("runs/cat.hdf5")
    assert not looks_like_minari_id("halfcheetah-expert") and not looks_like_minari_id(str(cheetah_file))
    runner = CliRunner()
    to_minari = runner.invoke(cli, ["datasets", "convert", str(cheetah_file), "--to", "minari", "--out", DEMO_ID])
    assert to_minari.exit_code == 0, to_minari.output
    assert format_of(DEMO_ID).name == "minari"
    back_path = tmp_path / "back.hdf5"
    to_d4rl = runner.invoke(cli, ["datasets", "convert", DEMO_ID, "--to", "d4rl", "--out", str(back_path)])
    assert to_d4rl.exit_code == 0, to_d4rl.output
    _assert_same(read_d4rl(cheetah_file), read_d4rl(back_path))
    missing = runner.invoke(cli, ["datasets", "convert", "trajaug/absent-v0", "--to", "d4rl",
                                  "--out", str(tmp_path / "x.hdf5")])
    assert missing.exit_code == 2 and "trajaug/absent-v0" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
