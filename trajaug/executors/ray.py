"""Cells as Ray tasks: the :class:`~trajaug.executors.base.Executor` interface on a Ray cluster (``--executor ray``).

Each cell is one Ray task declaring its resources: ``num_cpus=1``, plus ``num_gpus`` when the executor is given one
(``RayExecutor(num_gpus=1)``, or a share such as 0.5 to put two cells on a GPU: Ray then schedules the cell on a node
with a free GPU and sets ``CUDA_VISIBLE_DEVICES`` for it, so ``device="auto"`` or ``"cuda"`` finds it), unless the
cell says otherwise through a ``ray_resources()`` method (e.g. ``{"num_cpus": 1, "num_gpus": 1}``). Tasks are
scheduled with Ray's ``SPREAD`` strategy (cells are CPU-bound and independent: spread them over the nodes rather than
packing the driver's node first); the driver (this process) collects the results as they finish.

Faults: a task whose worker process or node dies is re-run by Ray up to ``max_retries`` times (Ray's system-failure
retries); after that the cell's outcome is Ray's error, which the callers record as a failed cell. An exception raised
by the cell's own code is not retried (it would fail the same way again) and comes back as that exception.

Shared data: ``map_unordered(fn, cells, shared)`` stores each value of ``shared`` in the object store once
(``ray.put``) and hands the stored values to every task, so datasets reach workers without a shared filesystem.

Where a task ran is recorded in :attr:`RayExecutor.placements` (``(cell, node id)`` in completion order).

Ray is an optional dependency (``pip install 'trajaug[ray]'``); without it, constructing a :class:`RayExecutor`
raises :class:`~trajaug.core.errors.TrajaugInputError` with the install command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from trajaug.core.cores import CORES_VARIABLE
from trajaug.core.errors import TrajaugInputError
from trajaug.executors.base import Executor

C = TypeVar("C")
R = TypeVar("R")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise TrajaugInputError("--executor ray needs Ray: pip install 'trajaug[ray]'") from None
    return ray


def _run_in_task(fn: Callable[..., Any], cell: Any, keys: tuple[str, ...], *values: Any) -> tuple[Any, str]:
    """Body of every task: ``fn(cell)`` or ``fn(cell, shared={key: value})``, plus the id of the node it ran on.
    (Ray resolves the stored ``values`` because they are top-level arguments.) Threaded code in the task uses the
    CPUs the task declared."""
    import ray

    context = ray.get_runtime_context()
    node, cpus = context.get_node_id(), context.get_assigned_resources().get("CPU", 0)
    os.environ[CORES_VARIABLE] = str(max(1, int(cpus)))  # this task's share of the cores (trajaug.core.cores)
    if keys:
        return fn(cell, shared=dict(zip(keys, values, strict=True))), node
    return fn(cell), node


class RayExecutor(Executor):
    """Runs cells as Ray tasks; see the module docstring.

    ``address``: join an existing cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); ``None`` starts a
    local Ray instance with ``num_cpus`` CPUs (default: all), whose workers run at normal priority (Ray's default is
    nice 15; set ``RAY_worker_niceness`` to choose). If Ray is already initialised in this process (e.g. by
    a test's cluster), that connection is used and left open on :meth:`close`. ``num_gpus``: GPUs (or a share of
    one) each cell asks for (default 0: cells need no GPU); the cells still choose their device themselves (their
    ``device`` option), this only places them where a GPU is free.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, max_retries: int = 3,
                 num_gpus: float = 0) -> None:
        ray = _import_ray()
        if max_retries < 0:
            raise TrajaugInputError(f"--max-retries {max_retries}: must be ≥ 0")
        if not num_gpus >= 0:
            raise TrajaugInputError(f"--num-gpus {num_gpus}: must be ≥ 0")
        self.max_retries, self.num_gpus = max_retries, num_gpus
        self.placements: list[tuple[Any, str]] = []
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "configure_logging": False}
            # Ray runs task workers at nice 15; on a machine with other work that starves the cells (docs/cluster.md).
            # Cells are the main work here: run them at nice 0.
            os.environ.setdefault("RAY_worker_niceness", "0")
            try:
                if address:
                    ray.init(address=address, **options)
                else:
                    ray.init(num_cpus=num_cpus, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise TrajaugInputError(f"cannot start or reach {where}: {' '.join(str(error).split())}") from None
        self._task = ray.remote(_run_in_task)

    def map_unordered(self, fn: Callable[..., R], cells: Iterable[C], shared: Mapping[str, Any] | None = None
                      ) -> Iterator[tuple[C, R | BaseException]]:
        ray = _import_ray()
        keys = tuple(shared or ())
        stored = [ray.put(value) for value in (shared or {}).values()]  # once each, shared by every task
        running: dict[Any, C] = {}
        for cell in cells:
            resources = getattr(cell, "ray_resources", self.resources)()
            task = self._task.options(max_retries=self.max_retries, retry_exceptions=False,
                                      scheduling_strategy="SPREAD", **resources)
            running[task.remote(fn, cell, keys, *stored)] = cell
        try:
            while running:
                (ref,), _ = ray.wait(list(running), num_returns=1)
                cell = running.pop(ref)
                try:
                    value, node = ray.get(ref)
                except ray.exceptions.RayTaskError as error:  # the cell's own code raised: its exception
                    cause = getattr(error, "cause", None)
                    yield cell, cause if isinstance(cause, BaseException) else error
                except ray.exceptions.RayError as error:  # worker or node died more often than retries allow
                    yield cell, error
                else:
                    self.placements.append((cell, node))
                    yield cell, value
        finally:
            for ref in running:  # stopped early (Ctrl-C, closed iterator): don't leave work queued
                ray.cancel(ref)

    @property
    def concurrent(self) -> bool:
        """Ray's API takes calls from several threads; the cluster schedules every caller's tasks."""
        return True

    def resources(self) -> dict[str, float]:
        """The resources of a cell without its own ``ray_resources()``: one CPU, and ``num_gpus`` when > 0."""
        return {"num_cpus": 1, **({"num_gpus": self.num_gpus} if self.num_gpus else {})}

    def close(self) -> None:
        if self._owns_ray:
            ray = _import_ray()
            if ray.is_initialized():
                ray.shutdown()
            self._owns_ray = False
