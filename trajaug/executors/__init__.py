"""Executors: where independent cells of work run (:mod:`trajaug.executors.base`: the interface and a local
process pool; :mod:`trajaug.executors.ray`: tasks on a Ray cluster, needs ``trajaug[ray]``)."""

from __future__ import annotations

from trajaug.core.errors import TrajaugInputError
from trajaug.executors.base import (
    CellOutput,
    Executor,
    LocalExecutor,
    executor_for,
    folder_files,
    meanwhile,
    write_cell_files,
)

__all__ = ["EXECUTORS", "CellOutput", "Executor", "LocalExecutor", "executor_for", "folder_files", "make_executor",
           "meanwhile", "write_cell_files"]

EXECUTORS = ("local", "ray")
"""Names accepted by :func:`make_executor` (and the CLI's ``--executor``)."""


def make_executor(kind: str = "local", workers: int | None = None, address: str | None = None,
                  max_retries: int = 3, num_gpus: float = 0) -> Executor:
    """The executor called ``kind``: ``local`` (``workers`` processes; ``num_gpus`` is ignored: local cells use
    whatever device they are told to) or ``ray`` (join the cluster at ``address``, e.g. ``auto`` or
    ``ray://host:10001``, or start a local Ray instance of ``workers`` CPUs; a task that dies is retried up to
    ``max_retries`` times; each cell asks Ray for ``num_gpus`` GPUs). Bad combinations and a missing Ray raise
    :class:`TrajaugInputError`."""
    if kind == "local":
        if address is not None:
            raise TrajaugInputError("--address needs --executor ray")
        return LocalExecutor(workers)
    if kind == "ray":
        from trajaug.executors.ray import RayExecutor

        return RayExecutor(address=address, num_cpus=workers, max_retries=max_retries, num_gpus=num_gpus)
    raise TrajaugInputError(f"unknown executor {kind!r} (known: {', '.join(EXECUTORS)})")
