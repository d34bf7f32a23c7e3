"""Console helpers shared by the command-line modules: a progress bar and JSON output."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from trajaug.core import defaults
from trajaug.core.progress import ProgressBar


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[ProgressBar]:
    """A rich progress bar on stderr (:class:`~trajaug.core.progress.ProgressBar`: total and ETA, relabelled and
    resized by each phase the library starts); yields it, to pass as ``progress``. Silent when stderr is not a
    terminal."""
    with ProgressBar(description, total) as bar:
        yield bar


def echo_json(record: Any) -> None:
    click.echo(json.dumps(record, indent=2, default=str))


def evaluation_command(group: click.Group, what: str, evaluate: Callable[..., Any]) -> None:
    """Add ``eval CHECKPOINT`` to ``group``: ``evaluate(checkpoint, episodes, seed, action_noise, env_id=,
    progress=)`` (BC's or offline RL's ``evaluate_checkpoint``) over --episodes, printed as one summary or JSON."""

    @group.command("eval", help=f"Evaluate a {what} checkpoint: return mean, std, 95% CI and D4RL normalized score.")
    @click.argument("checkpoint", type=click.Path(path_type=Path))
    @click.option("--episodes", type=click.IntRange(1, 1000), default=defaults.EVAL_EPISODES, show_default=True,
                  help="Evaluation episodes (each from its own reset seed, run in parallel environments).")
    @click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                  help="Evaluation seed (reset seeds never used for data).")
    @click.option("--action-noise", type=click.FloatRange(min=0), default=0.0, show_default=True,
                  help="σ of Gaussian noise added to executed actions (perturbed evaluation).")
    @click.option("--env", "env_id", default=None, help="Environment id (default: the checkpoint's).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (with per-episode returns).")
    def evaluation(checkpoint: Path, episodes: int, seed: int, action_noise: float, env_id: str | None,
                   as_json: bool) -> None:
        with progress_bar("evaluation episodes", episodes) as bar:
            result = evaluate(checkpoint, episodes, seed, action_noise, env_id=env_id, progress=bar)
        if as_json:
            from trajaug.core.report import to_json

            click.echo(to_json(result.to_dict()))
        else:
            click.echo(result.summary())
