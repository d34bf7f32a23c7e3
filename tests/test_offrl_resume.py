"""A killed offline-RL run goes on from its saved state and ends where the uninterrupted run ends, bit for bit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from test_offrl import pendulum, same, scripted_data, weights  # noqa: F401  (pendulum: a fixture)

from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError
from trajaug.offrl import IQLConfig, TD3BCConfig, train_offrl
from trajaug.offrl import resume as resume_module
from trajaug.storage.d4rl import write_d4rl

CONFIGS = [("td3bc", TD3BCConfig(steps=90, hidden=(16, 16), batch_size=32)),
           ("iql", IQLConfig(steps=90, hidden=(16, 16), batch_size=32))]


class Killed(Exception):
    """Stands for the process being killed right after a state was saved."""


@pytest.fixture
def kill_after_save(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the ``n``-th save of a run raise :class:`Killed` once it is written; returns the steps saved."""
    saved: list[int] = []
    real_save = resume_module.save

    def save(path: Path, key: str, learner: Any, replay: Any, losses: torch.Tensor, run: Any) -> None:
        real_save(path, key, learner, replay, losses, run)
        saved.append(run.step)
        raise Killed

    monkeypatch.setattr(resume_module, "save", save)
    return saved


def curve(path: Path) -> list[dict[str, Any]]:
    points = json.loads((path / "curve.json").read_text())["points"]
    return [{"step": p["step"], "losses": p["losses"], "returns": [e["return_mean"] for e in p["evals"]]}
            for p in points]


@pytest.mark.parametrize(("algo", "config"), CONFIGS)
def test_a_killed_run_resumes_to_the_uninterrupted_result(pendulum: Dataset, tmp_path: Path,  # noqa: F811
                                                          algo: str, config: object,
                                                          kill_after_save: list[int],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state.pt"
    with pytest.raises(Killed):
        train_offrl(pendulum, algo, config, tmp_path / "killed", seed=2, eval_every=30, eval_episodes=2,
                    eval_noise=(0.0, 0.1), resume_file=state)
    assert kill_after_save == [30] and state.is_file() and not (tmp_path / "killed" / "policy.pt").exists()
    monkeypatch.undo()  # saves work again: the second try runs to the end

    _, metrics = train_offrl(pendulum, algo, config, tmp_path / "killed", seed=2, eval_every=30, eval_episodes=2,
                             eval_noise=(0.0, 0.1), resume_file=state)
    _, whole = train_offrl(pendulum, algo, config, tmp_path / "whole", seed=2, eval_every=30, eval_episodes=2,
                           eval_noise=(0.0, 0.1))
    assert same(weights(tmp_path / "killed" / "policy.pt"), weights(tmp_path / "whole" / "policy.pt"))
    assert curve(tmp_path / "killed") == curve(tmp_path / "whole")  # the points before the kill were kept
    assert [p["step"] for p in curve(tmp_path / "killed")] == [30, 60, 90]
    assert metrics["loss_final"] == whole["loss_final"]
    assert [e["return_mean"] for e in metrics["final"]] == [e["return_mean"] for e in whole["final"]]
    assert metrics["resumed_at"] == [30] and "resumed_at" not in whole
    assert not state.exists()  # removed once the run wrote its outputs


def test_a_state_of_another_run_is_not_used(pendulum: Dataset, tmp_path: Path,  # noqa: F811
                                            kill_after_save: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    config = TD3BCConfig(steps=40, hidden=(16, 16), batch_size=32)
    state = tmp_path / "state.pt"
    with pytest.raises(Killed):
        train_offrl(pendulum, "td3bc", config, seed=5, eval_every=20, eval_episodes=1, resume_file=state)
    monkeypatch.undo()
    _, metrics = train_offrl(pendulum, "td3bc", config, tmp_path / "other", seed=6, eval_every=20,
                             eval_episodes=1, resume_file=state)  # another seed: starts from 0
    _, fresh = train_offrl(pendulum, "td3bc", config, tmp_path / "fresh", seed=6, eval_every=20, eval_episodes=1)
    assert "resumed_at" not in metrics and not state.exists()
    assert same(weights(tmp_path / "other" / "policy.pt"), weights(tmp_path / "fresh" / "policy.pt"))


def test_an_unreadable_state_is_one_line(pendulum: Dataset, tmp_path: Path) -> None:  # noqa: F811
    state = tmp_path / "state.pt"
    state.write_text("not a checkpoint")
    with pytest.raises(TrajaugInputError, match=r"state\.pt: not a torch checkpoint"):
        train_offrl(pendulum, "iql", IQLConfig(steps=10, hidden=(8,)), eval_episodes=0, resume_file=state)


def test_offrl_train_goes_on_from_resume_pt(tmp_path: Path, kill_after_save: list[int],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_d4rl(scripted_data(10), tmp_path / "pendulum.hdf5")
    out = tmp_path / "run"
    args = ["offrl", "train", "--algo", "iql", "--dataset", str(data), "--out", str(out), "--steps", "40",
            "--hidden", "16,16", "--batch-size", "32", "--eval-every", "20", "--eval-episodes", "1"]
    killed = CliRunner().invoke(cli, args)
    assert isinstance(killed.exception, Killed) and [p.name for p in out.iterdir()] == ["resume.pt"]
    monkeypatch.undo()
    result = CliRunner().invoke(cli, args)  # the same command again: continues, nothing refused
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["resumed_at"] == [20]
    assert not (out / "resume.pt").exists()
    again = CliRunner().invoke(cli, args)  # finished outputs are still protected
    assert again.exit_code == 2 and "already exists" in again.output
