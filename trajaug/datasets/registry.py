"""Dataset names and where they resolve.

A path (anything that exists on disk, or looks like a path: contains ``/`` or ends in ``.hdf5``) is read as it is; a
Minari id (``namespace/name-vN``, e.g. ``mujoco/halfcheetah/medium-v0``) is read from ``$MINARI_DATASETS_PATH`` (or
``~/.minari/datasets``), and one that is not there is an error saying how to download it.

The names ``<env>-<level>`` (env: halfcheetah, hopper, walker2d; level: random, medium, medium-replay,
medium-expert, expert; :mod:`trajaug.datasets.levels`) resolve, in this order, to:

1. a D4RL file ``<key>_<level>-v2.hdf5`` (``-`` in the level spelled ``_``) in ``$D4RL_DATASET_DIR`` or
   ``~/.d4rl/datasets``;
2. a local Minari dataset ``mujoco/<key>/<level>-v0`` (medium and expert only: Minari has no other of these);
3. the trajaug cache ``$TRAJAUG_HOME/datasets/<name>.hdf5`` (``TRAJAUG_HOME`` defaults to ``~/.trajaug``), if it
   was built from the bundled actors shipped now by the current build recipe (the actors' sha256 and the recipe are
   recorded in the file); a cache built from other actors or by an older recipe (an older trajaug) is *stale* and
   is rebuilt on use;
4. otherwise it is built from the bundled actors (no network) and written to the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trajaug.core.dataset import Dataset, TrailingEpisodeWarning
from trajaug.core.envs import EnvSpec, check_env_override
from trajaug.core.errors import DatasetError, TrajaugInputError
from trajaug.datasets import levels
from trajaug.datasets.levels import NAMED_ENVS
from trajaug.storage.paths import d4rl_dir, minari_dir, trajaug_home

BUILT_EPISODES = 100
"""Episodes in a dataset built from a bundled expert (D4RL's expert sets have 1000; few-demo work needs ≤ 10)."""
__all__ = ["NAMED_ENVS", "Resolved", "build", "file_sha256", "known_names", "load", "resolve", "trajaug_home"]
MINARI_ID = re.compile(r"[\w.-]+(/[\w.-]+)+-v\d+")
"""A Minari dataset id: ``namespace/name-vN`` (any number of namespaces)."""
STALE_REBUILD = "the cached copy was built from another bundled expert or build recipe; rebuilding it"
"""What ``datasets build`` prints and ``load`` warns (after the name) when it rebuilds a stale cache."""


@dataclass(frozen=True)
class Resolved:
    name: str
    """The name or path asked for."""
    kind: str
    """Where it resolved: ``path``, ``d4rl``, ``minari``, ``cache``, ``build`` (not present yet) or ``stale`` (a
    cache built from another bundled actor or build recipe: rebuilt on use)."""
    location: str
    """File path, or Minari dataset id for ``minari``."""
    env_id: str | None

    @property
    def present(self) -> bool:
        return self.kind not in ("build", "stale")


def known_names() -> list[str]:
    """The 15 dataset names (:func:`trajaug.datasets.levels.known_names`)."""
    return levels.known_names()


def resolve(name: str) -> Resolved:
    """Where ``name`` resolves now (see the module docstring); raises for an unknown name, a missing file or a
    Minari id that is not present locally."""
    from trajaug.core.envs import env_id_from_name

    looks_like_path = "/" in name or name.endswith((".hdf5", ".h5")) or os.sep in name
    if Path(name).exists():
        return Resolved(name, "path", name, env_id_from_name(Path(name).name))
    if MINARI_ID.fullmatch(name):
        guessed = next((env_id_from_name(part) for part in name.split("/") if env_id_from_name(part)), None)
        if (minari_dir() / name / "data").is_dir():
            return Resolved(name, "minari", name, guessed)
        raise DatasetError(f"{name}: no such file, nor a Minari dataset of that id under {minari_dir()} (get it "
                           f"with `minari download {name}`, or point MINARI_DATASETS_PATH at where it is)")
    if looks_like_path:
        raise DatasetError(f"{name}: no such file")
    parsed = levels.split_name(name)
    if parsed is None:
        raise TrajaugInputError(f"unknown dataset {name!r}: give a path to an HDF5 file, a Minari id or one of "
                                + ", ".join(known_names()))
    spec, level = parsed
    d4rl_file = d4rl_dir() / levels.d4rl_file_name(spec.key, level)
    if d4rl_file.is_file():
        return Resolved(name, "d4rl", str(d4rl_file), spec.env_id)
    minari_id = levels.minari_id(spec.key, level)
    if minari_id is not None and (minari_dir() / minari_id / "data" / "main_data.hdf5").is_file():
        return Resolved(name, "minari", minari_id, spec.env_id)
    cached = trajaug_home() / "datasets" / f"{name}.hdf5"
    if not cached.is_file():
        return Resolved(name, "build", str(cached), spec.env_id)
    current = _is_current_build(cached, spec) if level == "expert" else levels.is_current(cached, spec.key, level)
    return Resolved(name, "cache" if current else "stale", str(cached), spec.env_id)


def _is_current_build(path: Path, spec: EnvSpec) -> bool:
    from trajaug.experts.bundled import BUILD_RECIPE, actor_sha256, bundled_actor_path
    from trajaug.storage.d4rl import read_trajaug_metadata

    if not bundled_actor_path(spec.key).is_file():
        return True  # nothing to rebuild from: keep what is there
    recorded = read_trajaug_metadata(path).get("expert", {})
    return (isinstance(recorded, dict) and recorded.get("sha256") == actor_sha256(spec.env_id)
            and recorded.get("recipe") == BUILD_RECIPE)


def build(name: str, force: bool = False, episodes: int = BUILT_EPISODES,
          progress: Callable[[int], None] | None = None, *, transitions: int | None = None) -> Path:
    """Build ``name`` from its bundled actors into the trajaug cache; returns the file written. An existing cache
    is replaced only with ``force``, or when it is stale (built from another bundled actor or recipe).

    ``episodes``: the size of an ``-expert`` build; ``transitions``: that of another level (default
    :data:`trajaug.datasets.levels.DEFAULT_TRANSITIONS`)."""
    from trajaug.experts.bundled import actor_sha256, build_expert_dataset, bundled_actor_path, load_actor
    from trajaug.storage.d4rl import write_d4rl

    parsed = levels.split_name(name)
    if parsed is None:
        raise TrajaugInputError(f"cannot build {name!r}: only {', '.join(known_names())} have bundled actors")
    spec, level = parsed
    target = trajaug_home() / "datasets" / f"{name}.hdf5"
    if level != "expert":
        stale = target.is_file() and not levels.is_current(target, spec.key, level)
        if target.is_file() and not (force or stale):
            from trajaug.core.atomic import OutputExistsError

            raise OutputExistsError(f"{target}: already exists (use --force to overwrite)")
        medium = f"{spec.key}-medium"
        if (level == "medium-expert" and transitions is None and levels.missing_source(spec.key, level) is None
                and resolve(medium).kind in ("build", "stale")):
            build(medium, progress=progress)  # cached on the way: the medium half is that build
        built, infos = levels.build_level(spec, level, transitions, progress=progress)
        return write_d4rl(built, target, force=force or stale, infos=infos)
    if transitions is not None:
        raise TrajaugInputError(f"{name}: an expert build is sized in episodes, not transitions")
    actor_file = bundled_actor_path(spec.key)
    if not actor_file.is_file():
        raise TrajaugInputError(f"no bundled expert for {spec.env_id} ({actor_file} is missing)")
    stale = target.is_file() and not _is_current_build(target, spec)
    dataset = build_expert_dataset(spec.env_id, load_actor(actor_file), episodes=episodes, progress=progress)
    expert = {**dataset.metadata.get("expert", {}), "sha256": actor_sha256(spec.env_id)}
    dataset = dataclasses.replace(dataset, metadata={**dataset.metadata, "expert": expert})
    return write_d4rl(dataset, target, force=force or stale)


def load(name: str, env_id: str | None = None, progress: Callable[[int], None] | None = None) -> Dataset:
    """Resolve ``name`` (building it if needed) and read it. ``env_id`` overrides the file's environment."""
    from trajaug import storage

    resolved = resolve(name)
    if resolved.kind in ("build", "stale"):
        if resolved.kind == "stale":
            warnings.warn(f"{name}: {STALE_REBUILD}", stacklevel=2)
        build(name, progress=progress)
        resolved = resolve(name)
    backend = storage.FORMATS["minari"] if resolved.kind == "minari" else storage.format_of(resolved.location)
    if backend.name == "minari":
        dataset = backend.read(resolved.location)
        check_env_override(env_id, dataset.env_id, resolved.location)
        return dataset
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        dataset = backend.read(resolved.location, env_id=env_id or resolved.env_id)
    with warnings.catch_warnings():  # already warned about an unfinished last episode when reading
        warnings.simplefilter("ignore", TrailingEpisodeWarning)
        return dataclasses.replace(dataset, metadata={**dataset.metadata,
                                                      "file_sha256": file_sha256(Path(resolved.location))})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
