"""D4RL's dataset levels built from (tiny) bundled actors: each level's definition, determinism, provenance, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from trajaug.cli.main import cli
from trajaug.core.envs import ENVS
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets import levels, registry
from trajaug.experts import bundled
from trajaug.experts import levels as actors
from trajaug.experts.bundled import EXPERTS_DIR, ExpertActor, bundled_actor_path, load_actor, save_actor

HOPPER = ENVS["hopper"]


def tiny_actor(seed: int, steps: int = 0, eval_return: float = 0.0) -> ExpertActor:
    """A stochastic Hopper actor with one hidden layer of 8 units."""
    actor = actors.make_random_actor("Hopper-v5", seed=seed, hidden=(8,))
    actor.extra = {"steps": steps, "eval_return": eval_return}
    return actor


@pytest.fixture
def tiny_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The level actors of Hopper, tiny, in a tmp folder the builds read instead of the bundled one: random,
    medium, and a replay of 150 uniform steps, then checkpoint A for 100 steps and checkpoint B for 150."""
    folder = tmp_path / "actors"
    folder.mkdir()
    monkeypatch.setattr(actors, "ACTORS_DIR", folder)
    save_actor(tiny_actor(0), folder / "hopper-random.pt")
    save_actor(tiny_actor(1, 400, 1100.0), folder / "hopper-medium.pt")
    replay = actors.Replay("Hopper-v5", 150, 400, ((150, tiny_actor(2, 150)), (250, tiny_actor(3, 250))))
    actors.save_replay(folder / "hopper-replay.pt", replay)
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_random_level_samples_the_actor_with_per_episode_noise(tiny_dir: Path) -> None:
    """Every action is tanh(μ + σ·ε) in float64 rounded to float32, ε from the episode's own generator at that step;
    in the box; the same for any pool size and on a rebuild; provenance names the actor file and the recipes."""
    data, infos = levels.build_level(HOPPER, "random", transitions=600)
    assert len(data) == 600 and data.n_episodes > 5 and (data.terminals | data.timeouts)[-1]
    assert np.abs(data.actions).max() <= 1 and data.qpos is not None
    actor64 = load_actor(tiny_dir / "hopper-random.pt").double()
    starts = data.episode_bounds[:, 0]
    for episode in (0, data.n_episodes - 1):
        rows = slice(starts[episode], data.episode_bounds[episode, 1])
        eps = np.random.default_rng([0, actors.STREAMS["random"], episode])
        eps.integers(2**31)  # the reset seed comes first
        noise = torch.as_tensor(eps.standard_normal((1000, 3))[: rows.stop - rows.start])
        with torch.no_grad():
            expected = actor64.sample(torch.tensor(data.observations[rows], dtype=torch.float64), noise)
        np.testing.assert_array_equal(data.actions[rows], expected.numpy().astype(np.float32))
        with torch.no_grad():  # stochastic: not the actor's mean
            mean = actor64(torch.tensor(data.observations[rows], dtype=torch.float64)).numpy()
        assert np.abs(mean - data.actions[rows]).mean() > 0.1
    assert infos["action_log_probs"].shape == (600,) and np.isfinite(infos["action_log_probs"]).all()
    again = actors.rollout_transitions("Hopper-v5", load_actor(tiny_dir / "hopper-random.pt"), 600,
                                       stream=actors.STREAMS["random"], n_envs=3)
    for key in ("observations", "actions", "rewards", "terminals", "timeouts", "qpos"):
        np.testing.assert_array_equal(getattr(again.dataset, key), getattr(data, key), err_msg=key)
    np.testing.assert_array_equal(again.log_probs, infos["action_log_probs"])
    record = data.metadata["level"]
    assert record["name"] == "random" and record["recipe"] == actors.LEVEL_RECIPE and record["build_recipe"] == 2
    assert record["actors"] == {"hopper-random.pt": sha256(tiny_dir / "hopper-random.pt")}
    assert data.method_names == ("random",) and data.metadata["method"] == "random"


def test_two_worker_processes_give_the_same_rows(tiny_dir: Path, tmp_path: Path) -> None:
    """Rows shared among two worker processes are the rows of one process; the workers start from a caller script
    without an ``if __name__ == "__main__"`` guard too."""
    import subprocess
    import sys

    actor_file = tiny_dir / "hopper-medium.pt"
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import numpy as np\n"
        "from trajaug.experts.bundled import load_actor\n"
        "from trajaug.experts.levels import rollout_transitions\n"
        f"part = rollout_transitions('Hopper-v5', load_actor({str(actor_file)!r}), 1500, stream=2, workers=2)\n"
        f"np.savez({str(tmp_path / 'shared.npz')!r}, observations=part.dataset.observations, "
        "actions=part.dataset.actions, timeouts=part.dataset.timeouts, log_probs=part.log_probs)\n")
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path, timeout=120)
    alone = actors.rollout_transitions("Hopper-v5", load_actor(actor_file), 1500, stream=2, workers=1)
    shared = np.load(tmp_path / "shared.npz")
    for key in ("observations", "actions", "timeouts"):
        np.testing.assert_array_equal(shared[key], getattr(alone.dataset, key), err_msg=key)
    np.testing.assert_array_equal(shared["log_probs"], alone.log_probs)


