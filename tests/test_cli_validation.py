"""Bad input at the CLI boundary: every command's numeric and choice options, and broken dataset files.

Walks the click tree from ``trajaug.cli.main.cli``; for each option it generates values outside what the option
accepts (hypothesis) and runs the command on tiny valid other arguments. Each bad invocation must exit with code 2,
say so in at most 3 lines on stderr, naming the flag (or the bad value), without a traceback and without writing
anything. Options that accept any value are listed in :data:`ANY_VALUE` with the reason; an option that is neither
covered nor listed fails the test, so a new option cannot be skipped silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.storage.d4rl import write_d4rl

EXAMPLES = settings(max_examples=3, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
MIN_INVOCATIONS = 100
SWITCH = "a switch: on or off"
PATH = "a path to write to or read from; a missing or unreadable one is refused where it is used"
ANY_VALUE: dict[str, str] = {
    "--force": SWITCH, "--json": SWITCH, "--with-expert": SWITCH, "--random": SWITCH, "--physics": SWITCH,
    "--drop-terminated": SWITCH, "--keep-checkpoints": SWITCH, "--ship-data": SWITCH, "--help": SWITCH,
    "--out": PATH, "--out-dir": PATH, "--run-dir": PATH, "--export-to": PATH, "--config": PATH,
    "--save-model": PATH, "--load-model": PATH, "--generators-from": PATH,
    "--address": "a Ray cluster address, used only with --executor ray (checked by Ray when it connects)",
}
"""Options (by flag) that take any value, with the reason; switches (``--x/--no-x``) are recognised as such."""
NO_LIMITS_YET: dict[tuple[str, ...], str] = {}
"""Commands whose config options are not covered yet, with the reason (their other options are)."""
NAMES = ("--dataset", "--datasets", "--synthetic", "--with-expert", "--env-id", "--env", "--rows", "--method",
         "--variants", "--agents", "--device")
"""Text options that name something the library must find (a dataset, an environment, rows, agents)."""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, short_cheetah_demos: Dataset) -> dict[str, Path]:
    """A tiny HalfCheetah demo file (2 × 200 steps), a BC and a TD3+BC checkpoint trained on it (one update each),
    an offline-RL grid file on it (one cell of 5 updates, no evaluation) and the broken files."""
    folder = tmp_path_factory.mktemp("inputs")
    demos = write_d4rl(short_cheetah_demos, folder / "demos.hdf5")
    for command in (["bc", "train"], ["offrl", "train", "--algo", "td3bc", "--eval-episodes", "0"]):
        made = CliRunner().invoke(cli, [*command, "--dataset", str(demos), "--steps", "1", "--out",
                                        str(folder / command[0])])
        assert made.exit_code == 0, made.output
    grid = folder / "offrl_grid.toml"
    grid.write_text(f'datasets = ["{demos}"]\nalgos = ["td3bc"]\nseeds = 1\neval_episodes = 0\n[config]\nsteps = 5\n')
    return {"demos": demos, "bc": folder / "bc" / "policy.pt", "offrl": folder / "offrl" / "policy.pt",
            "offrl_grid": grid, **_broken_files(folder, short_cheetah_demos)}


def _broken_files(folder: Path, demos: Dataset) -> dict[str, Path]:
    """Empty file, not HDF5, HDF5 without observations, NaN rewards, mismatched lengths."""
    (folder / "empty.hdf5").write_bytes(b"")
    (folder / "text.hdf5").write_text("observations,actions\n1,2\n")
    with h5py.File(folder / "no_observations.hdf5", "w") as f:
        for key in ("actions", "rewards", "terminals", "timeouts"):
            f[key] = getattr(demos, key)
    with h5py.File(folder / "nan_rewards.hdf5", "w") as f:
        for key in ("observations", "actions", "terminals", "timeouts", "next_observations"):
            f[key] = getattr(demos, key)
        f["rewards"] = np.where(np.arange(len(demos)) == 5, np.nan, demos.rewards)
    with h5py.File(folder / "mismatched.hdf5", "w") as f:
        for key in ("observations", "rewards", "terminals", "timeouts", "next_observations"):
            f[key] = getattr(demos, key)
        f["actions"] = demos.actions[:-7]
    return {name: folder / f"{name}.hdf5" for name in ("empty", "text", "no_observations", "nan_rewards",
                                                     "mismatched")}


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def base_args(path: tuple[str, ...], option: str, files: dict[str, Path], out: Path) -> list[str]:
    """Valid, tiny arguments of the command at ``path`` (any accepted bad value would then run quickly)."""
    data, o = str(files["demos"]), str(out / "o")
    tiny_bc = ["--steps", "5", "--eval-episodes", "1", "--action-noise", "0", "--workers", "1", "--out", o]
    augment = {
        "cat": ["--total-steps", "0", "--bc-warmstart-steps", "0", "--probe-per-demo", "1"],
        "gail": ["--total-steps", "0", "--bc-warmstart-steps", "0", "--probe-per-demo", "1"],
        "bdm": ["--steps", "5", "--value-steps", "0", "--gan-steps", "0", "--reward-steps", "0", "--members", "2",
                "--elites", "1"],
        "synther": ["--steps", "5", "--width", "8", "--layers", "1", "--transitions", "10", "--sample-steps", "2"]}
    augment["bdm-cl"] = augment["bdm"]
    bench = ["--dataset", data, "--seeds", "1", "--bc-steps", "5", "--eval-episodes", "1", "--action-noise", "0",
             "--per-episode", "1", "--workers", "1", "--out", o]
    algo = "iql" if option in ("--expectile", "--beta", "--exp-adv-max") else "td3bc"
    table: dict[tuple[str, ...], list[str]] = {
        ("datasets", "info"): [data], ("datasets", "build"): ["hopper-expert"],
        ("datasets", "bundle-level"): ["--random", "--out-dir", o], ("datasets", "check"): [data],
        ("datasets", "filter"): [data, "--drop-terminated", "--out", o],
        ("datasets", "convert"): [data, "--to", "d4rl", "--out", o],
        ("datasets", "train-expert"): ["HalfCheetah-v5", "--steps", "1", "--run-dir", o],
        ("bc", "train"): ["--dataset", data, "--steps", "5", "--out", o],
        ("bc", "eval"): [str(files["bc"]), "--episodes", "1"],
        ("bc", "batch"): ["--dataset", data, "--seeds", "1", "--episodes", "1", *tiny_bc],
        ("offrl", "train"): ["--algo", algo, "--dataset", data, "--steps", "5", "--eval-episodes", "0", "--out", o],
        ("offrl", "eval"): [str(files["offrl"]), "--episodes", "1"],
        ("offrl", "batch"): [str(files["offrl_grid"]), "--workers", "1", "--out", o],
        ("bench", "seed-table"): [*bench, "--rows", "demos", "--demos", "1"],
        ("bench", "few-demo"): [*bench, "--method", "noise", "--demo-counts", "1", "--bc-rows", "demos"],
        ("bench", "offrl"): ["--part", "sanity", "--datasets", data, "--algos", "td3bc", "--seeds", "1", "--updates",
                             "5", "--eval-every", "0", "--eval-episodes", "1", "--workers", "1", "--out", o],
        ("recall", "fourroom"): ["--size", "7", "--seeds", "1", "--agents", "ac", "--total-steps", "64",
                                 "--eval-every", "64", "--n-envs", "1", "--n-steps", "8", "--out", o],
        ("recall", "sac"): ["--total-steps", "10", "--learning-starts", "5", "--eval-every", "10", "--eval-episodes",
                            "1", "--seeds", "1", "--variants", "sac", "--workers", "1", "--out", o],
    }
    if path[0] == "augment":
        episodes = "2" if path[1] == "mixup" else "1"
        return ["--dataset", data, "--episodes", episodes, "--per-episode", "1", "--out", o,
                *augment.get(path[1], [])]
    return table[path]


def _below(low: float | None, is_open: bool, integer: bool) -> list[st.SearchStrategy[Any]]:
    if low is None:
        return []
    top = (low if is_open else low - 1) if integer else low
    kind = st.integers(max_value=int(top), min_value=int(top) - 10**6) if integer else st.floats(
        max_value=top, exclude_max=not is_open, min_value=top - 1e6, allow_nan=False)
    return [kind.map(str)]


def _above(high: float | None, is_open: bool, integer: bool) -> list[st.SearchStrategy[Any]]:
    if high is None:
        return []
    bottom = (high if is_open else high + 1) if integer else high
    kind = st.integers(min_value=int(bottom), max_value=int(bottom) + 10**6) if integer else st.floats(
        min_value=bottom, exclude_min=not is_open, max_value=bottom + 1e6, allow_nan=False)
    return [kind.map(str)]


def bad_values(param: click.Parameter) -> st.SearchStrategy[Any] | None:
    """Values ``param`` must refuse (None: it takes any value, see :data:`ANY_VALUE`)."""
    kind, limits = param.type, getattr(param, "limits", None)
    words = st.text("abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8).map(lambda w: f"nope-{w}")
    if isinstance(kind, click.Choice):
        return words
    if isinstance(kind, click.IntRange | click.FloatRange):
        integer = isinstance(kind, click.IntRange)
        ranges = _below(kind.min, kind.min_open, integer) + _above(kind.max, kind.max_open, integer)
        junk = ["abc", "1.5"] if integer else ["abc", "nan", "inf", "-inf"]
        return st.one_of(*ranges, st.sampled_from(junk))
    if isinstance(kind, click.Tuple):
        return st.sampled_from([("nan", "1"), ("abc", "1"), ("5", "1")])  # --stop-in-band LOW HIGH
    if limits is not None:  # a tuple field given as comma-separated text: a bad item, or none at all
        return words if limits.choices else st.sampled_from(["-1", "abc", "nan", "", "1,-1"])
    if param.opts[0] in NAMES:
        return words
    return None


def cases() -> list[tuple[tuple[str, ...], click.Option]]:
    found, unexplained = [], []
    for path, command in commands():
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            if bad_values(param) is not None:
                found.append((path, param))
            elif not (param.is_flag or param.opts[0] in ANY_VALUE or path in NO_LIMITS_YET):
                unexplained.append(f"{' '.join(path)} {param.opts[0]} ({param.type.name})")
    assert not unexplained, f"options with no bad values and no reason in ANY_VALUE: {unexplained}"
    return found


def check_refused(args: list[str], out: Path, names: tuple[str, ...]) -> str:
    """Run ``trajaug ARGS``: exit 2, ≤ 3 lines on stderr naming one of ``names``, no traceback, nothing under
    ``out``; returns stderr."""
    result = CliRunner().invoke(cli, args, prog_name="trajaug")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (args, result.exit_code, result.output[-2000:], result.exception)
    assert 1 <= len(lines) <= 3 and "Traceback" not in result.output, (args, result.output[-2000:])
    assert any(name in result.stderr for name in names), (args, result.stderr)
    assert not out.exists() or not any(out.iterdir()), (args, list(out.rglob("*")))
    return result.stderr


def refuse_bad_values(path: tuple[str, ...], param: click.Option, files: dict[str, Path], out: Path,
                      invocations: list[list[str]]) -> None:
    """Run the command at ``path`` with bad values of ``param`` (hypothesis), each refused (:func:`check_refused`)."""
    flag = param.opts[0]

    @EXAMPLES
    @given(value=bad_values(param))
    def refused(value: Any) -> None:
        given_value = list(value) if isinstance(value, tuple) else [value]
        args = [*path, *base_args(path, flag, files, out), flag, *given_value]
        check_refused(args, out, (*param.opts, *(v for v in given_value if v.startswith("nope-"))))
        invocations.append(args)

    refused()


def test_every_numeric_and_choice_option_refuses_bad_values(inputs: dict[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default outputs (runs/...) would land here
    out = tmp_path / "out"
    out.mkdir()
    invocations: list[list[str]] = []
    for path, param in cases():
        refuse_bad_values(path, param, inputs, out, invocations)
    assert not (tmp_path / "runs").exists()
    print(f"{len(invocations)} bad invocations refused")
    assert len(invocations) >= MIN_INVOCATIONS, len(invocations)


BROKEN = ("empty", "text", "no_observations", "nan_rewards", "mismatched")


@pytest.mark.parametrize("command", [
    ["datasets", "info", "{}"], ["datasets", "check", "{}"],
    ["datasets", "filter", "{}", "--drop-terminated", "--out", "{out}"],
    ["datasets", "convert", "{}", "--to", "d4rl", "--out", "{out}"],
    ["augment", "noise", "--dataset", "{}", "--episodes", "1", "--out", "{out}"],
    ["augment", "cat", "--dataset", "{}", "--episodes", "1", "--out", "{out}"],
    ["bc", "train", "--dataset", "{}", "--out", "{out}"],
])
def test_broken_files_are_refused_in_one_line(inputs: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for name in BROKEN:
        path = inputs[name]
        args = [{"{}": str(path), "{out}": str(out / "o")}.get(arg, arg) for arg in command]
        check_refused(args, out, (path.name,))


def test_broken_files_in_an_offrl_grid_are_refused_in_one_line(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name in BROKEN:
        grid = tmp_path / f"{name}.toml"
        grid.write_text(f'datasets = ["{inputs[name]}"]\nseeds = 1\n')
        check_refused(["offrl", "batch", str(grid), "--workers", "1", "--out", str(out / "o")], out,
                      (inputs[name].name,))


def test_an_env_id_that_contradicts_the_file_is_refused(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for command in (["augment", "noise", "--dataset", str(inputs["demos"]), "--out", str(out / "o.hdf5")],
                    ["datasets", "info", str(inputs["demos"])], ["datasets", "check", str(inputs["demos"])]):
        stderr = check_refused([*command, "--env-id", "Walker2d-v5"], out, ("--env-id Walker2d-v5",))
        assert "holds HalfCheetah-v5 data" in stderr
    plain = dataclasses.replace(Dataset(np.zeros((2, 17), np.float32), np.zeros((2, 6), np.float32),
                                        np.zeros(2, np.float32), np.zeros((2, 17), np.float32),
                                        np.array([False, True]), np.array([False, False])), env_id=None)
    unnamed = write_d4rl(plain, tmp_path / "x.hdf5")
    result = CliRunner().invoke(cli, ["datasets", "info", str(unnamed), "--env-id", "Walker2d-v5", "--json"])
    assert result.exit_code == 0 and '"env_id": "Walker2d-v5"' in result.stdout  # a file naming none takes it


@pytest.mark.parametrize(("args", "message"), [
    (["bench", "seed-table", "--rows", "demos,cat:sigma=-1"], "--rows cat:sigma=-1: --sigma must be ≥ 0, got -1.0"),
    (["bench", "few-demo", "--method", "cat:keep_fraction=0"], "--keep-fraction must be in (0, 1], got 0.0"),
    (["bench", "seed-table", "--rows", "bdm:elites=9"], "--elites must be ≤ --members (7), got 9"),
    (["bench", "seed-table", "--seeds", "0"], "'--seeds': 0 is not in the range x>=1"),
])
def test_row_settings_are_checked_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert message in check_refused([*args, "--out", str(out / "o")], out, (args[2],))
