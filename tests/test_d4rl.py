"""D4RL flat HDF5: round trips, files written by other tools, bad input, crash safety."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import trajaug.storage.d4rl as d4rl
from trajaug.core.atomic import OutputExistsError
from trajaug.core.dataset import Dataset
from trajaug.core.errors import DatasetError
from trajaug.storage.d4rl import read_d4rl, write_d4rl

FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts", "qpos", "qvel",
          "source_episode", "method")


def test_round_trip_keeps_every_array_and_metadata(cheetah_demos: Dataset, tmp_path: Path) -> None:
    path = write_d4rl(cheetah_demos, tmp_path / "out.hdf5")
    back = read_d4rl(path)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(back, field), getattr(cheetah_demos, field), err_msg=field)
    assert back.env_id == "HalfCheetah-v5"
    assert back.method_names == ("expert",)
    assert back.metadata["method"] == "expert" and back.metadata["format_version"] == 1


def test_written_file_has_every_d4rl_and_d3rlpy_key(cheetah_file: Path) -> None:
    with h5py.File(cheetah_file, "r") as f:
        for key in ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts",
                    "episode_terminals", "infos/qpos", "infos/qvel", "metadata/env_id", "metadata/trajaug_json"):
            assert key in f, key
        assert f["rewards"].dtype == np.float32 and f["terminals"].dtype == bool
        ends = f["episode_terminals"][()]
        assert ends.sum() == 3 and ends[999] and ends[-1]


def test_reads_a_file_written_by_plain_h5py(tmp_path: Path) -> None:
    """As another tool writes it: no next_observations-free shortcuts, float64 rewards, no metadata."""
    rng = np.random.default_rng(0)
    n = 25
    path = tmp_path / "hopper_medium-v2.hdf5"
    timeouts = np.zeros(n, bool)
    timeouts[[9, 24]] = True
    terminals = np.zeros(n, bool)
    terminals[14] = True
    with h5py.File(path, "w") as f:
        f["observations"] = rng.normal(size=(n, 11))
        f["next_observations"] = rng.normal(size=(n, 11))
        f["actions"] = rng.uniform(-1, 1, size=(n, 3))
        f["rewards"] = rng.normal(size=n)
        f["terminals"] = terminals
        f["timeouts"] = timeouts
        f["infos/qpos"] = rng.normal(size=(n, 6)).astype(np.float32)
        f["infos/qvel"] = rng.normal(size=(n, 6)).astype(np.float32)
    data = read_d4rl(path)
    assert data.env_id == "Hopper-v5"
    assert data.n_episodes == 3
    assert data.episode_bounds.tolist() == [[0, 10], [10, 15], [15, 25]]
    assert [e.terminated for e in data.episodes()] == [False, True, False]
    assert data.qpos is not None and data.qpos.dtype == np.float64
    assert data.method_names == ("expert",)


def test_missing_next_observations_are_rebuilt_inside_episodes(tmp_path: Path) -> None:
    path = tmp_path / "old.hdf5"
    obs = np.arange(12, dtype=np.float32).reshape(6, 2)
    with h5py.File(path, "w") as f:
        f["observations"], f["actions"], f["rewards"] = obs, np.zeros((6, 1)), np.zeros(6)
        f["terminals"] = np.array([0, 0, 1, 0, 0, 1], bool)
    with pytest.warns(UserWarning, match="next_observations missing"):
        data = read_d4rl(path)
    np.testing.assert_array_equal(data.next_observations[:2], obs[1:3])
    np.testing.assert_array_equal(data.next_observations[3:5], obs[4:6])


@pytest.mark.parametrize(("make_bad", "message"), [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b"not an hdf5 file at all"), "cannot read as HDF5"),
    (lambda p: _h5(p, observations=np.zeros((3, 2)), actions=np.zeros((3, 1))), "missing key.*rewards, terminals"),
    (lambda p: _h5(p, observations=np.zeros((3, 2)), actions=np.zeros((2, 1)), rewards=np.zeros(3),
                   terminals=np.ones(3, bool), next_observations=np.zeros((3, 2))), "actions: has 2 rows"),
    (lambda p: _h5(p, observations=np.full((3, 2), np.nan), actions=np.zeros((3, 1)), rewards=np.zeros(3),
                   terminals=np.ones(3, bool), next_observations=np.zeros((3, 2))), "observations: non-finite"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path: Path, make_bad, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.hdf5"
    make_bad(path)
    with pytest.raises(DatasetError, match=message) as error:
        read_d4rl(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_truncated_file_is_rejected(cheetah_file: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(cheetah_file.read_bytes()[: cheetah_file.stat().st_size // 2])
    with pytest.raises(DatasetError, match="truncated.hdf5"):
        read_d4rl(truncated)


def test_never_overwrites_without_force(cheetah_demos: Dataset, cheetah_file: Path) -> None:
    before = cheetah_file.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        write_d4rl(cheetah_demos, cheetah_file)
    assert cheetah_file.read_bytes() == before
    write_d4rl(cheetah_demos.first_episodes(1), cheetah_file, force=True)
    assert read_d4rl(cheetah_file).n_episodes == 1


def test_crash_during_write_leaves_no_partial_file(cheetah_demos: Dataset, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_put = d4rl._put

    def crashing_put(f, key, array):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("simulated crash")
        real_put(f, key, array)

    monkeypatch.setattr(d4rl, "_put", crashing_put)
    out_dir = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        write_d4rl(cheetah_demos, out_dir / "out.hdf5")
    assert list(out_dir.iterdir()) == []


def _h5(path: Path, **arrays: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f[key] = value
