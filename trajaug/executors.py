"""Where independent cells of work run: one small interface, a local process-pool implementation.

``Executor.map_unordered(fn, cells)`` runs ``fn(cell)`` for every cell and yields ``(cell, outcome)`` as each one
finishes, in completion order. ``outcome`` is ``fn``'s return value, or the exception it raised (an instance of
:class:`BaseException`; a worker that died yields a ``BrokenProcessPool`` error for the cells it took with it).
One failing cell never stops the others.

Requirements on the caller (so any executor, local or remote, can run the work): ``fn`` is a module-level function
and cells and results are picklable. A cluster executor (e.g. on Ray) implements the same method.
"""

from __future__ import annotations

import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

C = TypeVar("C")
R = TypeVar("R")


class Executor(ABC):
    """Runs a function over cells; see the module docstring for the contract."""

    @abstractmethod
    def map_unordered(self, fn: Callable[[C], R], cells: Iterable[C]) -> Iterator[tuple[C, R | BaseException]]:
        """Yield ``(cell, fn(cell) or the exception it raised)`` for every cell, as cells finish."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for executors without resources
        """Release workers; the executor may not be used afterwards."""


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (``spawn`` start method: no state inherited from the
    parent, safe with torch's threads); ``workers=1`` runs every cell inline in this process, in order.

    At most ``workers`` cells are submitted at a time, so stopping early (closing the iterator, Ctrl-C) leaves the
    rest of the cells unstarted.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def map_unordered(self, fn: Callable[[C], R], cells: Iterable[C]) -> Iterator[tuple[C, R | BaseException]]:
        if self.workers == 1:
            for cell in cells:
                try:
                    outcome: R | BaseException = fn(cell)
                except Exception as error:
                    outcome = error
                yield cell, outcome
            return
        pending = iter(cells)
        running: dict[Future, C] = {}

        def submit_next() -> None:
            for cell in pending:
                try:
                    future = self._get_pool().submit(fn, cell)
                except BrokenProcessPool:  # a worker died earlier: start a fresh pool for the remaining cells
                    self._discard_pool()
                    future = self._get_pool().submit(fn, cell)
                running[future] = cell
                return

        try:
            for _ in range(self.workers):
                submit_next()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    cell = running.pop(future)
                    failure = future.exception()
                    yield cell, (failure if failure is not None else future.result())
                    submit_next()
        finally:
            for future in running:
                future.cancel()

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
