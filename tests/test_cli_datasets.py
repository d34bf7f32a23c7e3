"""The `trajaug datasets` commands through click's CliRunner (exit codes, one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trajaug.cli import cli


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


def test_list_shows_every_name() -> None:
    code, out, _ = run(["datasets", "list"])
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["halfcheetah-expert", "hopper-expert",
                                                               "walker2d-expert"]


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
