"""A pool's workers get their share of the cores (``trajaug.core.cores``) and threaded code uses no more than it
(that the values do not depend on it: tests/test_ppo.py, tests/test_vector_task.py)."""

from __future__ import annotations

import pytest

from trajaug.core.cores import CORES_VARIABLE, machine_cores, usable_cores
from trajaug.executors import LocalExecutor
from trajaug.sim.rollout import make_env
from trajaug.sim.vector_task import VectorTask


def cores_in_worker(cell: int) -> tuple[int, str]:
    import os

    return usable_cores(), os.environ.get(CORES_VARIABLE, "")


def test_pool_workers_get_their_share_of_the_cores() -> None:
    with LocalExecutor(2) as pool:
        seen = dict(pool.map_unordered(cores_in_worker, [0, 1]))
    share = max(1, machine_cores() // 2)
    assert seen == {0: (share, str(share)), 1: (share, str(share))}


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), ("", None), ("many", None), ("0", 1)])
def test_usable_cores_reads_the_share(monkeypatch: pytest.MonkeyPatch, value: str, expected: int | None) -> None:
    monkeypatch.setenv(CORES_VARIABLE, value)
    assert usable_cores() == (machine_cores() if expected is None else expected)


@pytest.mark.parametrize(("share", "copies", "threads"), [("1", 32, 1), ("2", 32, 2), ("2", 8, 1)])
def test_vector_task_steps_on_no_more_threads_than_its_share(monkeypatch: pytest.MonkeyPatch, share: str,
                                                             copies: int, threads: int) -> None:
    monkeypatch.setenv(CORES_VARIABLE, share)
    task = VectorTask([make_env("HalfCheetah-v5") for _ in range(copies)])
    try:
        assert task.threads == threads
    finally:
        task.close()
