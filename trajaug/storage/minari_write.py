"""Write a :class:`Dataset` as a local Minari dataset (the layout is described in :mod:`trajaug.storage.minari`).

The dataset is assembled in a hidden folder beside its target and renamed into place, so a crash never leaves a
partial dataset; trajaug's provenance goes into ``metadata.json`` under :data:`~trajaug.storage.minari.TRAJAUG_KEY`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from trajaug import __version__
from trajaug.core.atomic import OutputExistsError
from trajaug.core.dataset import Dataset
from trajaug.core.envs import EnvSpec, spec_for
from trajaug.core.errors import DatasetError, TrajaugInputError
from trajaug.storage.minari import FORMAT_VERSION, TRAJAUG_KEY


def write_minari(dataset: Dataset, dataset_id: str, force: bool = False) -> Path:
    """Write ``dataset`` as the local Minari dataset ``dataset_id`` (``(namespace/)name-vN``); returns its folder.

    The dataset is built in a hidden folder beside the target and renamed into place, so no partial dataset is
    ever visible; an existing dataset is replaced only with ``force`` (else :class:`OutputExistsError`).
    Raises :class:`DatasetError` for an invalid id or a dataset Minari cannot represent (next_observations not
    continuous inside an episode).
    """
    from minari.dataset.minari_dataset import parse_dataset_id
    from minari.storage.datasets_root_dir import get_dataset_path

    try:
        namespace = parse_dataset_id(dataset_id)[0]
    except (ValueError, TypeError):
        raise DatasetError(f"{dataset_id}: not a Minari dataset id ((namespace/)name-vN, e.g. "
                           "mujoco/halfcheetah/expert-v0)") from None
    _require_continuous(dataset, dataset_id)
    target = Path(get_dataset_path(dataset_id))
    if target.exists() and not force:
        raise OutputExistsError(f"{target}: Minari dataset {dataset_id} already exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    tmp = target.with_name(f".{target.name}.{token}.tmp")
    old = target.with_name(f".{target.name}.{token}.old")
    try:
        _write_storage(dataset, dataset_id, tmp / "data")
        if namespace is not None:
            _ensure_namespace(namespace)
        if target.exists():
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            if old.exists():
                os.replace(old, target)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target


def _require_continuous(dataset: Dataset, dataset_id: str) -> None:
    """Raise unless ``next_observations[t] == observations[t+1]`` exactly inside every episode."""
    inside = np.ones(len(dataset), dtype=bool)
    inside[dataset.episode_bounds[:, 1] - 1] = False
    rows = np.flatnonzero(inside)
    differ = np.any(dataset.next_observations[rows] != dataset.observations[rows + 1], axis=1)
    if differ.any():
        gap = float(np.abs(dataset.next_observations[rows[differ]] - dataset.observations[rows[differ] + 1]).max())
        raise DatasetError(f"{dataset_id}: next_observations differ from the following observations in "
                           f"{int(differ.sum())} row(s) inside episodes (max difference {gap:.3g}); Minari stores "
                           "one observation sequence per episode and cannot represent this dataset")


def _write_storage(dataset: Dataset, dataset_id: str, data_path: Path) -> None:
    """Create the Minari storage (metadata.json + main_data.hdf5) of ``dataset`` in ``data_path``."""
    from minari.dataset.minari_storage import MinariStorage

    data_path.mkdir(parents=True)
    observation_space = gym.spaces.Box(-np.inf, np.inf, (dataset.obs_dim,), np.float32)
    known = _known_env(dataset.env_id)
    bound = 1.0 if known is not None else np.inf
    action_space = gym.spaces.Box(-bound, bound, (dataset.act_dim,), np.float32)
    env_spec = _registered_spec(dataset.env_id)
    storage = MinariStorage.new(data_path, observation_space=observation_space, action_space=action_space,
                                env_spec=env_spec, jpeg_encoding=False)
    provenance = {"format_version": FORMAT_VERSION, "trajaug_version": __version__, "env_id": dataset.env_id,
                  "method_names": list(dataset.method_names), "metadata": dict(dataset.metadata)}
    metadata: dict[str, Any] = {
        "dataset_id": dataset_id, "minari_version": _minari_version(), "author": {"trajaug"},
        "algorithm_name": str(dataset.metadata.get("method", dataset.method_names[0])),
        "description": f"Written by trajaug {__version__} from a flat D4RL-style dataset "
                       f"({dataset.n_episodes} episodes, {len(dataset)} transitions).",
        TRAJAUG_KEY: json.dumps(provenance, sort_keys=True, default=str)}
    if known is not None:
        metadata.update(ref_min_score=known.random_score, ref_max_score=known.expert_score)
    storage.update_metadata(metadata)
    storage.update_episodes(_buffer(dataset, index) for index in range(dataset.n_episodes))


def _buffer(dataset: Dataset, index: int) -> Any:
    """Episode ``index`` as a Minari ``EpisodeBuffer`` (observations T+1 rows, infos T+1 rows)."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    start, stop = (int(v) for v in dataset.episode_bounds[index])
    rows = slice(start, stop)
    observations = np.concatenate([dataset.observations[rows], dataset.next_observations[stop - 1:stop]])
    assert dataset.source_episode is not None and dataset.method is not None  # filled in by Dataset
    infos: dict[str, np.ndarray] = {
        "source_episode": _repeat_last(dataset.source_episode[rows]),
        "method": _repeat_last(dataset.method[rows]),
    }
    if dataset.qpos is not None and dataset.qvel is not None:
        infos["qpos"] = _nan_last(dataset.qpos[rows])
        infos["qvel"] = _nan_last(dataset.qvel[rows])
    return EpisodeBuffer(observations=observations, actions=np.ascontiguousarray(dataset.actions[rows]),
                         rewards=np.ascontiguousarray(dataset.rewards[rows]),
                         terminations=np.ascontiguousarray(dataset.terminals[rows]),
                         truncations=np.ascontiguousarray(dataset.timeouts[rows]), infos=infos)


def _repeat_last(column: np.ndarray) -> np.ndarray:
    return np.concatenate([column, column[-1:]])


def _nan_last(column: np.ndarray) -> np.ndarray:
    return np.concatenate([column, np.full((1, *column.shape[1:]), np.nan, column.dtype)])


def _known_env(env_id: str | None) -> EnvSpec | None:
    if env_id is None:
        return None
    try:
        spec = spec_for(env_id)
    except TrajaugInputError:
        return None
    return spec


def _registered_spec(env_id: str | None) -> gym.envs.registration.EnvSpec | None:
    if env_id is None:
        return None
    try:
        return gym.spec(env_id)
    except gym.error.Error:
        return None


def _ensure_namespace(namespace: str) -> None:
    """Create Minari's namespace metadata (as ``create_dataset_from_buffers`` does) if it is missing."""
    from minari.namespace import create_namespace, list_local_namespaces

    if namespace not in list_local_namespaces():
        with contextlib.suppress(ValueError):  # created meanwhile by someone else
            create_namespace(namespace)


def _minari_version() -> str:
    import minari

    return str(minari.__version__)
