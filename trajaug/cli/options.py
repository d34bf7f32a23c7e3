"""Options shared by the command groups: one ``--field-name`` per config field, the executor options, lists.

:func:`config_options` turns a config dataclass into click options whose help is the field's docstring
(:func:`trajaug.core.config.field_docs`); :func:`config_from_options` hands the chosen values to
:func:`trajaug.core.config.parse_config`, the same function TOML grids and row strings go through.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from trajaug.cli.help import OWN, SECTION, SectionOption
from trajaug.core.config import Limits, field_docs, flag, limits_of, parse_config, parse_value
from trajaug.core.errors import TrajaugInputError
from trajaug.executors import EXECUTORS

T = TypeVar("T")
SCALARS = (int, float, str, bool)


def config_options(config_cls: type, exclude: tuple[str, ...] = (), optional: bool = False, title: str = ""
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding one ``--field-name`` option per scalar or tuple field of ``config_cls`` (a tuple is given as
    comma-separated values). ``optional``: every option defaults to None (the field's default is shown in the
    help), so a command can tell what was given from what a grid file or the config's default supplies.

    A field's :func:`~trajaug.core.config.setting` limits become its type (``click.Choice``, ``click.IntRange``,
    ``click.FloatRange``) and its ``--help`` section: the fields without one under ``title`` (default: the config's
    name, "CAT options"), listed first (those ``config_cls`` declares itself before those it inherits), the others
    in their own sections after the command's plain options."""
    docs = field_docs(config_cls)
    own = title or config_cls.__name__.removesuffix("Config") + " options"

    declared = inspect.get_annotations(config_cls)
    fields = sorted(dataclasses.fields(config_cls), key=lambda f: f.name not in declared)  # its own fields first

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for field in reversed(fields):
            default = field.default
            if field.name in exclude or default is dataclasses.MISSING:
                continue
            if not isinstance(default, SCALARS) and not (isinstance(default, tuple)
                                                         and all(isinstance(x, SCALARS) for x in default)):
                continue
            spelled = flag(field.name)
            shown = ",".join(str(x) for x in default) if isinstance(default, tuple) else default
            help_text = docs.get(field.name, "") + (f"  [default: {shown}]" if optional else "")
            limits = limits_of(field)
            section = {"section": limits.section, "rank": SECTION} if limits and limits.section else {
                "section": own, "rank": OWN}
            section["limits"] = limits
            if isinstance(default, bool):
                option = click.option(f"{spelled}/--no-{spelled[2:]}", field.name,
                                      default=None if optional else default, show_default=not optional,
                                      help=help_text, cls=SectionOption, **section)
            else:
                option = click.option(spelled, field.name, type=_option_type(default, limits),
                                      default=None if optional else shown, show_default=not optional,
                                      help=help_text, cls=SectionOption, **section)
            command = option(command)
        return command

    return decorate


def _option_type(default: Any, limits: Limits | None) -> Any:
    """The click type of a field: a tuple is text (checked item by item by the config), a choice a
    ``click.Choice``, a bounded number an ``IntRange`` / ``FloatRange``."""
    if isinstance(default, tuple) or limits is None:
        return str if isinstance(default, tuple) else type(default)
    if limits.choices:
        return click.Choice(limits.choices)
    if isinstance(default, int | float):
        low = limits.minimum if limits.minimum is not None else limits.above
        high = limits.maximum if limits.maximum is not None else limits.below
        opens = {"min_open": limits.above is not None, "max_open": limits.below is not None}
        if isinstance(default, int):
            return click.IntRange(None if low is None else int(low), None if high is None else int(high), **opens)
        return click.FloatRange(low, high, **opens)
    return type(default)


