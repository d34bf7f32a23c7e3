"""One config system: frozen dataclasses with a docstring under each field, parsed from and dumped to one form.

Every run is described by frozen dataclasses (a method's hyperparameters, ``BCConfig``, a benchmark's config).
Whatever the source — CLI options (``trajaug.cli.options``), a TOML grid, a row string ``METHOD:key=value`` or a
JSON record written beside an output — it goes through :func:`parse_config`, and :func:`config_record` is the one
way back (the JSON form). ``field_docs(Config)`` reads the docstrings (the string literal right after each field)
from the source, so ``--help`` is the config's own documentation, with the reference defaults.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from trajaug.core.atomic import atomic_path
from trajaug.core.errors import TrajaugInputError

T = TypeVar("T")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
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
    (``"true"``/``"1"`` for a bool, ``"256,256"`` for a tuple), a list becomes a tuple; others are kept."""
    try:
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
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
