"""One config system: frozen dataclasses with a docstring under each field, parsed from and dumped to one form.

Every run is described by frozen dataclasses (a method's hyperparameters, ``BCConfig``, a benchmark's config).
Whatever the source — CLI options (``trajaug.cli.options``), a TOML grid, a row string ``METHOD:key=value`` or a
JSON record written beside an output — it goes through :func:`parse_config`, and :func:`config_record` is the one
way back (the JSON form). ``field_docs(Config)`` reads the docstrings (the string literal right after each field)
from the source, so ``--help`` is the config's own documentation, with the reference defaults.

A field declared with :func:`setting` also says which values it accepts (a range, a fixed set of choices) and, for
``--help``, the section it belongs to; the config's ``__post_init__`` calls :func:`check_settings`, so every
source is checked in one place, and the CLI turns the same limits into ``click.IntRange`` / ``click.Choice``.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import math
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from trajaug.core.atomic import atomic_path
from trajaug.core.errors import TrajaugInputError

T = TypeVar("T")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Limits:
    """The values a config field accepts, kept in its metadata by :func:`setting`: numbers are finite and in the
    range, text one of the choices. A tuple field's limits apply to each of its items (and it must have one)."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    """Exclusive lower bound."""
    below: float | None = None
    """Exclusive upper bound."""
    choices: tuple[str, ...] = ()
    section: str = ""
    """Title of the ``--help`` section of the field's option; "": the config's own options (listed first)."""

    def describe(self) -> str:
        """The accepted values in words: ``≥ 0``, ``> 0``, ``in (0, 1]``, ``one of time, nearest``."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        low = self.minimum if self.minimum is not None else self.above
        high = self.maximum if self.maximum is not None else self.below
        if low is not None and high is not None:
            return (f"in {'[' if self.minimum is not None else '('}{low:g}, {high:g}"
                    f"{']' if self.maximum is not None else ')'}")
        if low is not None:
            return f"{'≥' if self.minimum is not None else '>'} {low:g}"
        return f"{'≤' if self.maximum is not None else '<'} {high:g}" if high is not None else "any value"

    def accepts(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        return ((self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)
                and (self.above is None or value > self.above) and (self.below is None or value < self.below))


def setting(default: Any, *, minimum: float | None = None, maximum: float | None = None, above: float | None = None,
            below: float | None = None, choices: tuple[str, ...] = (), section: str = "") -> Any:
    """A config field with its default and the values it accepts (:class:`Limits`), e.g.
    ``total_steps: int = setting(1_000_000, minimum=0, section=TRAINING)``."""
    limits = Limits(minimum, maximum, above, below, tuple(choices), section)
    return dataclasses.field(default=default, metadata={"limits": limits})


def inherit(parent: type, name: str, default: Any) -> Any:
    """Field ``name`` of config ``parent`` (its limits and section) with another default, for a subclass."""
    field = next(f for f in dataclasses.fields(parent) if f.name == name)
    return dataclasses.field(default=default, metadata=field.metadata)


def limits_of(field: dataclasses.Field[Any]) -> Limits | None:
    return field.metadata.get("limits")


def flag(name: str) -> str:
    """The CLI spelling of field ``name``: ``total_steps`` → ``--total-steps``."""
    return "--" + name.replace("_", "-")


def check_settings(config: Any) -> None:
    """Raise :class:`TrajaugInputError` naming the option (``--total-steps must be ≥ 0, got -2048``) for the first
    field of ``config`` whose value its :func:`setting` limits refuse. Called by the configs' ``__post_init__``."""
    for field in dataclasses.fields(config):
        limits, value = limits_of(field), getattr(config, field.name)
        if limits is None:
            continue
        items = tuple(value) if isinstance(value, tuple | list) else (value,)
        if isinstance(value, tuple | list) and not value:
            raise TrajaugInputError(f"{flag(field.name)} needs at least one value")
        for item in items:
            if not limits.accepts(item):
                raise TrajaugInputError(f"{flag(field.name)} must be {limits.describe()}, got {item!r}")