def given_options(config_cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The options that name fields of ``config_cls`` and were given (not None)."""
    names = {field.name for field in dataclasses.fields(config_cls)}
    return {key: value for key, value in options.items() if key in names and value is not None}


def config_from_options(config_cls: type[T], options: dict[str, Any], what: str = "options") -> T:
    """Build ``config_cls`` from the options that name its fields (others are ignored) via ``parse_config``; a
    value of the wrong type is reported under its flag (``--hidden: 'a' is not an integer``)."""
    defaults = {field.name: field.default for field in dataclasses.fields(config_cls)}  # type: ignore[arg-type]
    given = {key: value if defaults[key] is dataclasses.MISSING else parse_value(defaults[key], value, flag(key))
             for key, value in given_options(config_cls, options).items()}
    return parse_config(config_cls, given, what)


def _device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse a device torch cannot use before any work starts (one line, exit 2)."""
    from trajaug.core.device import resolve_device

    try:
        resolve_device(value)
    except TrajaugInputError as error:
        raise click.BadParameter(str(error).removeprefix(f"--device {value}: ")) from None
    return value


DEVICE_HELP = ("Where networks train: auto (the first GPU torch sees, else cpu), cpu, cuda, cuda:N or mps; "
               "simulation stays on the CPU.")


def device_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--device`` (a run option, passed to the library's ``device=``; checked before any work)."""
    return click.option("--device", default="cpu", show_default=True, callback=_device, help=DEVICE_HELP,
                        cls=SectionOption, section="Run options", rank=SECTION)(command)


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--executor/--address/--ship-data/--max-retries/--workers/--num-gpus`` and ``--device``, shared by every
    command that runs cells."""
    section: dict[str, Any] = {"cls": SectionOption, "section": "Executor options", "rank": SECTION}
    options = [
        click.option("--device", default="cpu", show_default=True, callback=_device, help=DEVICE_HELP, **section),
        click.option("--num-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="Ray: GPUs each cell asks for (with --device cuda on a cluster with GPUs).", **section),
        click.option("--executor", "executor_kind", type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="Where cells run: a local process pool, or Ray tasks (needs trajaug[ray]).", **section),
        click.option("--address", default=None,
                     help="Ray cluster to join (auto, HOST:6379, ray://HOST:10001); default: start a local Ray.",
                     **section),
        click.option("--ship-data", is_flag=True,
                     help="Put each dataset in Ray's object store once, for workers without a shared filesystem.",
                     **section),
        click.option("--max-retries", type=click.IntRange(min=0), default=3, show_default=True,
                     help="Ray: re-runs of a cell whose worker or node died, before it is recorded as failed.",
                     **section),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes (local) or CPUs of a locally started Ray (default: CPU cores).", **section),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_datasets(names: Any, flag_name: str) -> None:
    """Refuse, before any cell runs, a dataset name or path among ``names`` that does not resolve (an unknown
    name, a missing file); the cells themselves report a file that cannot be read."""
    from trajaug.datasets.registry import resolve

    for name in names:
        if name:
            try:
                resolve(name)
            except TrajaugInputError as error:
                raise TrajaugInputError(f"{flag_name}: {error}") from None


@contextmanager
def cell_executor(executor_kind: str, workers: int | None, address: str | None, ship_data: bool,
                  max_retries: int, num_gpus: float = 0.0) -> Iterator[Any]:
    """The executor the options ask for, closed afterwards."""
    from trajaug.executors import make_executor

    if ship_data and executor_kind != "ray":
        raise TrajaugInputError("--ship-data needs --executor ray")
    if num_gpus and executor_kind != "ray":
        raise TrajaugInputError("--num-gpus needs --executor ray")
    executor = make_executor(executor_kind, workers, address, max_retries, num_gpus=num_gpus)
    try:
        yield executor
    finally:
        executor.close()


class _Finite:
    """Refuses NaN and ±inf, which click's float types accept (and NaN passes any range)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)  # type: ignore[misc]
        if isinstance(number, float) and not math.isfinite(number):
            raise click.BadParameter(f"{value!r} is not a finite number.", ctx, param)
        return number


class FiniteFloat(_Finite, click.types.FloatParamType):
    pass


class FiniteFloatRange(_Finite, click.FloatRange):
    pass


def _finite(kind: click.ParamType) -> click.ParamType:
    if isinstance(kind, click.FloatRange) and not isinstance(kind, FiniteFloatRange):
        return FiniteFloatRange(kind.min, kind.max, kind.min_open, kind.max_open, kind.clamp)
    if type(kind) is click.types.FloatParamType:
        return FiniteFloat()
    if isinstance(kind, click.Tuple):
        kind.types = [_finite(item) for item in kind.types]
    return kind


def finite_floats(command: click.Command) -> None:
    """Make every float option of ``command`` (and, for a group, of its subcommands) refuse NaN and ±inf."""
    for param in command.params:
        param.type = _finite(param.type)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            finite_floats(sub)
