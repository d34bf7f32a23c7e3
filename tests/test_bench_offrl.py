"""`trajaug bench offrl`: the IQM and its stratified bootstrap against hand-computed cases, a quick augmentation run
through the CLI that writes its tables and resumes, the sanity part, and bad input (one line, exit 2)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import trajaug.offrl.batch as offrl_batch
from trajaug.cli.main import cli
from trajaug.core.stats import bootstrap_replicates, group_iqm, iqm, stratified_bootstrap
from trajaug.experiments.bench.config import OffRLBenchConfig
from trajaug.experiments.bench.offrl import run_offrl_bench
from trajaug.offrl.replay import episode_subset
from trajaug.storage.d4rl import read_d4rl

ROWS = ["subset", "synther", "synther:relabel=simulator", "bdm", "full"]


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5  # drop 1, 2 and 7, 8: mean(3, 4, 5, 6)
    assert iqm([100, 1, 2, 3, 4]) == 3.0  # ⌊5/4⌋ = 1 from each end: mean(2, 3, 4); the outlier is gone
    assert iqm([5, 1, 3]) == 3.0  # ⌊3/4⌋ = 0: the plain mean
    assert np.array_equal(iqm(np.array([[4, 1, 3, 2], [40, 10, 30, 20]]), axis=1), [2.5, 25.0])
    assert math.isnan(iqm([]))


def test_stratified_bootstrap_against_hand_computed_cases() -> None:
    # two tasks whose runs agree: every stratified resample is {0, 0, 10, 10}, IQM = mean(0, 10) = 5, exactly
    steady = stratified_bootstrap({"a": [0.0, 0.0], "b": [10.0, 10.0]})
    assert (steady.point, steady.low, steady.high, steady.runs) == (5.0, 5.0, 5.0, 4)
    pooled = bootstrap_replicates([[0.0, 0.0, 10.0, 10.0]])  # the same runs as one task: the mix of tasks varies
    assert pooled.min() == 0.0 and pooled.max() == 10.0
    # one task, runs 0 and 10 (n = 2: the IQM is the mean): a resample is (0, 0), (0, 10), (10, 0) or (10, 10),
    # so the replicates are 0, 5, 10 with probabilities 1/4, 1/2, 1/4 and the 95% interval is [0, 10]
    replicates = bootstrap_replicates({"a": [0.0, 10.0]}, reps=2000, seed=3)
    assert set(np.unique(replicates)) == {0.0, 5.0, 10.0}
    for value, probability in ((0.0, 0.25), (5.0, 0.5), (10.0, 0.25)):
        assert abs(np.mean(replicates == value) - probability) < 0.04
    interval = stratified_bootstrap({"a": [0.0, 10.0]}, seed=3)
    assert (interval.point, interval.low, interval.high) == (5.0, 0.0, 10.0)
    again = stratified_bootstrap({"a": [0.0, 10.0], "b": [1.0, 2.0, 7.0]}, seed=3)
    assert again == stratified_bootstrap({"a": [0.0, 10.0], "b": [1.0, 2.0, 7.0]}, seed=3)  # seeded
    assert stratified_bootstrap({"a": [1.0, math.nan, 3.0]}).runs == 2  # a failed run's NaN is left out
    assert all(math.isnan(x) for x in stratified_bootstrap({"a": [math.nan]})[:3])


def test_group_iqm_stratifies_each_group_by_task() -> None:
    rows = [{"row": r, "dataset": d, "score": s, "ok": True} for r, d, s in
            [("x", "a", 0.0), ("x", "a", 0.0), ("x", "b", 10.0), ("x", "b", 10.0), ("y", "a", 1.0), ("y", "b", 3.0)]]
    rows.append({"row": "y", "dataset": "b", "score": 99.0, "ok": False})  # not counted
    x, y = group_iqm(rows, ("row",), "dataset", ["score"], where="ok")
    assert (x["row"], x["score_iqm"], x["score_iqm_low"], x["score_iqm_high"], x["runs"], x["tasks"]) == (
        "x", 5.0, 5.0, 5.0, 4, 2)
    assert (y["score_iqm"], y["score_iqm_low"], y["score_iqm_high"], y["runs"]) == (2.0, 2.0, 2.0, 2)


def bench(*args: str) -> Any:
    return CliRunner().invoke(cli, ["bench", "offrl", *args])


def test_quick_augmentation_run_writes_its_tables_and_resumes(short_episodes: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bench"
    args = ["--quick", "--datasets", str(short_episodes), "--subset", "0.5", "--algos", "td3bc", "--updates", "100",
            "--eval-every", "50", "--workers", "1", "--out", str(out)]
    result = bench(*args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "offrl_augmentation.json").read_text())
    runs = {run["row"]: run for run in record["runs"]}
    assert list(runs) == ROWS and all(run["ok"] for run in runs.values())
    # the subset: whole episodes holding half the rows, drawn with seed 0, as offrl train --subset 0.5 draws it
    [subset] = record["subsets"]
    expected = episode_subset(read_d4rl(short_episodes), 0.5, 0)
    assert np.array_equal(read_d4rl(subset["path"]).observations, expected.observations)
    assert (subset["episodes"], subset["transitions"], subset["of_transitions"]) == (3, 300, 600)
    assert runs["subset"]["transitions"] == 300 and runs["full"]["transitions"] == 600
    for row in ("synther", "synther:relabel=simulator", "bdm"):  # each set made from the subset, mixed in
        made = next(s for s in record["sets"] if s["row"] == row)
        made_with = json.loads(Path(made["output"] + ".config.json").read_text())
        assert (made_with["dataset"], made_with["episodes"]) == (subset["path"], 3)
        assert runs[row]["transitions"] == 300 and runs[row]["synthetic_transitions"] == made["transitions"] > 0
        cell = json.loads((out / "cells" / runs[row]["cell_ids"][0] / "config.json").read_text())["data"]
        assert (cell["subset"], cell["synthetic"], cell["real_ratio"]) == (0.5, made["output"], 0.5)
    assert runs["synther:relabel=simulator"]["set_dynamics_error_p95"] < 1e-3  # the simulator's s'
    text = (out / "offrl_augmentation.md").read_text()
    for label in ("subset (50%)", "subset + synther", "subset + bdm", "full dataset (ceiling)"):
        assert f"| cheetah_short | {label} | td3bc | 1/1 |" in text
    assert "## Aggregate: IQM over datasets × seeds" in text and "best σ=0" in text and "episodes; seed 0." in text
    assert "| synther − subset | td3bc | 1 |" in text and "| synther:relabel=simulator − synther | td3bc | 1 |" in text
    paired = {p["row"]: p for p in record["paired"]}
    assert paired["bdm"]["final_normalized_sigma0_mean"] == pytest.approx(
        runs["bdm"]["final_normalized_sigma0"] - runs["subset"]["final_normalized_sigma0"])
    iqm_row = next(r for r in record["iqm"] if r["row"] == "full")
    assert iqm_row["final_normalized_sigma0_iqm"] == pytest.approx(runs["full"]["final_normalized_sigma0"])
    for name in ("offrl_augmentation.csv", "offrl_augmentation_iqm.csv", "offrl_augmentation_runs.csv",
                 "offrl_augmentation_iqm.png", "offrl_augmentation_curves_cheetah_short_td3bc.png"):
        assert (out / name).stat().st_size > 100, name
    curve = json.loads((out / "cells" / runs["full"]["cell_ids"][0] / "curve.json").read_text())
    assert [point["step"] for point in curve["points"]] == [50, 100]

    def must_not_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a finished subset, set or cell was made again")

    stamp = Path(subset["path"]).stat().st_mtime_ns
    monkeypatch.setattr(offrl_batch, "run_cell", must_not_run)
    monkeypatch.setattr("trajaug.experiments.runner.augment", must_not_run)
    monkeypatch.setattr("trajaug.storage.d4rl.write_d4rl", must_not_run)
    again = bench(*args)
    assert again.exit_code == 0, again.output
    rerun = json.loads((out / "offrl_augmentation.json").read_text())
    assert rerun["runs"] == record["runs"]
    # the compute time is what the runs and sets took when they were made, not the rerun's wall time
    assert record["compute_seconds"] == pytest.approx(sum(run["wall_s"] for run in record["runs"])
                                                      + sum(made["wall_seconds"] for made in record["sets"]))
    assert rerun["compute_seconds"] == record["compute_seconds"] > rerun["wall_seconds"]
    assert Path(subset["path"]).stat().st_mtime_ns == stamp


def test_sanity_part_trains_bc_td3bc_and_iql_on_the_whole_dataset(short_episodes: Path, tmp_path: Path) -> None:
    config = OffRLBenchConfig(part="sanity", datasets=(str(short_episodes),), seeds=2, updates=60, eval_every=30,
                              eval_episodes=2)
    result = run_offrl_bench(config, tmp_path / "sanity", workers=1)
    assert result["failed_cells"] == 0
    runs = result["runs"]
    assert [(r["algo"], r["seed"]) for r in runs] == [("bc", 0), ("bc", 1), ("td3bc", 0), ("td3bc", 1),
                                                      ("iql", 0), ("iql", 1)]
    assert all(r["ok"] and r["transitions"] == 600 for r in runs)
    assert all(r.get("best_normalized_sigma0") is None for r in runs if r["algo"] == "bc")  # one evaluation only
    record = json.loads((tmp_path / "sanity" / "offrl_sanity.json").read_text())
    for algo in ("bc", "td3bc", "iql"):
        scores = [r["final_normalized_sigma0"] for r in runs if r["algo"] == algo]
        interval = stratified_bootstrap({"cheetah_short": scores})
        summary = next(r for r in record["iqm"] if r["algo"] == algo)
        assert summary["final_normalized_sigma0_iqm"] == pytest.approx(interval.point)
        assert summary["final_normalized_sigma0_iqm_low"] == pytest.approx(interval.low)
        per_dataset = next(r for r in record["per_dataset"] if r["algo"] == algo)
        assert per_dataset["final_normalized_sigma0_mean"] == pytest.approx(np.mean(scores))
    text = (tmp_path / "sanity" / "offrl_sanity.md").read_text()
    assert "| cheetah_short | whole dataset | bc | 2/2 |" in text and "| whole dataset | iql | 2 (1) |" in text
    assert (tmp_path / "sanity" / "offrl_sanity_curves_cheetah_short.png").stat().st_size > 100


@pytest.mark.parametrize(("args", "message"), [
    (["--subset", "0"], "Invalid value for '--subset': 0.0 is not in the range 0<x<=1"),
    (["--subset", "1.5"], "Invalid value for '--subset': 1.5 is not in the range 0<x<=1"),
    (["--algos", "td3bc,sac"], "--algos must be one of td3bc, iql, got 'sac'"),
    (["--rows", "subset,nope"], "--rows: unknown row(s) nope"),
    (["--rows", ""], "--rows: no rows"),
    (["--part", "both"], "Invalid value for '--part': 'both' is not one of 'sanity', 'augmentation'"),
    (["--datasets", "nope-data"], "--datasets: unknown dataset 'nope-data'"),
    (["--real-ratio", "-0.5"], "Invalid value for '--real-ratio'"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(short_episodes: Path, tmp_path: Path, args: list[str],
                                                       message: str) -> None:
    out = tmp_path / "out"
    result = bench("--datasets", str(short_episodes), "--quick", "--workers", "1", "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists()
