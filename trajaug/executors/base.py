"""Where independent cells of work run: one small interface, a local process-pool implementation.

``Executor.map_unordered(fn, cells, shared)`` runs ``fn(cell)`` (``fn(cell, shared=shared)`` when ``shared`` is given)
for every cell and yields ``(cell, outcome)`` as each one finishes, in completion order. ``outcome`` is ``fn``'s
return value, or the exception it raised (an instance of :class:`BaseException`; a worker that died yields a
``BrokenProcessPool`` error for the cells it took with it, a Ray task that died more often than its retries allow
yields Ray's error). One failing cell never stops the others. ``shared`` is a mapping of large read-only values every
cell needs (e.g. dataset files for workers without a shared filesystem); a cluster executor stores each value once.

Requirements on the caller (so any executor, local or remote, can run the work): ``fn`` is a module-level function
(or a ``functools.partial`` of one) and cells and results are picklable. Implementations: :class:`LocalExecutor`
(a process pool on this machine) and ``trajaug.executors.ray.RayExecutor`` (tasks on a Ray cluster);
:func:`trajaug.executors.make_executor` picks one by name.

Two callers may share one executor from two threads when it says so (:attr:`Executor.concurrent`: its cells run
outside the calling process); :func:`meanwhile` uses that to run cells that wait for nothing beside the cells that
other work waits for.

Cells that write files do not write them themselves: they return a :class:`CellOutput` (their value plus the files'
bytes) and the driver writes the files with :func:`write_cell_files`, so the driver is the only writer of an output
folder, whether or not the workers share its filesystem.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from trajaug.core.atomic import atomic_path
from trajaug.core.cores import share_cores

C = TypeVar("C")
R = TypeVar("R")


class Executor(ABC):
    """Runs a function over cells; see the module docstring for the contract."""

    @abstractmethod
    def map_unordered(self, fn: Callable[..., R], cells: Iterable[C], shared: Mapping[str, Any] | None = None
                      ) -> Iterator[tuple[C, R | BaseException]]:
        """Yield ``(cell, fn(cell[, shared=shared]) or the exception it raised)`` for every cell, as they finish."""

    @property
    def concurrent(self) -> bool:
        """Whether two threads may call :meth:`map_unordered` at once, their cells running side by side (False:
        cells run in the calling process, one at a time)."""
        return False

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for executors without resources
        """Release workers; the executor may not be used afterwards."""


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (``spawn`` start method: no state inherited from the
    parent, safe with torch's threads), each given its share of the cores (``trajaug.core.cores``); ``workers=1`` runs
    every cell inline in this process, in order.

    At most ``workers`` cells are submitted at a time, so stopping early (closing the iterator, Ctrl-C) leaves the
    rest of the cells unstarted.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # one pool, whichever thread asks first

    @property
    def concurrent(self) -> bool:
        """Two callers share the pool's processes; one worker runs cells inline, so no."""
        return self.workers > 1

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=share_cores, initargs=(self.workers,))
            return self._pool

    def map_unordered(self, fn: Callable[..., R], cells: Iterable[C], shared: Mapping[str, Any] | None = None
                      ) -> Iterator[tuple[C, R | BaseException]]:
        extra = {} if shared is None else {"shared": dict(shared)}
        if self.workers == 1:
            for cell in cells:
                try:
                    outcome: R | BaseException = fn(cell, **extra)
                except Exception as error:
                    outcome = error
                yield cell, outcome
            return
        pending = iter(cells)
        running: dict[Future, C] = {}

        def submit_next() -> None:
            for cell in pending:
                try:
                    future = self._get_pool().submit(fn, cell, **extra)
                except BrokenProcessPool:  # a worker died earlier: start a fresh pool for the remaining cells
                    self._discard_pool()
                    future = self._get_pool().submit(fn, cell, **extra)
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
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@contextmanager
def executor_for(executor: Executor | None, workers: int | None = None) -> Iterator[Executor]:
    """``executor`` itself (its owner closes it), or a :class:`LocalExecutor` of ``workers`` processes that is
    closed on leaving the block: the library functions' "run on this executor, else locally" in one place."""
    if executor is not None:
        yield executor
        return
    with LocalExecutor(workers) as local:
        yield local


@contextmanager
def meanwhile(executor: Executor, steps: Iterable[Callable[[], Any]]) -> Iterator[None]:
    """Run ``steps`` (each runs its own cells on ``executor``) one after another in a second thread while the block
    runs, when the executor can serve two callers at once; steps not begun when the block ends are left out, the
    block's end waits for the one under way and raises what a step raised. Otherwise no step runs. Either way the
    caller runs the left-out cells afterwards with the rest (a resumable grid skips the finished ones). What it
    buys: cells that wait for nothing (BC on the demos) use, one at a time, a worker that the block leaves idle
    (while a few augmentations train). Steps must not report progress: the block owns the display."""
    if not executor.concurrent:
        yield
        return
    stop = threading.Event()

    def run() -> None:
        for step in steps:
            if stop.is_set():
                return
            step()

    with ThreadPoolExecutor(1, thread_name_prefix="trajaug-meanwhile") as side:
        future = side.submit(run)
        try:
            yield
        finally:
            stop.set()
        future.result()


@dataclass(frozen=True)
class CellOutput:
    """What a cell hands back to the driver: its ``value`` (e.g. a result row) and ``files``, ``(path relative to
    the output folder, bytes)`` pairs that the driver writes in order (so a marker file goes last)."""

    value: Any
    files: tuple[tuple[str, bytes], ...] = ()


def write_cell_files(out_dir: str | Path, files: Sequence[tuple[str, bytes]]) -> None:
    """Write a cell's files under ``out_dir``, in order, each atomically (replacing older copies)."""
    root = Path(out_dir)
    for relative, content in files:
        target = root / relative
        if root.resolve() not in target.resolve().parents:
            raise ValueError(f"{relative}: a cell file must stay inside {root}")
        with atomic_path(target, force=True) as tmp:
            tmp.write_bytes(content)


def folder_files(folder: str | Path, prefix: str, last: Sequence[str] = ()) -> tuple[tuple[str, bytes], ...]:
    """Every file in ``folder`` (not recursive) as ``(prefix/name, bytes)``, sorted by name except that the names in
    ``last`` come last, in that order (marker files a reader checks for)."""
    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in last)
    names += [name for name in last if (folder / name).is_file()]
    return tuple((f"{prefix}/{name}", (folder / name).read_bytes()) for name in names)