def test_medium_expert_is_medium_then_expert(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Medium rows first, then the expert's (its first episode is the -expert build's); half and half; the medium
    half is the same whether it comes from the medium cache (built on the way) or is built for it alone."""
    built, infos = levels.build_level(HOPPER, "medium-expert", transitions=2400)
    assert infos == {} and len(built) == 2400 and registry.resolve("hopper-medium").kind == "build"
    monkeypatch.setitem(levels.DEFAULT_TRANSITIONS, "medium", 1200)
    monkeypatch.setitem(levels.DEFAULT_TRANSITIONS, "medium-expert", 2400)
    registry.build("hopper-medium-expert")
    assert registry.resolve("hopper-medium").kind == "cache"
    medium = registry.load("hopper-medium")
    both = registry.load("hopper-medium-expert")
    assert both.method_names == ("medium", "expert")
    np.testing.assert_array_equal(both.method, np.repeat([0, 1], 1200))
    for key in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts", "qpos"):
        np.testing.assert_array_equal(getattr(both, key)[:1200], getattr(medium, key), err_msg=key)
        np.testing.assert_array_equal(getattr(both, key), getattr(built, key), err_msg=key)
    expert = bundled.build_expert_dataset("Hopper-v5", load_actor(bundled_actor_path("hopper")), episodes=1)
    assert len(expert) == 1000
    for key in ("observations", "actions", "rewards", "qpos"):
        np.testing.assert_array_equal(getattr(both, key)[1200:2200], getattr(expert, key), err_msg=key)
    assert both.timeouts[-1] and both.metadata["level"]["parts"][1]["transitions"] == 1200
    assert set(both.metadata["level"]["actors"]) == {"hopper-medium.pt", "hopper.pt"}


def test_medium_replay_is_uniform_steps_then_each_checkpoint_for_its_budget(tiny_dir: Path) -> None:
    registry.build("hopper-medium-replay")
    data = registry.load("hopper-medium-replay")
    stages = data.metadata["level"]["stages"]
    assert [s["transitions"] for s in stages] == [150, 100, 150] and len(data) == 400
    assert [s["policy"] for s in stages] == ["uniform", "checkpoint at step 150", "checkpoint at step 250"]
    ends = data.terminals | data.timeouts
    assert ends[149] and ends[249] and ends[399]  # each phase's last episode is cut at its budget
    with h5py.File(registry.resolve("hopper-medium-replay").location) as f:
        log_probs = f["infos/action_log_probs"][()]
    np.testing.assert_allclose(log_probs[:150], -3 * np.log(2))
    uniform = actors.rollout_transitions("Hopper-v5", None, 150, stream=actors.STREAMS["uniform"])
    np.testing.assert_array_equal(data.actions[:150], uniform.dataset.actions)
    replay = actors.load_replay(tiny_dir / "hopper-replay.pt")
    for (first, actor), (start, stop), stream in zip(replay.stages, ((150, 250), (250, 400)), (100, 101),
                                                       strict=True):
        part = actors.rollout_transitions("Hopper-v5", actor, stop - start, stream=stream)
        assert actor.extra["steps"] == first
        np.testing.assert_array_equal(data.observations[start:stop], part.dataset.observations)
        np.testing.assert_array_equal(data.actions[start:stop], part.dataset.actions)
        np.testing.assert_array_equal(log_probs[start:stop], part.log_probs)
    assert data.source_episode[-1] == data.n_episodes - 1
    with pytest.raises(TrajaugInputError, match="SAC run's length"):
        registry.build("hopper-medium-replay", force=True, transitions=10)


def test_a_level_built_from_another_actor_is_stale(tiny_dir: Path) -> None:
    registry.build("hopper-random", transitions=50)
    assert registry.resolve("hopper-random").kind == "cache"
    save_actor(tiny_actor(9), tiny_dir / "hopper-random.pt")
    assert registry.resolve("hopper-random").kind == "stale"
    registry.build("hopper-random", transitions=50)  # a stale cache is replaced without --force
    assert registry.resolve("hopper-random").kind == "cache"
    recorded = registry.load("hopper-random").metadata["level"]["actors"]
    assert recorded == {"hopper-random.pt": sha256(tiny_dir / "hopper-random.pt")}
    with pytest.raises(FileExistsError, match="already exists"):
        registry.build("hopper-random", transitions=50)


def test_a_missing_level_actor_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actors, "ACTORS_DIR", tmp_path)
    with pytest.raises(TrajaugInputError, match="hopper-medium.pt is missing"):
        registry.load("hopper-medium")
    for args in (["datasets", "build", "walker2d-medium-replay"], ["datasets", "info", "halfcheetah-medium"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and "bundle-level" in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bundle_level_from_a_run_dir(tmp_path: Path) -> None:
    """Medium is the checkpoint the run stopped at; replay keeps evenly spaced earlier checkpoints (the first
    always), each covering the steps until the next."""
    run = tmp_path / "run"
    for step in range(100, 1100, 100):
        save_actor(tiny_actor(step, step, float(step)), run / "checkpoints" / f"steps-{step:08d}.pt",
                   extra={"steps": step, "eval_return": float(step)})
    (run / "progress.json").write_text(json.dumps({"config": {"learning_starts": 100},
                                                   "stopped_at_return": {"steps": 1000, "return": 1000.0}}))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["datasets", "bundle-level", str(run), "--out-dir", str(out),
                                      "--max-checkpoints", "4"])
    assert result.exit_code == 0, result.output
    assert "4 checkpoints, 1000 steps" in result.stdout
    medium = load_actor(out / "hopper-medium.pt")
    assert medium.extra["steps"] == 1000 and medium.log_std is not None
    replay = actors.load_replay(out / "hopper-replay.pt")
    assert [step for step, _ in replay.stages] == [100, 400, 600, 900]
    assert replay.budgets() == [100, 300, 200, 300, 100] and sum(replay.budgets()) == 1000
    gap = actors.Replay("Hopper-v5", 100, 1000, ((300, tiny_actor(0)), (600, tiny_actor(1))))
    assert gap.budgets() == [100, 500, 400]  # the first checkpoint also covers the steps before its own
    source = load_actor(run / "checkpoints" / "steps-00000400.pt")
    for name, value in replay.stages[1][1].state_dict().items():
        assert torch.equal(value, source.state_dict()[name])


def test_list_has_a_header_and_the_fifteen_names(tiny_dir: Path) -> None:
    registry.build("hopper-random", transitions=300)
    result = CliRunner().invoke(cli, ["datasets", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["name", "source", "transitions", "return", "normalized"]
    assert [line.split()[0] for line in lines[1:]] == levels.known_names() and len(lines) == 16
    row = next(line for line in lines if line.startswith("hopper-random ")).split()
    data = registry.load("hopper-random")
    assert row[1] == "cache" and int(row[2]) == 300
    assert float(row[3]) == pytest.approx(data.episode_returns().mean(), abs=0.05)
    assert "not built" in next(line for line in lines if line.startswith("walker2d-medium "))


def test_bundled_random_actors_are_stochastic_sac_actors() -> None:
    for key in levels.NAMED_ENVS:
        actor = load_actor(EXPERTS_DIR / f"{key}-random.pt")
        assert actor.log_std is not None and actor.hidden == (256, 256) and actor.extra["init_seed"] == 0
        assert actor.obs_dim == ENVS[key].obs_dim and actor.act_dim == ENVS[key].act_dim


@pytest.mark.parametrize("key", levels.NAMED_ENVS)
def test_the_bundled_medium_actor_scores_about_a_third_of_the_expert(key: str) -> None:
    """D4RL's medium: SAC stopped at about a third of the expert's return (evaluation returns recorded in the
    bundled files by train-expert)."""
    medium_file = EXPERTS_DIR / f"{key}-medium.pt"
    share = load_actor(medium_file).extra["eval_return"] / load_actor(bundled_actor_path(key)).extra["eval_return"]
    assert 0.25 <= share <= 0.45


@pytest.mark.parametrize("level", ["medium", "medium-replay"])
@pytest.mark.parametrize("key", levels.NAMED_ENVS)
def test_the_bundled_level_files_build(key: str, level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each bundled medium / replay file loads and rolls out (a few rows; the replay's phases cut short)."""
    assert levels.missing_source(key, level) is None  # every level's bundled files ship
    if level == "medium":
        data, infos = levels.build_level(ENVS[key], "medium", transitions=300)
        assert len(data) == 300 and np.isfinite(infos["action_log_probs"]).all()
        return
    replay = actors.load_replay(actors.level_actor_path(key, "replay"))
    assert 1 <= len(replay.stages) <= 12 and replay.stages[0][0] == replay.learning_starts
    assert actors.level_actor_path(key, "replay").stat().st_size <= actors.MAX_REPLAY_BYTES
    medium = load_actor(actors.level_actor_path(key, "medium"))
    assert replay.total_steps == medium.extra["steps"] and replay.stages[-1][0] < replay.total_steps
    short = actors.Replay(replay.env_id, 50, 50 + 30 * len(replay.stages),
                          tuple((50 + 30 * k, actor) for k, (_, actor) in enumerate(replay.stages)))
    parts, records = actors.rollout_replay(short)
    assert [len(part.dataset) for part in parts] == [50] + [30] * len(replay.stages)
    assert records[-1]["eval_return"] == replay.stages[-1][1].extra["eval_return"]
