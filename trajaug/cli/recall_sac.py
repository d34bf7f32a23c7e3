"""``trajaug recall sac``: SAC vs SAC + recall traces over seeds (a thin shell over
:func:`trajaug.experiments.recall.sac_experiment.run_sac_experiment`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trajaug.cli.console import progress_bar
from trajaug.cli.help import HelpCommand
from trajaug.cli.options import config_from_options, config_options
from trajaug.core.errors import TrajaugInputError
from trajaug.experiments.recall.sac_experiment import VARIANTS, SACExperimentConfig, run_sac_experiment
from trajaug.experiments.recall.sac_recall import SACRecallConfig


@click.command("sac", cls=HelpCommand)
@config_options(SACRecallConfig, title="SAC and recall options")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds 0..N-1.")
@click.option("--variants", default=",".join(VARIANTS), show_default=True,
              help="Comma-separated variants: sac, sac+recall (buffer starts), sac+recall-gan (Goal GAN starts).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes (default: CPU cores).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/sac-recall"), show_default=True,
              help="Output folder; a rerun into it skips the finished runs.")
def recall_sac(seeds: int, variants: str, workers: int | None, out: Path, **options: Any) -> None:
    """SAC ± recall traces on a MuJoCo task (resumable): curves with seed bands, table, plot."""
    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown or not chosen:
        raise TrajaugInputError(f"--variants: unknown {', '.join(unknown) or 'empty'}; known: {', '.join(VARIANTS)}")
    config = SACExperimentConfig(sac=config_from_options(SACRecallConfig, options), seeds=seeds, variants=chosen)
    with progress_bar("recall sac: runs", len(chosen) * seeds) as bar:
        result = run_sac_experiment(config, out, workers=workers, progress=bar)
    click.echo(result["files"]["md"].read_text())
