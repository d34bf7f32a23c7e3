"""Minari storage: read local Minari datasets into a :class:`Dataset`, write a :class:`Dataset` as a Minari dataset.

Minari 0.5 keeps one HDF5 group per episode (``<root>/<id>/data/main_data.hdf5`` plus ``metadata.json``)::

    episode_i/observations (T+1, obs_dim)   actions (T, act_dim)   rewards (T,)
    episode_i/terminations (T,) bool        truncations (T,) bool  infos/<key> (T+1, ...)

The flat layout is made per episode as ``observations = obs[:-1]``, ``next_observations = obs[1:]``,
``terminals = terminations``, ``timeouts = truncations``. Minari's ``infos[t]`` goes with ``obs[t]`` (entry 0 comes
from the reset), so trajaug writes its per-transition columns there with T+1 rows:

    infos/qpos (T+1, nq) f64, infos/qvel (T+1, nv) f64   state of obs[t]; the last row (the state of the final
                                                       observation, which the flat layout does not keep) is NaN
    infos/source_episode (T+1,) i32, infos/method (T+1,) i16   provenance of transition t; the last row repeats

and its dataset-level provenance in ``metadata.json`` under ``trajaug_json`` (a JSON string: ``env_id``,
``method_names``, ``metadata``, ``format_version``). Infos other tools wrote are used only where they fit:
``qpos``/``qvel`` are kept when they match the observations (``obs = [qpos[k:], qvel]`` for the supported
locomotion tasks), anything else is ignored.

An episode that is not the last one and ends with neither termination nor truncation is marked as a timeout (with a
warning) so that the flat episode split keeps it apart; an unfinished last episode stays unfinished. Only
hdf5-format Minari datasets with flat Box observations are read.

A flat dataset is representable only if ``next_observations[t] == observations[t+1]`` inside every episode (Minari
stores one observation sequence per episode); :func:`trajaug.storage.minari_write.write_minari` refuses
others with :class:`DatasetError`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from trajaug.core.dataset import Dataset, TrailingEpisodeWarning
from trajaug.core.envs import env_id_from_name, spec_for
from trajaug.core.errors import DatasetError, TrajaugInputError
from trajaug.storage.paths import minari_dir

FORMAT_VERSION = 1
TRAJAUG_KEY = "trajaug_json"
"""Key of trajaug's provenance (a JSON string) in the Minari ``metadata.json``."""

_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, KeyError, ValueError, TypeError,
                                                  AssertionError, IndexError, AttributeError, gym.error.Error)
"""What Minari/h5py raise on a missing, corrupt or foreign dataset; turned into :class:`DatasetError`."""


# -- reading ---------------------------------------------------------------------------------------------------------
def read_minari(dataset_id_or_path: str) -> Dataset:
    """Read a local Minari dataset: an id such as ``mujoco/halfcheetah/expert-v0`` under ``$MINARI_DATASETS_PATH``
    (default ``~/.minari/datasets``), or the path of a dataset folder (the one holding ``data/``, or ``data/``).

    Returns a :class:`Dataset` with ``N = Σ T_i`` rows (see the module docstring for the mapping). The env id comes
    from the Minari env spec (mapped to its v5 id), else from trajaug's metadata, else from the dataset id.
    Raises :class:`DatasetError` (message names the dataset) for a missing, corrupt or unsupported dataset.
    """
    name = str(dataset_id_or_path)
    data_path = _data_path(name)
    from minari.dataset.minari_storage import MinariStorage

    try:
        storage = MinariStorage.read(data_path)
        raw = MinariStorage.read_raw_metadata(data_path)
        total = int(raw.get("total_episodes", 0))
        episodes = [_episode_arrays(name, episode) for episode in storage.get_episodes(range(total))]
        episodes = [episode for episode in episodes if len(episode["rewards"])]
        obs_shape = storage.observation_space.shape
        act_shape = storage.action_space.shape
    except DatasetError:
        raise
    except _READ_ERRORS as error:
        raise DatasetError(f"{name}: cannot read as a Minari dataset ({_first_line(error)})") from None
    provenance = _provenance(name, raw)
    env_id = _env_id(raw, provenance, name)
    return _to_dataset(name, episodes, env_id, provenance, obs_shape, act_shape)


def _data_path(name: str) -> Path:
    """The ``data`` folder of a dataset given by path or id; raises :class:`DatasetError` if there is none."""
    candidates = [Path(name) / "data", Path(name)] if Path(name).is_dir() else []
    if not Path(name).is_absolute():
        candidates.append(minari_dir() / name / "data")
    for candidate in candidates:
        if (candidate / "metadata.json").is_file():
            if not (candidate / "main_data.hdf5").is_file():
                raise DatasetError(f"{name}: {candidate} has no main_data.hdf5 (only hdf5 Minari datasets are read)")
            return candidate
    if not candidates:
        raise DatasetError(f"{name}: no such Minari dataset folder")
    raise DatasetError(f"{name}: no Minari dataset there (looked in {', '.join(map(str, candidates))})")


