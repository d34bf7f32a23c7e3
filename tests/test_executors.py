"""Executors shared by two callers: ``meanwhile`` runs side work beside a block when the executor allows it."""

from __future__ import annotations

import time

import pytest

from trajaug.executors import Executor, LocalExecutor, meanwhile


def cell_interval(seconds: float) -> tuple[float, float]:
    """Sleep ``seconds`` in a worker; return (start, end) wall-clock times."""
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def cell_fails(x: float) -> float:
    raise ValueError(f"side cell {x} failed")


def _intervals(pool: Executor, cells: list[float]) -> list[tuple[float, float]]:
    out = []
    for _, outcome in pool.map_unordered(cell_interval, cells):
        assert not isinstance(outcome, BaseException)
        out.append(outcome)
    return out


def test_meanwhile_runs_side_cells_beside_the_blocks_cells() -> None:
    with LocalExecutor(2) as pool:
        _intervals(pool, [0.0, 0.0])  # start both workers first: what follows times the cells, not the spawns
        side: list[tuple[float, float]] = []
        with meanwhile(pool, [lambda: side.extend(_intervals(pool, [1.5]))]):
            (block_start, block_end), = _intervals(pool, [1.5])
            assert pool.concurrent
        (side_start, side_end), = side  # the block's end waited for the side work
    assert side_start < block_end and block_start < side_end  # the two cells overlapped in time
    assert max(side_end, block_end) - min(side_start, block_start) < 2.9  # not one after the other (3 s)


def test_meanwhile_leaves_the_work_to_the_caller_on_one_worker() -> None:
    called: list[bool] = []
    with LocalExecutor(1) as pool, meanwhile(pool, [lambda: called.append(True)]):
        assert not pool.concurrent
    assert called == []  # one worker runs cells inline, in this process: nothing runs beside the block


def test_meanwhile_leaves_out_the_steps_not_begun_when_the_block_ends() -> None:
    done: list[int] = []
    with LocalExecutor(2) as pool:
        with meanwhile(pool, [lambda: done.append(len(_intervals(pool, [1.0]))), lambda: done.append(2)]):
            time.sleep(0.2)  # the block ends while the first step's cell runs
        assert done == [1]  # the step under way finished; the next one was left for the caller


def test_meanwhile_raises_what_the_side_work_raised() -> None:
    def side() -> None:
        for _, outcome in pool.map_unordered(cell_fails, [1.0]):
            if isinstance(outcome, BaseException):
                raise outcome

    pool = LocalExecutor(2)
    with pool, pytest.raises(ValueError, match="side cell 1.0 failed"), meanwhile(pool, [side]):
        assert dict(pool.map_unordered(cell_interval, [0.0]))
