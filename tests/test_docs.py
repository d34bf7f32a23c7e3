"""The documentation can't rot: the site builds strictly, the README's quickstart and the development page's example
run (at a tiny budget), the result folders match their manifest, help texts carry no lab notes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trajaug.datasets.registry import build

ROOT = Path(__file__).resolve().parents[1]
from results_manifest import MAX_BYTES, binary_artifacts  # noqa: E402

TINY_CAT = ("--per-episode 1 --total-steps 512 --n-envs 2 --n-steps 256 --ppo-batch-size 128 --ppo-epochs 1 "
            "--bc-warmstart-steps 10")
SHELL_BUDGET = [(r"(trajaug augment cat .*)", rf"\1 {TINY_CAT}"), (r"(trajaug bc train .*)", r"\1 --steps 20"),
                (r"--episodes 100\b", "--episodes 2"), (r"--episodes 7\b", "--episodes 2")]
PYTHON_BUDGET = [(r"CATConfig\(\)", "CATConfig(total_steps=512, n_envs=2, n_steps=256, ppo_batch_size=128, "
                                    "ppo_epochs=1, bc_warmstart_steps=10)"),
                 (r"per_episode=71", "per_episode=1"), (r"BCConfig\(seed=0\)", "BCConfig(seed=0, steps=20)"),
                 (r"episodes=100", "episodes=2"), (r"first_episodes\(7\)", "first_episodes(2)")]


def blocks(markdown: str, section: str, language: str) -> list[str]:
    """The ```language blocks of ``section`` (from its heading to the next heading of the same level)."""
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert match, f"no section {section!r}"
    return re.findall(rf"```{language}\n(.*?)```", match.group(1), re.S)


def shrink(code: str, budget: list[tuple[str, str]]) -> str:
    """Apply every (pattern, replacement); each must match, so a changed README fails here, not silently."""
    for pattern, replacement in budget:
        code, count = re.subn(pattern, replacement, code)
        assert count, f"the quickstart no longer contains {pattern!r}: update tests/test_docs.py"
    return code


def test_readme_is_short_and_its_two_commands_come_first() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert first_block and first_block.group(1).startswith("make demo") and "make test" in first_block.group(1)


def test_readme_quickstart_runs(isolated_caches: Path, tmp_path: Path) -> None:
    build("halfcheetah-expert", episodes=3)  # the quickstart's `datasets build` then finds it built
    readme = (ROOT / "README.md").read_text()
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    [shell] = blocks(readme, "Quickstart", "bash")
    commands = "\n".join(line.split("  #")[0].rstrip() for line in shell.splitlines())  # without the comments
    for command in shrink(commands, SHELL_BUDGET).splitlines():
        result = subprocess.run(command, shell=True, cwd=work, env=env, capture_output=True, text=True)
        assert result.returncode == 0, (command, result.stderr[-2000:])
    assert (work / "runs/cat.hdf5").is_file() and (work / "runs/bc-cat/policy.pt").is_file()
    assert "return" in result.stdout  # the last command is an evaluation
    [python] = blocks(readme, "Quickstart", "python")
    result = subprocess.run([sys.executable, "-c", shrink(python, PYTHON_BUDGET)], cwd=work, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"BC on CAT under sigma 0.1: -?\d+ \+- \d+", result.stdout)
    assert (work / "runs/cat-python.hdf5").is_file()


def test_development_page_example_adds_a_method(cheetah_demos, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from trajaug.augment import REGISTRY, augment

    [example] = re.findall(r"```python\n(.*?)```", (ROOT / "docs/development.md").read_text(), re.S)
    (tmp_path / "jitter_example.py").write_text(example)  # the page's module, imported as a module is
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module("jitter_example")
        augmented, summary = augment("jitter", cheetah_demos.first_episodes(2), per_episode=2, seed=0)
    finally:
        REGISTRY.pop("jitter", None)
        sys.modules.pop("jitter_example", None)
    assert augmented.n_episodes == 4 and summary["method"] == "jitter"
    assert augmented.metadata["method"] == "jitter"


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    index = (tmp_path / "site/index.html").read_text()
    assert "trajaug" in index and "Getting started" in index
    cli_page = (tmp_path / "site/cli/index.html").read_text()
    assert "augment" in cli_page and "--dataset" in cli_page  # generated from click


def test_result_folders_match_their_manifest() -> None:
    recorded = json.loads((ROOT / "docs/results/manifest.json").read_text())
    assert recorded == binary_artifacts(), "run tests/results_manifest.py"
    too_big = [path for path, entry in recorded.items() if int(entry["bytes"]) > MAX_BYTES]
    assert not too_big


LAB_NOTES = [r"\b20\d\d-\d\d-\d\d\b", r"(?i)tuning seed", r"(?i)\bsession \d", r"(?i)\bmeasured:",
             r"(?i)\bissue \d+", r"(?i)\b(?:was|were) (?:trained|computed|made) with before\b",
             r"(?i)\bbefore the (?:layout|config) redesign\b"]
"""Notes that belong on a docs page, not in code: dates, tuning evidence, measurements, issue numbers, version
histories."""


@pytest.mark.parametrize("pattern", LAB_NOTES)
def test_no_lab_notes_in_docstrings_or_help(pattern: str) -> None:
    from click.testing import CliRunner

    from trajaug.cli.main import cli

    code = [*sorted((ROOT / "trajaug").rglob("*.py")), *sorted((ROOT / "scripts").glob("*.py")),
            *sorted((ROOT / "bench").glob("*.py"))]
    offending = [f"{path.relative_to(ROOT)}:{n}" for path in code
                 for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(pattern, line)]
    assert not offending
    for command in (["augment", "cat"], ["augment", "bdm-cl"], ["bc", "train"], ["bench", "seed-table"]):
        help_text = CliRunner().invoke(cli, [*command, "--help"]).output
        assert help_text and not re.search(pattern, help_text)
