"""Console helpers shared by the command-line modules: a progress bar and JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from trajaug.core.progress import ProgressBar


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[ProgressBar]:
    """A rich progress bar on stderr (:class:`~trajaug.core.progress.ProgressBar`: total and ETA, relabelled and
    resized by each phase the library starts); yields it, to pass as ``progress``. Silent when stderr is not a
    terminal."""
    with ProgressBar(description, total) as bar:
        yield bar


def echo_json(record: Any) -> None:
    click.echo(json.dumps(record, indent=2, default=str))
