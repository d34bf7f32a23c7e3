"""Dataset name resolution: path → D4RL dir → Minari dir → trajaug cache → build from the bundled expert."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from trajaug.core.dataset import Dataset
from trajaug.core.errors import DatasetError, TrajaugInputError
from trajaug.datasets import registry
from trajaug.storage.d4rl import write_d4rl


def test_unknown_name_and_missing_path_are_input_errors() -> None:
    with pytest.raises(TrajaugInputError, match="unknown dataset 'pong-expert'"):
        registry.resolve("pong-expert")
    with pytest.raises(DatasetError, match="nothere.hdf5: no such file"):
        registry.resolve("some/dir/nothere.hdf5")


def test_empty_caches_resolve_to_build() -> None:
    resolved = registry.resolve("hopper-expert")
    assert resolved.kind == "build" and not resolved.present
    assert resolved.location.endswith("hopper-expert.hdf5")


def test_resolution_order(cheetah_demos: Dataset, isolated_caches: Path, tmp_path: Path) -> None:
    registry.build("halfcheetah-expert", episodes=1)
    assert registry.resolve("halfcheetah-expert").kind == "cache"
    d4rl_file = isolated_caches / "d4rl" / "halfcheetah_expert-v2.hdf5"
    write_d4rl(cheetah_demos.first_episodes(2), d4rl_file)
    assert registry.resolve("halfcheetah-expert").kind == "d4rl"
    assert registry.load("halfcheetah-expert").n_episodes == 2
    explicit = write_d4rl(cheetah_demos, tmp_path / "mine.hdf5")
    resolved = registry.resolve(str(explicit))
    assert resolved.kind == "path"
    loaded = registry.load(str(explicit))
    assert loaded.n_episodes == 3
    assert loaded.metadata["file_sha256"] == registry.file_sha256(explicit)


def test_build_from_bundled_expert_is_cached_and_deterministic(isolated_caches: Path) -> None:
    first = registry.build("halfcheetah-expert", episodes=2)
    assert registry.resolve("halfcheetah-expert").kind == "cache"
    data = registry.load("halfcheetah-expert")
    assert data.n_episodes == 2 and len(data) == 2000 and data.qpos is not None
    again = registry.build("halfcheetah-expert", episodes=2, force=True)
    np.testing.assert_array_equal(registry.load(str(again)).observations, data.observations)
    assert first == again


def test_a_cache_built_from_another_actor_is_stale_and_rebuilt(cheetah_demos: Dataset, isolated_caches: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from trajaug.cli.main import cli
    from trajaug.experts.bundled import actor_sha256
    from trajaug.storage.d4rl import read_trajaug_metadata

    cache_file = isolated_caches / "trajaug" / "datasets" / "halfcheetah-expert.hdf5"
    write_d4rl(cheetah_demos.first_episodes(1), cache_file)  # no record of the actor that made it
    stale = registry.resolve("halfcheetah-expert")
    assert stale.kind == "stale" and not stale.present
    result = CliRunner().invoke(cli, ["datasets", "build", "halfcheetah-expert", "--episodes", "2"])
    assert result.exit_code == 0, result.output
    assert "built from another bundled expert or build recipe; rebuilding" in result.stdout
    assert registry.resolve("halfcheetah-expert").kind == "cache"
    assert read_trajaug_metadata(cache_file)["expert"]["sha256"] == actor_sha256("HalfCheetah-v5")
    assert registry.load("halfcheetah-expert").n_episodes == 2
    # load() rebuilds a stale cache by itself, with a warning
    write_d4rl(cheetah_demos.first_episodes(1), cache_file, force=True)
    monkeypatch.setattr(registry.build, "__defaults__", (False, 2, None))  # 2 episodes instead of 100
    with pytest.warns(UserWarning, match="rebuilding it"):
        assert registry.load("halfcheetah-expert").n_episodes == 2


def test_a_build_does_not_depend_on_the_batch_or_the_matrix_kernels() -> None:
    """Recipe 2: an episode's data are the same rolled out alone or beside others, and every stored action is the
    actor's output for that observation alone — also under MKL's other code path (float32 inference fails both)."""
    import subprocess
    import sys

    from trajaug.experts.bundled import build_expert_dataset, bundled_actor_path, expert_actions, load_actor

    actor = load_actor(bundled_actor_path("halfcheetah"))
    alone = build_expert_dataset("HalfCheetah-v5", actor, episodes=1)
    beside = build_expert_dataset("HalfCheetah-v5", actor, episodes=3)
    assert beside.metadata["expert"]["recipe"] == 2
    np.testing.assert_array_equal(beside.first_episodes(1).observations, alone.observations)
    np.testing.assert_array_equal(beside.first_episodes(1).actions, alone.actions)
    actor64 = load_actor(bundled_actor_path("halfcheetah")).double()
    one_by_one = np.concatenate([expert_actions(actor64, beside.observations[i:i + 1]) for i in range(0, 3000, 10)])
    np.testing.assert_array_equal(one_by_one, beside.actions[0:3000:10])
    observations = np.ascontiguousarray(beside.observations[:512])
    script = ("import sys, numpy as np\n"
              "from trajaug.experts.bundled import bundled_actor_path, expert_actions, load_actor\n"
              "obs = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32).reshape(512, -1)\n"
              "sys.stdout.buffer.write(expert_actions(load_actor(bundled_actor_path('halfcheetah')).double(), obs)"
              ".tobytes())\n")
    other_kernels = subprocess.run([sys.executable, "-c", script], input=observations.tobytes(), capture_output=True,
                                   check=True, env={**os.environ, "MKL_CBWR": "COMPATIBLE"}).stdout
    assert other_kernels == expert_actions(actor64, observations).tobytes()
