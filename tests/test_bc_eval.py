"""BC evaluation: normalized scores, evaluation seeds, action noise, environment checks, and the bc CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

import trajaug.bc.evaluate as evaluate_module
from trajaug.bc.evaluate import evaluate_policy
from trajaug.bc.policy import BCPolicy
from trajaug.cli.main import cli
from trajaug.core.envs import normalized_score
from trajaug.core.errors import TrajaugInputError
from trajaug.core.seeds import EVAL_SEED_BASE, eval_seeds


@pytest.fixture(scope="module")
def policy() -> BCPolicy:
    """An untrained (seeded) HalfCheetah policy: evaluation mechanics do not need a good one."""
    torch.manual_seed(0)
    return BCPolicy(17, 6, (32, 32), "HalfCheetah-v5").eval()


@pytest.mark.parametrize(("env_id", "episode_return", "score"), [
    ("HalfCheetah-v5", -280.178953, 0.0),
    ("HalfCheetah-v5", 12135.0, 100.0),
    ("HalfCheetah-v5", 5927.4105235, 50.0),
    ("Hopper-v5", 3234.3, 100.0),
    ("Hopper-v5", 1607.0138475, 50.0),
    ("Walker2d-v5", 1.629008, 0.0),
    ("Walker2d-v4", 4592.3, 100.0),
])
def test_normalized_score_reference_values(env_id: str, episode_return: float, score: float) -> None:
    assert normalized_score(env_id, episode_return) == pytest.approx(score, abs=1e-6)


def test_result_statistics_and_normalized_ci(policy: BCPolicy) -> None:
    result = evaluate_policy(policy, "HalfCheetah-v5", episodes=3, seed=0, n_envs=3)
    assert result.returns.shape == (3,) and result.episodes == 3
    assert result.mean == pytest.approx(result.returns.mean())
    assert result.std == pytest.approx(result.returns.std(ddof=1))
    assert result.ci95 == pytest.approx(4.3027 * result.std / np.sqrt(3))
    assert result.normalized_mean == pytest.approx(normalized_score("HalfCheetah-v5", result.mean))
    assert result.normalized_ci95 == pytest.approx(result.ci95 * 100 / (12135.0 + 280.178953))
    record = result.to_dict()
    assert record["returns"] == result.returns.tolist() and "returns" not in result.to_dict(include_returns=False)


def test_eval_seeds_are_disjoint_from_data_seeds(policy: BCPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[int] = []
    real_rollout = evaluate_module.rollout

    def spy(env_id, jobs, controller, **kwargs):  # type: ignore[no-untyped-def]
        used.extend(job.seed for job in jobs)
        return real_rollout(env_id, jobs, controller, **kwargs)

    monkeypatch.setattr(evaluate_module, "rollout", spy)
    evaluate_policy(policy, "HalfCheetah-v5", episodes=2, seed=4)
    assert used == eval_seeds(4, 2)
    data_seeds = set(range(EVAL_SEED_BASE))  # expert data: DATA_SEED_BASE + seed·10⁴ + i < 10⁶
    assert not data_seeds & set(eval_seeds(0, 1000)) and not data_seeds & set(eval_seeds(999, 1000))
    assert len(set(eval_seeds(0, 1000)) | set(eval_seeds(1, 1000))) == 2000


def test_action_noise_changes_returns_reproducibly(policy: BCPolicy) -> None:
    clean = evaluate_policy(policy, "HalfCheetah-v5", episodes=2, seed=1)
    noisy = evaluate_policy(policy, "HalfCheetah-v5", episodes=2, seed=1, action_noise=0.3)
    again = evaluate_policy(policy, "HalfCheetah-v5", episodes=2, seed=1, action_noise=0.3, n_envs=1)
    assert not np.allclose(clean.returns, noisy.returns)
    np.testing.assert_array_equal(noisy.returns, again.returns)  # same noise whatever the pool size
    assert noisy.action_noise == 0.3


def test_wrong_environment_and_bad_arguments(policy: BCPolicy) -> None:
    with pytest.raises(TrajaugInputError, match="trained on HalfCheetah-v5"):
        evaluate_policy(policy, "Hopper-v5", episodes=1)
    with pytest.raises(TrajaugInputError, match="episodes"):
        evaluate_policy(policy, "HalfCheetah-v5", episodes=0)
    with pytest.raises(TrajaugInputError, match="unknown environment"):
        evaluate_policy(policy, "CartPole-v1", episodes=1)


# ---------------------------------------------------------------------------------------------- CLI
def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cli_train_then_eval_round_trip(cheetah_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    trained = run("bc", "train", "--dataset", str(cheetah_file), "--episodes", "2", "--steps", "50",
                  "--batch-size", "32", "--seed", "3", "--out", str(out))
    assert trained.exit_code == 0, trained.output
    assert "2 episodes (2000 transitions" in trained.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["seed"] == 3 and config["config"]["batch_size"] == 32
    assert config["data"]["episodes"] == 2 and config["data"]["dataset"] == str(cheetah_file)
    evaluated = run("bc", "eval", str(out / "policy.pt"), "--episodes", "2", "--seed", "1",
                    "--action-noise", "0.1", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    record = json.loads(evaluated.stdout)
    assert record["episodes"] == 2 and record["seed"] == 1 and record["action_noise"] == 0.1
    assert len(record["returns"]) == 2 and record["env_id"] == "HalfCheetah-v5"
    text = run("bc", "eval", str(out / "policy.pt"), "--episodes", "2")
    assert text.exit_code == 0 and "D4RL normalized" in text.stdout
    again = run("bc", "train", "--dataset", str(cheetah_file), "--steps", "5", "--out", str(out))
    assert again.exit_code == 2 and "already exists" in error_line(again)


def test_cli_errors_exit_2_with_one_line(cheetah_file: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 definitely not a checkpoint")
    for path in (garbage, tmp_path / "missing.pt"):
        result = run("bc", "eval", str(path))
        assert result.exit_code == 2
        assert str(path) in error_line(result)
    out = tmp_path / "run"
    assert run("bc", "train", "--dataset", str(cheetah_file), "--steps", "5", "--out", str(out)).exit_code == 0
    wrong_env = run("bc", "eval", str(out / "policy.pt"), "--env", "Hopper-v5", "--episodes", "1")
    assert wrong_env.exit_code == 2 and "Hopper-v5" in error_line(wrong_env)
    too_many = run("bc", "train", "--dataset", str(cheetah_file), "--episodes", "9", "--out", str(tmp_path / "x"))
    assert too_many.exit_code == 2 and "dataset has 3" in error_line(too_many)


@pytest.mark.parametrize("command", [("bc", "train"), ("bc", "batch"), ("bench", "seed-table"), ("bench", "few-demo")])
def test_help_states_the_bc_budget_default(command: tuple[str, ...]) -> None:
    """The CLI's help (written out, to keep start-up free of torch) says the budget BCConfig really uses."""
    from trajaug.bc.train import BCConfig

    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # click wraps the help; its ranges follow the default after a ';'
    assert f"default {BCConfig.steps})" in text or re.search(rf"\[default: {BCConfig.steps}[;\]]", text), text
