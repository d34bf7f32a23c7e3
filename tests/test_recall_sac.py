"""SAC ± recall traces: the recall round's pieces on a real SB3 SAC and buffer, and the experiment's tables."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from trajaug.experiments.recall.sac_experiment import SACExperimentConfig, steps_to_threshold, write_results
from trajaug.experiments.recall.sac_recall import RecallRounds, SACRecallConfig, run_sac

SMALL = SACRecallConfig(total_steps=600, learning_starts=300, recall_every=300, eval_every=300, eval_episodes=1,
                        candidates=400, model_steps=30, gan_steps=20, n_traces=32, imitation_steps=5,
                        imitation_batch=64, hidden=(32, 32), model_hidden=(32, 32))


@pytest.fixture(scope="module")
def sac_with_buffer():  # type: ignore[no-untyped-def]
    from stable_baselines3 import SAC

    torch.set_num_threads(1)
    sac = SAC("MlpPolicy", gym.make("Hopper-v5"), seed=0, device="cpu", learning_starts=10_000,
              policy_kwargs={"net_arch": [32, 32]})
    sac.learn(total_timesteps=500)  # random actions fill the buffer
    return sac


def test_recall_round_fits_the_model_and_pulls_the_actor_towards_the_traces(sac_with_buffer) -> None:  # type: ignore[no-untyped-def]
    sac = sac_with_buffer
    rounds = RecallRounds(SMALL, seed=0)
    states = np.array(sac.replay_buffer.observations[:50, 0], np.float32)
    values = rounds.values(sac, states)
    assert values.shape == (50,) and np.isfinite(values).all()
    rounds.run(sac, 500)
    assert rounds.rounds == 1 and rounds.model is not None
    stats = rounds.stats[0]
    assert stats["start_value"] >= stats["mean_value"]  # starts are the top-valued candidates
    # traces end where they started (forward order), and imitation raises their likelihood under the actor
    starts = states[:4]
    obs, actions, next_obs = rounds.model.traces(starts, 3, torch.Generator().manual_seed(0))
    assert obs.shape == (4, 3, starts.shape[1]) and np.allclose(next_obs[:, -1], starts)
    pairs = obs.reshape(-1, obs.shape[-1]), actions.reshape(-1, actions.shape[-1])
    strong = RecallRounds(dataclasses.replace(SMALL, imitation_steps=1, imitation_weight=1.0), seed=1)
    first = strong.imitate(sac, *pairs)
    for _ in range(80):
        last = strong.imitate(sac, *pairs)
    assert last < first - 0.5


def test_goal_gan_starts_and_bad_start_mode(sac_with_buffer) -> None:  # type: ignore[no-untyped-def]
    rounds = RecallRounds(dataclasses.replace(SMALL, start="goal-gan"), seed=0)
    rounds.run(sac_with_buffer, 500)
    assert rounds.rounds == 1 and np.isfinite(rounds.stats[0]["imitation_loss"])
    with pytest.raises(ValueError, match="start must be one of"):
        RecallRounds(dataclasses.replace(SMALL, start="oracle"), seed=0)


def test_run_sac_records_a_curve_and_recall_rounds() -> None:
    record = run_sac(SMALL, seed=3, recall=True)
    assert [p["steps"] for p in record["curve"]] == [300, 600]
    assert [s["steps"] for s in record["recall_stats"]] == [600]  # rounds start after learning_starts
    plain = run_sac(SMALL, seed=3, recall=False)
    assert plain["recall_stats"] == [] and plain["curve"][0]["return"] == record["curve"][0]["return"]


def test_tables_threshold_and_steps(tmp_path: Path) -> None:
    def run(variant: str, seed: int, returns: list[float]) -> dict:
        return {"variant": variant, "seed": seed,
                "curve": [{"steps": 1000 * (i + 1), "return": r} for i, r in enumerate(returns)]}

    records = [run("sac", 0, [10, 50, 100]), run("sac", 1, [10, 40, 100]),
               run("sac+recall", 0, [20, 95, 110]), run("sac+recall", 1, [30, 80, 90])]
    config = SACExperimentConfig(sac=SMALL, seeds=2, variants=("sac", "sac+recall"))
    result = write_results(records, config, tmp_path)
    assert result["threshold"] == pytest.approx(90.0)
    assert steps_to_threshold(records[2]["curve"], 90.0) == 2000
    assert steps_to_threshold(records[0]["curve"], 101.0) is None
    table = {row["variant"]: row for row in result["table"]}
    assert table["sac"]["_steps"] == 3000 and table["sac+recall"]["_steps"] == 2500
    assert table["sac+recall"]["reached threshold"] == "2/2"
    saved = json.loads((tmp_path / "sac_recall.json").read_text())
    assert len(saved["curves"]) == 6 and (tmp_path / "sac_recall.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_runs_a_tiny_experiment_and_resumes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trajaug.cli.main import cli

    args = ["recall", "sac", "--total-steps", "400", "--learning-starts", "200", "--recall-every", "200",
            "--eval-every", "200", "--eval-episodes", "1", "--candidates", "200", "--model-steps", "5",
            "--n-traces", "8", "--imitation-steps", "2", "--seeds", "1", "--variants", "sac,sac+recall",
            "--workers", "1", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "| sac+recall | 1 |" in result.stdout
    runs = sorted(p.name for p in (tmp_path / "out" / "runs").iterdir())
    assert runs == ["sac+recall-seed0.json", "sac-seed0.json"]
    again = CliRunner().invoke(cli, args)  # resume: both runs are read back, none re-run
    assert again.exit_code == 0
    bad = CliRunner().invoke(cli, ["recall", "sac", "--start", "oracle", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "'--start': 'oracle' is not one of 'buffer', 'goal-gan'" in bad.stderr
