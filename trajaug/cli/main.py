"""The ``trajaug`` command line: the top-level group over one module per command group.

Bad input (:class:`~trajaug.core.errors.TrajaugInputError`, an existing output without ``--force``) is reported
as one line on stderr with exit code 2; warnings are printed as one line each.
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from trajaug.cli.augment import augment
from trajaug.cli.bc import bc
from trajaug.cli.bench import bench
from trajaug.cli.datasets import datasets
from trajaug.cli.offrl import offrl
from trajaug.cli.recall import recall
from trajaug.core.atomic import OutputExistsError
from trajaug.core.errors import TrajaugInputError


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    click.echo(f"trajaug: warning: {message}", err=True)


class InputError(click.ClickException):
    """Bad input, shown as one line on stderr with exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"trajaug: error: {self.format_message()}", err=True)


class _Commands(click.Group):
    """The top-level group: turns the library's input errors into :class:`InputError` (one line, exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except (TrajaugInputError, OutputExistsError) as error:
            raise InputError(str(error)) from None


@click.group(cls=_Commands)
@click.version_option(package_name="trajaug")
def cli() -> None:
    """trajaug: offline trajectory augmentation for imitation learning and offline RL."""


for group in (datasets, augment, bc, offrl, bench, recall):
    cli.add_command(group)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``trajaug`` and ``python -m trajaug``)."""
    cli.main(args=argv, prog_name="trajaug")
