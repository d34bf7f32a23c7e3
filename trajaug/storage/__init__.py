"""Storage: one small interface over the file formats a :class:`~trajaug.core.dataset.Dataset` is kept in.

A backend (:class:`Storage`) reads a location into a dataset and writes a dataset to a location, atomically.
:data:`FORMATS` maps a format name to its backend, as Minari keeps its storage backends in a registry:

* ``d4rl``: one flat HDF5 file in D4RL's layout plus trajaug's provenance (:mod:`trajaug.storage.d4rl`);
* ``minari``: a local Minari dataset, by id or folder (:mod:`trajaug.storage.minari`, ``minari_write``).

:func:`format_of` picks the backend of an existing location; :func:`read` and :func:`write` go through it.
Dataset *names* (``halfcheetah-expert``), the caches and building live above this layer, in
:mod:`trajaug.datasets.registry`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from trajaug.core.dataset import Dataset
from trajaug.storage.paths import minari_dir


class Storage(Protocol):
    """A file format: read a location into a dataset, write a dataset to a location."""

    name: str
    """The format's name in :data:`FORMATS` (and ``datasets convert --to``)."""

    def recognises(self, location: str) -> bool:
        """Whether ``location`` (a path, or an id) holds a dataset in this format."""

    def read(self, location: str, env_id: str | None = None) -> Dataset:
        """The dataset at ``location``; ``env_id`` names the environment where the data does not."""

    def write(self, dataset: Dataset, location: str, force: bool = False) -> Path:
        """Write ``dataset`` to ``location`` atomically (an existing one only with ``force``); returns the path."""


class D4RLStorage:
    """D4RL's flat HDF5 (``observations``, ``actions``, ``rewards``, ``terminals``, ``timeouts``, ...)."""

    name = "d4rl"

    def recognises(self, location: str) -> bool:
        return Path(location).is_file()

    def read(self, location: str, env_id: str | None = None) -> Dataset:
        from trajaug.storage.d4rl import read_d4rl

        return read_d4rl(location, env_id=env_id)

    def write(self, dataset: Dataset, location: str, force: bool = False) -> Path:
        from trajaug.storage.d4rl import write_d4rl

        return write_d4rl(dataset, location, force=force)


def looks_like_minari_id(location: str) -> bool:
    """Whether ``location`` is spelled like a Minari id (``namespace/name-vN``): no such path, a ``/``, no HDF5
    suffix. It need not be present locally (reading it then gives Minari's own error)."""
    return not Path(location).exists() and location.count("/") >= 1 and not location.endswith((".hdf5", ".h5"))


class MinariStorage:
    """A local Minari dataset (its ``data/`` folder of HDF5 episodes), by id or by folder."""

    name = "minari"

    def recognises(self, location: str) -> bool:
        return Path(location).is_dir() or (looks_like_minari_id(location)
                                           and (minari_dir() / location / "data").is_dir())

    def read(self, location: str, env_id: str | None = None) -> Dataset:
        from trajaug.storage.minari import read_minari

        return read_minari(location)

    def write(self, dataset: Dataset, location: str, force: bool = False) -> Path:
        from trajaug.storage.minari_write import write_minari

        return write_minari(dataset, location, force=force)


FORMATS: dict[str, Storage] = {"d4rl": D4RLStorage(), "minari": MinariStorage()}
"""Format name → backend."""


def format_of(location: str) -> Storage:
    """The backend of an existing ``location``: Minari for a dataset folder or a local Minari id, else D4RL."""
    return FORMATS["minari"] if FORMATS["minari"].recognises(location) else FORMATS["d4rl"]


def read(location: str, env_id: str | None = None) -> Dataset:
    """Read the dataset at ``location`` with its format's backend."""
    return format_of(location).read(location, env_id)


def write(dataset: Dataset, location: str, storage_format: str = "d4rl", force: bool = False) -> Path:
    """Write ``dataset`` to ``location`` in ``storage_format`` (a key of :data:`FORMATS`)."""
    return FORMATS[storage_format].write(dataset, location, force)
