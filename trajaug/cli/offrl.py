"""``trajaug offrl``: train and evaluate TD3+BC and IQL (every field of their configs is an option), and run batch
grids of them from a TOML file (``offrl batch``: :mod:`trajaug.offrl.grid`, :mod:`trajaug.offrl.batch`).

The options of both configs are offered together (a field both have, e.g. ``--steps``, has the same default in both);
an option of the other algorithm (``--beta`` with ``--algo td3bc``) is refused. Usage errors of this group (an unknown
``--algo``, a missing option) are one line on stderr with exit code 2, like the library's input errors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from trajaug.cli.console import echo_json, evaluation_command, progress_bar
from trajaug.cli.options import (
    cell_executor,
    check_datasets,
    config_from_options,
    config_options,
    device_option,
    executor_options,
)
from trajaug.core import defaults
from trajaug.core.config import field_docs
from trajaug.core.errors import TrajaugInputError
from trajaug.offrl.iql import IQLConfig
from trajaug.offrl.td3bc import TD3BCConfig

CONFIGS: dict[str, type] = {"td3bc": TD3BCConfig, "iql": IQLConfig}
SHARED = tuple(field.name for field in dataclasses.fields(TD3BCConfig)
               if field.name in {other.name for other in dataclasses.fields(IQLConfig)})
"""Fields both configs have: offered once (the defaults agree), with both help texts where they differ."""


def _shared_help(command: Any) -> Any:
    """Give each shared option both configs' docstrings when they differ (applied after ``config_options``)."""
    td3bc, iql = field_docs(TD3BCConfig), field_docs(IQLConfig)
    defaults: dict[str, Any] = {field.name: field.default for field in dataclasses.fields(TD3BCConfig)}
    for param in getattr(command, "__click_params__", []):
        name = param.name
        if name in SHARED and td3bc.get(name) != iql.get(name):
            shown = ",".join(map(str, defaults[name])) if isinstance(defaults[name], tuple) else defaults[name]
            param.help = f"TD3+BC: {td3bc[name]} IQL: {iql[name]}  [default: {shown}]"
    return command


class _OneLineUsageError(click.UsageError):
    def show(self, file: Any = None) -> None:
        click.echo(f"trajaug: error: {self.format_message()}", err=True)