def _episode_arrays(name: str, episode: Mapping[str, Any]) -> dict[str, Any]:
    """One Minari episode as flat arrays of its T transitions (validated shapes)."""
    obs = episode["observations"]
    if not isinstance(obs, np.ndarray) or obs.ndim != 2:
        raise DatasetError(f"{name}: episode {episode.get('id')} observations are not a (T+1, obs_dim) array; "
                           "only flat Box observations are supported")
    actions = np.asarray(episode["actions"])
    steps = len(np.asarray(episode["rewards"]))
    if len(obs) != steps + 1 or actions.ndim != 2 or len(actions) != steps:
        raise DatasetError(f"{name}: episode {episode.get('id')} has {len(obs)} observations, "
                           f"{len(actions)} actions and {steps} rewards (expected T+1, T, T)")
    infos = episode.get("infos") or {}
    return {"observations": obs[:-1], "next_observations": obs[1:], "actions": actions,
            "rewards": np.asarray(episode["rewards"]).reshape(steps),
            "terminals": np.asarray(episode["terminations"]).astype(bool).reshape(steps),
            "timeouts": np.asarray(episode["truncations"]).astype(bool).reshape(steps),
            "infos": {key: np.asarray(infos[key]) for key in ("qpos", "qvel", "source_episode", "method")
                      if key in infos and isinstance(infos[key], np.ndarray)}}


def _provenance(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    if TRAJAUG_KEY not in raw:
        return {}
    try:
        provenance = json.loads(raw[TRAJAUG_KEY])
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{name}: {TRAJAUG_KEY} in metadata.json is not valid JSON ({error})") from None
    if not isinstance(provenance, dict):
        raise DatasetError(f"{name}: {TRAJAUG_KEY} in metadata.json is not a JSON object")
    return provenance


def _env_id(raw: Mapping[str, Any], provenance: Mapping[str, Any], name: str) -> str | None:
    """Minari env spec id (as its v5 id when trajaug knows the task), else trajaug's, else guessed from the name."""
    spec_json = raw.get("env_spec")
    if isinstance(spec_json, str):
        try:
            spec_id = json.loads(spec_json).get("id")
        except (ValueError, AttributeError):
            spec_id = None
        if isinstance(spec_id, str):
            try:
                return spec_for(spec_id).env_id
            except TrajaugInputError:
                return spec_id
    if isinstance(provenance.get("env_id"), str):
        return str(provenance["env_id"])
    for part in reversed(Path(name).parts):
        guessed = env_id_from_name(part)
        if guessed is not None:
            return guessed
    return None


def _to_dataset(name: str, episodes: list[dict[str, Any]], env_id: str | None, provenance: Mapping[str, Any],
                obs_shape: tuple[int, ...] | None, act_shape: tuple[int, ...] | None) -> Dataset:
    def cat(key: str, shape: tuple[int, ...] | None) -> np.ndarray:
        if episodes:
            return np.concatenate([episode[key] for episode in episodes])
        return np.zeros((0, *(shape or ())), np.float32)

    observations = cat("observations", obs_shape)
    timeouts = cat("timeouts", ())
    terminals = cat("terminals", ())
    lengths = [len(episode["rewards"]) for episode in episodes]
    ends = np.cumsum(lengths) - 1
    unfinished = [i for i, end in enumerate(ends[:-1]) if not (terminals[end] or timeouts[end])]
    if unfinished:
        warnings.warn(f"{name}: {len(unfinished)} episode(s) before the last end without termination or "
                      "truncation; marked as timeouts", UserWarning, stacklevel=3)
        timeouts = timeouts.copy()
        timeouts[ends[unfinished]] = True
    infos = {key: _info_column(name, episodes, key) for key in ("qpos", "qvel", "source_episode", "method")}
    qpos, qvel = infos["qpos"], infos["qvel"]
    if qpos is None or qvel is None or not _state_matches(observations, qpos, qvel):
        if qpos is not None or qvel is not None:
            warnings.warn(f"{name}: infos qpos/qvel do not match the observations; ignored", UserWarning,
                          stacklevel=3)
        qpos = qvel = None
    names = provenance.get("method_names")
    method = infos["method"]
    if not (isinstance(names, list) and names and method is not None):
        names, method = ["expert"], None
    metadata = provenance.get("metadata")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrailingEpisodeWarning)
            dataset = Dataset(observations, cat("actions", act_shape), cat("rewards", ()),
                              cat("next_observations", obs_shape), terminals, timeouts, env_id=env_id, qpos=qpos,
                              qvel=qvel, source_episode=infos["source_episode"], method=method,
                              method_names=tuple(str(n) for n in names),
                              metadata=dict(metadata) if isinstance(metadata, dict) else {"minari_id": name})
    except ValueError as error:
        raise DatasetError(f"{name}: {error}") from None
    if len(dataset) and not (dataset.terminals[-1] or dataset.timeouts[-1]):
        warnings.warn(f"{name}: the last episode has no termination or truncation; kept as an unfinished episode",
                      TrailingEpisodeWarning, stacklevel=3)
    return dataset


def _info_column(name: str, episodes: list[dict[str, Any]], key: str) -> np.ndarray | None:
    """Per-transition rows of ``infos[key]`` (its first T of T+1 or T rows), or None if some episode lacks it."""
    parts = []
    for episode in episodes:
        value = episode["infos"].get(key)
        steps = len(episode["rewards"])
        if value is None or value.ndim == 0 or len(value) not in (steps, steps + 1):
            return None
        parts.append(value[:steps])
    if not parts:
        return None
    try:
        return np.concatenate(parts)
    except ValueError:
        warnings.warn(f"{name}: infos/{key} has different shapes across episodes; ignored", UserWarning,
                      stacklevel=4)
        return None


def _state_matches(observations: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> bool:
    """True if ``observations == [qpos[:, k:], qvel]`` (within float32 rounding) with ``k = nq + nv − obs_dim``."""
    if qpos.ndim != 2 or qvel.ndim != 2 or len(qpos) != len(observations) or len(qvel) != len(observations):
        return False
    excluded = qpos.shape[1] + qvel.shape[1] - observations.shape[1]
    if not 0 <= excluded <= 2:
        return False
    state = np.concatenate([qpos[:, excluded:], qvel], axis=1)
    return bool(np.allclose(state, observations, rtol=1e-6, atol=1e-5))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
