"""What every resumable batch of cells needs, whatever a cell runs (``bc batch``, ``offrl batch``, the benchmarks):
the TOML grid file and its lists, readable cell names, the stored results, and the datasets as the cells see them —
fingerprinted (a result counts as finished only for the data it was made from), built once before the cells, shipped
to workers without a shared filesystem and read back there from a local copy.

A cell is any object with a ``cell_id``; its row is stored, last and atomically, as
``OUT/cells/<cell_id>/result.json`` with ``"status": "ok"`` (finished) or ``"error"`` (retried on a rerun).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trajaug.core.atomic import atomic_path
from trajaug.core.errors import TrajaugInputError


def read_grid_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a TOML grid file. Needs Python ≥ 3.11 (stdlib ``tomllib``)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise TrajaugInputError("grid files need Python ≥ 3.11 (tomllib); pass the grid as options instead") from None
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise TrajaugInputError(f"{path}: no such grid file") from None
    except IsADirectoryError:
        raise TrajaugInputError(f"{path}: a folder, not a grid file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TrajaugInputError(f"{path}: not a valid TOML file ({error})") from None


def listed(value: Any) -> list[Any]:
    """A grid value as a list: a list or tuple as it is, anything else as its only item."""
    return list(value) if isinstance(value, list | tuple) else [value]


def seed_list(value: Any) -> tuple[int, ...]:
    """A grid's ``seeds``: a count N (seeds 0..N-1) or a list of seeds."""
    return tuple(range(int(value))) if isinstance(value, int) else tuple(int(s) for s in value)


def slug(name: str) -> str:
    """A file-name-safe short form of a dataset name or path (its stem for a path)."""
    stem = Path(name).stem if ("/" in name or name.endswith((".hdf5", ".h5"))) else name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_")[:40] or "data"


def absolute_path(name: str | None) -> str | None:
    """A file path (it has a ``/`` or an HDF5 suffix) made absolute against the working directory; a registry
    name, a Minari id of a dataset not on disk here, or None as it is."""
    if name is None or not ("/" in name or name.endswith((".hdf5", ".h5"))) or not Path(name).exists():
        return name
    return os.path.abspath(name)


def digest(record: Mapping[str, Any], paths: Sequence[str] = ()) -> str:
    """First 8 hex digits of the sha256 of ``record`` as sorted-key JSON (the unique tail of a cell id). The
    ``paths`` fields (dataset names or files) are hashed as :func:`absolute_path` gives them, so an id does not
    depend on how a file is spelled (``runs/x.hdf5`` from the working directory and ``/abs/runs/x.hdf5`` are one)."""
    record = {key: absolute_path(value) if key in paths else value for key, value in record.items()}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:8]


def error_text(error: BaseException) -> str:
    """``Type: message`` on one line, for a failed cell's row."""
    return f"{type(error).__name__}: {' '.join(str(error).split()) or type(error).__name__}"


def dataset_sha256(name: str, shared: Mapping[str, Any]) -> str | None:
    """sha256 of the file ``name`` resolves to (a shipped copy's, if shipped; a name not built here yet is built
    first, as reading it would); None for a Minari folder."""
    from trajaug.datasets.registry import build, file_sha256, resolve

    if name in shared:
        return str(shared[name][0])
    resolved = resolve(name)
    if resolved.kind in ("build", "stale"):
        build(name)
    location = Path(resolved.location)
    return file_sha256(location) if location.is_file() else None


def ship(names: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """``{name: (sha256, file bytes)}`` for every name that resolves to a D4RL file here. Names that don't resolve
    are left out (their cells report the error themselves), and so are Minari datasets (workers load those by id
    from their own Minari cache)."""
    from trajaug.datasets.registry import resolve

    shipped: dict[str, tuple[str, bytes]] = {}
    for name in dict.fromkeys(names):
        try:
            resolved = resolve(name)
            if resolved.kind in ("minari", "build", "stale"):
                continue
            content = Path(resolved.location).read_bytes()
        except Exception:  # noqa: BLE001 - reported per cell
            continue
        shipped[name] = (hashlib.sha256(content).hexdigest(), content)
    return shipped


def local_dataset(name: str, shared: Mapping[str, Any]) -> str:
    """``name`` itself, or for a shipped dataset the path of a local copy (written once per machine, atomically,
    under the temp folder, named by its sha256)."""
    if name not in shared:
        return name
    sha256, content = shared[name]
    suffix = Path(name).suffix if Path(name).suffix in (".hdf5", ".h5") else ".hdf5"
    copy = Path(tempfile.gettempdir()) / "trajaug-shipped" / f"{sha256}{suffix}"
    if not copy.is_file():
        with atomic_path(copy, force=True) as tmp:
            tmp.write_bytes(content)
    return str(copy)


def build_missing(names: Iterable[str]) -> None:
    """Build the named datasets that are not built yet, once, here (not racing in several workers). Errors are
    left for the cells to report."""
    from trajaug.datasets.registry import build, resolve

    for name in dict.fromkeys(names):
        try:
            if resolve(name).kind in ("build", "stale"):
                build(name)
        except Exception:  # noqa: BLE001 - reported per cell
            pass


def read_result(out_dir: Path, cell: Any) -> dict[str, Any] | None:
    """A cell's stored row (``OUT/cells/<cell_id>/result.json``), or None if it has none (or an unreadable one)."""
    try:
        return dict(json.loads((out_dir / "cells" / cell.cell_id / "result.json").read_text()))
    except (OSError, ValueError):
        return None


def finished_cells(out_dir: Path, cells: Sequence[Any], datasets: Callable[[Any], Mapping[str, str | None]]
                   ) -> set[str]:
    """Ids of the cells whose stored row says ``"ok"`` and was made from the data their datasets hold now.

    ``datasets(cell)`` maps each fingerprint key of the row (``data_sha256``, ...) to the dataset name it
    fingerprints (None: no dataset, the row must hold None). A finished row made from other data (a name rebuilt from
    a new expert, a file replaced) or without a fingerprint is run again, with one warning for all of them."""
    current: dict[str, str | None] = {}
    finished: set[str] = set()
    stale = 0
    for cell in cells:
        row = read_result(out_dir, cell) or {}
        if row.get("status") != "ok":
            continue
        try:
            expected = {key: _cached_sha256(name, current) if name else None
                        for key, name in datasets(cell).items()}
        except Exception:  # noqa: BLE001 - a dataset that no longer resolves: the cell reports it when re-run
            expected = {"data_sha256": "unresolved"}
        if all(row.get(key) == value for key, value in expected.items()):
            finished.add(cell.cell_id)
        else:
            stale += 1
    if stale:
        warnings.warn(f"{out_dir}: {stale} finished cell(s) were made from other data than their datasets hold now "
                      f"(or by a version that did not record it); running them again", stacklevel=3)
    return finished


def _cached_sha256(name: str, cache: dict[str, str | None]) -> str | None:
    if name not in cache:
        cache[name] = dataset_sha256(name, {})
    return cache[name]
