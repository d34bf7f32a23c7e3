"""Dataset names and where they resolve.

``halfcheetah-expert``, ``hopper-expert`` and ``walker2d-expert`` resolve, in this order, to:

1. an explicit path (anything that exists on disk, or looks like a path: contains ``/`` or ends in ``.hdf5``);
2. a D4RL file ``<key>_expert-v2.hdf5`` in ``$D4RL_DATASET_DIR`` or ``~/.d4rl/datasets``;
3. a local Minari dataset ``mujoco/<key>/expert-v0`` under ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``;
4. the trajaug cache ``$TRAJAUG_HOME/datasets/<name>.hdf5`` (``TRAJAUG_HOME`` defaults to ``~/.trajaug``), if it
   was built from the bundled actor shipped now by the current build recipe (the actor's sha256 and the recipe are
   recorded in the file); a cache built from another actor or by an older recipe (an older trajaug) is *stale* and
   is rebuilt on use;
5. otherwise it is built from the bundled expert actor (no network) and written to the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trajaug.core.dataset import Dataset, TrailingEpisodeWarning
from trajaug.core.envs import ENVS, EnvSpec
from trajaug.core.errors import DatasetError, TrajaugInputError
from trajaug.storage.paths import d4rl_dir, minari_dir

BUILT_EPISODES = 100
"""Episodes in a dataset built from a bundled expert (D4RL's expert sets have 1000; few-demo work needs ≤ 10)."""
NAMED_ENVS = ("halfcheetah", "hopper", "walker2d")
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


def trajaug_home() -> Path:
    return Path(os.environ.get("TRAJAUG_HOME", Path.home() / ".trajaug"))


def known_names() -> list[str]:
    return [f"{key}-expert" for key in NAMED_ENVS]


def _spec_of_name(name: str) -> EnvSpec | None:
    key, _, kind = name.partition("-")
    return ENVS[key] if kind == "expert" and key in NAMED_ENVS else None


def resolve(name: str) -> Resolved:
    """Where ``name`` resolves now (see the module docstring); raises for an unknown name."""
    looks_like_path = "/" in name or name.endswith((".hdf5", ".h5")) or os.sep in name
    if Path(name).exists() or looks_like_path:
        if not Path(name).exists():
            raise DatasetError(f"{name}: no such file")
        from trajaug.core.envs import env_id_from_name

        return Resolved(name, "path", name, env_id_from_name(Path(name).name))
    spec = _spec_of_name(name)
    if spec is None:
        raise TrajaugInputError(f"unknown dataset {name!r}: give a path to an HDF5 file or one of "
                                + ", ".join(known_names()))
    d4rl_file = d4rl_dir() / f"{spec.key}_expert-v2.hdf5"
    if d4rl_file.is_file():
        return Resolved(name, "d4rl", str(d4rl_file), spec.env_id)
    minari_id = f"mujoco/{spec.key}/expert-v0"
    if (minari_dir() / minari_id / "data" / "main_data.hdf5").is_file():
        return Resolved(name, "minari", minari_id, spec.env_id)
    cached = trajaug_home() / "datasets" / f"{name}.hdf5"
    if not cached.is_file():
        return Resolved(name, "build", str(cached), spec.env_id)
    return Resolved(name, "cache" if _is_current_build(cached, spec) else "stale", str(cached), spec.env_id)


def _is_current_build(path: Path, spec: EnvSpec) -> bool:
    from trajaug.experts.bundled import BUILD_RECIPE, actor_sha256, bundled_actor_path
    from trajaug.storage.d4rl import read_trajaug_metadata

    if not bundled_actor_path(spec.key).is_file():
        return True  # nothing to rebuild from: keep what is there
    recorded = read_trajaug_metadata(path).get("expert", {})
    return (isinstance(recorded, dict) and recorded.get("sha256") == actor_sha256(spec.env_id)
            and recorded.get("recipe") == BUILD_RECIPE)


def build(name: str, force: bool = False, episodes: int = BUILT_EPISODES,
          progress: Callable[[int], None] | None = None) -> Path:
    """Build ``name`` from its bundled expert into the trajaug cache; returns the file written. An existing cache
    is replaced only with ``force``, or when it is stale (built from another bundled actor or recipe)."""
    from trajaug.experts.bundled import actor_sha256, build_expert_dataset, bundled_actor_path, load_actor
    from trajaug.storage.d4rl import write_d4rl

    spec = _spec_of_name(name)
    if spec is None:
        raise TrajaugInputError(f"cannot build {name!r}: only {', '.join(known_names())} have bundled experts")
    target = trajaug_home() / "datasets" / f"{name}.hdf5"
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
        return backend.read(resolved.location)
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
