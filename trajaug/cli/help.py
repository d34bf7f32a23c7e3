"""``--help`` a newcomer can read: plain text, options in sections, numbered lists and formulas kept apart.

* :func:`plain_text` removes the reStructuredText the docstrings are written in (``literals``, :mod:-style roles,
  bold), so neither ``--help`` nor the generated CLI page (mkdocs-click reads ``command.help``) shows it;
  :func:`clean_help` applies it to every command and option of a tree once, when the CLI is assembled.
* :class:`HelpCommand` lists the options by section (``SectionOption.section``; a command's plain options under
  "Options") and lays out its description with :func:`click_paragraphs`, so click's rewrapping does not run
  numbered items and indented formulas together. :class:`HelpGroup` gives its subcommands that class.
"""

from __future__ import annotations

import re
from typing import Any

import click

ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
"""A Sphinx role such as :class:`~trajaug.core.dataset.Dataset` (a ``~`` keeps the last name only)."""
LITERAL = re.compile(r"``([^`]+)``")
BOLD = re.compile(r"\*\*([^*]+)\*\*")
ITEM = re.compile(r"^\s*(\d+\.|[*-]) ")
"""The first line of a numbered or bulleted list item."""
OWN, PLAIN, SECTION = 0, 1, 2
"""Ranks of the ``--help`` sections: a config's own options first, then the command's, then the config's named
sections (a trainer's options)."""


def _role(match: re.Match[str]) -> str:
    name = match.group(1)
    return name.rsplit(".", 1)[-1] if "`~" in match.group(0) else name


def plain_text(text: str) -> str:
    """``text`` without reStructuredText markup: roles → their target, ``literal`` → literal, **bold** → bold."""
    return BOLD.sub(r"\1", LITERAL.sub(r"\1", ROLE.sub(_role, text)))


def click_paragraphs(text: str) -> str:
    """``text`` as paragraphs click keeps apart: each list item its own paragraph, and lines indented deeper than
    their paragraph (formulas) a ``\\b`` block click does not rewrap."""
    out: list[str] = []
    base: int | None = None  # indentation of the current paragraph's first line
    raw = False
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if not line.strip():
            out.append("")
            base, raw = None, False
        elif (base is not None and indent >= base + 4) or (base is None and indent >= 4 and not ITEM.match(line)):
            if not raw:
                out += ["", "\b"] if out and out[-1] else ["\b"]
                raw, base = True, base if base is not None else 0
            out.append(line)
        elif base is None or raw or ITEM.match(line):
            if out and out[-1]:
                out.append("")
            out.append(line.rstrip())
            base, raw = indent, False
        else:
            out[-1] += " " + line.strip()
    return "\n".join(out)


class SectionOption(click.Option):
    """An option that names its ``--help`` section (``rank``: :data:`OWN`, :data:`PLAIN` or :data:`SECTION`) and,
    for a config field, keeps the field's limits (:class:`~trajaug.core.config.Limits`, None: any value)."""

    def __init__(self, *args: Any, section: str = "", rank: int = PLAIN, limits: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section, self.rank, self.limits = section, rank, limits


class HelpCommand(click.Command):
    """A command whose help lists its options by section and keeps its description's lists apart."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        text = (self.help or "").partition("\f")[0]
        if text:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(click_paragraphs(text))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[tuple[int, str], list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                key = (getattr(param, "rank", PLAIN), getattr(param, "section", "") or "Options")
                sections.setdefault(key, []).append(record)
        for (_, title), records in sorted(sections.items(), key=lambda item: item[0][0]):
            with formatter.section(title):
                formatter.write_dl(records)


class HelpGroup(click.Group):
    """A group whose commands are :class:`HelpCommand` and whose subgroups are :class:`HelpGroup`."""

    command_class = HelpCommand
    group_class = type


def clean_help(command: click.Command) -> None:
    """Apply :func:`plain_text` to the help of ``command``, its options and, for a group, every subcommand."""
    for attribute in ("help", "short_help"):
        if getattr(command, attribute, None):
            setattr(command, attribute, plain_text(getattr(command, attribute)))
    for param in command.params:
        if isinstance(param, click.Option) and param.help:
            param.help = plain_text(param.help)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            clean_help(sub)
