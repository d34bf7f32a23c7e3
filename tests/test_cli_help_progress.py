"""Help a newcomer can read (plain text, the method's own options first, choices listed) and the progress of long
work (phases with a label and a total, quiet off a terminal, results unchanged); BC's loss curve as a PNG."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from trajaug.cli.help import click_paragraphs, plain_text
from trajaug.cli.main import cli
from trajaug.core.dataset import Dataset
from trajaug.core.progress import Phases, ProgressBar, start_phase

RST = ("``", ":mod:", ":class:", ":func:", ":meth:", ":data:", ":attr:", "**")
NO_HELP_YET = {("offrl", "eval", "--episodes"): "the offline-RL work's command"}
"""Options without a help text, with the reason."""


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="trajaug", terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_help_is_plain_text_with_lists_kept_apart() -> None:
    for path, command in [((), cli), *commands()]:
        text = help_of(path)
        assert not [mark for mark in RST if mark in text], (path, [mark for mark in RST if mark in text])
        assert not re.search(r"\. \d\. [A-Z]", text), path  # "σ = 0.9. 2. Correct:" would be two items run together
        for param in command.params:
            if isinstance(param, click.Option) and param.opts[0] != "--help":
                assert param.help or (*path, param.opts[0]) in NO_HELP_YET, (path, param.opts)
                assert not [mark for mark in RST if mark in (param.help or "")], (path, param.opts)
        assert not [mark for mark in RST if mark in (command.help or "")], path  # what the CLI page shows


def test_the_generated_cli_page_is_plain_text() -> None:
    docs = pytest.importorskip("mkdocs_click._docs")
    page = "\n".join(docs.make_command_docs("trajaug", cli, depth=1, style="plain"))
    assert "augment cat" in page and "--sigma" in page
    assert not re.search(r"(?<!`)``(?!`)|:(mod|class|func|meth|data|attr):`", page)  # ``` fences are markdown


def test_cat_help_shows_its_own_options_on_the_first_screen_and_lists_choices() -> None:
    lines = help_of(("augment", "cat")).splitlines()
    first = "\n".join(lines[:45])
    for flag in ("--sigma", "--l2-weight"):
        assert flag in first, first
    assert first.index("cat options:") < first.index("--sigma")
    sections = [line for line in lines if line and not line.startswith(" ") and line.endswith(":")]
    assert sections == ["cat options:", "Options:", "Generator training (PPO and discriminator):", "Model files:",
                        "Run options:"]
    text = "\n".join(lines)
    assert "--hint [time|nearest]" in text and "--horizon [demo|env]" in text and "--starts [demo|reset]" in text
    assert text.index("--sigma") < text.index("--dataset") < text.index("--total-steps") < text.index("--ppo-lr")
    assert "  2. Correct:" in text and "  3. Augment:" in text
    bdm = help_of(("augment", "bdm"))
    assert "--model [learned|simulator]" in bdm and "--gan-decode [nearest|raw]" in bdm
    assert "--start [high-value|goal-gan|uniform]" in bdm and "--reward [auto|formula|learned]" in bdm
    assert "Executor options:" in help_of(("bench", "seed-table"))
    assert "Evaluation episodes" in help_of(("bc", "eval"))


def test_plain_text_and_paragraphs() -> None:
    assert plain_text("see :class:`~trajaug.core.dataset.Dataset`, :func:`trajaug.bc.train.train_bc` and "
                      "``--per-episode``, **bold**") == ("see Dataset, trajaug.bc.train.train_bc and --per-episode, "
                                                        "bold")
    text = "Title.\n\n1. One:  a\n   b,\n       x = y\n   c.\n2. Two."
    assert click_paragraphs(text) == "Title.\n\n1. One:  a b,\n\n\b\n       x = y\n\n   c.\n\n2. Two."


class Recorder:
    """A progress callback that records each phase as [label, total, units done]."""

    def __init__(self) -> None:
        self.phases: list[list[object]] = []

    def start(self, label: str, total: int | None) -> None:
        self.phases.append([label, total, 0])

    def __call__(self, n: int) -> None:
        self.phases[-1][2] += n  # type: ignore[operator]


def test_cat_reports_its_phases_with_totals_and_computes_the_same(short_cheetah_demos: Dataset) -> None:
    from trajaug.augment import augment
    from trajaug.augment.adversarial.cat import CATConfig

    config = CATConfig(total_steps=700, n_envs=2, n_steps=128, ppo_batch_size=128, ppo_epochs=1,
                       bc_warmstart_steps=1500, keep_fraction=0.5)
    recorder = Recorder()
    assert isinstance(recorder, Phases) and not isinstance(print, Phases)
    with_progress, _ = augment("cat", short_cheetah_demos, config, per_episode=2, seed=3, progress=recorder)
    assert recorder.phases == [["warm start: updates", 1500, 1500], ["environment steps", 768, 768],
                               ["sampling trajectories", 8, 8]]
    quiet, _ = augment("cat", short_cheetah_demos, config, per_episode=2, seed=3)
    np.testing.assert_array_equal(with_progress.observations, quiet.observations)
    counted: list[int] = []
    augment("noise", short_cheetah_demos, per_episode=2, seed=3, progress=counted.append)  # a plain callable
    assert sum(counted) == 4


def test_bc_reports_its_updates_and_writes_its_loss_curve(short_cheetah_demos: Dataset, tmp_path: Path) -> None:
    from trajaug.bc.train import BCConfig, train_bc

    recorder = Recorder()
    _, metrics = train_bc(short_cheetah_demos, BCConfig(steps=2500, log_points=5), tmp_path / "bc",
                          progress=recorder)
    assert recorder.phases == [["updates", 2500, 2500]]
    assert (tmp_path / "bc" / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert len(metrics["loss_curve"]) == 5


def test_progress_bar_is_quiet_off_a_terminal_and_follows_phases(capsys: pytest.CaptureFixture[str]) -> None:
    with ProgressBar("cat") as bar:
        start_phase(bar, "environment steps", 4096)
        bar(512)
        assert (bar.label, bar.total, bar.done) == ("cat: environment steps", 4096, 512)
        assert [(task.description, task.total, task.completed) for task in bar.bar.tasks] == [
            ("cat: environment steps", 4096, 512)]
    assert capsys.readouterr().err == ""  # stderr is not a terminal here


def test_dataset_repr_is_one_line(short_cheetah_demos: Dataset) -> None:
    text = repr(short_cheetah_demos)
    returns = short_cheetah_demos.episode_returns().mean()
    assert text == (f"Dataset(HalfCheetah-v5, 2 episodes, 400 transitions, obs 17, act 6, mean return "
                    f"{returns:.1f})")
    assert "\n" not in str(short_cheetah_demos)
    empty = short_cheetah_demos.take_rows(np.arange(0))
    assert repr(empty).endswith("0 episodes, 0 transitions, obs 17, act 6, mean return n/a)")
