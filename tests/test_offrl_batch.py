"""``offrl batch``: the grid file, a small grid run and its tables, resuming, bad input (exit 2, nothing written)."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import trajaug.offrl.batch as batch
from trajaug.cli.main import cli
from trajaug.core.envs import normalized_score
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.cells import ship
from trajaug.datasets.registry import file_sha256
from trajaug.offrl import IQLConfig, TD3BCConfig, resume
from trajaug.offrl.batch import Cell, Grid, run_batch

TINY = {"steps": 40, "batch_size": 32, "hidden": [16, 16]}
"""A [config] table small enough for a test: 40 updates of 16-16 networks."""
RUN_FILES = {"policy.pt", "config.json", "curve.json", "curve.png", "metrics.json", "result.json"}


def tiny_grid(dataset: Path, **values: Any) -> Grid:
    """TD3+BC on the first 2 episodes of ``dataset``, seeds 0 and 1: 2 cells; a curve point every 20 updates, 2
    evaluation episodes per point and σ (0 and 0.1)."""
    return Grid.from_mapping({"datasets": [str(dataset)], "algos": ["td3bc"], "seeds": 2, "episodes": 2,
                              "eval_every": 20, "eval_episodes": 2, "config": TINY, "td3bc": {"alpha": 1.5},
                              **values})


def test_grid_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text('datasets = ["halfcheetah-expert", "runs/x.hdf5"]\nseeds = [0, 5]\nepisodes = 3\n'
                    'eval_every = 100\n[config]\nsteps = 200\nhidden = [32, 32]\n[td3bc]\nalpha = 1.0\n'
                    '[[iql]]\nexpectile = 0.8\n[[iql]]\nexpectile = 0.9\nbeta = 10\n')
    grid = Grid.from_file(path)
    cells = grid.cells()
    assert grid.algos == ("td3bc", "iql") and grid.action_noise == (0.0, 0.1) and grid.eval_episodes == 10
    assert len(cells) == 2 * (1 + 2) * 2  # datasets × (1 TD3+BC + 2 IQL variants) × seeds
    td3bc = [c.algo_config() for c in cells if c.algo == "td3bc"]
    assert all(isinstance(c, TD3BCConfig) and (c.alpha, c.steps, c.hidden) == (1.0, 200, (32, 32)) for c in td3bc)
    assert td3bc[0].policy_noise == TD3BCConfig.policy_noise  # fields not given keep their defaults
    iql = {(c.expectile, c.beta, c.steps) for c in (cell.algo_config() for cell in cells if cell.algo == "iql")}
    assert iql == {(0.8, IQLConfig.beta, 200), (0.9, 10.0, 200)}
    assert {c.seed for c in cells} == {0, 5} and {c.episodes for c in cells} == {3}
    assert all(c.eval_every == 100 for c in cells)
    first = cells[0]
    assert first.cell_id.startswith("halfcheetah-expert-ep3-td3bc-s0-")
    assert first.to_dict()["config"] == {"alpha": 1.0, "hidden": [32, 32], "steps": 200}
    ids = [c.cell_id for c in cells]
    assert len(set(ids)) == len(ids) and ids == [c.cell_id for c in Grid.from_file(path).cells()]
    assert Grid.from_mapping({"datasets": ["x"]}).cells()[0].config == ()  # no tables: the defaults


@pytest.mark.parametrize(("values", "message"), [
    ({"datasets": []}, "grid: no datasets"),
    ({"stepz": 1}, "grid: unknown keys stepz"),
    ({"algos": ["td3bc", "sac"]}, r"grid: algos: unknown algorithm 'sac' \(known: td3bc, iql\)"),
    ({"td3bc": {"alphaa": 1}}, r"grid: \[td3bc\]: unknown keys alphaa"),
    ({"td3bc": {"beta": 1.0}}, r"grid: \[td3bc\]: unknown keys beta"),
    ({"config": {"expectile": 0.5}}, r"grid: \[config\] \(for td3bc\): unknown keys expectile"),
    ({"algos": ["td3bc"], "iql": {"beta": 1.0}}, r"\[iql\] is given but iql is not in algos"),
    ({"td3bc": {"alpha": math.nan}}, r"grid: \[td3bc\]: --alpha must be ≥ 0, got nan"),
    ({"config": {"steps": 1.5}}, r"steps: 1.5 is not an integer"),
    ({"config": {"hidden": [16, -1]}}, r"--hidden must be ≥ 1, got -1"),
    ({"action_noise": [0.0, math.nan]}, "grid: action_noise: nan is not a finite number ≥ 0"),
    ({"seeds": 0}, "grid: seeds: 0 is not an integer ≥ 1"),
    ({"seeds": [1, 1]}, "grid: seeds: 1 given twice"),
    ({"eval_episodes": 2000}, r"grid: eval_episodes: 2000 is not an integer in \[0, 1000\]"),
    ({"episodes": -1}, "grid: episodes: -1 is not an integer ≥ 0"),
    ({"iql": [{"beta": 1.0}, {"beta": 1.0}]}, r"grid: iql: \{'beta': 1.0\} given twice"),
    ({"subset": 0}, r"grid: subset: 0 is not a number in \(0, 1\]"),
    ({"subset": [0.5, 1.5]}, r"grid: subset: 1.5 is not a number in \(0, 1\]"),
    ({"subset": [0.5, 0.5]}, "grid: subset: 0.5 given twice"),
    ({"real_ratio": -0.5}, r"grid: real_ratio: -0.5 is not a number in \[0, 1\]"),
    ({"real_ratio": "half"}, r"grid: real_ratio: 'half' is not a number in \[0, 1\]"),
    ({"synthetic": [3]}, "grid: synthetic: 3 is not a name or path"),
])
def test_bad_grids_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(TrajaugInputError, match=message):
        Grid.from_mapping({"datasets": ["halfcheetah-expert"], **values})


def test_subsets_and_synthetic_sets_make_cells_and_plain_cells_keep_their_ids() -> None:
    plain = Grid.from_mapping({"datasets": ["halfcheetah-expert"], "algos": ["td3bc"], "seeds": 1, "episodes": 3,
                               "config": {"steps": 200}})
    [cell] = plain.cells()
    assert cell.cell_id == "halfcheetah-expert-ep3-td3bc-s0-b1761c7f"  # the id it had before these options
    assert not {"subset", "synthetic", "real_ratio"} & set(cell.to_dict()) and cell.mix() == {}
    grid = Grid.from_mapping({"datasets": ["halfcheetah-expert"], "algos": ["iql"], "seeds": 2, "subset": [0.15, 1],
                              "synthetic": ["", "runs/synther.hdf5"], "real_ratio": 0.25})
    cells = grid.cells()
    assert len(cells) == 2 * 2 * 2 and len({c.cell_id for c in cells}) == 8
    kinds = {(c.subset, c.synthetic) for c in cells}
    assert kinds == {(0.15, None), (0.15, "runs/synther.hdf5"), (None, None), (None, "runs/synther.hdf5")}
    mixed = next(c for c in cells if c.subset and c.synthetic)
    assert mixed.cell_id.startswith("halfcheetah-expert-epall-sub0.15-xsynther-iql-s0-")
    assert mixed.mix() == {"subset": 0.15, "real_ratio": 0.25}
    assert mixed.to_dict()["synthetic"] == "runs/synther.hdf5" and mixed.to_dict()["real_ratio"] == 0.25
    alone = next(c for c in cells if c.subset and not c.synthetic)
    assert "real_ratio" not in alone.to_dict() and alone.mix() == {"subset": 0.15}
    assert grid.to_dict()["subset"] == (0.15, None) and grid.to_dict()["real_ratio"] == 0.25


def test_batch_with_a_subset_and_a_synthetic_set(cheetah_file: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    grid = tiny_grid(cheetah_file, seeds=1, subset=0.5, synthetic=["", str(cheetah_file)], real_ratio=0.75,
                     eval_every=0, eval_episodes=1, action_noise=0.0)
    out = tmp_path / "out"
    first = run_batch(grid, out, workers=1)
    assert (first.ran, first.failed) == (2, 0)
    alone, mixed = first.rows
    assert alone["train_episodes"] == mixed["train_episodes"] == 1  # half of the first 2 episodes: one episode
    assert "synthetic_sha256" not in alone and "synthetic_transitions" not in alone
    assert mixed["synthetic_sha256"] == file_sha256(cheetah_file) and mixed["synthetic_transitions"] == 3000
    assert (mixed["subset"], mixed["synthetic"], mixed["real_ratio"]) == (0.5, str(cheetah_file), 0.75)
    text = (out / "results.md").read_text()
    assert "| halfcheetah_demos ep2 sub0.5 | td3bc |" in text
    assert "| halfcheetah_demos ep2 sub0.5 + halfcheetah_demos (real 0.75) | td3bc |" in text
    monkeypatch.setattr(batch, "run_cell", lambda *args, **kwargs: pytest.fail("a finished cell ran again"))
    again = run_batch(grid, out, workers=1)
    assert (again.ran, again.skipped) == (0, 2) and again.rows == first.rows


def test_bad_grid_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("datasets = [")
    with pytest.raises(TrajaugInputError, match="bad.toml: not a valid TOML file"):
        Grid.from_file(tmp_path / "bad.toml")
    (tmp_path / "algo.toml").write_text('datasets = ["x"]\nalgos = ["cql"]\n')
    with pytest.raises(TrajaugInputError, match="algo.toml: algos: unknown algorithm 'cql'"):
        Grid.from_file(tmp_path / "algo.toml")
    with pytest.raises(TrajaugInputError, match="missing.toml: no such grid file"):
        Grid.from_file(tmp_path / "missing.toml")


def test_batch_writes_scores_and_tables_and_resumes(cheetah_file: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    grid = tiny_grid(cheetah_file)
    out = tmp_path / "out"
    first = run_batch(grid, out, workers=1)
    assert (first.ran, first.skipped, first.failed) == (2, 0, 0)
    assert json.loads((out / "grid.json").read_text())["cells"] == [c.cell_id for c in grid.cells()]
    for cell, row in zip(grid.cells(), first.rows, strict=True):
        folder = out / "cells" / cell.cell_id
        assert {p.name for p in folder.iterdir()} == RUN_FILES
        metrics = json.loads((folder / "metrics.json").read_text())
        assert row == json.loads((folder / "result.json").read_text())
        assert (row["status"], row["algo"], row["seed"], row["steps"]) == ("ok", "td3bc", cell.seed, 40)
        assert (row["train_episodes"], row["env_id"], row["action_noise"]) == (2, "HalfCheetah-v5", "0,0.1")
        assert json.loads(row["config"]) == {**TINY, "alpha": 1.5}
        for i, sigma in enumerate(("sigma0", "sigma0.1")):  # the row holds metrics.json's final and best
            final, best = metrics["final"][i], metrics["best"][i]
            assert row[f"final_return_{sigma}"] == final["return_mean"]
            assert row[f"final_normalized_{sigma}"] == final["normalized_mean"]
            assert row[f"best_normalized_{sigma}"] == best["normalized_mean"]
            assert row[f"best_step_{sigma}"] == best["step"] and best["step"] in (20, 40)
            assert row[f"best_return_{sigma}"] >= row[f"final_return_{sigma}"]
            assert row[f"final_normalized_{sigma}"] == pytest.approx(
                normalized_score("HalfCheetah-v5", row[f"final_return_{sigma}"]))
        config = json.loads((folder / "config.json").read_text())
        assert (config["algorithm"], config["seed"], config["config"]["alpha"]) == ("td3bc", cell.seed, 1.5)
        assert config["config"]["policy_noise"] == TD3BCConfig.policy_noise
        assert config["evaluation"] == {"every": 20, "episodes": 2, "action_noise": [0.0, 0.1], "seed": cell.seed}
        assert config["data"]["data_sha256"] == file_sha256(cheetah_file) == row["data_sha256"]
    seed0, seed1 = first.rows
    assert seed0["final_return_sigma0"] != seed1["final_return_sigma0"]  # the seed changes the run

    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["seed"] for r in rows] == ["0", "1"] and all(r["status"] == "ok" for r in rows)
    assert float(rows[1]["best_normalized_sigma0.1"]) == pytest.approx(seed1["best_normalized_sigma0.1"])
    with open(out / "summary.csv", newline="") as f:
        [summary] = list(csv.DictReader(f))
    assert (summary["algo"], summary["n"], summary["n_rows"]) == ("td3bc", "2", "2")
    for column in ("final_normalized_sigma0", "best_normalized_sigma0.1"):
        mean = (seed0[column] + seed1[column]) / 2
        assert float(summary[f"{column}_mean"]) == pytest.approx(mean)
        assert json.loads((out / "results.json").read_text())["summary"][0][f"{column}_mean"] == pytest.approx(mean)
    text = (out / "results.md").read_text()
    assert "| row | algo | config | seeds ok | final σ=0 | best σ=0 | final σ=0.1 | best σ=0.1 |" in text
    assert "| halfcheetah_demos ep2 | td3bc |" in text and "| 2/2 |" in text and "Failed cells" not in text
    assert f"{(seed0['final_normalized_sigma0'] + seed1['final_normalized_sigma0']) / 2:.1f} ± " in text

    def must_not_run(cell: Cell, out_dir: str, **kwargs: Any) -> Any:
        raise AssertionError(f"{cell.cell_id} was recomputed")

    monkeypatch.setattr(batch, "run_cell", must_not_run)
    again = run_batch(grid, out, workers=1)
    assert (again.ran, again.skipped, again.failed) == (0, 2, 0) and again.rows == first.rows


def test_finished_cell_is_skipped_and_killed_cell_is_rerun(cheetah_file: Path, tmp_path: Path) -> None:
    grid = tiny_grid(cheetah_file)
    done, killed = grid.cells()
    out = tmp_path / "out"
    finished = out / "cells" / done.cell_id  # a finished cell of an earlier run: a sentinel score shows it is kept
    finished.mkdir(parents=True)
    (finished / "result.json").write_text(json.dumps({"cell_id": done.cell_id, "status": "ok",
                                                      "final_normalized_sigma0": 123.0,
                                                      "data_sha256": file_sha256(cheetah_file)}))
    partial = out / "cells" / killed.cell_id  # killed mid-training: files, but no result.json
    partial.mkdir(parents=True)
    (partial / "policy.pt").write_bytes(b"half-written")
    result = run_batch(grid, out, workers=1)
    assert (result.ran, result.skipped, result.failed) == (1, 1, 0)
    assert result.rows[0]["final_normalized_sigma0"] == 123.0
    assert result.rows[1]["status"] == "ok" and math.isfinite(result.rows[1]["final_normalized_sigma0"])
    assert {p.name for p in partial.iterdir()} == RUN_FILES and (partial / "policy.pt").stat().st_size > 100


def test_a_cell_killed_mid_run_goes_on_from_its_saved_state(cheetah_file: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    grid = tiny_grid(cheetah_file, seeds=1)
    real_save = resume.save

    def save_then_die(*args: Any) -> None:
        real_save(*args)
        raise KeyboardInterrupt  # the process is killed right after the state at update 20 was written

    monkeypatch.setattr(resume, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_batch(grid, tmp_path / "killed", workers=1)
    (cell,) = grid.cells()
    assert [p.name for p in (tmp_path / "killed" / "resume").iterdir()] == [f"{cell.cell_id}.pt"]
    monkeypatch.undo()
    again = run_batch(grid, tmp_path / "killed", workers=1)
    whole = run_batch(grid, tmp_path / "whole", workers=1)
    metrics = json.loads((tmp_path / "killed" / "cells" / cell.cell_id / "metrics.json").read_text())
    assert metrics["resumed_at"] == [20] and not any((tmp_path / "killed" / "resume").iterdir())
    scores = [key for key in whole.rows[0] if key.startswith(("final_", "best_"))]
    assert scores and all(again.rows[0][key] == whole.rows[0][key] for key in scores)
    policies = [torch.load(tmp_path / run / "cells" / cell.cell_id / "policy.pt", weights_only=True)["policy"]
                for run in ("killed", "whole")]
    assert all(torch.equal(policies[0][key], policies[1][key]) for key in policies[1])


def test_a_worker_without_the_file_reads_the_shipped_copy(cheetah_file: Path, tmp_path: Path) -> None:
    gone = Cell(str(tmp_path / "not-on-this-node.hdf5"), "iql", seed=0, episodes=2, eval_episodes=0,
                config=(("hidden", (8,)), ("steps", 10)))
    with pytest.raises(TrajaugInputError, match="not-on-this-node"):
        batch.run_cell(gone, str(tmp_path / "out"))
    shipped = ship([str(cheetah_file)])
    output = batch.run_cell(gone, str(tmp_path / "out"), {gone.dataset: shipped[str(cheetah_file)]})
    assert output.value["status"] == "ok" and output.value["train_episodes"] == 2
    assert output.value["data_sha256"] == file_sha256(cheetah_file)
    assert [path for path, _ in output.files][-2:] == [f"cells/{gone.cell_id}/metrics.json",
                                                       f"cells/{gone.cell_id}/result.json"]


def nan_rewards(source: Path, path: Path) -> Path:
    """A copy of ``source`` whose reward at row 3 is NaN."""
    shutil.copyfile(source, path)
    with h5py.File(path, "r+") as f:
        f["rewards"][3] = np.nan
    return path


def test_unreadable_datasets_are_refused_before_anything_is_written(cheetah_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    bad = nan_rewards(cheetah_file, tmp_path / "nan.hdf5")
    with pytest.raises(TrajaugInputError, match=r"nan.hdf5: rewards: non-finite value \(NaN or inf\) at row 3"):
        run_batch(tiny_grid(cheetah_file, datasets=[str(cheetah_file), str(bad)]), out, workers=1)
    with pytest.raises(TrajaugInputError, match="halfcheetah_demos.hdf5: episodes: asked for 9, dataset has 3"):
        run_batch(tiny_grid(cheetah_file, episodes=[2, 9]), out, workers=1)
    assert not out.exists()


def test_cli_round_trip(cheetah_file: Path, tmp_path: Path) -> None:
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(f'datasets = ["{cheetah_file}"]\nalgos = ["iql"]\nseeds = [3]\nepisodes = 2\n'
                         'eval_every = 0\neval_episodes = 2\naction_noise = [0.1]\n'
                         '[config]\nsteps = 30\nbatch_size = 32\nhidden = [16, 16]\n[iql]\nexpectile = 0.8\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["offrl", "batch", str(grid_file), "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 cells: 1 run, 0 already finished, 0 failed" in result.stdout
    assert "| halfcheetah_demos ep2 | iql |" in result.stdout and "final σ=0.1" in result.stdout
    [cell] = json.loads((out / "results.json").read_text())["cells"]
    assert (cell["algo"], cell["seed"], cell["steps"], cell["status"]) == ("iql", 3, 30, "ok")
    assert json.loads(cell["config"]) == {"batch_size": 32, "expectile": 0.8, "hidden": [16, 16], "steps": 30}
    assert cell["best_step_sigma0.1"] == 30 and "final_return_sigma0" not in cell  # one point, σ 0.1 only
    assert cell["best_normalized_sigma0.1"] == cell["final_normalized_sigma0.1"]
    trained = json.loads((out / "cells" / cell["cell_id"] / "config.json").read_text())
    assert (trained["config"]["expectile"], trained["config"]["beta"], trained["seed"]) == (0.8, IQLConfig.beta, 3)
    again = CliRunner().invoke(cli, ["offrl", "batch", str(grid_file), "--workers", "1", "--out", str(out)])
    assert again.exit_code == 0 and "1 cells: 0 run, 1 already finished, 0 failed" in again.stdout


@pytest.mark.parametrize(("grid", "expected"), [
    ('algos = ["sac"]', "grid.toml: algos: unknown algorithm 'sac' (known: td3bc, iql)"),
    ("seedz = 2", "grid.toml: unknown keys seedz"),
    ("[td3bc]\nexpectile = 0.7", "grid.toml: [td3bc]: unknown keys expectile"),
    ("action_noise = nan", "grid.toml: action_noise: nan is not a finite number ≥ 0"),
    ("[config]\nlr = nan", "grid.toml: [config] (for td3bc): --lr must be > 0, got nan"),
    ("MISSING", "grid.toml: datasets: {tmp}/missing.hdf5: no such file"),
    ("NAN", "nan.hdf5: rewards: non-finite value (NaN or inf) at row 3"),
    ("datasets = [", "grid.toml: not a valid TOML file"),
    ('synthetic = ["missing-set.hdf5"]', "grid.toml: synthetic: missing-set.hdf5: no such file"),
])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(cheetah_file: Path, tmp_path: Path, grid: str,
                                                          expected: str) -> None:
    dataset = {"MISSING": tmp_path / "missing.hdf5", "NAN": tmp_path / "nan.hdf5"}.get(grid, cheetah_file)
    if grid == "NAN":
        nan_rewards(cheetah_file, dataset)
    head = "" if grid.startswith("datasets") else f'datasets = ["{dataset}"]\nseeds = 1\n'
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(head + ("" if grid in ("MISSING", "NAN") else grid) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["offrl", "batch", str(grid_file), "--workers", "1", "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected.format(tmp=tmp_path) in lines[0], result.stderr
    assert not out.exists()
