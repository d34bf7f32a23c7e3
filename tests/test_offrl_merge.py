"""`trajaug bench offrl-merge`: sub-runs of the augmentation table (one per seed) and a sanity run merged into one
report whose numbers are the sources' own, and the refusals (one line, exit 2) of sources measured differently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from trajaug.cli.main import cli
from trajaug.experiments.bench.config import OffRLBenchConfig
from trajaug.experiments.bench.offrl import run_offrl_bench
from trajaug.experiments.bench.offrl_report import baseline_of, paired_differences

BUDGET: dict[str, Any] = {"algos": ("td3bc",), "updates": 60, "eval_every": 30, "eval_episodes": 2}


@pytest.fixture
def sources(short_episodes: Path, tmp_path: Path) -> dict[str, Path]:
    """Two augmentation sub-runs (row subset, seeds 0 and 1) and a sanity run (seeds 0 and 1) on one file."""
    folders = {}
    for seed in (0, 1):
        config = OffRLBenchConfig(datasets=(str(short_episodes),), rows=("subset",), subset=0.5, seeds=1,
                                  first_seed=seed, **BUDGET)
        folders[f"seed{seed}"] = run_offrl_bench(config, tmp_path / f"seed{seed}", workers=1)["files"]["json"].parent
    sanity = OffRLBenchConfig(part="sanity", datasets=(str(short_episodes),), seeds=2, **BUDGET)
    folders["sanity"] = run_offrl_bench(sanity, tmp_path / "sanity", workers=1)["files"]["json"].parent
    return folders


def merge(*args: str | Path) -> Any:
    return CliRunner().invoke(cli, ["bench", "offrl-merge", *map(str, args)])


def runs_of(folder: Path, part: str) -> list[dict[str, Any]]:
    return json.loads((folder / f"offrl_{part}.json").read_text())["runs"]


def test_merged_report_holds_each_sources_runs_and_the_sanity_runs_as_the_full_row(
        sources: dict[str, Path], tmp_path: Path) -> None:
    sanity_file = sources["sanity"] / "offrl_sanity.json"  # as older versions wrote it: runs without wall_s
    sanity = json.loads(sanity_file.read_text())
    sanity_file.write_text(json.dumps({**sanity, "runs": [{k: v for k, v in run.items() if k != "wall_s"}
                                                          for run in sanity["runs"]]}))
    out = tmp_path / "merged"
    result = merge(sources["sanity"], sources["seed1"], sources["seed0"], "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "offrl_augmentation.json").read_text())
    merged = {(run["row"], run["seed"]): run for run in record["runs"]}
    # in the benchmark's order whatever the sources' order: the subset row first, the ceiling last, seeds ascending
    assert list(merged) == [("subset", 0), ("subset", 1), ("full", 0), ("full", 1)]
    assert [row["row"] for row in record["per_dataset"]] == ["subset", "full"]
    for seed in (0, 1):
        [own] = runs_of(sources[f"seed{seed}"], "augmentation")
        assert merged["subset", seed]["final_normalized_sigma0"] == own["final_normalized_sigma0"]
        whole = next(r for r in runs_of(sources["sanity"], "sanity") if r["algo"] == "td3bc" and r["seed"] == seed)
        assert merged["full", seed]["final_normalized_sigma0"] == whole["final_normalized_sigma0"]
        assert merged["full", seed]["cell_ids"] == whole["cell_ids"]
        cell = json.loads((sources["sanity"] / "cells" / whole["cell_ids"][0] / "result.json").read_text())
        assert merged["full", seed]["wall_s"] == cell["wall_s"] > 0  # read from the cell's record
    subset_row = next(r for r in record["per_dataset"] if r["row"] == "subset")
    assert subset_row["final_normalized_sigma0_mean"] == pytest.approx(
        np.mean([merged["subset", s]["final_normalized_sigma0"] for s in (0, 1)]))
    assert record["seeds"] == [0, 1] and len(record["subsets"]) == 2
    assert record["compute_seconds"] > 0
    assert record["compute_seconds"] == pytest.approx(sum(run["wall_s"] for run in record["runs"]))
    text = (out / "offrl_augmentation.md").read_text()
    assert "| cheetah_short | subset (50%) | td3bc | 2/2 |" in text
    assert "| cheetah_short | full dataset (ceiling) | td3bc | 2/2 |" in text
    assert "## Sources" in text and str(sources["sanity"]) in text and "seeds 0–1" in text
    # the curves come from the sources' cells: the figure exists only if they were found
    assert (out / "offrl_augmentation_curves_cheetah_short_td3bc.png").stat().st_size > 100

    again = merge(sources["seed0"], sources["sanity"], "--out", out)  # the report exists: --force replaces it
    assert again.exit_code == 2 and "exists; --force replaces it" in again.stderr
    forced = merge(sources["seed0"], sources["sanity"], "--out", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert len(json.loads((out / "offrl_augmentation.json").read_text())["runs"]) == 2


def test_sources_measured_differently_are_refused_in_one_line(sources: dict[str, Path], short_episodes: Path,
                                                              tmp_path: Path) -> None:
    longer = OffRLBenchConfig(datasets=(str(short_episodes),), rows=("subset",), subset=0.5, seeds=1,
                              first_seed=2, **{**BUDGET, "updates": 90})
    run_offrl_bench(longer, tmp_path / "longer", workers=1)
    other_data = tmp_path / "other-data"  # the sanity run, as if its cells had trained on other data
    shutil.copytree(sources["sanity"], other_data)
    for result_file in other_data.glob("cells/*/result.json"):
        row = json.loads(result_file.read_text())
        result_file.write_text(json.dumps({**row, "data_sha256": "0" * 64}))
    (tmp_path / "empty").mkdir()
    cases = [
        ((sources["seed0"], tmp_path / "longer"), "updates = 90, but"),
        ((sources["seed0"], sources["seed0"]), "is in"),
        ((sources["seed0"], other_data), "is other data (sha256 000000000000)"),
        ((tmp_path / "empty",), "no offrl_augmentation.json or offrl_sanity.json"),
        ((sources["sanity"],), "no augmentation source"),
    ]
    for folders, message in cases:
        out = tmp_path / "merged"
        result = merge(*folders, "--out", out)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert not out.exists()
    into_a_source = merge(sources["seed0"], sources["seed1"], "--out", sources["seed1"])
    assert into_a_source.exit_code == 2 and "is one of the sources" in into_a_source.stderr


def test_paired_differences_pair_each_row_with_its_baseline_on_the_same_dataset_and_seed() -> None:
    def run(dataset: str, row: str, seed: int, score: float, ok: bool = True) -> dict[str, Any]:
        return {"dataset": dataset, "row": row, "algo": "iql", "seed": seed, "ok": ok, "final": score}

    runs = [run("w", "subset", 0, 10.0), run("w", "subset", 1, 20.0), run("h", "subset", 0, 30.0),
            run("w", "synther", 0, 14.0), run("w", "synther", 1, 18.0), run("h", "synther", 0, 36.0),
            run("w", "synther:relabel=simulator", 0, 15.0), run("w", "synther:relabel=simulator", 1, 0.0, ok=False),
            run("w", "bdm:model=simulator", 0, 9.0),  # its method's row (bdm) is not in the table: vs the subset
            run("w", "full", 0, 50.0)]
    assert baseline_of("synther:relabel=simulator", ["subset", "synther"]) == "synther"
    assert baseline_of("synther:relabel=simulator", ["subset"]) == "subset"
    assert baseline_of("full", ["subset", "full"]) is None and baseline_of("synther", ["synther"]) is None
    paired = {p["row"]: p for p in paired_differences(runs, ["final"])}
    assert list(paired) == ["synther", "synther:relabel=simulator", "bdm:model=simulator"]  # subset, full: none
    synther = paired["synther"]  # differences +4, −2, +6 over (w, 0), (w, 1), (h, 0)
    assert (synther["baseline"], synther["pairs"], synther["higher"]) == ("subset", 3, 2)
    assert synther["final_mean"] == pytest.approx(8 / 3)
    assert synther["final_ci95"] == pytest.approx(4.303 * np.std([4, -2, 6], ddof=1) / np.sqrt(3), rel=1e-3)
    relabelled = paired["synther:relabel=simulator"]  # only (w, 0): the seed-1 run failed
    assert (relabelled["baseline"], relabelled["pairs"], relabelled["higher"], relabelled["final_mean"]) == (
        "synther", 1, 1, 1.0)
    assert (paired["bdm:model=simulator"]["baseline"], paired["bdm:model=simulator"]["final_mean"]) == ("subset", -1.0)
