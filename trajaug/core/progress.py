"""Progress of long work: a callback the library calls, and a bar on a terminal that shows it.

Every long function takes ``progress``: a callable called with the units of work just done (environment steps,
updates, episodes, cells). It may also have a ``start(label, total)`` method (:class:`Phases`); the library calls
:func:`start_phase` when a phase begins (a generator's training, then its sampling), so a display can name the phase
and size its bar. A plain function works too: it is only advanced. Progress never changes what is computed.

:class:`ProgressBar` is that display (rich, on stderr; silent where stderr is not a terminal, e.g. CI or a log)::

    with ProgressBar("cat") as bar:
        augment("cat", demos, progress=bar)      # "cat: environment steps ━━━━━ 8192/1500000 0:01:02 0:57:10"
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, runtime_checkable

Progress = Callable[[int], None]
"""A progress callback: called with the units of work just done."""


@runtime_checkable
class Phases(Protocol):
    """A progress callback that is also told when a phase begins, with its label and total (None: unknown)."""

    def __call__(self, n: int) -> None: ...

    def start(self, label: str, total: int | None) -> None: ...


def start_phase(progress: Progress | None, label: str, total: int | None) -> None:
    """Tell ``progress`` that a phase of ``total`` units called ``label`` begins (if it listens to phases)."""
    if isinstance(progress, Phases):
        progress.start(label, total)


class ProgressBar:
    """One rich progress bar on stderr with the phase's label, done / total, elapsed time and ETA; a new phase
    (:func:`start_phase`) replaces the bar. ``disable``: None shows it only when stderr is a terminal."""

    def __init__(self, description: str = "", total: int | None = None, disable: bool | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        console = Console(stderr=True)
        self.description = description
        self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                                disable=not console.is_terminal if disable is None else disable)
        self.task = self.bar.add_task(description, total=total)
        self.label, self.total, self.done = description, total, 0

    def start(self, label: str, total: int | None) -> None:
        self.bar.remove_task(self.task)
        self.label = f"{self.description}: {label}" if self.description else label
        self.total, self.done = total, 0
        self.task = self.bar.add_task(self.label, total=total)

    def __call__(self, n: int = 1) -> None:
        self.done += n
        self.bar.advance(self.task, n)

    def __enter__(self) -> ProgressBar:
        self.bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.bar.stop()


def tick(progress: Progress | None, step: int, total: int, every: int = 1000) -> None:
    """After step ``step`` (0-based) of a loop of ``total``: advance ``progress`` by ``every`` once per ``every``
    steps, and by the rest after the last step (a bar is not redrawn at each of a million updates)."""
    if progress is not None and ((step + 1) % every == 0 or step + 1 == total):
        progress((step + 1) % every or every)
