"""`trajaug bench seed-table`: the quick profile end to end on a tiny dataset, resume, and the table arithmetic."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import trajaug.bc.batch as batch_module
from trajaug.core.dataset import Dataset
from trajaug.core.report import t_critical_95
from trajaug.datasets.registry import file_sha256
from trajaug.executors import LocalExecutor
from trajaug.experiments.bench.seed_table import SeedTableConfig, run_augmentations, run_seed_table
from trajaug.experiments.bench.seed_table_report import summarize
from trajaug.storage.d4rl import read_d4rl, write_d4rl


@pytest.mark.parametrize("workers", [1, 2])
def test_quick_profile_end_to_end_and_resume(cheetah_file: Path, tmp_path: Path, workers: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = SeedTableConfig(dataset=str(cheetah_file), demos=2, seeds=1, rows=("demos", "cat", "noise", "mixup"),
                             per_episode=1, bc_steps=300, eval_episodes=2, quick=True)
    out = tmp_path / "table"
    result = run_seed_table(config, out, workers=workers)
    assert result["failed_cells"] == 0 and result["missing_rows"] == []
    table = {row["row"]: row for row in result["table"]}
    assert list(table) == ["demos", "cat", "noise", "mixup"]
    assert table["cat"]["trajectories"] == 2 and table["mixup"]["trajectories"] == 2
    assert table["demos"]["bc_uses_expert"] and not table["cat"]["bc_uses_expert"]
    assert table["noise"]["dynamics_error_p95"] < 1e-2
    for row in table.values():
        assert np.isfinite(row["bc_return"]) and np.isfinite(row["bc_noise0.1_return"])
    text = (out / "seed_table.md").read_text()
    assert "2906.3" in text and "| cat |" in text  # the reference beside ours
    record = json.loads((out / "seed_table.json").read_text())
    assert record["machine"]["cpus"] and record["config"]["demos"] == 2 and len(record["cells"]) == 8
    assert (out / "seed_table.png").stat().st_size > 1000
    # CAT's trained generator is kept next to its set, and its record says where
    generator = out / "data" / "cat-2demos-seed0.hdf5.generator.pt"
    assert generator.stat().st_size > 1000
    made = json.loads((out / "data" / "cat-2demos-seed0.hdf5.config.json").read_text())
    assert made["model_files"]["save"] == str(generator) and "save_generator" not in made["config"]
    # a later run samples more from the kept generator instead of training one
    more = dataclasses.replace(config, rows=("cat",), per_episode=2, generators_from=str(out))
    with LocalExecutor(1) as executor:
        sampled = run_augmentations([("cat", 0)], tmp_path / "more", more, executor)[("cat", 0)]
        missing = run_augmentations([("cat", 0)], tmp_path / "none",
                                    dataclasses.replace(more, generators_from=str(tmp_path / "nowhere")),
                                    executor)[("cat", 0)]
    assert sampled["trajectories"] == 4 and sampled["fit_rollouts"] == 0  # 2 per demo, no adversarial training
    assert "warm_start_loss" not in json.dumps(sampled)
    resampled = json.loads((tmp_path / "more" / "data" / "cat-2demos-seed0.hdf5.config.json").read_text())
    assert resampled["model_files"]["load"] == str(generator)
    with LocalExecutor(1) as executor, warnings.catch_warnings():  # the sampled set resumes, not made again
        warnings.simplefilter("error")
        again_sampled = run_augmentations([("cat", 0)], tmp_path / "more", more, executor)[("cat", 0)]
    assert again_sampled["output"] == str(tmp_path / "more" / "data" / "cat-2demos-seed0.hdf5")
    assert again_sampled["augmented_return_mean"] == sampled["augmented_return_mean"]
    assert "kept no generator for cat-2demos-seed0.hdf5" in missing["error"]
    # a record written by a version that kept the model files in the method's config still resumes
    old_record = tmp_path / "more" / "data" / "cat-2demos-seed0.hdf5.config.json"
    files = resampled.pop("model_files")
    old_record.write_text(json.dumps({**resampled, "config": {
        **resampled["config"], "save_generator": files["save"], "load_generator": files["load"], "continue_steps": 0}}))
    with LocalExecutor(1) as executor, warnings.catch_warnings():
        warnings.simplefilter("error")
        from_old = run_augmentations([("cat", 0)], tmp_path / "more", more, executor)[("cat", 0)]
    assert from_old["augmented_return_mean"] == sampled["augmented_return_mean"]

    def must_not_run(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a finished cell ran again")

    monkeypatch.setattr(batch_module, "train_bc", must_not_run)
    monkeypatch.setattr("trajaug.experiments.runner.augment", must_not_run)
    again = run_seed_table(config, out, workers=1)
    assert [r["bc_return"] for r in again["table"]] == [r["bc_return"] for r in result["table"]]
    # a moved folder: its finished sets are found where they are now
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    with LocalExecutor(1) as executor:
        found = run_augmentations([("cat", 0), ("noise", 0)], moved, config, executor)
    assert {Path(summary["output"]).parent for summary in found.values()} == {moved / "data"}


def test_sets_made_from_other_demos_are_made_again(cheetah_demos: Dataset, cheetah_file: Path,
                                                   tmp_path: Path) -> None:
    config = SeedTableConfig(dataset=str(cheetah_file), demos=2, seeds=1, rows=("noise",), per_episode=1)
    with LocalExecutor(1) as executor:
        first = run_augmentations([("noise", 0)], tmp_path, config, executor)[("noise", 0)]
        assert first["source_sha256"] == file_sha256(cheetah_file)
        write_d4rl(cheetah_demos.select_episodes([2, 1, 0]), cheetah_file, force=True)
        with pytest.warns(UserWarning, match="1 augmented set.* made from other demos"):
            again = run_augmentations([("noise", 0)], tmp_path, config, executor)[("noise", 0)]
    assert again["source_sha256"] == file_sha256(cheetah_file) != first["source_sha256"]
    assert again["demo_return_mean"] != first["demo_return_mean"]


def test_sets_made_with_other_method_settings_are_made_again(cheetah_file: Path, tmp_path: Path) -> None:
    import json
    import warnings

    config = SeedTableConfig(dataset=str(cheetah_file), demos=2, seeds=1, rows=("noise",), per_episode=1)
    record = tmp_path / "data" / "noise-2demos-seed0.hdf5.config.json"
    with LocalExecutor(1) as executor:
        run_augmentations([("noise", 0)], tmp_path, config, executor)
        made = json.loads(record.read_text())
        assert made["config"]["sigma"] == 0.9
        # as if the set had been made by a version whose default σ was 0.5
        record.write_text(json.dumps({**made, "config": {**made["config"], "sigma": 0.5}}))
        with pytest.warns(UserWarning, match="1 augmented set.* made with other method settings"):
            run_augmentations([("noise", 0)], tmp_path, config, executor)
        assert json.loads(record.read_text())["config"]["sigma"] == 0.9
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # made with today's settings: reused, no warning
            again = run_augmentations([("noise", 0)], tmp_path, config, executor)[("noise", 0)]
    assert again["trajectories"] == 2


def test_summary_arithmetic() -> None:
    config = SeedTableConfig(seeds=3, rows=("demos", "cat"), action_noise=(0.0,))
    bc_rows = [{"row": row, "action_noise": 0.0, "status": "ok", "return_mean": value, "normalized_mean": value / 100,
                "data_return_mean": 1000.0, "train_wall_s": 1.0}
               for row, values in (("demos", (900.0, 1000.0, 1100.0)), ("cat", (1000.0, 1000.0, 1000.0)))
               for value in values]
    augmented = {("cat", s): {"trajectories": 497, "augmented_return_mean": 950.0 + s, "dynamics_error_p95": 1e-6,
                              "wall_seconds": 10.0} for s in range(3)}
    table = summarize(["demos", "cat"], [0, 1, 2], config, augmented, bc_rows)
    demos, cat = table
    assert demos["bc_return"] == pytest.approx(1000.0)
    assert demos["bc_ci95"] == pytest.approx(t_critical_95(2) * 100.0 / np.sqrt(3))
    assert cat["bc_ci95"] == pytest.approx(0.0)
    assert cat["augmented_return"] == pytest.approx(951.0)
    assert cat["bc_share_of_demo_return"] == pytest.approx(1.0)
    assert cat["reference_bc_return"] == 2906.3
    assert cat["reference_bc_share"] == pytest.approx(2906.3 / 2439.8)  # the slides' 119%
    assert cat["augmented_share_of_demo_return"] == pytest.approx(951.0 / 1000.0)


def test_few_demo_grid_and_figure(cheetah_file: Path, tmp_path: Path) -> None:
    from trajaug.experiments.bench.few_demo import FewDemoConfig, run_few_demo

    config = FewDemoConfig(dataset=str(cheetah_file), demo_counts=(1, 2), seeds=1, per_episode=1, bc_steps=200,
                           eval_episodes=2, action_noise=(0.0, 0.1), quick=True)
    result = run_few_demo(config, tmp_path / "few", workers=1)
    assert result["failed_cells"] == 0
    summary = result["summary"]
    assert len(summary) == 2 * 2 * 3  # demo counts × noise levels × rows
    assert {s["row"] for s in summary} == {"demos", "augmented", "demos+augmented"}
    assert all(s["seeds"] == 1 for s in summary)
    assert all(s["ratio_to_demos"] == pytest.approx(1.0) for s in summary if s["row"] == "demos")
    assert (tmp_path / "few" / "few_demo_noise0.1.png").stat().st_size > 1000
    table = (tmp_path / "few" / "few_demo.md").read_text()
    assert "| BC on demos + CAT |" in table and "95% CI over the evaluation episodes of the one seed" in table
    cells = json.loads((tmp_path / "few" / "few_demo.json").read_text())["cells"]
    # one seed: each row's CI is its cell's CI over the evaluation episodes, not NaN
    for s in summary:
        cell, = [c for c in cells if (c["row"], c["demos"], c["action_noise"]) == (s["row"], s["demos"],
                                                                                 s["action_noise"])]
        assert s["return_ci95"] == pytest.approx(cell["return_ci95"]) and np.isfinite(s["return_ci95"])
    with_demos = [c for c in cells if c["row"] == "demos+augmented"]
    cat_only = [c for c in cells if c["row"] == "augmented"]
    # demos + CAT trains on more transitions than CAT alone: exactly the demos' (1000 per demo)
    for both, alone in zip(sorted(with_demos, key=lambda c: (c["demos"], c["action_noise"])),
                           sorted(cat_only, key=lambda c: (c["demos"], c["action_noise"])), strict=True):
        assert both["train_transitions"] - alone["train_transitions"] == 1000 * both["demos"]


def test_few_demo_on_two_workers_matches_one(cheetah_file: Path, tmp_path: Path) -> None:
    """On two workers BC on the demos runs beside the augmentation (``executors.meanwhile``); every number is the
    same as on one worker, where it runs after."""
    from trajaug.experiments.bench.few_demo import FewDemoConfig, run_few_demo

    config = FewDemoConfig(dataset=str(cheetah_file), demo_counts=(1,), seeds=1, per_episode=1, bc_steps=200,
                           eval_episodes=2, action_noise=(0.0, 0.1), quick=True)

    def returns(workers: int) -> dict[tuple[str, float], float]:
        cells = run_few_demo(config, tmp_path / f"w{workers}", workers=workers)["summary"]
        return {(c["row"], c["action_noise"]): c["return_mean"] for c in cells}

    one, two = returns(1), returns(2)
    assert len(one) == 6 and two == one
    assert one[("demos", 0.0)] != one[("augmented", 0.0)]


def test_ablation_rows_parse_and_name_their_files() -> None:
    from trajaug.core.errors import TrajaugInputError
    from trajaug.experiments.bench.seed_table import augmented_name, row_method

    assert row_method("bdm-uniform") == ("bdm", {"start": "uniform"})
    assert row_method("bdm:start=uniform:noise_scale=0.5:trace_length=4") == (
        "bdm", {"start": "uniform", "noise_scale": 0.5, "trace_length": 4})
    assert row_method("noise:sigma=0.3") == ("noise", {"sigma": 0.3})
    assert augmented_name("bdm:noise_scale=0.5", 2, SeedTableConfig(demos=7)) == "bdm_noise_scale-0.5-7demos-seed2.hdf5"
    with pytest.raises(TrajaugInputError, match="unknown keys noise_scal"):
        row_method("bdm:noise_scal=0.5")
    with pytest.raises(TrajaugInputError, match="noise_scale: .high. is not a number"):
        row_method("bdm:noise_scale=high")
    with pytest.raises(TrajaugInputError, match="expected key=value"):
        row_method("bdm:uniform")


def test_ablation_row_and_first_seed_run(cheetah_file: Path, tmp_path: Path) -> None:
    config = SeedTableConfig(dataset=str(cheetah_file), demos=1, seeds=1, first_seed=100,
                             rows=("noise", "noise:sigma=0.05"), per_episode=2, bc_steps=100, eval_episodes=2,
                             action_noise=(0.0,), quick=True)
    result = run_seed_table(config, tmp_path / "t", workers=1)
    record = json.loads((tmp_path / "t" / "seed_table.json").read_text())
    assert {cell["seed"] for cell in record["cells"]} == {100}
    sets = {a["row"]: a for a in record["augmentations"]}
    assert sets["noise:sigma=0.05"]["seed"] == 100
    assert (tmp_path / "t" / "data" / "noise_sigma-0.05-1demos-seed100.hdf5").is_file()
    # each row ran with its own σ: every action within σ of the demo's at the same step (its return says little:
    # open-loop replays of a fast gait diverge chaotically even at σ = 0.05)
    demo_actions = read_d4rl(cheetah_file).first_episodes(1).actions
    deviation = {row: np.abs(read_d4rl(tmp_path / "t" / "data" / name).actions.reshape(2, *demo_actions.shape)
                             - demo_actions).max()
                 for row, name in [("noise", "noise-1demos-seed100.hdf5"),
                                   ("noise:sigma=0.05", "noise_sigma-0.05-1demos-seed100.hdf5")]}
    assert 0.04 < deviation["noise:sigma=0.05"] <= 0.05 + 1e-6 < 0.8 < deviation["noise"] <= 0.9 + 1e-6
    assert "1 seed(s) (100–100)" in (tmp_path / "t" / "seed_table.md").read_text()
    assert [row["row"] for row in result["table"]] == ["noise", "noise:sigma=0.05"]


def test_plus_demos_row_trains_on_the_rows_set_and_the_demos(cheetah_file: Path, tmp_path: Path) -> None:
    config = SeedTableConfig(dataset=str(cheetah_file), demos=1, seeds=1, rows=("noise", "noise+demos"),
                             per_episode=2, bc_steps=100, eval_episodes=2, action_noise=(0.0,), quick=True)
    result = run_seed_table(config, tmp_path / "t", workers=1)
    record = json.loads((tmp_path / "t" / "seed_table.json").read_text())
    assert [a["row"] for a in record["augmentations"]] == ["noise"]  # one set, made once
    cells = {cell["row"]: cell for cell in record["cells"]}
    assert cells["noise+demos"]["dataset"] == cells["noise"]["dataset"]
    assert cells["noise+demos"]["train_transitions"] - cells["noise"]["train_transitions"] == 1000  # one demo
    uses_expert = {row["row"]: row["bc_uses_expert"] for row in result["table"]}
    assert uses_expert == {"noise": False, "noise+demos": True}
    assert "| noise+demos | 2 |" in (tmp_path / "t" / "seed_table.md").read_text()


@pytest.mark.parametrize(("arguments", "message"), [
    (["seed-table", "--rows", "demos,catt"], "unknown row\\(s\\) catt"),
    (["seed-table", "--rows", "demos+demos"], "unknown row\\(s\\) demos\\+demos"),
    (["seed-table", "--rows", "catt+demos"], "unknown row\\(s\\) catt\\+demos"),
    (["few-demo", "--method", "cat+demos"], "expected an augmentation row"),
    (["seed-table", "--rows", "bdm:steps=many"], "row 'bdm:steps=many': steps: 'many' is not an integer"),
    (["seed-table", "--rows", "bdm:stepz=3"], "unknown keys stepz"),
    (["few-demo", "--method", "demos"], "expected an augmentation row"),
    (["few-demo", "--method", "catt"], "expected an augmentation row"),
    (["few-demo", "--method", "cat:execution_noise=loud"], "execution_noise: 'loud' is not a number"),
    (["few-demo", "--bc-rows", "demos,both"], "--bc-rows must be one of demos, augmented, .* got 'both'"),
])
def test_bench_cli_rejects_bad_rows_before_running(tmp_path: Path, arguments: list[str], message: str) -> None:
    from click.testing import CliRunner

    from trajaug.cli.main import cli

    result = CliRunner().invoke(cli, ["bench", *arguments, "--out", str(tmp_path / "t")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert re.search(message, result.stderr)
    assert not (tmp_path / "t").exists()


def test_few_demo_row_labels_name_the_method_and_its_settings() -> None:
    from trajaug.experiments.bench.few_demo import row_names

    assert row_names("cat")["augmented"] == "BC on CAT"
    assert row_names("cat:total_steps=102400:hint=time")["augmented"] == "BC on CAT (total_steps=102400, hint=time)"
    assert row_names("synther")["demos+augmented"] == "BC on demos + synther"
