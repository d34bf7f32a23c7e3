"""Atomic file writes: write to a temporary file beside the target, then rename it into place.

A crash (or an exception) inside the ``with`` block leaves the target untouched and removes the temporary file, so a
reader never sees a partial file. Existing targets are only replaced with ``force=True``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputExistsError(FileExistsError):
    """The output file exists and ``force`` was not given."""


@contextmanager
def atomic_path(target: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``target``.

    The temporary name keeps the target's suffix (some writers append one when it is missing).
    Raises :class:`OutputExistsError` before anything is written if ``target`` exists and ``force`` is false.
    """
    target = Path(target)
    if target.exists() and not force:
        raise OutputExistsError(f"{target}: already exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
