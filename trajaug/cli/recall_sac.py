"""``trajaug recall sac``: SAC vs SAC + recall traces over seeds (a thin shell over
:func:`trajaug.experiments.recall.sac_experiment.run_sac_experiment`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trajaug.cli.options import config_from_options, config_options
from trajaug.core.errors import TrajaugInputError
from trajaug.experiments.recall.sac_experiment import VARIANTS, SACExperimentConfig, run_sac_experiment
from trajaug.experiments.recall.sac_recall import START_MODES, SACRecallConfig


@click.command("sac")
@config_options(SACRecallConfig)
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds 0..N-1.")
@click.option("--variants", default=",".join(VARIANTS), show_default=True,
              help="Comma-separated variants: sac, sac+recall (buffer starts), sac+recall-gan (Goal GAN starts).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes (default: CPU cores).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/sac-recall"), show_default=True)
def recall_sac(seeds: int, variants: str, workers: int | None, out: Path, **options: Any) -> None:
    """SAC ± recall traces on a MuJoCo task (resumable): curves with seed bands, table, plot."""
    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown or not chosen:
        raise TrajaugInputError(f"--variants: unknown {', '.join(unknown) or 'empty'}; known: {', '.join(VARIANTS)}")
    if options["start"] not in START_MODES:
        raise TrajaugInputError(f"--start {options['start']!r}: one of {', '.join(START_MODES)}")
    config = SACExperimentConfig(sac=config_from_options(SACRecallConfig, options), seeds=seeds, variants=chosen)
    total = len(chosen) * seeds
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        click.echo(f"runs finished: {done[0]}/{total}", err=True)

    result = run_sac_experiment(config, out, workers=workers, progress=advance)
    click.echo(result["files"]["md"].read_text())
