"""``trajaug recall``: the online recall-traces experiments (a thin click shell over
:mod:`trajaug.experiments.recall.experiment`).

Registered on the main group by :mod:`trajaug.cli.main` (with ``recall sac`` from
:mod:`trajaug.cli.recall_sac`); run standalone as ``python -m trajaug.cli.recall fourroom ...``. Bad input raises
:class:`~trajaug.core.errors.TrajaugInputError` (or ``OutputExistsError``), which the main CLI prints as one
line with exit code 2; standalone, this module does the same.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from trajaug.cli.help import HelpGroup
from trajaug.cli.options import config_from_options, config_options
from trajaug.cli.recall_sac import recall_sac
from trajaug.core.atomic import OutputExistsError
from trajaug.core.errors import TrajaugInputError
from trajaug.experiments.recall.experiment import FourRoomConfig, run_fourroom


@click.group(cls=HelpGroup)
def recall() -> None:
    """Recall traces online (Goyal et al., ICLR 2019, Alg. 1): actor-critic with backtracking-model traces."""


@recall.command("fourroom")
@config_options(FourRoomConfig, title="Four-Room options")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/fourroom"), show_default=True,
              help="Output folder (curves, table, figures, config).")
@click.option("--force", is_flag=True, help="Overwrite results already in --out.")
def fourroom(out: Path, force: bool, **options: Any) -> None:
    """Four-Room gridworld: actor-critic vs + recall traces (true / learned backtracking model) vs + PER.

    Writes curves.csv/json, runs.csv, results.md, reward_vs_steps.png, visits_<agent>.png and config.json to
    --out and prints the results table."""
    config = config_from_options(FourRoomConfig, options)
    run_fourroom(config, out, force=force, progress=lambda line: click.echo(line, err=True))
    click.echo((out / "results.md").read_text())


recall.add_command(recall_sac)


def main(argv: list[str] | None = None) -> None:
    """Standalone entry point: input errors as one line on stderr, exit code 2."""
    try:
        recall.main(args=argv, prog_name="trajaug recall", standalone_mode=False)
    except (TrajaugInputError, OutputExistsError) as error:
        click.echo(f"trajaug: error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
