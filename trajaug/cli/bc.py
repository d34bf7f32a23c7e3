"""``trajaug bc``: train, evaluate and run batch grids of behaviour cloning; every ``BCConfig`` field is an option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trajaug.bc.train import BCConfig
from trajaug.cli.console import echo_json, evaluation_command, progress_bar
from trajaug.cli.help import HelpGroup
from trajaug.cli.options import (
    cell_executor,
    check_datasets,
    config_from_options,
    config_options,
    device_option,
    executor_options,
    given_options,
)
from trajaug.core import defaults


@click.group(cls=HelpGroup)
def bc() -> None:
    """Behaviour cloning: train, evaluate, and batch grids."""


@bc.command("train")
@click.option("--dataset", "dataset_name", required=True, help="Dataset name (e.g. halfcheetah-expert) or file.")
@click.option("--episodes", type=click.IntRange(min=1), default=None, help="Train on the first N episodes only.")
@click.option("--episodes-seed", type=click.IntRange(min=0), default=None,
              help="Draw the N episodes at random with this seed instead of taking the first N.")
@click.option("--with-expert", default=None, help="Add this dataset's transitions (e.g. the demos) to the data.")
@click.option("--expert-episodes", type=click.IntRange(min=1), default=None,
              help="Use only the first N episodes of --with-expert.")
@config_options(BCConfig)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--force", is_flag=True, help="Overwrite existing outputs in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the training metrics as JSON.")
@device_option
def bc_train(dataset_name: str, episodes: int | None, episodes_seed: int | None, with_expert: str | None,
             expert_episodes: int | None, out_dir: Path, force: bool, as_json: bool, device: str,
             **options: Any) -> None:
    """Train BC on a dataset; writes policy.pt, config.json and metrics.json into --out."""
    from trajaug.bc.train import load_episodes, train_bc

    config = config_from_options(BCConfig, options)
    with progress_bar(f"loading {dataset_name}", None) as bar:
        data = load_episodes(dataset_name, episodes, episodes_seed, progress=bar)
        expert = load_episodes(with_expert, expert_episodes, episodes_seed) if with_expert else None
    provenance = {"dataset": dataset_name, "episodes": episodes, "episodes_seed": episodes_seed,
                  "with_expert": with_expert, "expert_episodes": expert_episodes}
    with progress_bar("BC", config.steps) as bar:
        _, metrics = train_bc(data, config, out_dir, expert=expert, force=force, provenance=provenance,
                              progress=bar, device=device)
    if as_json:
        echo_json(metrics)
        return
    summary = metrics["dataset"]
    click.echo(f"BC on {summary['episodes']} episodes ({summary['transitions']} transitions, return "
               f"{summary['return_mean']:.1f}) of {dataset_name}{' + ' + with_expert if with_expert else ''}: "
               f"{config.steps} updates in {metrics['wall_s']:.1f} s ({metrics['steps_per_s']:.0f}/s), "
               f"final loss {metrics['loss_final']:.4g}")
    click.echo(f"wrote {out_dir / 'policy.pt'}, config.json, metrics.json, loss_curve.png")


def _evaluate_checkpoint(*args: Any, **kwargs: Any) -> Any:
    from trajaug.bc.evaluate import evaluate_checkpoint  # imported on use: start-up stays free of torch

    return evaluate_checkpoint(*args, **kwargs)


evaluation_command(bc, "BC", _evaluate_checkpoint)


@bc.command("batch")
@click.option("--config", "grid_file", type=click.Path(path_type=Path), default=None,
              help="TOML grid file (see trajaug.bc.grid); options given here override it.")
@click.option("--dataset", "datasets", multiple=True, help="Dataset name or file (repeat for several).")
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Seeds 0..N-1 (default 3).")
@click.option("--episodes", multiple=True, type=click.IntRange(min=0), help="First N episodes (repeat; 0 = all).")
@click.option("--episodes-seed", type=click.IntRange(min=0), default=None,
              help="Draw the N episodes at random with this seed.")
@click.option("--with-expert", multiple=True, help="Expert dataset to add (repeat; '' = none).")
@click.option("--expert-episodes", type=click.IntRange(min=1), default=None,
              help="Use only the first N episodes of each --with-expert.")
@click.option("--eval-episodes", type=click.IntRange(1, 1000), default=None,
              help=f"Evaluation episodes per cell (default {defaults.EVAL_EPISODES}).")
@click.option("--action-noise", multiple=True, type=click.FloatRange(min=0), help="Evaluation σ (repeat).")
@config_options(BCConfig, exclude=("seed",), optional=True)
@executor_options
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
def bc_batch(grid_file: Path | None, datasets: tuple[str, ...], seeds: int | None, episodes: tuple[int, ...],
             episodes_seed: int | None, with_expert: tuple[str, ...], expert_episodes: int | None,
             eval_episodes: int | None, action_noise: tuple[float, ...], out_dir: Path, ship_data: bool,
             executor_kind: str, address: str | None, max_retries: int, workers: int | None, device: str,
             num_gpus: float, **options: Any) -> None:
    """Train + evaluate a grid of cells (resumable); writes OUT/results.{csv,json,md,png}."""
    from trajaug.bc.batch import run_batch
    from trajaug.bc.grid import Grid, read_grid_file

    values: dict[str, Any] = read_grid_file(grid_file) if grid_file else {}
    config_from_options(BCConfig, options)  # the options' own errors, under their flags, before the grid's
    bc_values = given_options(BCConfig, options)
    given = {"datasets": list(datasets), "seeds": seeds, "episodes": list(episodes), "episodes_seed": episodes_seed,
             "with_expert": list(with_expert), "expert_episodes": expert_episodes,
             "steps": bc_values.pop("steps", None),
             "eval_episodes": eval_episodes, "action_noise": list(action_noise)}
    values.update({k: v for k, v in given.items() if v not in (None, [])})
    if bc_values:
        values["bc"] = {**values.get("bc", {}), **bc_values}
    grid = Grid.from_mapping(values)
    check_datasets(grid.datasets, "--dataset")
    check_datasets(grid.with_expert, "--with-expert")
    with (cell_executor(executor_kind, workers, address, ship_data, max_retries, num_gpus) as pool,
          progress_bar("bc batch", len(grid.cells())) as bar):
        result = run_batch(grid, out_dir, pool, progress=bar, ship_data=ship_data, device=device)
    click.echo(f"{len(result.rows)} cells: {result.ran} run ({result.failed} failed), {result.skipped} already "
               f"finished; tables in {out_dir}/results.{{csv,json,md,png}}")
    if result.failed:
        failed = [r["cell_id"] for r in result.rows if r.get("status") != "ok"]
        click.echo(f"failed cells: {', '.join(failed)} (errors in {out_dir}/results.md)", err=True)
    click.echo(result.files["md"].read_text())
