"""One config system: frozen dataclasses with a docstring under each field, turned into CLI options and JSON.

``field_docs(Config)`` reads the docstrings (the string literal right after each field) from the source, so the
help of ``trajaug augment METHOD --help`` is the config's own documentation, with the reference defaults.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import click

from trajaug.datasets.atomic import atomic_path


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
    from trajaug.datasets.errors import TrajaugInputError

    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrajaugInputError(f"{what}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")


def config_options(config_cls: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding one ``--field-name`` option per scalar field of ``config_cls`` (default = the field's)."""
    docs = field_docs(config_cls)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for field in reversed(dataclasses.fields(config_cls)):
            default = field.default
            if default is dataclasses.MISSING or not isinstance(default, (int, float, str, bool)):
                continue
            flag = "--" + field.name.replace("_", "-")
            if isinstance(default, bool):
                option = click.option(f"{flag}/--no-{flag[2:]}", field.name, default=default,
                                      show_default=True, help=docs.get(field.name))
            else:
                option = click.option(flag, field.name, type=type(default), default=default, show_default=True,
                                      help=docs.get(field.name))
            command = option(command)
        return command

    return decorate


def config_from_options(config_cls: type, options: dict[str, Any]) -> Any:
    """Build ``config_cls`` from the options that name its fields (others are ignored)."""
    names = {field.name for field in dataclasses.fields(config_cls)}
    return config_cls(**{key: value for key, value in options.items() if key in names})


def config_record(config: Any) -> Any:
    """A config dataclass as :func:`write_config` stores it under ``"config"`` and reading that JSON returns it."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def write_config(config: Any, path: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the resolved config (plus ``extra``) as JSON next to an output, atomically, replacing it."""
    record = {"config": config_record(config), **(extra or {})}
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    return path