class _OffRLGroup(click.Group):
    """Shows its subcommands' usage errors as one line (exit code 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            if isinstance(error, _OneLineUsageError):
                raise
            raise _OneLineUsageError(error.format_message(), error.ctx) from None


@click.group(cls=_OffRLGroup)
def offrl() -> None:
    """Offline RL: TD3+BC and IQL (CORL's defaults), evaluated as BC is."""


@offrl.command("train")
@click.option("--algo", type=click.Choice(list(CONFIGS)), required=True, help="The algorithm.")
@click.option("--dataset", "dataset_name", required=True, help="Dataset name (e.g. halfcheetah-expert) or file.")
@click.option("--episodes", type=click.IntRange(min=1), default=None, help="Train on the first N episodes only.")
@click.option("--subset", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Train on a random subset of whole episodes (drawn with --seed) holding this fraction of the "
                   "transitions (of the first --episodes, if given).")
@click.option("--synthetic", "synthetic_name", default=None,
              help="A synthetic dataset (name or file: SynthER's samples, bdm's reverse rollouts) mixed into every "
                   "minibatch.")
@click.option("--real-ratio", type=click.FloatRange(0, 1), default=None,
              help="Share of each minibatch drawn from the real data, the rest from --synthetic (0: synthetic "
                   "alone).  [default: 0.5]")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seeds the networks, the minibatches, the smoothing noise, the evaluation episodes and --subset.")
@click.option("--eval-every", type=click.IntRange(min=0), default=5000, show_default=True,
              help="Updates between evaluations on the learning curve (0: only after the last).")
@click.option("--eval-episodes", type=click.IntRange(0, 1000), default=10, show_default=True,
              help="Episodes per evaluation and action-noise level (0: no evaluation).")
@click.option("--action-noise", "eval_noise", multiple=True, type=click.FloatRange(min=0),
              help=f"Evaluation σ (repeat; default {', '.join(str(s) for s in defaults.EVAL_NOISE)}).")
@_shared_help
@config_options(TD3BCConfig, optional=True)
@config_options(IQLConfig, exclude=SHARED, optional=True)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--force", is_flag=True, help="Write into a non-empty --out (replacing its outputs; a killed run "
              "starts over).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@device_option
def offrl_train(algo: str, dataset_name: str, episodes: int | None, subset: float | None, synthetic_name: str | None,
                real_ratio: float | None, seed: int, eval_every: int, eval_episodes: int,
                eval_noise: tuple[float, ...], out_dir: Path, force: bool, as_json: bool, device: str,
                **options: Any) -> None:
    """Train TD3+BC or IQL; writes policy.pt, config.json, curve.json, curve.png and metrics.json into --out.

    Until it ends, the run keeps its state in --out/resume.pt (every --eval-every updates): if it is killed, the
    same command goes on from there, to the same result."""
    from trajaug.offrl.replay import REAL_RATIO
    from trajaug.offrl.train import load_dataset, train_offrl

    config_cls = CONFIGS[algo]
    names = {f.name for f in dataclasses.fields(config_cls)}
    foreign = sorted(key for key, value in options.items() if value is not None and key not in names)
    if foreign:
        flags = ", ".join("--" + key.replace("_", "-") for key in foreign)
        raise TrajaugInputError(f"{flags}: not an option of --algo {algo}")
    if real_ratio is not None and synthetic_name is None:
        raise TrajaugInputError("--real-ratio: needs --synthetic")
    config: Any = config_from_options(config_cls, options)
    check_datasets([synthetic_name], "--synthetic")
    with progress_bar(f"loading {dataset_name}", None) as advance:
        data = load_dataset(dataset_name, episodes, progress=advance)
    synthetic = load_dataset(synthetic_name) if synthetic_name is not None else None
    provenance: dict[str, Any] = {"dataset": dataset_name, "episodes": episodes}
    mix: dict[str, Any] = {}
    if subset is not None:
        provenance["subset"] = mix["subset"] = subset
    if synthetic_name is not None:
        mix.update(synthetic=synthetic, real_ratio=REAL_RATIO if real_ratio is None else real_ratio)
        provenance.update(synthetic=synthetic_name, real_ratio=mix["real_ratio"])
    with progress_bar(f"training {algo}", config.steps) as advance:
        _, metrics = train_offrl(data, algo, config, out_dir, seed=seed, eval_every=eval_every,
                                 eval_episodes=eval_episodes, eval_noise=eval_noise or defaults.EVAL_NOISE,
                                 force=force, provenance=provenance, progress=advance, device=device,
                                 resume_file=out_dir / "resume.pt", **mix)
    if as_json:
        echo_json(metrics)
        return
    summary = metrics["dataset"]
    mixed = (f" + {metrics['synthetic']['transitions']} synthetic transitions of {synthetic_name} (real ratio "
             f"{metrics['synthetic']['real_ratio']:g})" if synthetic_name is not None else "")
    part = f" (subset {subset:g})" if subset is not None else ""
    click.echo(f"{algo} on {summary['episodes']} episodes ({metrics['replay']['transitions']} transitions) of "
               f"{dataset_name}{part}{mixed}: {config.steps} updates in {metrics['wall_s']:.1f} s "
               f"({metrics['updates_per_s']:.0f}/s)")
    if metrics.get("resumed_at"):
        click.echo(f"  went on from the saved state at update {', '.join(map(str, metrics['resumed_at']))}")
    for final, best in zip(metrics["final"], metrics["best"], strict=True):
        click.echo(f"  σ={final['action_noise']:g}: final {_score(final)}; best {_score(best)} at update "
                   f"{best['step']}")
    click.echo(f"wrote {out_dir / 'policy.pt'}, config.json, curve.json, curve.png, metrics.json")


def _score(record: dict[str, Any]) -> str:
    """``return 183.0`` or ``return 5927.4 (normalized 50.0)``."""
    normalized = record["normalized_mean"]
    known = normalized is not None and normalized == normalized
    return f"return {record['return_mean']:.1f}" + (f" (normalized {normalized:.1f})" if known else "")


def _evaluate_checkpoint(*args: Any, **kwargs: Any) -> Any:
    from trajaug.offrl.checkpoint import evaluate_checkpoint  # imported on use: start-up stays free of torch

    return evaluate_checkpoint(*args, **kwargs)


evaluation_command(offrl, "TD3+BC / IQL", _evaluate_checkpoint)


@offrl.command("batch")
@click.argument("grid_file", metavar="GRID.toml", type=click.Path(path_type=Path))
@executor_options
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Output folder; a rerun into it skips the finished cells.")
def offrl_batch(grid_file: Path, out_dir: Path, ship_data: bool, executor_kind: str, address: str | None,
                max_retries: int, workers: int | None, device: str, num_gpus: float) -> None:
    """Train + evaluate a grid of TD3+BC / IQL cells (resumable); writes OUT/results.{csv,json,md}, OUT/summary.csv.

    GRID.toml: run options (datasets, algos, seeds, episodes, eval_every, eval_episodes, action_noise, subset,
    synthetic, real_ratio) at the top,
    hyperparameters in [config] (both algorithms) and [td3bc] / [iql] tables (an array of tables: one variant per
    table); see docs/offrl.md.
    """
    from trajaug.offrl.batch import Grid, run_batch

    grid = Grid.from_file(grid_file)
    check_datasets(grid.datasets, f"{grid_file}: datasets")
    check_datasets(grid.synthetic, f"{grid_file}: synthetic")
    with (cell_executor(executor_kind, workers, address, ship_data, max_retries, num_gpus) as pool,
          progress_bar("offrl batch", len(grid.cells())) as bar):
        result = run_batch(grid, out_dir, pool, progress=bar, ship_data=ship_data, device=device)
    failed = [row["cell_id"] for row in result.rows if row.get("status") != "ok"]
    click.echo(f"{len(result.rows)} cells: {result.ran} run, {result.skipped} already finished, {len(failed)} "
               f"failed; tables in {out_dir}: results.csv, results.json, results.md, summary.csv")
    if failed:
        click.echo(f"failed cells (their errors are in results.md): {', '.join(failed)}", err=True)
    click.echo(result.files["md"].read_text())
