"""Simulator restore (open-loop replay of a demo's own actions) and the `trajaug augment` commands."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from click.testing import CliRunner

from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.datasets.check import replay_check
from trajaug.storage.d4rl import read_d4rl, write_d4rl


def test_replay_from_stored_state_is_exact_and_from_observations_drifts(cheetah_demos: Dataset) -> None:
    exact = replay_check(cheetah_demos)
    assert exact.episodes == 3 and exact.state_source == "qpos/qvel"
    assert exact.final_error_max < 1e-5  # float32 storage of the observations is the only difference
    assert exact.return_difference_max < 1e-3
    rebuilt = replay_check(dataclasses.replace(cheetah_demos, qpos=None, qvel=None), episodes=1)
    assert rebuilt.state_source == "observation"
    assert rebuilt.first_step_error < 1e-3  # one step from a float32 observation is close...
    assert rebuilt.final_error_max > 1.0  # ...but MuJoCo is chaotic: 1000 open-loop steps drift far


def test_augment_command_writes_output_summary_and_config(cheetah_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "noise.hdf5"
    args = ["augment", "noise", "--dataset", str(cheetah_file), "--episodes", "2", "--per-episode", "2",
            "--sigma", "0.5", "--seed", "4", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "noise: wrote 4 trajectories (4000 transitions)" in result.stdout
    assert "vs demos" in result.stdout and "wall time" in result.stdout
    data = read_d4rl(out)
    assert data.n_episodes == 4 and data.metadata["config"] == {"sigma": 0.5} and data.metadata["seed"] == 4
    assert data.metadata["source_sha256"] is not None and data.metadata["demos"] == 2
    config = json.loads(out.with_name(out.name + ".config.json").read_text())
    assert config["config"] == {"sigma": 0.5} and config["summary"]["trajectories"] == 4
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "already exists" in again.stderr and again.stderr.count("\n") == 1
    forced = CliRunner().invoke(cli, args + ["--force", "--with-expert"])
    assert forced.exit_code == 0 and read_d4rl(out).method_names == ("noise", "expert")


def test_augment_help_lists_methods_and_reference_defaults() -> None:
    listing = CliRunner().invoke(cli, ["augment", "--help"])
    for method in ("cat", "gail", "mixup", "noise"):
        assert f"  {method} " in listing.stdout
    cat_help = CliRunner().invoke(cli, ["augment", "cat", "--help"]).stdout
    assert "--sigma" in cat_help and "default: 0.9" in cat_help and "--l2-weight" in cat_help


def test_augment_bad_input_is_one_line_exit_2(cheetah_demos: Dataset, tmp_path: Path) -> None:
    unknown_env = write_d4rl(dataclasses.replace(cheetah_demos, env_id=None, metadata={}), tmp_path / "x.hdf5")
    result = CliRunner().invoke(cli, ["augment", "noise", "--dataset", str(unknown_env), "--episodes", "2",
                                      "--out", str(tmp_path / "o.hdf5")])
    assert result.exit_code == 2 and "names no environment" in result.stderr
    wrong_env = CliRunner().invoke(cli, ["augment", "noise", "--dataset", str(unknown_env), "--env-id", "Hopper-v5",
                                         "--episodes", "2", "--out", str(tmp_path / "o.hdf5")])
    assert wrong_env.exit_code == 2 and "Hopper-v5 has 11/3" in wrong_env.stderr
    too_many = CliRunner().invoke(cli, ["augment", "noise", "--dataset", str(unknown_env), "--env-id",
                                        "HalfCheetah-v5", "--episodes", "9", "--out", str(tmp_path / "o.hdf5")])
    assert too_many.exit_code == 2 and "has only 3 episodes" in too_many.stderr
    assert not (tmp_path / "o.hdf5").exists()


def test_every_method_runs_from_the_cli_on_an_external_d4rl_file(cheetah_demos: Dataset, tmp_path: Path) -> None:
    """A file as another tool writes it: plain h5py, no infos/qpos or metadata; states rebuilt from observations."""
    import h5py

    path = tmp_path / "halfcheetah_external-v2.hdf5"
    demos = cheetah_demos.first_episodes(2)
    with h5py.File(path, "w") as f:
        for key in ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts"):
            f[key] = getattr(demos, key)
    tiny = ["--total-steps", "512", "--n-envs", "2", "--n-steps", "256", "--ppo-batch-size", "128",
            "--ppo-epochs", "1", "--bc-warmstart-steps", "10"]
    budgets = {"noise": [], "mixup": [], "cat": tiny, "gail": tiny,
               # at 50 updates the ensembles disagree everywhere: truncation off, as in the shared method test
               "bdm": ["--steps", "50", "--value-steps", "20", "--max-disagreement", "0"],
               "bdm-cl": ["--steps", "50", "--value-steps", "20", "--max-disagreement", "0"]}
    for method, extra in budgets.items():
        out = tmp_path / f"{method}.hdf5"
        result = CliRunner().invoke(cli, ["augment", method, "--dataset", str(path), "--episodes", "2",
                                          "--per-episode", "1", "--out", str(out), *extra])
        assert result.exit_code == 0, (method, result.output)
        data = read_d4rl(out)
        assert data.env_id == "HalfCheetah-v5" and data.n_episodes >= 1, method
        assert data.metadata["method"] == method
