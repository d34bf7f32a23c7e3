"""The ``trajaug`` command line: a thin click shell over library functions.

Bad input (:class:`~trajaug.datasets.errors.TrajaugInputError`, an existing output without ``--force``) is reported
as one line on stderr with exit code 2; warnings are printed as one line each.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from trajaug.bench.few_demo import FewDemoConfig
from trajaug.bench.seed_table import ROWS, SeedTableConfig
from trajaug.config import config_from_options, config_options
from trajaug.console import echo_json, progress_bar
from trajaug.datasets.atomic import OutputExistsError
from trajaug.datasets.cli import datasets
from trajaug.datasets.errors import TrajaugInputError
from trajaug.executors import EXECUTORS


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    click.echo(f"trajaug: warning: {message}", err=True)


class InputError(click.ClickException):
    """Bad input, shown as one line on stderr with exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"trajaug: error: {self.format_message()}", err=True)


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--executor/--address/--ship-data/--max-retries/--workers``, shared by every command that runs cells."""
    options = [
        click.option("--executor", "executor_kind", type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="Where cells run: a local process pool, or Ray tasks (needs trajaug[ray])."),
        click.option("--address", default=None,
                     help="Ray cluster to join (auto, HOST:6379, ray://HOST:10001); default: start a local Ray."),
        click.option("--ship-data", is_flag=True,
                     help="Put each dataset in Ray's object store once, for workers without a shared filesystem."),
        click.option("--max-retries", type=click.IntRange(min=0), default=3, show_default=True,
                     help="Ray: re-runs of a cell whose worker or node died, before it is recorded as failed."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes (local) or CPUs of a locally started Ray (default: CPU cores)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def cell_executor(executor_kind: str, workers: int | None, address: str | None, ship_data: bool,
                  max_retries: int) -> Iterator[Any]:
    """The executor the options ask for, closed afterwards."""
    from trajaug.executors import make_executor

    if ship_data and executor_kind != "ray":
        raise TrajaugInputError("--ship-data needs --executor ray")
    executor = make_executor(executor_kind, workers, address, max_retries)
    try:
        yield executor
    finally:
        executor.close()


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


cli.add_command(datasets)


# ---------------------------------------------------------------------------------------------- augment
@cli.group()
def augment() -> None:
    """Generate augmented trajectories from a few demonstrations (one subcommand per method)."""


def _augment_command(method: str) -> click.Command:
    from trajaug.augment import get_augmenter
    from trajaug.config import config_from_options, config_options

    cls = get_augmenter(method)

    @click.option("--dataset", default="halfcheetah-expert", show_default=True, help="Dataset name or path.")
    @click.option("--episodes", default=7, show_default=True, help="Demos used (the first N episodes).")
    @click.option("--episodes-seed", type=int, default=None, help="Draw the demos at random with this seed.")
    @click.option("--per-episode", type=int, default=cls.default_per_episode, show_default=True,
                  help="Augmented trajectories per demo" + (" pair." if method == "mixup" else "."))
    @click.option("--seed", default=0, show_default=True, help="Seed of the method.")
    @click.option("--out", type=click.Path(path_type=Path), default=None,
                  help="Output HDF5 (default runs/augment/DATASET-METHOD-seedK.hdf5).")
    @click.option("--with-expert", is_flag=True, help="Also copy the demos into the output.")
    @click.option("--env-id", default=None, help="Environment of a dataset that does not name one.")
    @click.option("--force", is_flag=True, help="Overwrite an existing output.")
    @config_options(cls.Config)
    def command(**options: Any) -> None:
        from trajaug.augment.base import augment_to_file

        config = config_from_options(cls.Config, options)
        with progress_bar(f"{method}: trajectories", None) as advance:
            out, summary = augment_to_file(
                method, options["dataset"], options["out"], options["episodes"], options["episodes_seed"],
                options["per_episode"], options["seed"], options["with_expert"], options["force"], config,
                options["env_id"], progress=advance)
        click.echo(f"{method}: wrote {summary['trajectories']} trajectories ({summary['transitions']} transitions) "
                   f"to {out}")
        click.echo(f"  average return {summary['augmented_return_mean']:.1f} vs demos "
                   f"{summary['demo_return_mean']:.1f} ({summary['demos']} demos); "
                   f"wall time {summary['wall_seconds']:.1f} s")
        if "fit_chunk_falls" in summary:
            click.echo(f"  trained in {len(summary['fit_chunk_falls'])} chunks; of {summary['fit_probe_candidates']} "
                       f"probe candidates each fell {summary['fit_chunk_falls']}: kept chunk "
                       f"{summary['fit_chosen_chunk'] + 1}")
        if "sample_rejected_return_mean" in summary:
            click.echo(f"  kept {summary['sample_kept_per_demo']} rollouts per demo of {summary['sample_candidates']} "
                       f"({summary['sample_rounds']} round(s) of {summary['sample_candidates_per_demo']} per demo) "
                       f"by discriminator score, {summary['sample_kept_ended_early']} of the kept ended early; "
                       f"the rejected ones averaged {summary['sample_rejected_return_mean']:.1f}")

    doc = (sys.modules[cls.__module__].__doc__ or "").strip()
    return click.command(method, help=doc, short_help=doc.splitlines()[0] if doc else None)(command)


def _add_augment_commands() -> None:
    from trajaug.augment.base import REGISTRY, get_augmenter

    get_augmenter("noise")
    for method in sorted(REGISTRY):
        augment.add_command(_augment_command(method))


_add_augment_commands()


# ---------------------------------------------------------------------------------------------- bc
@cli.group()
def bc() -> None:
    """Behaviour cloning: train, evaluate, and batch grids."""


@bc.command("train")
@click.option("--dataset", "dataset_name", required=True, help="Dataset name (e.g. halfcheetah-expert) or file.")
@click.option("--episodes", type=click.IntRange(min=1), default=None, help="Train on the first N episodes only.")
@click.option("--episodes-seed", type=int, default=None,
              help="Draw the N episodes at random with this seed instead of taking the first N.")
@click.option("--with-expert", default=None, help="Add this dataset's transitions (e.g. the demos) to the data.")
@click.option("--expert-episodes", type=click.IntRange(min=1), default=None,
              help="Use only the first N episodes of --with-expert.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Gradient updates (default 60000).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Minibatch size (default 256).")
@click.option("--lr", type=float, default=None, help="Adam learning rate (default 3e-4).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--force", is_flag=True, help="Overwrite existing outputs in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the training metrics as JSON.")
def bc_train(dataset_name: str, episodes: int | None, episodes_seed: int | None, with_expert: str | None,
             expert_episodes: int | None, steps: int | None, batch_size: int | None, lr: float | None, seed: int,
             out_dir: Path, force: bool, as_json: bool) -> None:
    """Train BC on a dataset; writes policy.pt, config.json and metrics.json into --out."""
    from trajaug.bc.train import BCConfig, load_episodes, train_bc

    overrides = {k: v for k, v in (("steps", steps), ("batch_size", batch_size), ("lr", lr)) if v is not None}
    config = BCConfig.from_dict({**overrides, "seed": seed})
    with progress_bar(f"loading {dataset_name}", None) as advance:
        data = load_episodes(dataset_name, episodes, episodes_seed, progress=advance)
        expert = load_episodes(with_expert, expert_episodes, episodes_seed) if with_expert else None
    provenance = {"dataset": dataset_name, "episodes": episodes, "episodes_seed": episodes_seed,
                  "with_expert": with_expert, "expert_episodes": expert_episodes}
    with progress_bar("training BC", config.steps) as advance:
        _, metrics = train_bc(data, config, out_dir, expert=expert, force=force, provenance=provenance,
                              progress=advance)
    if as_json:
        echo_json(metrics)
        return
    summary = metrics["dataset"]
    click.echo(f"BC on {summary['episodes']} episodes ({summary['transitions']} transitions, return "
               f"{summary['return_mean']:.1f}) of {dataset_name}{' + ' + with_expert if with_expert else ''}: "
               f"{config.steps} updates in {metrics['wall_s']:.1f} s ({metrics['steps_per_s']:.0f}/s), "
               f"final loss {metrics['loss_final']:.4g}")
    click.echo(f"wrote {out_dir / 'policy.pt'}, config.json, metrics.json")


@bc.command("eval")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--episodes", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Evaluation seed (reset seeds never used for data).")
@click.option("--action-noise", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="σ of Gaussian noise added to executed actions (perturbed evaluation).")
@click.option("--env", "env_id", default=None, help="Environment id (default: the checkpoint's).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (with per-episode returns).")
def bc_eval(checkpoint: Path, episodes: int, seed: int, action_noise: float, env_id: str | None,
            as_json: bool) -> None:
    """Evaluate a BC checkpoint: return mean, std, 95% CI and D4RL normalized score."""
    from trajaug.bc.evaluate import evaluate_checkpoint

    with progress_bar("evaluating", episodes) as advance:
        result = evaluate_checkpoint(checkpoint, episodes, seed, action_noise, env_id=env_id, progress=advance)
    if as_json:
        from trajaug.report import to_json

        click.echo(to_json(result.to_dict()))
    else:
        click.echo(result.summary())


@bc.command("batch")
@click.option("--config", "grid_file", type=click.Path(path_type=Path), default=None,
              help="TOML grid file (see trajaug.bc.grid); options given here override it.")
@click.option("--dataset", "datasets", multiple=True, help="Dataset name or file (repeat for several).")
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Seeds 0..N-1 (default 3).")
@click.option("--episodes", multiple=True, type=click.IntRange(min=0), help="First N episodes (repeat; 0 = all).")
@click.option("--episodes-seed", type=int, default=None, help="Draw the N episodes at random with this seed.")
@click.option("--with-expert", multiple=True, help="Expert dataset to add (repeat; '' = none).")
@click.option("--expert-episodes", type=click.IntRange(min=1), default=None)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="BC updates per cell (default 60000).")
@click.option("--eval-episodes", type=click.IntRange(1, 1000), default=None, help="Default 100.")
@click.option("--action-noise", multiple=True, type=click.FloatRange(min=0), help="Evaluation σ (repeat).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--lr", type=float, default=None)
@executor_options
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
def bc_batch(grid_file: Path | None, datasets: tuple[str, ...], seeds: int | None, episodes: tuple[int, ...],
             episodes_seed: int | None, with_expert: tuple[str, ...], expert_episodes: int | None, steps: int | None,
             eval_episodes: int | None, action_noise: tuple[float, ...], batch_size: int | None, lr: float | None,
             out_dir: Path, ship_data: bool, **executor: Any) -> None:
    """Train + evaluate a grid of cells (resumable); writes OUT/results.{csv,json,md,png}."""
    from trajaug.bc.batch import run_batch
    from trajaug.bc.grid import Grid, read_grid_file

    values: dict[str, Any] = read_grid_file(grid_file) if grid_file else {}
    given = {"datasets": list(datasets), "seeds": seeds, "episodes": list(episodes), "episodes_seed": episodes_seed,
             "with_expert": list(with_expert), "expert_episodes": expert_episodes, "steps": steps,
             "eval_episodes": eval_episodes, "action_noise": list(action_noise)}
    values.update({k: v for k, v in given.items() if v not in (None, [])})
    bc_overrides = {k: v for k, v in (("batch_size", batch_size), ("lr", lr)) if v is not None}
    if bc_overrides:
        values["bc"] = {**values.get("bc", {}), **bc_overrides}
    grid = Grid.from_mapping(values)
    with cell_executor(ship_data=ship_data, **executor) as pool, progress_bar("BC cells", len(grid.cells())) as advance:
        result = run_batch(grid, out_dir, pool, progress=advance, ship_data=ship_data)
    click.echo(f"{len(result.rows)} cells: {result.ran} run ({result.failed} failed), {result.skipped} already "
               f"finished; tables in {out_dir}/results.{{csv,json,md,png}}")
    if result.failed:
        failed = [r["cell_id"] for r in result.rows if r.get("status") != "ok"]
        click.echo(f"failed cells: {', '.join(failed)} (errors in {out_dir}/results.md)", err=True)
    click.echo(result.files["md"].read_text())


# ---------------------------------------------------------------------------------------------- bench
@cli.group()
def bench() -> None:
    """Benchmarks that reproduce published tables."""


@bench.command("seed-table")
@config_options(SeedTableConfig)
@click.option("--rows", default=",".join(ROWS), show_default=True,
              help="Comma-separated rows to run; an ablation row is METHOD:key=value[:key=value…] with keys of "
                   "the method's config, e.g. bdm:start=uniform:noise_scale=0.5.")
@click.option("--action-noise", "action_noise", default="0,0.1", show_default=True,
              help="Comma-separated evaluation noise levels σ.")
@executor_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/seed-table"), show_default=True)
def bench_seed_table(rows: str, action_noise: str, executor_kind: str, address: str | None, ship_data: bool,
                     max_retries: int, workers: int | None, out: Path, **options: Any) -> None:
    """The reference results table (BC on demos vs BC on each method's augmented set), resumable."""
    from trajaug.bench.seed_table import check_rows, run_seed_table

    config = config_from_options(SeedTableConfig, {**options, "rows": tuple(r.strip() for r in rows.split(",")),
                                                   "action_noise": _numbers(action_noise, float, "--action-noise")})
    check_rows(config.rows, "--rows")
    with (cell_executor(executor_kind, workers, address, ship_data, max_retries) as pool,
          progress_bar("seed table", None) as advance):
        result = run_seed_table(config, out, pool, progress=advance, ship_data=ship_data)
    click.echo((out / "seed_table.md").read_text())
    for kind, path in result["files"].items():
        click.echo(f"{kind}: {path}")
    if result["failed_cells"]:
        click.echo(f"{result['failed_cells']} BC cell(s) failed: see {out / 'seed_table.md'}", err=True)


@bench.command("few-demo")
@config_options(FewDemoConfig)
@click.option("--demo-counts", default="1,3,7", show_default=True, help="Comma-separated numbers of demos.")
@click.option("--action-noise", "action_noise", default="0,0.1", show_default=True,
              help="Comma-separated evaluation noise levels σ.")
@executor_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/few-demo"), show_default=True)
def bench_few_demo(demo_counts: str, action_noise: str, executor_kind: str, address: str | None, ship_data: bool,
                   max_retries: int, workers: int | None, out: Path, **options: Any) -> None:
    """BC return vs number of demos: BC on demos, on CAT alone, and on demos + CAT (resumable)."""
    from trajaug.bench.few_demo import run_few_demo
    from trajaug.bench.seed_table import check_rows

    config = config_from_options(FewDemoConfig, {**options, "demo_counts": _numbers(demo_counts, int, "--demo-counts"),
                                                 "action_noise": _numbers(action_noise, float, "--action-noise")})
    check_rows([config.method], "--method", allow_demos=False)
    with (cell_executor(executor_kind, workers, address, ship_data, max_retries) as pool,
          progress_bar("few-demo", None) as advance):
        result = run_few_demo(config, out, pool, progress=advance, ship_data=ship_data)
    click.echo((out / "few_demo.md").read_text())
    for kind, path in result["files"].items():
        click.echo(f"{kind}: {path}")


def _numbers(text: str, kind: type, option: str) -> tuple[Any, ...]:
    try:
        return tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise TrajaugInputError(f"{option} {text!r}: expected numbers separated by commas") from None


# ---------------------------------------------------------------------------------------------- recall
def _add_recall_commands() -> None:
    from trajaug.recall.cli import recall
    from trajaug.recall.sac_cli import recall_sac

    recall.add_command(recall_sac)
    cli.add_command(recall)


_add_recall_commands()


# ---------------------------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    """Console entry point (``trajaug`` and ``python -m trajaug``)."""
    cli.main(args=argv, prog_name="trajaug")
