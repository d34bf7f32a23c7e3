"""``qlearning_dataset`` on D4RL files written by plain h5py, as another tool would write them."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from trajaug.core.dataset import Dataset, TrailingEpisodeWarning
from trajaug.datasets import qlearning_dataset

# 3 Hopper episodes: rows 0-4 end in a timeout, 5-7 in a terminal, 8-11 in a timeout.
TERMINALS = np.array([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], bool)
TIMEOUTS = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1], bool)
KEPT = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9, 10])


def _arrays(rows: int = 12) -> dict[str, np.ndarray]:
    """Observation ``i`` is filled with ``i`` so each row's source is visible."""
    return {"observations": np.repeat(np.arange(rows, dtype=np.float64)[:, None], 11, axis=1),
            "actions": np.linspace(-1, 1, rows * 3).reshape(rows, 3),
            "rewards": np.arange(rows, dtype=np.float64) / 10}


def _write(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return path


def test_plain_h5py_file_without_next_observations(tmp_path: Path) -> None:
    path = _write(tmp_path / "hopper_other-v2.hdf5", {**_arrays(), "terminals": TERMINALS, "timeouts": TIMEOUTS})
    with pytest.warns(UserWarning, match="next_observations missing: rebuilt"):
        data = qlearning_dataset(path)
    assert sorted(data) == ["actions", "next_observations", "observations", "rewards", "terminals"]
    assert {key: value.dtype for key, value in data.items()} == {
        "observations": np.float32, "actions": np.float32, "next_observations": np.float32,
        "rewards": np.float32, "terminals": np.bool_}
    assert len(data["observations"]) == len(KEPT) == 10  # the timeout rows 4 and 11 are dropped
    np.testing.assert_array_equal(data["observations"][:, 0], KEPT)
    np.testing.assert_array_equal(data["terminals"], KEPT == 7)
    # d4rl's next observation is observations[i+1]; at the terminal row 7 the stored/rebuilt value is row 7's own
    np.testing.assert_array_equal(data["next_observations"][:, 0], np.where(KEPT == 7, 7, KEPT + 1))
    np.testing.assert_allclose(data["rewards"], KEPT / 10, rtol=1e-6)
    np.testing.assert_array_equal(data["actions"], _arrays()["actions"][KEPT].astype(np.float32))


def test_stored_next_observations_are_used(tmp_path: Path) -> None:
    arrays = _arrays()
    next_obs = arrays["observations"] + 1000.0
    path = _write(tmp_path / "hopper_stored-v2.hdf5",
                  {**arrays, "next_observations": next_obs, "terminals": TERMINALS, "timeouts": TIMEOUTS})
    data = qlearning_dataset(str(path))
    np.testing.assert_array_equal(data["next_observations"][:, 0], KEPT + 1000)


def test_terminate_on_end_keeps_timeout_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "hopper_end-v2.hdf5", {**_arrays(), "next_observations": _arrays()["observations"],
                                                    "terminals": TERMINALS, "timeouts": TIMEOUTS})
    data = qlearning_dataset(path, terminate_on_end=True)
    np.testing.assert_array_equal(data["observations"][:, 0], np.arange(12))
    np.testing.assert_array_equal(data["terminals"], TERMINALS)  # timeouts do not become terminals


def test_row_that_is_terminal_and_timeout_is_kept_as_terminal(tmp_path: Path) -> None:
    timeouts = TIMEOUTS.copy()
    timeouts[7] = True
    path = _write(tmp_path / "hopper_both-v2.hdf5", {**_arrays(), "next_observations": _arrays()["observations"],
                                                     "terminals": TERMINALS, "timeouts": timeouts})
    data = qlearning_dataset(path)
    np.testing.assert_array_equal(data["observations"][:, 0], KEPT)
    assert data["terminals"][list(KEPT).index(7)]


def test_file_without_timeouts_uses_the_step_counter(tmp_path: Path) -> None:
    """Old D4RL files (no ``timeouts`` key, episodes concatenated): every 1000th step is a final step (d4rl)."""
    rows = 2500
    path = _write(tmp_path / "hopper_old-v0.hdf5", {**_arrays(rows), "terminals": np.zeros(rows, bool)})
    with pytest.warns(UserWarning, match="next_observations missing"), \
            pytest.warns(TrailingEpisodeWarning, match="no terminal or timeout"):
        data = qlearning_dataset(path)
    kept = data["observations"][:, 0]
    assert len(kept) == rows - 3  # steps 999 and 1999 are final steps; the unfinished last row has no successor
    assert not np.isin([999, 1999, 2499], kept).any()
    assert not data["terminals"].any()


def test_dataset_argument_and_trailing_row(cheetah_demos: Dataset) -> None:
    data = qlearning_dataset(cheetah_demos.take_rows(np.arange(1500)))
    assert len(data["observations"]) == 999 + 499  # timeout row 999 and the unfinished last row 1499 dropped
    np.testing.assert_array_equal(data["next_observations"][:999], cheetah_demos.next_observations[:999])


def test_missing_file_is_reported(tmp_path: Path) -> None:
    from trajaug.core.errors import DatasetError

    with pytest.raises(DatasetError, match="no such file"):
        qlearning_dataset(tmp_path / "absent.hdf5")
