"""Fuzz ``read_d4rl``: whatever the file holds, it returns a Dataset or raises DatasetError, never anything else."""

from __future__ import annotations

import functools
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trajaug.core.dataset import Dataset
from trajaug.core.errors import DatasetError
from trajaug.storage.d4rl import read_d4rl, write_d4rl

FUZZ = settings(max_examples=50, deadline=None)
KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations", "episode_terminals",
        "infos/qpos", "infos/qvel", "infos/source_episode", "infos/method", "metadata/method_names",
        "metadata/trajaug_json", "metadata/env_id")


def _small_dataset() -> Dataset:
    """6 transitions in 2 episodes (HalfCheetah-sized), with state and provenance."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(7, 17)).astype(np.float32)
    terminals = np.array([0, 0, 0, 0, 0, 0], bool)
    timeouts = np.array([0, 0, 1, 0, 0, 1], bool)
    return Dataset(obs[:-1], rng.uniform(-1, 1, (6, 6)), rng.normal(size=6), obs[1:], terminals, timeouts,
                   env_id="HalfCheetah-v5", qpos=rng.normal(size=(6, 9)), qvel=rng.normal(size=(6, 9)),
                   source_episode=np.array([0, 0, 0, 1, 1, 1]), method=np.array([0, 0, 0, 1, 1, 1]),
                   method_names=("expert", "noise"), metadata={"method": "noise"})


def _read_or_reject(path: Path) -> Dataset | None:
    """Read ``path``; a DatasetError is an accepted outcome, any other exception fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dataset = read_d4rl(path)
        except DatasetError as error:
            assert str(path) in str(error) and "\n" not in str(error)
            return None
    assert isinstance(dataset, Dataset)
    return dataset


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_are_rejected(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.hdf5"
        path.write_bytes(content)
        assert _read_or_reject(path) is None


@functools.cache
def _valid_bytes() -> bytes:
    """The bytes of a valid file written by ``write_d4rl`` (not a fixture: hypothesis would print it on failure)."""
    with tempfile.TemporaryDirectory() as folder:
        return write_d4rl(_small_dataset(), Path(folder) / "valid.hdf5").read_bytes()


def test_valid_file_reads(tmp_path: Path) -> None:
    (tmp_path / "valid.hdf5").write_bytes(_valid_bytes())
    dataset = _read_or_reject(tmp_path / "valid.hdf5")
    assert dataset is not None and len(dataset) == 6 and dataset.method_names == ("expert", "noise")


@FUZZ
@given(cut=st.floats(0.0, 1.0, exclude_max=True), flip=st.integers(0, 255))
def test_truncated_or_damaged_copies(cut: float, flip: int) -> None:
    """Truncated copies, and full copies with one byte changed, of a valid file."""
    valid_bytes = _valid_bytes()
    with tempfile.TemporaryDirectory() as folder:
        truncated = Path(folder) / "truncated.hdf5"
        truncated.write_bytes(valid_bytes[: int(cut * len(valid_bytes))])
        assert _read_or_reject(truncated) is None
        damaged = bytearray(valid_bytes)
        damaged[int(cut * len(damaged))] ^= flip
        (Path(folder) / "damaged.hdf5").write_bytes(bytes(damaged))
        _read_or_reject(Path(folder) / "damaged.hdf5")


REQUIRED = ("observations", "actions", "rewards", "terminals")


@st.composite
def _key_arrays(draw: st.DrawFn) -> dict[str, Any]:
    """A random subset of the D4RL keys (the required ones usually present), each with a random length, shape,
    dtype and maybe NaNs, a scalar, a string or a record array where a numeric array belongs."""
    base = draw(st.integers(0, 6))
    chosen = [key for key in KEYS if draw(st.integers(0, 9)) < (8 if key in REQUIRED else 4)]
    arrays: dict[str, Any] = {}
    for key in chosen:
        if key == "metadata/trajaug_json":
            arrays[key] = draw(st.sampled_from(['{"env_id": "Hopper-v5"}', "[1, 2]", "not json", '"text"', "{}",
                                                json.dumps({"env_id": 5, "method": None})]))
            continue
        if key == "metadata/method_names":
            names = draw(st.lists(st.sampled_from(["expert", "noise", ""]), max_size=3))
            arrays[key] = names[0] if len(names) == 1 else np.array(names, dtype=h5py.string_dtype())
            continue
        if key == "metadata/env_id":
            arrays[key] = draw(st.sampled_from(["HalfCheetah-v5", "nope", ""]))
            continue
        rows = draw(st.sampled_from([base, base, base, max(base - 1, 0), base + 1]))
        width = draw(st.sampled_from([None, None, 1, 3, (2, 2)]))
        shape = (rows,) if width is None else (rows, *width) if isinstance(width, tuple) else (rows, width)
        kind = draw(st.sampled_from(["f4", "f8", "i4", "i2", "?", "u1", "i8"]))
        values = np.random.default_rng(draw(st.integers(0, 2**16))).normal(size=shape) * 3
        if kind.startswith("f") and values.size and draw(st.booleans()):
            values.flat[draw(st.integers(0, values.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        odd = draw(st.integers(0, 14))
        if odd == 0:
            arrays[key] = np.float64(1.5)
        elif odd == 1:
            arrays[key] = np.array([str(v) for v in values.ravel()], dtype=h5py.string_dtype()).reshape(shape)
        elif odd == 2:
            arrays[key] = np.zeros(shape, dtype=[("a", "f4"), ("b", "i2")])
        else:
            arrays[key] = values.astype(kind)
    return arrays


@FUZZ
@given(_key_arrays())
def test_random_keys_shapes_and_values(arrays: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "halfcheetah_fuzz.hdf5"
        with h5py.File(path, "w") as f:
            for key, value in arrays.items():
                f[key] = value
        dataset = _read_or_reject(path)
        if dataset is not None:
            assert len(dataset.actions) == len(dataset.observations) == len(dataset.rewards)
            assert np.isfinite(dataset.observations).all() and np.isfinite(dataset.next_observations).all()
            again = _read_or_reject(write_d4rl(dataset, Path(folder) / "again.hdf5"))  # what was read can be written
            assert again is not None and again.method_names == dataset.method_names
            for name in ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts",
                         "source_episode", "method"):
                np.testing.assert_array_equal(getattr(again, name), getattr(dataset, name))
