"""Batch grids: parsing, resuming, failing cells, the tables, and the executors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import trajaug.bc.batch as batch
from trajaug.bc.batch import run_batch
from trajaug.bc.grid import Cell, Grid, read_grid_file
from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.registry import file_sha256
from trajaug.executors import LocalExecutor
from trajaug.storage.d4rl import write_d4rl


def tiny_grid(*datasets: str, seeds: int = 2) -> Grid:
    return Grid.from_mapping({"datasets": list(datasets), "seeds": seeds, "episodes": [2], "steps": 30,
                              "eval_episodes": 2, "bc": {"batch_size": 32, "hidden": [16, 16]}})


def test_grid_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text('datasets = ["halfcheetah-expert", "runs/x.hdf5"]\nseeds = [0, 5]\nepisodes = [1, 0]\n'
                    'with_expert = ["", "halfcheetah-expert"]\naction_noise = 0.1\nsteps = 100\n[bc]\nlr = 1e-3\n')
    grid = Grid.from_mapping(read_grid_file(path))
    cells = grid.cells()
    assert len(cells) == 2 * 2 * 2 * 2
    assert {c.episodes for c in cells} == {1, None} and {c.with_expert for c in cells} == {None, "halfcheetah-expert"}
    assert all(c.action_noise == 0.1 and c.steps == 100 and c.bc_config().lr == 1e-3 for c in cells)
    ids = [c.cell_id for c in cells]
    assert len(set(ids)) == len(ids) and ids == [c.cell_id for c in Grid.from_mapping(read_grid_file(path)).cells()]
    assert ids[0].startswith("halfcheetah-expert-ep1-s0-n0.1-")
    for bad, message in (({"datasets": []}, "no datasets"), ({"datasets": ["x"], "stepz": 1}, "unknown keys"),
                         ({"datasets": ["x"], "bc": {"lrr": 1}}, "unknown keys")):
        with pytest.raises(TrajaugInputError, match=message):
            Grid.from_mapping(bad)
    (tmp_path / "bad.toml").write_text("datasets = [")
    with pytest.raises(TrajaugInputError, match="bad.toml"):
        read_grid_file(tmp_path / "bad.toml")


def test_batch_writes_tables_and_resumes(cheetah_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grid = tiny_grid(str(cheetah_file))
    out = tmp_path / "out"
    first = run_batch(grid, out, workers=1)
    assert (first.ran, first.skipped, first.failed) == (2, 0, 0)
    for cell in grid.cells():
        assert {"eval.json", "result.json"} <= {p.name for p in (out / "cells" / cell.cell_id).iterdir()}
        assert {"policy.pt", "config.json", "metrics.json"} <= {
            p.name for p in (out / "train" / cell.training_id).iterdir()}
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["seed"] for r in rows] == ["0", "1"] and all(r["status"] == "ok" for r in rows)
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert len(summary) == 1 and summary[0]["n"] == 2
    returns = [float(r["return_mean"]) for r in rows]
    assert summary[0]["return_mean_mean"] == pytest.approx(sum(returns) / 2)
    assert "| halfcheetah_demos ep2 | no |" in (out / "results.md").read_text()
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"

    def must_not_run(cell: Cell, out_dir: str) -> dict[str, Any]:
        raise AssertionError(f"{cell.cell_id} was recomputed")

    monkeypatch.setattr(batch, "run_cell", must_not_run)
    again = run_batch(grid, out, workers=1)
    assert (again.ran, again.skipped) == (0, 2)


def test_finished_cell_is_skipped_and_killed_cell_is_rerun(cheetah_file: Path, tmp_path: Path) -> None:
    grid = tiny_grid(str(cheetah_file))
    done, killed = grid.cells()
    out = tmp_path / "out"
    # a finished cell from an earlier run (a sentinel value shows it is not recomputed)
    finished = out / "cells" / done.cell_id
    finished.mkdir(parents=True)
    (finished / "result.json").write_text(json.dumps({"cell_id": done.cell_id, **done.to_dict(), "status": "ok",
                                                      "return_mean": 12345.0, "normalized_mean": 50.0,
                                                      "data_sha256": file_sha256(cheetah_file),
                                                      "expert_sha256": None}))
    # a cell killed mid-training: partial files, no result.json
    partial = out / "cells" / killed.cell_id
    partial.mkdir(parents=True)
    (partial / "policy.pt").write_bytes(b"half-written")
    result = run_batch(grid, out, workers=1)
    assert (result.ran, result.skipped, result.failed) == (1, 1, 0)
    assert result.rows[0]["return_mean"] == 12345.0
    assert result.rows[1]["status"] == "ok" and result.rows[1]["return_mean"] != 12345.0
    assert json.loads((partial / "result.json").read_text())["status"] == "ok"


def test_cells_made_from_other_data_are_run_again(cheetah_demos: Dataset, cheetah_file: Path,
                                                  tmp_path: Path) -> None:
    grid = tiny_grid(str(cheetah_file), seeds=1)
    out = tmp_path / "out"
    first = run_batch(grid, out, workers=1)
    assert first.rows[0]["data_sha256"] == file_sha256(cheetah_file)
    # the same name now holds other demos (as a dataset name does after its expert is replaced)
    write_d4rl(cheetah_demos.select_episodes([2, 1, 0]), cheetah_file, force=True)
    with pytest.warns(UserWarning, match="1 finished cell.* made from other data"):
        again = run_batch(grid, out, workers=1)
    assert (again.ran, again.skipped) == (1, 0)
    assert again.rows[0]["data_sha256"] == file_sha256(cheetah_file) != first.rows[0]["data_sha256"]
    assert again.rows[0]["data_return_mean"] != first.rows[0]["data_return_mean"]  # retrained on the new demos
    trained = json.loads((out / "train" / grid.cells()[0].training_id / "config.json").read_text())
    assert trained["data"]["data_sha256"] == file_sha256(cheetah_file)
    assert run_batch(grid, out, workers=1).skipped == 1  # and now it is finished


def test_failing_cell_is_recorded_and_the_grid_finishes(cheetah_file: Path, tmp_path: Path) -> None:
    grid = tiny_grid(str(tmp_path / "missing.hdf5"), str(cheetah_file), seeds=1)
    out = tmp_path / "out"
    result = run_batch(grid, out, workers=1)
    assert (result.ran, result.failed) == (2, 1)
    bad, good = result.rows
    assert bad["status"] == "error" and "missing.hdf5" in bad["error"] and "\n" not in bad["error"]
    assert good["status"] == "ok" and math.isfinite(good["return_mean"])
    text = (out / "results.md").read_text()
    assert "## Failed cells" in text and "missing.hdf5" in text and "0/1" in text
    assert run_batch(grid, out, workers=1).ran == 1  # failed cells are retried on a re-run


def cell_sqrt(x: float) -> float:
    if x < 0:
        raise ValueError(f"negative {x}")
    return math.sqrt(x)


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_yields_results_and_errors(workers: int) -> None:
    with LocalExecutor(workers) as executor:
        outcomes = dict(executor.map_unordered(cell_sqrt, [4.0, -1.0, 9.0]))
    assert outcomes[4.0] == 2.0 and outcomes[9.0] == 3.0
    assert isinstance(outcomes[-1.0], ValueError) and "negative" in str(outcomes[-1.0])


def test_cli_batch(cheetah_file: Path, tmp_path: Path) -> None:
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(f'datasets = ["{cheetah_file}"]\nseeds = 5\nsteps = 20\n')
    result = CliRunner().invoke(cli, ["bc", "batch", "--config", str(grid_file), "--seeds", "1", "--episodes", "1",
                                      "--eval-episodes", "1", "--batch-size", "16", "--workers", "1",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "1 cells: 1 run (0 failed), 0 already finished" in result.stdout
    cells = json.loads((tmp_path / "out" / "results.json").read_text())["cells"]
    assert len(cells) == 1 and cells[0]["steps"] == 20 and cells[0]["episodes"] == 1
    assert json.loads(cells[0]["bc"]) == {"batch_size": 16}
    bad = CliRunner().invoke(cli, ["bc", "batch", "--out", str(tmp_path / "o2")])
    assert bad.exit_code == 2 and "no datasets" in bad.stderr


def test_cells_differing_only_in_evaluation_share_one_training(cheetah_file: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import trajaug.bc.batch as batch_module

    calls: list[int] = []
    real_train = batch_module.train_bc

    def counting_train(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(batch_module, "train_bc", counting_train)
    grid = Grid(datasets=(str(cheetah_file),), seeds=(0,), action_noise=(0.0, 0.3), steps=200, eval_episodes=2)
    result = run_batch(grid, tmp_path / "grid", workers=1)
    assert result.failed == 0 and len(calls) == 1
    noisy, clean = sorted(result.rows, key=lambda r: r["action_noise"], reverse=True)
    assert noisy["action_noise"] == 0.3 and clean["action_noise"] == 0.0
    assert noisy["return_mean"] != clean["return_mean"]


def test_executor_for_lends_a_given_executor_and_closes_only_its_own() -> None:
    from trajaug.executors import executor_for

    given = LocalExecutor(2)
    with executor_for(given) as pool:
        assert pool is given and dict(pool.map_unordered(cell_sqrt, [4.0])) == {4.0: 2.0}
    assert given._pool is not None  # still open: its owner closes it
    given.close()
    with executor_for(None, workers=2) as local:
        assert isinstance(local, LocalExecutor) and local.workers == 2
        assert dict(local.map_unordered(cell_sqrt, [9.0])) == {9.0: 3.0}
    assert local._pool is None  # closed on leaving the block


def test_cell_ids_do_not_depend_on_how_a_path_is_spelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative and an absolute spelling of one file name one cell (a resumed run finds its cells whichever
    way its output folder was given); registry names and different files keep their own ids."""
    from trajaug.offrl.grid import Cell as OffRLCell

    (tmp_path / "runs").mkdir()
    for name in ("a.hdf5", "b.hdf5"):
        (tmp_path / "runs" / name).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    relative, absolute = "runs/a.hdf5", str(tmp_path / "runs" / "a.hdf5")
    assert Cell(relative, 0).cell_id == Cell(absolute, 0).cell_id
    assert Cell(relative, 0).training_id == Cell(absolute, 0, action_noise=0.1).training_id
    assert Cell("halfcheetah-medium", 0, with_expert=relative).cell_id == \
        Cell("halfcheetah-medium", 0, with_expert=absolute).cell_id
    assert Cell(relative, 0).cell_id != Cell("runs/b.hdf5", 0).cell_id
    assert Cell(relative, 0).to_dict()["dataset"] == relative  # the record keeps the user's spelling
    assert OffRLCell(algo="iql", dataset=relative, seed=0).cell_id == \
        OffRLCell(algo="iql", dataset=absolute, seed=0).cell_id
    assert OffRLCell(algo="iql", dataset="halfcheetah-medium", seed=0, synthetic=relative).cell_id == \
        OffRLCell(algo="iql", dataset="halfcheetah-medium", seed=0, synthetic=absolute).cell_id
