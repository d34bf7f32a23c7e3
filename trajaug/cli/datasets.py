"""``trajaug datasets``: build, inspect, check, filter and convert datasets (a thin click shell over the library).

Registered on the main group by :mod:`trajaug.cli.main`, whose top-level group turns
:class:`~trajaug.core.errors.TrajaugInputError` and ``OutputExistsError`` into one line on stderr, exit code 2.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from trajaug.cli.console import echo_json, progress_bar
from trajaug.cli.help import HelpGroup
from trajaug.cli.options import device_option
from trajaug.core.atomic import OutputExistsError
from trajaug.core.errors import TrajaugInputError


@click.group(cls=HelpGroup)
def datasets() -> None:
    """Build, inspect, check and convert datasets (D4RL flat HDF5 and Minari)."""


@datasets.command("list")
def datasets_list() -> None:
    """Each dataset name (D4RL's levels of three tasks), where it resolves, and, when present, its transitions,
    mean episode return and D4RL normalized score."""
    from trajaug.datasets.levels import missing_source, split_name
    from trajaug.datasets.registry import known_names, resolve

    click.echo(f"{'name':26s} {'source':7s} {'transitions':>11s} {'return':>9s} {'normalized':>10s}  location")
    for name in known_names():
        resolved = resolve(name)
        if resolved.present:
            transitions, mean_return, score = _quick_summary(resolved.kind, resolved.location, resolved.env_id)
            click.echo(f"{name:26s} {resolved.kind:7s} {transitions:11d} {mean_return:9.1f} {score:10.1f}  "
                       f"{resolved.location}")
            continue
        parsed = split_name(name)
        missing = missing_source(parsed[0].key, parsed[1]) if parsed else None
        state = ("stale (rebuilt on first use)" if resolved.kind == "stale"
                 else f"not built (no bundled {missing.name})" if missing is not None
                 else "not built (built on first use)")
        click.echo(f"{name:26s} {resolved.kind:7s} {'-':>11s} {'-':>9s} {'-':>10s}  {state}")


def _quick_summary(kind: str, location: str, env_id: str | None) -> tuple[int, float, float]:
    """(transitions, mean episode return, D4RL normalized score of it) of a present dataset."""
    import math

    from trajaug.core.envs import normalized_score
    from trajaug.storage import FORMATS
    from trajaug.storage.d4rl import read_episode_returns

    if kind == "minari":
        data = FORMATS["minari"].read(location)
        transitions, returns = len(data), data.episode_returns()
    else:
        transitions, returns = read_episode_returns(location)
    mean_return = float(returns.mean()) if len(returns) else math.nan
    return transitions, mean_return, normalized_score(env_id, mean_return) if env_id else math.nan


@datasets.command("info")
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--env-id", default=None, help="Environment of a dataset that does not name one (for its D4RL score).")
def datasets_info(dataset: str, as_json: bool, env_id: str | None) -> None:
    """Statistics of DATASET (a name such as halfcheetah-expert, or a path)."""
    from trajaug.datasets.info import summarize
    from trajaug.datasets.registry import load, resolve

    resolved = resolve(dataset)
    with progress_bar(f"building {dataset}", None) as bar:
        data = load(dataset, env_id=env_id, progress=bar)
    summary = {"dataset": dataset, "location": resolve(dataset).location, "resolved_as": resolved.kind,
               **summarize(data)}
    if as_json:
        echo_json(summary)
        return
    for key, value in summary.items():
        click.echo(f"{key:22s} {value:.2f}" if isinstance(value, float) else f"{key:22s} {value}")


@datasets.command("build")
@click.argument("name")
@click.option("--episodes", default=None, type=click.IntRange(min=1),
              help="Episodes of an -expert build (default 100).")
@click.option("--transitions", default=None, type=click.IntRange(min=1),
              help="Transitions of a random, medium or medium-expert build (default D4RL's: 1M, 1M, 2M).")
@click.option("--force", is_flag=True, help="Rebuild even if it is cached.")
def datasets_build(name: str, episodes: int | None, transitions: int | None, force: bool) -> None:
    """Build NAME from its bundled actors into the trajaug cache (skipped if already present)."""
    from trajaug.datasets.levels import split_name
    from trajaug.datasets.registry import BUILT_EPISODES, STALE_REBUILD, build, resolve

    resolved = resolve(name)
    if resolved.present and not force:
        click.echo(f"{name}: present ({resolved.kind}: {resolved.location})")
        return
    if resolved.kind == "stale":
        click.echo(f"{name}: {STALE_REBUILD}")
    parsed = split_name(name)
    if parsed is not None and parsed[1] != "expert":
        if episodes is not None:
            raise TrajaugInputError(f"{name}: sized in transitions (--transitions), not episodes")
        with progress_bar(f"building {name}: episodes", None) as bar:  # sized in transitions: episodes vary
            path = build(name, force=force, progress=bar, transitions=transitions)
    else:
        total = episodes or BUILT_EPISODES
        with progress_bar(f"building {name}", total) as advance:
            path = build(name, force=force, episodes=total, progress=advance, transitions=transitions)
    click.echo(f"{name}: built {path}")


@datasets.command("bundle-level")
@click.argument("run_dirs", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--random", "random_actors", is_flag=True,
              help="Also write the random level's actors (<key>-random.pt, torch seed 0) of all three tasks.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write (default: the bundled folder trajaug/experts).")
@click.option("--max-checkpoints", default=12, show_default=True, type=click.IntRange(min=1),
              help="Checkpoint actors kept for medium-replay (fewer if the file would exceed 4 MB).")
def datasets_bundle_level(run_dirs: tuple[Path, ...], random_actors: bool, out_dir: Path | None,
                          max_checkpoints: int) -> None:
    """Make the bundled level actors: <key>-medium.pt and <key>-replay.pt from each RUN_DIR of
    `train-expert --stop-in-band LOW HIGH --keep-checkpoints`, and with --random the <key>-random.pt files."""
    from trajaug.experts import levels
    from trajaug.experts.bundled import bundled_actor_path, load_actor

    if not run_dirs and not random_actors:
        raise TrajaugInputError("bundle-level: give RUN_DIR(s) and/or --random")
    for run_dir in run_dirs:
        medium_path, replay_path = levels.bundle_run(run_dir, out_dir, max_checkpoints)
        medium = load_actor(medium_path)
        expert_file = bundled_actor_path(medium_path.name.split("-")[0])
        expert_return = load_actor(expert_file).extra.get("eval_return") if expert_file.is_file() else None
        medium_return = medium.extra.get("eval_return")
        share = (f" = {100 * medium_return / expert_return:.0f}% of the expert's {expert_return:.0f}"
                 if expert_return and medium_return is not None else "")
        stages = levels.load_replay(replay_path)
        shown = f"{medium_return:.1f}" if medium_return is not None else "not recorded"
        click.echo(f"{medium_path}: step {medium.extra.get('steps')}, eval return {shown}{share}")
        click.echo(f"{replay_path}: {len(stages.stages)} checkpoints, {stages.total_steps} steps, "
                   f"{replay_path.stat().st_size / 1e6:.2f} MB")
    if random_actors:
        from trajaug.core.envs import ENVS
        from trajaug.datasets.levels import NAMED_ENVS

        for key in NAMED_ENVS:
            path = levels.bundle_random(ENVS[key].env_id, out_dir)
            click.echo(f"{path}: random actor (torch seed 0)")


@datasets.command("check")
@click.argument("dataset")
@click.option("--env-id", default=None,
              help="Environment of a dataset that does not name one (refused if the file names another).")
@click.option("--physics", is_flag=True, help="Also restore each s_t, apply a_t and compare with s_{t+1}.")
@click.option("--threshold", default=1e-2, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Dynamics error counted as a violation.")
@click.option("--max-transitions", type=click.IntRange(min=1), default=None,
              help="Physics-check a random subset of this size.")
@click.option("--replay", "replay_episodes", type=click.IntRange(min=1), default=None,
              help="Also replay the first N episodes' actions open loop from their restored start and report the "
                   "observation error (exact for data made in this simulator).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def datasets_check(dataset: str, env_id: str | None, physics: bool, threshold: float, max_transitions: int | None,
                   replay_episodes: int | None, as_json: bool) -> None:
    """Validate DATASET: shapes, dtypes, finite values, episode ends, continuity, action bounds (exit 1 if bad)."""
    from trajaug.datasets.check import check_dataset, physics_check, replay_check
    from trajaug.datasets.registry import load

    data = load(dataset, env_id=env_id)
    problems = check_dataset(data, env_id)
    report = None
    if physics:
        report = physics_check(data, threshold=threshold, max_transitions=max_transitions, env_id=env_id)
        if report.share_above_threshold > 0:
            problems.append(f"{report.share_above_threshold:.2%} of checked transitions have a dynamics error "
                            f"above {threshold:g}")
    replay = replay_check(data, replay_episodes, env_id) if replay_episodes else None
    if as_json:
        echo_json({"dataset": dataset, "problems": problems,
                   "physics": dataclasses.asdict(report) if report is not None else None,
                   "replay": dataclasses.asdict(replay) if replay is not None else None})
    else:
        if replay is not None:
            click.echo(f"open-loop replay of {replay.episodes} episode(s) from restored starts "
                       f"({replay.state_source}): error after one step {replay.first_step_error:.3g}, "
                       f"max over the episode: median {replay.final_error_median:.3g}, "
                       f"max {replay.final_error_max:.3g}; "
                       f"return difference up to {replay.return_difference_max:.3g}")
        if report is not None:
            click.echo(f"dynamics error over {report.checked} transitions ({report.state_source}): "
                       f"mean {report.mean:.3g}, median {report.median:.3g}, p95 {report.p95:.3g}, "
                       f"max {report.max:.3g}; relative to the observation scale: mean {report.relative_mean:.3g}, "
                       f"p95 {report.relative_p95:.3g}; above {threshold:g}: {report.share_above_threshold:.2%}")
        for problem in problems:
            click.echo(f"problem: {problem}")
        click.echo(f"{dataset}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    if problems:
        raise click.exceptions.Exit(1)


@datasets.command("filter")
@click.argument("dataset")
@click.option("--max-dynamics-error", type=click.FloatRange(min=0), default=None,
              help="Drop transitions above this error.")
@click.option("--drop-terminated", is_flag=True, help="Drop episodes that end in a terminal state (a fall).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output D4RL HDF5.")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
def datasets_filter(dataset: str, max_dynamics_error: float | None, drop_terminated: bool, out: Path,
                    force: bool) -> None:
    """Write DATASET without its physically wrong transitions (one-step dynamics error above the bound) and/or
    without its episodes that ended in a terminal state."""
    from trajaug.datasets import filter as filters
    from trajaug.datasets.registry import load
    from trajaug.storage.d4rl import write_d4rl

    if max_dynamics_error is None and not drop_terminated:
        raise TrajaugInputError("filter: give --max-dynamics-error and/or --drop-terminated")
    if out.exists() and not force:
        raise OutputExistsError(f"{out}: already exists (use --force to overwrite)")
    data = kept = load(dataset)
    if drop_terminated:
        kept, dropped = filters.drop_terminated(kept)
        click.echo(f"dropped {dropped} of {data.n_episodes} episodes that ended in a terminal state")
    if max_dynamics_error is not None:
        before = len(kept)
        kept, _ = filters.filter_by_dynamics(kept, max_dynamics_error)
        click.echo(f"dropped {before - len(kept)} transitions with a dynamics error above {max_dynamics_error:g}")
    write_d4rl(kept, out, force=force)
    click.echo(f"kept {len(kept)} of {len(data)} transitions in {kept.n_episodes} episodes: {out}")


@datasets.command("convert")
@click.argument("source")
@click.option("--to", "target_format", type=click.Choice(["minari", "d4rl"]), required=True,
              help="Storage format of the output (trajaug.storage.FORMATS).")
@click.option("--out", required=True, help="Minari dataset id (namespace/name-vN) or D4RL HDF5 path.")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
def datasets_convert(source: str, target_format: str, out: str, force: bool) -> None:
    """Convert SOURCE (a name, D4RL file, or Minari dataset id/folder) to Minari or D4RL."""
    from trajaug import storage
    from trajaug.datasets.registry import load

    written = storage.write(load(source), out, target_format, force=force)
    click.echo(f"{source} -> {target_format}: {written}")


@datasets.command("train-expert")
@click.argument("env_id")
@click.option("--steps", default=1_000_000, show_default=True, type=click.IntRange(min=1),
              help="Total SAC environment steps.")
@click.option("--run-dir", type=click.Path(path_type=Path), default=None,
              help="Checkpoints (default $TRAJAUG_HOME/expert-runs/ENV_ID); re-running resumes.")
@click.option("--export-to", type=click.Path(path_type=Path), default=None,
              help="Where the best actor is written (default RUN_DIR/best_actor.pt).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of SAC and its environment.")
@click.option("--checkpoint-every", default=20_000, show_default=True, type=click.IntRange(min=1),
              help="Environment steps between checkpoints and evaluations.")
@click.option("--stop-in-band", type=(float, float), default=None,
              help="Stop at the first evaluation return within LOW HIGH (a medium-level actor).")
@click.option("--keep-checkpoints", is_flag=True,
              help="Keep every checkpoint's stochastic actor under RUN_DIR/checkpoints (for medium-replay).")
@device_option
def datasets_train_expert(env_id: str, steps: int, run_dir: Path | None, export_to: Path | None, seed: int,
                          checkpoint_every: int, stop_in_band: tuple[float, float] | None,
                          keep_checkpoints: bool, device: str) -> None:
    """Train (or resume training) an expert actor for ENV_ID with stable-baselines3 SAC."""
    from trajaug.core.envs import spec_for
    from trajaug.datasets.registry import trajaug_home

    spec_for(env_id)
    try:
        from trajaug.experts.train import ExpertTrainingConfig, train_expert
    except ImportError as error:
        raise TrajaugInputError(f"train-expert needs stable-baselines3 ({error})") from None
    if stop_in_band is not None and not stop_in_band[0] <= stop_in_band[1]:
        raise TrajaugInputError(f"--stop-in-band: LOW must be ≤ HIGH, got {stop_in_band[0]:g} {stop_in_band[1]:g}")
    run_dir = run_dir or trajaug_home() / "expert-runs" / env_id
    config = ExpertTrainingConfig(env_id, total_steps=steps, seed=seed, checkpoint_every=checkpoint_every,
                                  stop_in_band=stop_in_band, keep_checkpoints=keep_checkpoints)
    with progress_bar("train-expert", steps) as bar:
        record = train_expert(config, run_dir, export_to or run_dir / "best_actor.pt", progress=bar, device=device)
    click.echo(f"{env_id}: best return {record['best_return']:.1f} at {record.get('best_steps')} steps")
