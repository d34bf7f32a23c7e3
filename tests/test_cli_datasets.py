"""The `trajaug datasets` commands through click's CliRunner (exit codes, one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trajaug.cli.main import cli


def run(args: list[str]) -> tuple[int, str, str]:
    """Run ``trajaug ARGS``; returns (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, args, prog_name="trajaug")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_info_on_a_file(cheetah_file: Path) -> None:
    code, out, _ = run(["datasets", "info", str(cheetah_file), "--json"])
    assert code == 0
    info = json.loads(out)
    assert info["episodes"] == 3 and info["transitions"] == 3000 and info["obs_dim"] == 17
    assert info["env_id"] == "HalfCheetah-v5" and info["has_qpos_qvel"] is True


def test_info_takes_the_environment_of_a_file_that_names_none(cheetah_file: Path, tmp_path: Path) -> None:
    import h5py

    plain = tmp_path / "plain.hdf5"  # as another tool writes it: arrays only, no env_id
    with h5py.File(cheetah_file) as source, h5py.File(plain, "w") as f:
        for key in ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts"):
            f[key] = source[key][()]
    code, out, _ = run(["datasets", "info", str(plain), "--json"])
    assert code == 0 and json.loads(out)["env_id"] is None and "normalized_score" not in json.loads(out)
    code, out, _ = run(["datasets", "info", str(plain), "--json", "--env-id", "HalfCheetah-v5"])
    info = json.loads(out)
    assert code == 0 and info["env_id"] == "HalfCheetah-v5" and info["normalized_score"] > 50
    code, _, err = run(["datasets", "check", str(plain), "--physics"])
    assert code == 2 and "pass --env-id" in err and len(err.strip().splitlines()) == 1


def test_list_shows_every_name() -> None:
    code, out, _ = run(["datasets", "list"])
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert len(names) == 15 and names[:5] == ["halfcheetah-random", "halfcheetah-medium",
                                              "halfcheetah-medium-replay", "halfcheetah-medium-expert",
                                              "halfcheetah-expert"]
    assert {"hopper-expert", "walker2d-medium-replay"} <= set(names)


@pytest.mark.parametrize(("args", "message"), [
    (["datasets", "info", "no-such-dataset"], "unknown dataset"),
    (["datasets", "info", "/nonexistent/file.hdf5"], "no such file"),
    (["datasets", "build", "pong-expert"], "unknown dataset"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, _, err = run(args)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_corrupt_file_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"\x00" * 100)
    code, _, err = run(["datasets", "info", str(bad)])
    assert code == 2 and "bad.hdf5" in err and err.count("\n") == 1


def test_click_usage_errors_are_exit_2() -> None:
    code, _, err = run(["datasets", "info"])
    assert code == 2 and "Missing argument" in err


def test_filter_drops_terminated_episodes(tmp_path: Path) -> None:
    import numpy as np

    from trajaug.core.dataset import Dataset
    from trajaug.storage.d4rl import read_d4rl, write_d4rl

    n, obs_dim = 8, 11
    terminals = np.zeros(n, bool)
    terminals[3] = True  # first episode falls, second times out
    timeouts = np.zeros(n, bool)
    timeouts[7] = True
    source = write_d4rl(Dataset(observations=np.zeros((n, obs_dim), np.float32), actions=np.zeros((n, 3), np.float32),
                                rewards=np.ones(n, np.float32), terminals=terminals, timeouts=timeouts,
                                next_observations=np.zeros((n, obs_dim), np.float32), env_id="Hopper-v5"),
                        tmp_path / "falls.hdf5")
    out = tmp_path / "kept.hdf5"
    result = CliRunner().invoke(cli, ["datasets", "filter", str(source), "--drop-terminated", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "dropped 1 of 2 episodes" in result.stdout and read_d4rl(out).n_episodes == 1
    bad = CliRunner().invoke(cli, ["datasets", "filter", str(source), "--out", str(tmp_path / "x.hdf5")])
    assert bad.exit_code == 2 and "--max-dynamics-error and/or --drop-terminated" in bad.stderr
