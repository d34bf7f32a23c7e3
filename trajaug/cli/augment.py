"""``trajaug augment METHOD``: one subcommand per registered method, its options generated from the method's config."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from trajaug.cli.console import progress_bar
from trajaug.cli.help import SECTION, HelpCommand, HelpGroup, SectionOption
from trajaug.cli.options import config_from_options, config_options, device_option
from trajaug.core import defaults


@click.group(cls=HelpGroup)
def augment() -> None:
    """Generate augmented trajectories from a few demonstrations (one subcommand per method)."""


def _augment_command(method: str) -> click.Command:
    from trajaug.augment import get_augmenter

    cls = get_augmenter(method)

    @config_options(cls.Config, title=f"{method} options")
    @click.option("--dataset", default=defaults.DATASET, show_default=True,
                  help="Dataset name, D4RL file or Minari id.")
    @click.option("--episodes", type=click.IntRange(min=1), default=defaults.DEMOS, show_default=True,
                  help="Demos used (the first N episodes).")
    @click.option("--episodes-seed", type=click.IntRange(min=0), default=None,
                  help="Draw the demos at random with this seed.")
    @click.option("--per-episode", type=click.IntRange(min=1), default=cls.default_per_episode, show_default=True,
                  help="Augmented trajectories per demo" + (" pair." if method == "mixup" else "."))
    @click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the method.")
    @click.option("--out", type=click.Path(path_type=Path), default=None,
                  help="Output HDF5 (default runs/augment/DATASET-METHOD-seedK.hdf5).")
    @click.option("--with-expert", is_flag=True, help="Also copy the demos into the output.")
    @click.option("--env-id", default=None,
                  help="Environment of a dataset that does not name one (refused if the file names another).")
    @click.option("--force", is_flag=True, help="Overwrite an existing output.")
    @_model_file_options(cls.model_files)
    @device_option
    def command(**options: Any) -> None:
        from trajaug.augment import ModelFiles
        from trajaug.experiments.runner import augment_to_file

        config: Any = config_from_options(cls.Config, options)
        files = config_from_options(ModelFiles, options)
        with progress_bar(method, None) as bar:
            made = augment_to_file(
                method, options["dataset"], options["out"], options["episodes"], options["episodes_seed"],
                options["per_episode"], options["seed"], options["with_expert"], options["force"], config,
                options["env_id"], progress=bar, files=files, device=options["device"])
        _report(method, made.path, made.summary)

    doc = (sys.modules[cls.__module__].__doc__ or "").strip()
    return click.command(method, cls=HelpCommand, help=doc, short_help=doc.splitlines()[0] if doc else None)(command)


def _model_file_options(fields: tuple[str, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--save-model``, ``--load-model`` and ``--continue-steps`` (run options, apart from the method's config) for
    a method that honours them; CAT and GAIL also take their older names ``--save-generator``/``--load-generator``."""
    older = "continue_steps" in fields
    section: dict[str, Any] = {"cls": SectionOption, "section": "Model files", "rank": SECTION}
    options = {
        "save": click.option("--save-model", *(["--save-generator"] if older else []), "save", default="",
                             help="Write the trained model here (a weights_only torch file).", **section),
        "load": click.option("--load-model", *(["--load-generator"] if older else []), "load", default="",
                             help="Skip training: load a model saved with --save-model (refused for other demos).",
                             **section),
        "continue_steps": click.option("--continue-steps", "continue_steps", type=click.IntRange(min=0), default=0,
                                       help="With --load-model: train it this many more steps before sampling.",
                                       **section),
    }

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for name in reversed(fields):
            command = options[name](command)
        return command

    return decorate


def _report(method: str, out: Path, summary: dict[str, Any]) -> None:
    """What an augmentation made: sizes, returns, and the generator's chunk and rejection statistics."""
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


def _add_augment_commands() -> None:
    from trajaug.augment import REGISTRY

    for method in sorted(REGISTRY):
        augment.add_command(_augment_command(method))


_add_augment_commands()
