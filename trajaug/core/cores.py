"""How many CPU cores this process may keep busy, so that work split over threads does not outnumber the cores.

A process alone gets the cores it may run on (its CPU affinity). A pool of worker processes gives each worker its
share (``TRAJAUG_CORES``, set by the executor): two workers on two cores each get one, so neither starts a second
thread (MuJoCo's half of a vector step, the value network's backward pass) that would then wait for a core the
other worker holds. Threaded code asks :func:`usable_cores`; the values it computes do not depend on the answer.

The BLAS library under numpy (OpenBLAS) splits even a small matrix product over every core of the machine; beside
another busy process its threads wait for each other. :func:`blas_threads` holds it to a count inside a block (the
augmenters run in ``blas_threads(1)``: CAT's nearest-demo hint, a (32 × 17)·(17 × 7 000) product per vector step,
took 6.3 s of a 13.5 s profile with OpenBLAS's two threads beside two busy processes and 0.5 s on one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CORES_VARIABLE", "blas_threads", "machine_cores", "share_cores", "usable_cores"]

CORES_VARIABLE = "TRAJAUG_CORES"
"""Environment variable holding this process's share of the cores (a positive integer); unset: the machine's."""


def machine_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it, else the CPU count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def usable_cores() -> int:
    """This process's share of the cores: ``TRAJAUG_CORES`` when a pool set it (≥ 1), else :func:`machine_cores`."""
    value = os.environ.get(CORES_VARIABLE, "")
    return max(1, int(value)) if value.isdigit() else machine_cores()


def share_cores(workers: int) -> None:
    """Give this process its share of the machine's cores when ``workers`` processes run side by side (a pool
    worker's initializer calls it): ⌊cores / workers⌋, at least one."""
    os.environ[CORES_VARIABLE] = str(max(1, machine_cores() // max(1, workers)))


@contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """Run the BLAS libraries loaded in this process (numpy's OpenBLAS, MKL) on ``count`` threads inside the block,
    restored afterwards (threadpoolctl). Each output element is summed in the same order on any number of threads,
    so the values do not depend on ``count``."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=count, user_api="blas"):
        yield
