"""How many CPU cores this process may keep busy, so that work split over threads does not outnumber the cores.

A process alone gets the cores it may run on (its CPU affinity). A pool of worker processes gives each worker its
share (``TRAJAUG_CORES``, set by the executor): two workers on two cores each get one, so neither starts a second
thread (MuJoCo's half of a vector step, the value network's backward pass) that would then wait for a core the
other worker holds. Threaded code asks :func:`usable_cores`; the values it computes do not depend on the answer.
"""

from __future__ import annotations

import os

__all__ = ["CORES_VARIABLE", "machine_cores", "share_cores", "usable_cores"]

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
