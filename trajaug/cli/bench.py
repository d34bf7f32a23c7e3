"""``trajaug bench``: the reference table, the few-demo study and the offline-RL benchmark (options generated from
their configs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trajaug.cli.console import progress_bar
from trajaug.cli.help import HelpGroup
from trajaug.cli.options import cell_executor, check_datasets, config_from_options, config_options, executor_options
from trajaug.experiments.bench.config import FewDemoConfig, OffRLBenchConfig, SeedTableConfig


@click.group(cls=HelpGroup)
def bench() -> None:
    """Benchmarks that reproduce published tables."""


@bench.command("seed-table")
@config_options(SeedTableConfig, title="Benchmark options")
@executor_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/seed-table"), show_default=True,
              help="Output folder; a rerun into it skips the finished cells.")
def bench_seed_table(executor_kind: str, address: str | None, ship_data: bool, max_retries: int,
                     workers: int | None, device: str, num_gpus: float, out: Path, **options: Any) -> None:
    """The reference results table (BC on demos vs BC on each method's augmented set), resumable."""
    from trajaug.experiments.bench.seed_table import check_rows, run_seed_table

    config = config_from_options(SeedTableConfig, options)
    check_rows(config.rows, "--rows")
    check_datasets([config.dataset], "--dataset")
    with (cell_executor(executor_kind, workers, address, ship_data, max_retries, num_gpus) as pool,
          progress_bar("seed table", None) as bar):
        result = run_seed_table(config, out, pool, progress=bar, ship_data=ship_data, device=device)
    click.echo((out / "seed_table.md").read_text())
    for kind, path in result["files"].items():
        click.echo(f"{kind}: {path}")
    if result["failed_cells"]:
        click.echo(f"{result['failed_cells']} BC cell(s) failed: see {out / 'seed_table.md'}", err=True)


@bench.command("few-demo")
@config_options(FewDemoConfig, title="Benchmark options")
@executor_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/few-demo"), show_default=True,
              help="Output folder; a rerun into it skips the finished cells.")
def bench_few_demo(executor_kind: str, address: str | None, ship_data: bool, max_retries: int,
                   workers: int | None, device: str, num_gpus: float, out: Path, **options: Any) -> None:
    """BC return vs number of demos: BC on demos, on CAT alone, and on demos + CAT (resumable)."""
    from trajaug.experiments.bench.few_demo import run_few_demo
    from trajaug.experiments.bench.seed_table import check_rows

    config = config_from_options(FewDemoConfig, options)
    check_rows([config.method], "--method", allow_demos=False)
    check_datasets([config.dataset], "--dataset")
    with (cell_executor(executor_kind, workers, address, ship_data, max_retries, num_gpus) as pool,
          progress_bar("few-demo", None) as bar):
        result = run_few_demo(config, out, pool, progress=bar, ship_data=ship_data, device=device)
    click.echo((out / "few_demo.md").read_text())
    for kind, path in result["files"].items():
        click.echo(f"{kind}: {path}")


OFFRL_HELP = """Augmentation for offline RL: TD3+BC and IQL with and without synthetic sets (resumable).

The augmentation part trains on a subset of each dataset, alone and with each row's synthetic set (made from the
subset) mixed into every minibatch, and on the full dataset as the ceiling; the sanity part trains BC, TD3+BC and IQL
on whole datasets. Writes OUT/offrl_PART.md, .json, .csv and figures."""
"""The help of ``bench offrl`` (unindented: a docstring's indented second paragraph would show as a block)."""


@bench.command("offrl", help=OFFRL_HELP)
@config_options(OffRLBenchConfig, title="Benchmark options")
@executor_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/offrl-bench"), show_default=True,
              help="Output folder; a rerun into it skips the finished subsets, sets and cells.")
def bench_offrl(executor_kind: str, address: str | None, ship_data: bool, max_retries: int, workers: int | None,
                device: str, num_gpus: float, out: Path, **options: Any) -> None:
    """``trajaug bench offrl``: see :data:`OFFRL_HELP`."""
    from trajaug.experiments.bench.offrl import check_config, run_offrl_bench

    config = config_from_options(OffRLBenchConfig, options)
    check_config(config)
    check_datasets(config.part_datasets(), "--datasets")
    with (cell_executor(executor_kind, workers, address, ship_data, max_retries, num_gpus) as pool,
          progress_bar(f"offrl bench, {config.part}", None) as bar):
        result = run_offrl_bench(config, out, pool, progress=bar, ship_data=ship_data, device=device)
    click.echo(result["files"]["md"].read_text())
    for kind, path in result["files"].items():
        click.echo(f"{kind}: {path}")
    if result["failed_cells"]:
        click.echo(f"{result['failed_cells']} cell(s) failed: see {result['files']['md']}", err=True)


OFFRL_MERGE_HELP = """One augmentation table from several finished `bench offrl` outputs.

Give the folders of complete sub-runs (e.g. one per dataset and seed: --datasets D --first-seed K --seeds 1), and a
sanity output for the full row (its TD3+BC and IQL runs on the whole dataset). The sources must share the budget,
evaluation, subset share, mix and set size, and train on the same data; each run may come from one source only.
Writes OUT/offrl_augmentation.md, .json, .csv and figures."""


@bench.command("offrl-merge", help=OFFRL_MERGE_HELP)
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the merged report.")
@click.option("--force", is_flag=True, help="Replace a merged report already in OUT.")
def bench_offrl_merge(sources: tuple[Path, ...], out: Path, force: bool) -> None:
    """``trajaug bench offrl-merge``: see :data:`OFFRL_MERGE_HELP`."""
    from trajaug.experiments.bench.offrl_merge import merge_offrl

    result = merge_offrl(sources, out, force=force)
    click.echo(result["files"]["md"].read_text())
    for kind, path in result["files"].items():
        click.echo(f"{kind}: {path}")
