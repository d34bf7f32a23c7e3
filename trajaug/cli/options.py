"""Options shared by the command groups: one ``--field-name`` per config field, the executor options, lists.

:func:`config_options` turns a config dataclass into click options whose help is the field's docstring
(:func:`trajaug.core.config.field_docs`); :func:`config_from_options` hands the chosen values to
:func:`trajaug.core.config.parse_config`, the same function TOML grids and row strings go through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from trajaug.core.config import field_docs, parse_config
from trajaug.core.errors import TrajaugInputError
from trajaug.executors import EXECUTORS

T = TypeVar("T")
SCALARS = (int, float, str, bool)


def config_options(config_cls: type, exclude: tuple[str, ...] = (), optional: bool = False
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding one ``--field-name`` option per scalar or tuple field of ``config_cls`` (a tuple is given as
    comma-separated values). ``optional``: every option defaults to None (the field's default is shown in the
    help), so a command can tell what was given from what a grid file or the config's default supplies."""
    docs = field_docs(config_cls)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for field in reversed(dataclasses.fields(config_cls)):
            default = field.default
            if field.name in exclude or default is dataclasses.MISSING:
                continue
            if not isinstance(default, SCALARS) and not (isinstance(default, tuple)
                                                         and all(isinstance(x, SCALARS) for x in default)):
                continue
            flag = "--" + field.name.replace("_", "-")
            shown = ",".join(str(x) for x in default) if isinstance(default, tuple) else default
            help_text = docs.get(field.name, "") + (f"  [default: {shown}]" if optional else "")
            kind: Any = str if isinstance(default, tuple) else type(default)
            if isinstance(default, bool):
                option = click.option(f"{flag}/--no-{flag[2:]}", field.name, default=None if optional else default,
                                      show_default=not optional, help=help_text)
            else:
                option = click.option(flag, field.name, type=kind, default=None if optional else shown,
                                      show_default=not optional, help=help_text)
            command = option(command)
        return command

    return decorate


def given_options(config_cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The options that name fields of ``config_cls`` and were given (not None)."""
    names = {field.name for field in dataclasses.fields(config_cls)}
    return {key: value for key, value in options.items() if key in names and value is not None}


def config_from_options(config_cls: type[T], options: dict[str, Any], what: str = "options") -> T:
    """Build ``config_cls`` from the options that name its fields (others are ignored) via ``parse_config``."""
    return parse_config(config_cls, given_options(config_cls, options), what)


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--executor/--address/--ship-data/--max-retries/--workers``, shared by every command that runs cells."""
    options = [
        click.option("--executor", "executor_kind", type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="Where cells run: a local process pool, or Ray tasks (needs trajaug[ray])."),
        click.option("--address", default=None,
                     help="Ray cluster to join (auto, HOST:6379, ray://HOST:10001); default: start a local Ray."),
        click.option("--ship-data", is_flag=True,
                     help="Put each dataset in Ray's object store once, for workers without a shared filesystem."),
        click.option("--max-retries", type=click.IntRange(min=0), default=3, show_default=True,
                     help="Ray: re-runs of a cell whose worker or node died, before it is recorded as failed."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes (local) or CPUs of a locally started Ray (default: CPU cores)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def cell_executor(executor_kind: str, workers: int | None, address: str | None, ship_data: bool,
                  max_retries: int) -> Iterator[Any]:
    """The executor the options ask for, closed afterwards."""
    from trajaug.executors import make_executor

    if ship_data and executor_kind != "ray":
        raise TrajaugInputError("--ship-data needs --executor ray")
    executor = make_executor(executor_kind, workers, address, max_retries)
    try:
        yield executor
    finally:
        executor.close()