@cache
def field_docs(config_cls: type) -> dict[str, str]:
    """Field name → the docstring written right after it in the class body ('' if none); inherited fields take
    the docstring of the nearest class in the MRO that documents them."""
    docs: dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_own_field_docs(klass))
    return docs


def _own_field_docs(config_cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(config_cls)))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, following in zip(body, body[1:] + [None], strict=True):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def check_known_keys(config_cls: type, values: Any, what: str) -> None:
    """Raise :class:`TrajaugInputError` naming the keys of ``values`` that are not fields of ``config_cls``."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrajaugInputError(f"{what}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")


def parse_value(default: Any, value: Any, what: str) -> Any:
    """``value`` as the type of a field whose default is ``default``: text (a row string, a CLI option) is converted
    (``"true"``/``"1"`` for a bool, ``"256,256"`` or ``"256x256"`` for a tuple of numbers), a list becomes a
    tuple; others are kept."""
    try:
        if isinstance(default, tuple):
            numeric = bool(default) and isinstance(default[0], int | float)
            # numbers may also be joined by "x" (64x64), which a comma-separated list of rows can carry
            items = (re.split(r"[,x]" if numeric else ",", value) if isinstance(value, str) else list(value))
            kind = type(default[0]) if default else str
            return tuple(kind(x.strip()) if isinstance(x, str) else kind(x) for x in items if str(x).strip())
        if not isinstance(value, str) or isinstance(default, str):
            return value
        if isinstance(default, bool):
            if value.lower() not in TRUE_WORDS + FALSE_WORDS:
                raise ValueError(value)
            return value.lower() in TRUE_WORDS
        if isinstance(default, int | float):
            return type(default)(value)
        return value
    except ValueError:
        expected = {"int": "an integer", "float": "a number", "bool": "true or false"}
        if isinstance(default, tuple):
            item = type(default[0]).__name__ if default else "str"
            raise TrajaugInputError(f"{what}: {value!r} is not a comma-separated list of "
                                    f"{expected.get(item, item).removeprefix('an ').removeprefix('a ')}s") from None
        name = type(default).__name__
        raise TrajaugInputError(f"{what}: {value!r} is not {expected.get(name, name)}") from None


def parse_config(config_cls: type[T], values: Mapping[str, Any], what: str = "config") -> T:
    """The one way into a config: ``values`` (field name → value) from CLI options, a TOML table, a row string's
    pairs or a JSON record. Unknown keys and values of the wrong type raise :class:`TrajaugInputError` naming
    ``what``; the config's own ``__post_init__`` checks ranges. Fields not given keep their defaults."""
    check_known_keys(config_cls, values, what)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in values.items():
        default = fields[key].default
        kwargs[key] = value if default is dataclasses.MISSING else parse_value(default, value, f"{what}: {key}")
    try:
        return config_cls(**kwargs)
    except TypeError as error:
        raise TrajaugInputError(f"{what}: {error}") from None


def parse_pairs(config_cls: type, pairs: list[str], what: str) -> dict[str, Any]:
    """Overrides from ``key=value`` texts (a row string's parts after the method), typed as the fields' defaults."""
    overrides: dict[str, Any] = {}
    defaults = {f.name: f.default for f in dataclasses.fields(config_cls)}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals:
            raise TrajaugInputError(f"{what}: expected key=value after the method, got {pair!r}")
        check_known_keys(config_cls, [key], what)
        overrides[key] = parse_value(defaults[key], text, f"{what}: {key}")
    return overrides


def config_record(config: Any) -> Any:
    """A config dataclass as :func:`write_config` stores it under ``"config"`` and reading that JSON returns it."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def write_config(config: Any, path: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the resolved config (plus ``extra``) as JSON next to an output, atomically, replacing it."""
    record = {"config": config_record(config), **(extra or {})}
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    return path
