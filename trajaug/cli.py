"""The ``trajaug`` command line: a thin click shell over library functions.

Bad input (:class:`~trajaug.datasets.errors.TrajaugInputError`, an existing output without ``--force``) is reported
as one line on stderr with exit code 2; warnings are printed as one line each.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from trajaug.datasets.atomic import OutputExistsError
from trajaug.datasets.errors import TrajaugInputError


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    click.echo(f"trajaug: warning: {message}", err=True)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``. Silent when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def echo_json(record: Any) -> None:
    click.echo(json.dumps(record, indent=2, default=str))


class InputError(click.ClickException):
    """Bad input, shown as one line on stderr with exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"trajaug: error: {self.format_message()}", err=True)


class _Commands(click.Group):
    """The top-level group: turns the library's input errors into :class:`InputError` (one line, exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except (TrajaugInputError, OutputExistsError) as error:
            raise InputError(str(error)) from None


@click.group(cls=_Commands)
@click.version_option(package_name="trajaug")
def cli() -> None:
    """trajaug: offline trajectory augmentation for imitation learning and offline RL."""


# ---------------------------------------------------------------------------------------------- datasets
@cli.group()
def datasets() -> None:
    """Build, inspect, check and convert datasets (D4RL flat HDF5 and Minari)."""


@datasets.command("list")
def datasets_list() -> None:
    """Each known dataset name, where it resolves, and whether it is present."""
    from trajaug.datasets.registry import known_names, resolve

    for name in known_names():
        resolved = resolve(name)
        state = "present" if resolved.present else "not built (built on first use)"
        click.echo(f"{name:20s} {resolved.kind:7s} {state:32s} {resolved.location}")


@datasets.command("info")
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def datasets_info(dataset: str, as_json: bool) -> None:
    """Statistics of DATASET (a name such as halfcheetah-expert, or a path)."""
    from trajaug.datasets.info import summarize
    from trajaug.datasets.registry import load, resolve

    resolved = resolve(dataset)
    with progress_bar(f"building {dataset}", None) as advance:
        data = load(dataset, progress=advance)
    summary = {"dataset": dataset, "location": resolve(dataset).location, "resolved_as": resolved.kind,
               **summarize(data)}
    if as_json:
        echo_json(summary)
        return
    for key, value in summary.items():
        click.echo(f"{key:22s} {value:.2f}" if isinstance(value, float) else f"{key:22s} {value}")


@datasets.command("build")
@click.argument("name")
@click.option("--episodes", default=None, type=int, help="Episodes to roll out (default 100).")
@click.option("--force", is_flag=True, help="Rebuild even if it is cached.")
def datasets_build(name: str, episodes: int | None, force: bool) -> None:
    """Build NAME from its bundled expert into the trajaug cache (skipped if already present)."""
    from trajaug.datasets.registry import BUILT_EPISODES, build, resolve

    resolved = resolve(name)
    if resolved.present and not force:
        click.echo(f"{name}: present ({resolved.kind}: {resolved.location})")
        return
    total = episodes or BUILT_EPISODES
    with progress_bar(f"building {name}", total) as advance:
        path = build(name, force=force, episodes=total, progress=advance)
    click.echo(f"{name}: built {path}")


@datasets.command("train-expert")
@click.argument("env_id")
@click.option("--steps", default=1_000_000, show_default=True, help="Total SAC environment steps.")
@click.option("--run-dir", type=click.Path(path_type=Path), default=None,
              help="Checkpoints (default $TRAJAUG_HOME/expert-runs/ENV_ID); re-running resumes.")
@click.option("--export-to", type=click.Path(path_type=Path), default=None,
              help="Where the best actor is written (default RUN_DIR/best_actor.pt).")
@click.option("--seed", default=0, show_default=True)
def datasets_train_expert(env_id: str, steps: int, run_dir: Path | None, export_to: Path | None, seed: int) -> None:
    """Train (or resume training) an expert actor for ENV_ID with stable-baselines3 SAC (needs trajaug[train])."""
    from trajaug.datasets.envs import spec_for
    from trajaug.datasets.registry import trajaug_home

    spec_for(env_id)
    try:
        from trajaug.datasets.train_expert import ExpertTrainingConfig, train_expert
    except ImportError as error:
        raise TrajaugInputError(f"train-expert needs stable-baselines3: pip install 'trajaug[train]' ({error})")
    run_dir = run_dir or trajaug_home() / "expert-runs" / env_id
    progress = train_expert(ExpertTrainingConfig(env_id, total_steps=steps, seed=seed), run_dir,
                            export_to or run_dir / "best_actor.pt")
    click.echo(f"{env_id}: best return {progress['best_return']:.1f} at {progress.get('best_steps')} steps")


# ---------------------------------------------------------------------------------------------- bc
@cli.group()
def bc() -> None:
    """Behaviour cloning: train, evaluate, and batch grids."""


# ---------------------------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    """Console entry point (``trajaug`` and ``python -m trajaug``)."""
    cli.main(args=argv, prog_name="trajaug")
