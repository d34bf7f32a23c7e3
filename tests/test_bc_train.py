"""BC training: determinism, the checkpoint format, outputs, bad input, and a behavioural check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trajaug.bc.evaluate import evaluate_policy
from trajaug.bc.policy import CHECKPOINT_KEYS, BCPolicy, load_checkpoint
from trajaug.bc.train import BCConfig, train_bc
from trajaug.core.atomic import OutputExistsError
from trajaug.core.config import parse_config
from trajaug.core.dataset import Dataset
from trajaug.core.errors import TrajaugInputError

TINY = BCConfig(steps=150, batch_size=64, hidden=(32, 32))


def same_weights(a: BCPolicy, b: BCPolicy) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_same_weights_and_metrics(cheetah_demos: Dataset) -> None:
    first, m1 = train_bc(cheetah_demos, TINY)
    second, m2 = train_bc(cheetah_demos, TINY)
    other, _ = train_bc(cheetah_demos, BCConfig(steps=150, batch_size=64, hidden=(32, 32), seed=1))
    assert same_weights(first, second)
    assert m1["loss_curve"] == m2["loss_curve"] and m1["loss_final"] == m2["loss_final"]
    assert not same_weights(first, other)


def test_outputs_checkpoint_and_resolved_config(cheetah_demos: Dataset, tmp_path: Path) -> None:
    policy, metrics = train_bc(cheetah_demos, TINY, tmp_path / "run", provenance={"dataset": "demos"})
    payload = torch.load(tmp_path / "run" / "policy.pt", weights_only=True)
    assert set(CHECKPOINT_KEYS) <= set(payload)
    assert payload["env_id"] == "HalfCheetah-v5" and payload["obs_dim"] == 17 and payload["act_dim"] == 6
    # the normalizer lives inside the module: raw observations give the same actions after a reload
    obs = cheetah_demos.observations[:5]
    expected_std = cheetah_demos.observations.astype(np.float64).std(axis=0) + 1e-3
    np.testing.assert_allclose(payload["normalizer"]["std"], expected_std, rtol=1e-6)
    loaded = load_checkpoint(tmp_path / "run" / "policy.pt")
    np.testing.assert_array_equal(loaded.policy.act(obs), policy.act(obs))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["steps"] == 150 and config["config"]["hidden"] == [32, 32]
    assert config["data"] == {"dataset": "demos"}
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["dataset"]["episodes"] == 3 and saved["dataset"]["transitions"] == 3000
    assert saved["steps_per_s"] > 0 and len(saved["loss_curve"]) == TINY.log_points
    assert saved["loss_final"] == pytest.approx(metrics["loss_final"])
    assert saved["loss_final"] < saved["loss_first"]


def test_refuses_to_overwrite_without_force(cheetah_demos: Dataset, tmp_path: Path) -> None:
    train_bc(cheetah_demos, BCConfig(steps=5), tmp_path)
    with pytest.raises(OutputExistsError, match="policy.pt"):
        train_bc(cheetah_demos, BCConfig(steps=5), tmp_path)
    train_bc(cheetah_demos, BCConfig(steps=5), tmp_path, force=True)


def test_with_expert_concatenates(cheetah_demos: Dataset) -> None:
    one = cheetah_demos.first_episodes(1)
    _, metrics = train_bc(one, BCConfig(steps=5), expert=cheetah_demos.first_episodes(2))
    assert metrics["dataset"]["episodes"] == 3 and metrics["dataset"]["transitions"] == 3000


def test_bad_input(cheetah_demos: Dataset) -> None:
    empty = cheetah_demos.take_rows(np.zeros(0, dtype=np.int64))
    with pytest.raises(TrajaugInputError, match="empty"):
        train_bc(empty, BCConfig(steps=5))
    hopper = cheetah_demos.first_episodes(1)
    hopper = Dataset(hopper.observations[:, :11], hopper.actions[:, :3], hopper.rewards,
                     hopper.next_observations[:, :11], hopper.terminals, hopper.timeouts, env_id="Hopper-v5")
    with pytest.raises(TrajaugInputError, match="with-expert"):
        train_bc(cheetah_demos, BCConfig(steps=5), expert=hopper)
    with pytest.raises(TrajaugInputError, match="steps"):
        BCConfig(steps=0)
    with pytest.raises(TrajaugInputError, match="unknown keys stepz"):
        parse_config(BCConfig, {"stepz": 3}, "bc config")
    with pytest.raises(TrajaugInputError, match="bc config: lr: 'fast' is not a number"):
        parse_config(BCConfig, {"lr": "fast"}, "bc config")
    assert parse_config(BCConfig, {"hidden": "64,32", "normalize_obs": "no"}, "bc").hidden == (64, 32)


@pytest.mark.parametrize("content", [None, b"not a torch file", "wrong-keys", "bad-weights"])
def test_bad_checkpoint_is_one_line_naming_the_file(tmp_path: Path, content: object) -> None:
    path = tmp_path / "policy.pt"
    if content == "wrong-keys":
        torch.save({"state_dict": {}}, path)
    elif content == "bad-weights":
        policy = BCPolicy(17, 6, (8,), "HalfCheetah-v5")
        torch.save({"format": "trajaug-bc-1", "env_id": "HalfCheetah-v5", "obs_dim": 17, "act_dim": 6,
                    "hidden": [16], "config": {}, "normalizer": {}, "state_dict": policy.state_dict(),
                    "metrics": {}}, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(TrajaugInputError) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_more_demos_beat_very_few() -> None:
    """Behavioural: BC on 3 full demos clearly beats BC on 21 transitions of one demo (every 50th step).

    On Hopper, where BC from full demos reaches ≈ 98% of their return and from the sparse rows ≈ 0–3% (seeds 0–2).
    HalfCheetah's shipped gait is too fragile for this check: BC on 3 of its demos, as built on the machine of
    2026-12-01, flipped the cheetah in many episodes (8 episodes: 501 / 928 after 3000 updates, 3268 / 2296 after
    8000, seeds 0 / 1; an earlier machine's build passed with 3000)."""
    from trajaug.experts.bundled import build_expert_dataset, bundled_actor_path, load_actor

    demos = build_expert_dataset("Hopper-v5", load_actor(bundled_actor_path("hopper")), episodes=3)
    sparse = demos.take_rows(np.r_[np.arange(0, 999, 50), 999])
    config = BCConfig(steps=3000)
    full_policy, _ = train_bc(demos, config)
    sparse_policy, _ = train_bc(sparse, config)
    full = evaluate_policy(full_policy, "Hopper-v5", episodes=4, seed=3)
    few = evaluate_policy(sparse_policy, "Hopper-v5", episodes=4, seed=3)
    assert full.mean > few.mean + 0.5 * demos.episode_returns().mean(), (full.mean, few.mean)
