"""``--executor ray`` on a local Ray instance: same rows as the local pool, retries of dying tasks, shipped data."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from trajaug.bc.batch import run_batch, run_cell, ship_datasets
from trajaug.bc.grid import Cell, Grid
from trajaug.cli.main import cli
from trajaug.core.errors import TrajaugInputError
from trajaug.executors import LocalExecutor, make_executor

ray = pytest.importorskip("ray")

from trajaug.executors.ray import RayExecutor  # noqa: E402 - after the optional-dependency check

TIMING = ("train_steps_per_s", "train_wall_s", "eval_wall_s")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers can't import this test module


@pytest.fixture(scope="module")
def ray_pool() -> Iterator[RayExecutor]:
    """One local Ray instance with 2 CPUs for the whole module."""
    pool = RayExecutor(num_cpus=2, max_retries=2)
    yield pool
    pool.close()
    assert not ray.is_initialized()


def grid_2x2(*datasets: str) -> Grid:
    return Grid.from_mapping({"datasets": list(datasets), "seeds": 2, "episodes": [1, 2], "steps": 40,
                              "eval_episodes": 2, "bc": {"batch_size": 32, "hidden": [16, 16]}})


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def test_ray_grid_rows_equal_the_local_executor_rows(ray_pool: RayExecutor, cheetah_file: Path,
                                                      tmp_path: Path) -> None:
    grid = grid_2x2(str(cheetah_file))
    assert len(grid.cells()) == 4
    local = run_batch(grid, tmp_path / "local", LocalExecutor(1))
    on_ray = run_batch(grid, tmp_path / "ray", ray_pool)
    assert (on_ray.ran, on_ray.failed) == (4, 0)
    assert all(row["status"] == "ok" and math.isfinite(row["return_mean"]) for row in on_ray.rows)
    assert without_timing(on_ray.rows) == without_timing(local.rows)
    placed = [cell for cell, _ in ray_pool.placements if isinstance(cell, Cell)]
    assert sorted(c.cell_id for c in placed) == sorted(c.cell_id for c in grid.cells())
    # the driver wrote the files the tasks returned, as the local run did
    for cell in grid.cells():
        assert json.loads((tmp_path / "ray" / "cells" / cell.cell_id / "result.json").read_text())["status"] == "ok"
        assert (tmp_path / "ray" / "train" / cell.training_id / "policy.pt").is_file()
    local_table = (tmp_path / "local" / "results.md").read_text()
    assert local_table == (tmp_path / "ray" / "results.md").read_text()
    again = run_batch(grid, tmp_path / "ray", ray_pool)  # resume: nothing left to run
    assert (again.ran, again.skipped) == (0, 4)


def test_shipped_data_replaces_reading_by_path(ray_pool: RayExecutor, cheetah_file: Path, tmp_path: Path) -> None:
    grid = grid_2x2(str(cheetah_file))
    shipped = ship_datasets(grid.cells())
    assert list(shipped) == [str(cheetah_file)] and shipped[str(cheetah_file)][1] == cheetah_file.read_bytes()
    # a worker that cannot see the file reads the shipped copy
    gone = Cell(str(tmp_path / "not-on-this-node.hdf5"), 0, episodes=1, steps=20, eval_episodes=1,
                bc=(("batch_size", 16), ("hidden", (8,))))
    with pytest.raises(TrajaugInputError, match="not-on-this-node"):
        run_cell(gone, str(tmp_path / "out"))
    output = run_cell(gone, str(tmp_path / "out"), {gone.dataset: shipped[str(cheetah_file)]})
    assert output.value["status"] == "ok" and output.value["train_episodes"] == 1
    assert [path for path, _ in output.files][-1] == f"cells/{gone.cell_id}/result.json"
    # on Ray, shipping gives the same rows as reading by path
    by_path = run_batch(grid, tmp_path / "by-path", ray_pool)
    by_ship = run_batch(grid, tmp_path / "shipped", ray_pool, ship_data=True)
    assert without_timing(by_ship.rows) == without_timing(by_path.rows)


def die_once(marker: str) -> str:
    """Kill the worker process the first time (no exception: the process is gone), succeed the second."""
    if not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(1)
    return "survived"


def always_die(marker: str) -> str:
    with open(marker, "a") as f:
        f.write("x")
    os._exit(1)


def raise_value_error(x: str) -> str:
    raise ValueError(f"bad cell {x}")


def test_dead_workers_are_retried_then_reported(ray_pool: RayExecutor, tmp_path: Path) -> None:
    once = str(tmp_path / "once")
    outcomes = dict(ray_pool.map_unordered(die_once, [once]))
    assert outcomes[once] == "survived" and Path(once).read_text() == "died"
    always = str(tmp_path / "always")
    outcomes = dict(ray_pool.map_unordered(always_die, [always]))
    assert isinstance(outcomes[always], ray.exceptions.RayError)
    assert Path(always).read_text() == "x" * (1 + ray_pool.max_retries)  # bounded: first try + retries
    outcomes = dict(ray_pool.map_unordered(raise_value_error, ["a"]))  # the cell's own error: not retried
    assert isinstance(outcomes["a"], ValueError) and "bad cell a" in str(outcomes["a"])


def test_shared_values_reach_every_task(ray_pool: RayExecutor) -> None:
    outcomes = dict(ray_pool.map_unordered(scale, [1, 2, 3], {"factor": 10, "offset": 1}))
    assert outcomes == {1: 11, 2: 21, 3: 31}
    with LocalExecutor(1) as local:
        assert dict(local.map_unordered(scale, [1, 2, 3], {"factor": 10, "offset": 1})) == outcomes


def scale(x: int, shared: dict) -> int:
    return x * shared["factor"] + shared["offset"]


def test_without_ray_the_cli_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError, as without the extra
    result = CliRunner().invoke(cli, ["bc", "batch", "--dataset", "halfcheetah-expert", "--executor", "ray", "--out",
                                      str(tmp_path)])
    assert result.exit_code == 2
    expected = "trajaug: error: --executor ray needs Ray: pip install 'trajaug[ray]'"
    assert result.stderr.strip().splitlines() == [expected]
    for args, message in ((["--ship-data"], "--ship-data needs --executor ray"),
                          (["--address", "auto"], "--address needs --executor ray")):
        bad = CliRunner().invoke(cli, ["bc", "batch", "--dataset", "halfcheetah-expert", *args, "--out", str(tmp_path)])
        assert bad.exit_code == 2 and message in bad.stderr
    with pytest.raises(TrajaugInputError, match="unknown executor"):
        make_executor("dask")
