"""The ``trajaug`` command line: the top-level group over one module per command group.

Bad input (:class:`~trajaug.core.errors.TrajaugInputError`, an existing output without ``--force``, an option
value click refuses) is reported as one line on stderr with exit code 2; warnings are printed as one line each.
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from trajaug.cli.augment import augment
from trajaug.cli.bc import bc
from trajaug.cli.bench import bench
from trajaug.cli.datasets import datasets
from trajaug.cli.help import HelpGroup, clean_help
from trajaug.cli.offrl import offrl
from trajaug.cli.options import finite_floats
from trajaug.cli.recall import recall
from trajaug.core.atomic import OutputExistsError
from trajaug.core.errors import TrajaugInputError

NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())
"""click ≥ 8.2 raises it for a group called without a command: it shows the group's help, and stays as it is."""


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    click.echo(f"trajaug: warning: {message}", err=True)


class InputError(click.ClickException):
    """Bad input, shown as one line on stderr with exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"trajaug: error: {self.format_message()}", err=True)


def _one_line(error: click.UsageError) -> InputError:
    """A click usage error (a bad option value, a missing argument) as one line naming the command."""
    where = f" ({error.ctx.command_path} --help)" if error.ctx is not None else ""
    return InputError(" ".join(error.format_message().split()) + where)


class _Commands(HelpGroup):
    """The top-level group: turns the library's input errors and click's usage errors into :class:`InputError`
    (one line, exit 2)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except NO_ARGS_IS_HELP:
            raise
        except click.UsageError as error:
            raise _one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except (TrajaugInputError, OutputExistsError) as error:
            raise InputError(str(error)) from None
        except NO_ARGS_IS_HELP:
            raise
        except click.UsageError as error:
            raise _one_line(error) from None


@click.group(cls=_Commands)
@click.version_option(package_name="trajaug")
def cli() -> None:
    """trajaug: offline trajectory augmentation for imitation learning and offline RL."""


for group in (datasets, augment, bc, offrl, bench, recall):
    cli.add_command(group)
clean_help(cli)
finite_floats(cli)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``trajaug`` and ``python -m trajaug``)."""
    cli.main(args=argv, prog_name="trajaug")
