"""``trajaug offrl``: train then eval through the CLI, and bad input (one line on stderr, exit 2, nothing written)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner, Result

from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.offrl import IQLConfig, TD3BCConfig
from trajaug.sim.rollout import Job, rollout
from trajaug.storage.d4rl import write_d4rl

ENV = "InvertedPendulum-v5"


@pytest.fixture(scope="module")
def pendulum_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 episodes of InvertedPendulum-v5 under a noisy linear controller, as a D4RL HDF5 file."""
    rng = np.random.default_rng(0)

    def controller(jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
        return observations @ np.array([[1.0], [10.0], [0.5], [1.0]]) + 1.5 * rng.normal(size=(len(observations), 1))

    _, recorded = rollout(ENV, [Job(seed=i) for i in range(6)], controller, n_envs=6)
    assert recorded is not None
    return write_d4rl(Dataset(**recorded), tmp_path_factory.mktemp("data") / "pendulum.hdf5")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_train_then_eval_round_trip(pendulum_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    trained = run("offrl", "train", "--algo", "td3bc", "--dataset", str(pendulum_file), "--out", str(out),
                  "--steps", "40", "--seed", "2", "--eval-every", "20", "--eval-episodes", "2", "--batch-size", "32",
                  "--hidden", "16,16", "--alpha", "1.5")
    assert trained.exit_code == 0, trained.output
    assert "td3bc on 6 episodes" in trained.stdout
    assert "σ=0.1: final return" in trained.stdout and "best return" in trained.stdout
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "curve.json", "curve.png", "metrics.json",
                                                     "policy.pt"]
    config = json.loads((out / "config.json").read_text())
    assert config["algorithm"] == "td3bc" and config["seed"] == 2 and config["env_id"] == ENV
    assert config["config"]["alpha"] == 1.5 and config["config"]["hidden"] == [16, 16]
    assert config["config"]["policy_noise"] == 0.2 and config["data"]["dataset"] == str(pendulum_file)
    curve = json.loads((out / "curve.json").read_text())
    assert [p["step"] for p in curve["points"]] == [20, 40]
    assert [e["action_noise"] for e in curve["points"][0]["evals"]] == [0.0, 0.1]
    assert set(curve["points"][0]["losses"]) == {"critic", "actor"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final"][0]["normalized_mean"] is None  # no D4RL scores for this task: NaN → null
    assert [b["step"] for b in metrics["best"]] == [max(curve["points"], key=lambda p: p["evals"][i]["return_mean"])
                                                    ["step"] for i in range(2)]
    assert metrics["final"][1]["return_mean"] == curve["points"][-1]["evals"][1]["return_mean"]

    evaluated = run("offrl", "eval", str(out / "policy.pt"), "--episodes", "2", "--action-noise", "0.1", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    record = json.loads(evaluated.stdout)
    assert record["env_id"] == ENV and record["episodes"] == 2 and record["action_noise"] == 0.1
    assert len(record["returns"]) == 2 and record["normalized_mean"] is None
    text = run("offrl", "eval", str(out / "policy.pt"), "--episodes", "1")
    assert text.exit_code == 0 and "no D4RL reference scores" in text.stdout

    iql = run("offrl", "train", "--algo", "iql", "--dataset", str(pendulum_file), "--out", str(tmp_path / "iql"),
              "--steps", "20", "--eval-episodes", "0", "--hidden", "8,8", "--no-scale-rewards", "--json")
    assert iql.exit_code == 0, iql.output
    assert json.loads(iql.stdout)["replay"]["reward_scale"] == 1.0


def test_train_on_a_subset_with_a_synthetic_set(pendulum_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    trained = run("offrl", "train", "--algo", "iql", "--dataset", str(pendulum_file), "--out", str(out), "--steps",
                  "20", "--eval-episodes", "0", "--hidden", "8,8", "--batch-size", "16", "--subset", "0.5",
                  "--synthetic", str(pendulum_file), "--real-ratio", "0.25", "--seed", "3")
    assert trained.exit_code == 0, trained.output
    assert f"of {pendulum_file} (subset 0.5) + " in trained.stdout and "(real ratio 0.25)" in trained.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["subset"]["fraction"] == 0.5 and metrics["subset"]["seed"] == 3
    assert metrics["subset"]["transitions"] >= metrics["subset"]["of_transitions"] / 2
    assert metrics["synthetic"]["real_ratio"] == 0.25
    assert metrics["synthetic"]["transitions"] == metrics["subset"]["of_transitions"]  # the whole file
    data = json.loads((out / "config.json").read_text())["data"]
    assert data == {"dataset": str(pendulum_file), "episodes": None, "subset": 0.5, "synthetic": str(pendulum_file),
                    "real_ratio": 0.25}


def no_next_states(path: Path) -> Path:
    """Two one-step episodes cut by timeouts, without next_observations: no next state can be derived."""
    with h5py.File(path, "w") as f:
        f["observations"] = np.ones((2, 4), np.float32)
        f["actions"] = np.zeros((2, 1), np.float32)
        f["rewards"] = np.ones(2, np.float32)
        f["terminals"], f["timeouts"] = np.zeros(2, bool), np.ones(2, bool)
    return path


def nan_rewards(path: Path, source: Path) -> Path:
    with h5py.File(source, "r") as f, h5py.File(path, "w") as g:
        for key in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts"):
            g[key] = f[key][()]
        g["rewards"][3] = np.nan
    return path


@pytest.mark.parametrize(("case", "expected"), [
    ("no-next", "no transition has a known next state"),
    ("nan-rewards", "rewards: non-finite value (NaN or inf) at row 3"),
    ("unknown-algo", "Invalid value for '--algo': 'sac' is not one of 'td3bc', 'iql'"),
    ("zero-steps", "Invalid value for '--steps': 0 is not in the range x>=1"),
    ("negative-steps", "Invalid value for '--steps': -5 is not in the range x>=1"),
    ("foreign-option", "--beta: not an option of --algo td3bc"),
    ("existing-out", "already exists and is not empty (use --force to overwrite)"),
    ("subset-zero", "Invalid value for '--subset': 0.0 is not in the range 0<x<=1"),
    ("subset-above-one", "Invalid value for '--subset': 1.5 is not in the range 0<x<=1"),
    ("ratio-without-synthetic", "--real-ratio: needs --synthetic"),
    ("ratio-above-one", "Invalid value for '--real-ratio': 2.0 is not in the range 0<=x<=1"),
    ("unknown-synthetic", "--synthetic: unknown dataset 'nope'"),
    ("synthetic-of-another-task", "synthetic: observations and actions of size 17 and 6, the dataset's are 4 and 1"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(pendulum_file: Path, cheetah_file: Path, tmp_path: Path,
                                                       case: str, expected: str) -> None:
    dataset, out = str(pendulum_file), tmp_path / "out"
    args = ["--algo", "td3bc", "--steps", "5", "--eval-episodes", "0"]
    if case == "no-next":
        dataset = str(no_next_states(tmp_path / "no_next.hdf5"))
    elif case == "nan-rewards":
        dataset = str(nan_rewards(tmp_path / "nan.hdf5", pendulum_file))
    elif case == "unknown-algo":
        args[1] = "sac"
    elif case in ("zero-steps", "negative-steps"):
        args[3] = "0" if case == "zero-steps" else "-5"
    elif case == "foreign-option":
        args += ["--beta", "1.0"]
    elif case == "existing-out":
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
    elif case.startswith("subset"):
        args += ["--subset", "0" if case == "subset-zero" else "1.5"]
    elif case.startswith("ratio"):
        args += ["--real-ratio", "0.5" if case == "ratio-without-synthetic" else "2"]
        args += ["--synthetic", dataset] if case == "ratio-above-one" else []
    elif case == "unknown-synthetic":
        args += ["--synthetic", "nope"]
    elif case == "synthetic-of-another-task":
        args += ["--synthetic", str(cheetah_file)]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = run("offrl", "train", "--dataset", dataset, "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert expected in error_line(result)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
    if case == "existing-out":
        assert (out / "notes.txt").read_text() == "keep me"


def test_eval_of_a_bad_checkpoint_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00 not a checkpoint")
    for path in (garbage, tmp_path / "missing.pt"):
        result = run("offrl", "eval", str(path))
        assert result.exit_code == 2 and str(path) in error_line(result)


def test_help_lists_both_algorithms_options_with_their_defaults() -> None:
    result = run("offrl", "train", "--help")
    assert result.exit_code == 0
    for flag in ("--alpha", "--policy-noise", "--policy-freq", "--expectile", "--beta", "--scale-rewards",
                 "--steps", "--eval-every", "--eval-episodes"):
        assert flag in result.output
    td3bc, iql = ({f.name: f.default for f in dataclasses.fields(c)} for c in (TD3BCConfig, IQLConfig))
    assert all(td3bc[name] == iql[name] for name in td3bc.keys() & iql.keys())  # one --steps, --lr, ... for both
