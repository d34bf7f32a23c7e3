"""D4RL flat HDF5 storage: read any D4RL-v2-style file, write files that D4RL-, d3rlpy- and CORL-style code reads.

Layout written (all at the file's root unless a group is named)::

    observations (N, obs_dim) f32   next_observations (N, obs_dim) f32   actions (N, act_dim) f32
    rewards (N,) f32   terminals (N,) bool   timeouts (N,) bool   episode_terminals (N,) bool  (d3rlpy load_v1)
    infos/qpos (N, nq) f64   infos/qvel (N, nv) f64          (when the dataset has simulator state)
    infos/source_episode (N,) i32   infos/method (N,) i16    (provenance per transition)
    infos/action_log_probs (N,) f32                           (dataset levels sampled from a stochastic policy)
    metadata/trajaug_json   JSON: format version, env id, method and parameters, seed, source sha256, version
    metadata/env_id, metadata/method, metadata/seed, metadata/source_sha256, metadata/format_version (scalars)
    metadata/method_names  (strings; names for infos/method)

Reading accepts files other tools wrote: only ``observations``, ``actions``, ``rewards`` and ``terminals`` are
required; ``timeouts`` defaults to all false; a missing ``next_observations`` is rebuilt as ``observations[i+1]``
inside each episode. This module is the only one (with :mod:`trajaug.storage.minari`) that touches h5py.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from trajaug import __version__
from trajaug.core.atomic import atomic_path
from trajaug.core.dataset import Dataset, TrailingEpisodeWarning
from trajaug.core.envs import check_env_override, env_id_from_name
from trajaug.core.errors import DatasetError

FORMAT_VERSION = 1
REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")


def read_trajaug_metadata(path: str | Path) -> dict[str, Any]:
    """The ``metadata/trajaug_json`` object of a file written by :func:`write_d4rl` (``{}`` for any other file or
    an unreadable one: callers use it only to recognise trajaug's own files)."""
    try:
        with h5py.File(path, "r") as f:
            if "metadata/trajaug_json" not in f:
                return {}
            value = json.loads(_as_str(f["metadata/trajaug_json"][()]))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_d4rl(path: str | Path, env_id: str | None = None) -> Dataset:
    """Read a D4RL flat HDF5 file. ``env_id`` overrides the id stored in (or guessed from the name of) the file.

    Raises :class:`DatasetError` (message names the file) for a missing, unreadable or invalid file.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            missing = [key for key in REQUIRED_KEYS if key not in f]
            if missing:
                raise DatasetError(f"{path}: missing key(s) {', '.join(missing)}; not a D4RL dataset")
            arrays = {key: f[key][()] for key in ("observations", "actions", "rewards", "terminals",
                                                  "timeouts", "next_observations") if key in f}
            for key in ("qpos", "qvel", "source_episode", "method"):
                if f"infos/{key}" in f:
                    arrays[key] = f[f"infos/{key}"][()]
            metadata: dict[str, Any] = {}
            if "metadata/trajaug_json" in f:
                metadata = json.loads(_as_str(f["metadata/trajaug_json"][()]))
            elif "metadata/env_id" in f:
                metadata = {"env_id": _as_str(f["metadata/env_id"][()])}
            names = ([_as_str(v) for v in np.atleast_1d(f["metadata/method_names"][()])]
                     if "metadata/method_names" in f else None)
    except DatasetError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:  # h5py: RuntimeError on some damage
        raise DatasetError(f"{path}: cannot read as HDF5 ({_first_line(error)})") from None
    if not isinstance(metadata, dict):
        raise DatasetError(f"{path}: metadata/trajaug_json is not a JSON object")
    try:
        terminals = np.asarray(arrays["terminals"]).astype(bool).reshape(-1)
        timeouts = np.asarray(arrays.get("timeouts", np.zeros_like(terminals))).astype(bool).reshape(-1)
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{path}: terminals/timeouts are not flags ({_first_line(error)})") from None
    observations = arrays["observations"]
    if np.ndim(observations) != 2:
        raise DatasetError(f"{path}: observations: expected 2 dimensions, got shape {np.shape(observations)}")
    for key, flags in (("terminals", terminals), ("timeouts", timeouts)):
        if len(flags) != len(observations):
            raise DatasetError(f"{path}: {key}: has {len(flags)} values, observations has {len(observations)} rows")
    if "next_observations" not in arrays:
        arrays["next_observations"] = _next_from_following(observations, terminals | timeouts)
    check_env_override(env_id, metadata.get("env_id"), str(path))
    env_id = env_id or metadata.get("env_id") or env_id_from_name(path.name)
    if names is None:
        names = [metadata.get("method", "expert")]
        arrays.pop("method", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrailingEpisodeWarning)
            dataset = Dataset(observations, arrays["actions"], arrays["rewards"], arrays["next_observations"],
                              terminals, timeouts, env_id=env_id, qpos=arrays.get("qpos"),
                              qvel=arrays.get("qvel"), source_episode=arrays.get("source_episode"),
                              method=arrays.get("method"), method_names=tuple(names), metadata=metadata)
    except (ValueError, TypeError) as error:
        raise DatasetError(f"{path}: {_first_line(error)}") from None
    if len(dataset) and not (dataset.terminals[-1] or dataset.timeouts[-1]):
        warnings.warn(f"{path}: the last episode has no terminal or timeout; kept as an unfinished episode",
                      TrailingEpisodeWarning, stacklevel=2)
    return dataset


def read_episode_returns(path: str | Path) -> tuple[int, np.ndarray]:
    """``(N, returns)``: the transitions of a D4RL file and each episode's undiscounted return (E,) float64, read
    from ``rewards``, ``terminals`` and ``timeouts`` alone (a quick summary; an unfinished last episode counts).
    Raises :class:`DatasetError` for a file it cannot read."""
    try:
        with h5py.File(path, "r") as f:
            rewards = np.asarray(f["rewards"][()], np.float64).reshape(-1)
            ends = np.asarray(f["terminals"][()]).astype(bool).reshape(-1)
            if "timeouts" in f:
                ends = ends | np.asarray(f["timeouts"][()]).astype(bool).reshape(-1)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:
        raise DatasetError(f"{path}: cannot read as a D4RL file ({_first_line(error)})") from None
    if not len(rewards):
        return 0, np.zeros(0)
    starts = np.concatenate([[0], np.flatnonzero(ends[:-1]) + 1])
    return len(rewards), np.add.reduceat(rewards, starts)


def write_d4rl(dataset: Dataset, path: str | Path, force: bool = False,
               infos: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write ``dataset`` to ``path`` atomically (see the module docstring for the layout); returns the path.

    ``infos``: more per-transition columns (N, ...) written as ``infos/<key>``, such as D4RL's
    ``action_log_probs`` (N,) float32; reading ignores them.
    """
    path = Path(path)
    metadata = {"format_version": FORMAT_VERSION, "trajaug_version": __version__, "env_id": dataset.env_id,
                **dataset.metadata}
    ends = np.zeros(len(dataset), dtype=bool)
    ends[dataset.episode_bounds[:, 1] - 1] = True
    with atomic_path(path, force=force) as tmp, h5py.File(tmp, "w") as f:
        for key in ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts"):
            _put(f, key, getattr(dataset, key))
        _put(f, "episode_terminals", ends)
        if dataset.qpos is not None and dataset.qvel is not None:
            _put(f, "infos/qpos", np.asarray(dataset.qpos))
            _put(f, "infos/qvel", np.asarray(dataset.qvel))
        _put(f, "infos/source_episode", np.asarray(dataset.source_episode))
        _put(f, "infos/method", np.asarray(dataset.method))
        for key, column in (infos or {}).items():
            if len(column) != len(dataset) or f"infos/{key}" in f:
                raise ValueError(f"infos/{key}: {len(column)} rows for {len(dataset)} transitions, or a column "
                                 "the layout already has")
            _put(f, f"infos/{key}", np.asarray(column))
        f["metadata/trajaug_json"] = json.dumps(metadata, sort_keys=True, default=str)
        f["metadata/method_names"] = np.array(dataset.method_names, dtype=h5py.string_dtype())
        f["metadata/format_version"] = FORMAT_VERSION
        for key in ("env_id", "method", "seed", "source_sha256"):
            if metadata.get(key) is not None:
                f[f"metadata/{key}"] = metadata[key]
    return path


def _put(f: h5py.File, key: str, array: np.ndarray) -> None:
    f.create_dataset(key, data=np.ascontiguousarray(array), compression="gzip", compression_opts=1,
                     chunks=True if len(array) else None)


def _next_from_following(observations: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``observations[i+1]`` for rows that are not episode ends; end rows have no successor and keep ``s_i``."""
    following = np.asarray(observations).copy()
    following[:-1] = observations[1:]
    following[ends] = np.asarray(observations)[ends]
    if len(following):
        following[-1] = observations[-1]
    warnings.warn("next_observations missing: rebuilt from the following rows", UserWarning, stacklevel=3)
    return following


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
