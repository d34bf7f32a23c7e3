"""The benchmarks' configs: the rows of the reference table, the settings both benchmarks share, the quick profile.

:class:`BenchConfig` holds what the reference table (:class:`SeedTableConfig`) and the few-demo study
(:class:`FewDemoConfig`) have in common; :func:`resolve_quick` applies the quick profile once, for both.
:class:`OffRLBenchConfig` is the augmentation → offline-RL benchmark's (its own quick profile: :data:`QUICK_OFFRL`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from trajaug.bc.train import BCConfig
from trajaug.core import defaults
from trajaug.core.config import check_settings, inherit, setting

ROWS = ("demos", "cat", "noise", "mixup", "bdm", "bdm-cl", "gail", "bdm-sim", "bdm-cl-sim", "bdm-filtered",
        "bdm-uniform", "bdm-cl-high-value", "bdm-filtered-uniform", "synther")
"""Named rows: ``demos`` (BC on the demos) and one per method or named variant (:data:`ROW_OVERRIDES`)."""
FILTER_BOUND = 10.0
"""Largest one-step dynamics error (observation units) the physics-filtered bdm rows keep; how it was chosen is on
the backtracking method page."""
ROW_OVERRIDES: dict[str, tuple[str, dict[str, Any]]] = {
    "bdm-sim": ("bdm", {"model": "simulator"}),
    "bdm-cl-sim": ("bdm-cl", {"model": "simulator"}),
    "bdm-filtered": ("bdm", {"max_dynamics_error": FILTER_BOUND}),
    "bdm-uniform": ("bdm", {"start": "uniform"}),
    "bdm-cl-high-value": ("bdm-cl", {"start": "high-value"}),
    "bdm-filtered-uniform": ("bdm", {"start": "uniform", "max_dynamics_error": FILTER_BOUND}),
}
"""Rows that run a registered method with other settings: row → (method, config overrides). The ``-uniform`` rows
start bdm's traces uniformly along the demos; ``bdm-cl-high-value`` ranks bdm-cl's starts by value in each window."""
BC_ROWS = ("demos", "augmented", "demos+augmented")
"""The few-demo study's BC rows: on the demos, on the augmented set alone, on both."""
WITH_DEMOS = "+demos"
"""Row suffix: BC on the row's augmented set plus the demos (``synther+demos``); the set is the row's own."""


def set_row(row: str) -> str:
    """The row whose augmented set ``row`` trains on: ``row`` without :data:`WITH_DEMOS`."""
    return row.removesuffix(WITH_DEMOS)


@dataclass(frozen=True)
class BenchConfig:
    """What both benchmarks share: the data, the seeds, the augmented sets' size, BC and its evaluation."""

    dataset: str = defaults.DATASET
    """Dataset name or D4RL file the demos come from."""
    seeds: int = setting(5, minimum=1)
    """Seeds first_seed..first_seed+N-1 (each seeds augmentation, BC and the evaluation episodes)."""
    first_seed: int = setting(0, minimum=0)
    """First seed; choose settings on other seeds (e.g. from 100) than the reported ones."""
    per_episode: int = setting(defaults.PER_EPISODE, minimum=1)
    """Augmented trajectories per demo (per ordered pair for mixup: always 1, as the reference)."""
    bc_steps: int = setting(BCConfig.steps, minimum=1)
    """BC updates of every row."""
    eval_episodes: int = setting(defaults.EVAL_EPISODES, minimum=1, maximum=1000)
    """Evaluation episodes per BC policy and noise level."""
    action_noise: tuple[float, ...] = setting(defaults.EVAL_NOISE, minimum=0)
    """Evaluation noise levels σ, comma-separated (0 = standard evaluation)."""
    quick: bool = False
    """Tiny budgets for a smoke check (not for results)."""
    generators_from: str = ""
    """Folder of an earlier run of the same rows (on a path every worker can read): sample each CAT / GAIL set from
    the generator that run kept for it (``data/<set>.generator.pt``) instead of training one; "": train."""

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True)
class SeedTableConfig(BenchConfig):
    """The reference table: BC on the demos against BC on each row's augmented set alone."""

    demos: int = setting(defaults.DEMOS, minimum=1)
    """Demos: the first N episodes (reference: 7)."""
    rows: tuple[str, ...] = ROWS
    """Rows to run, comma-separated: names above, or an ablation METHOD:key=value[:key=value…] with keys of the
    method's config, e.g. bdm:start=uniform:noise_scale=0.5 (methods not installed are reported as missing); a row
    followed by +demos (synther+demos) trains BC on that row's set plus the demos."""


@dataclass(frozen=True)
class FewDemoConfig(BenchConfig):
    """BC return against the number of demos: BC on the demos, on the augmented set, and on both."""

    dataset: str = "hopper-expert"
    """Dataset name or D4RL file the demos come from."""
    seeds: int = inherit(BenchConfig, "seeds", 3)
    """Seeds first_seed..first_seed+N-1."""
    demo_counts: tuple[int, ...] = setting((1, 3, 7), minimum=1)
    """Numbers of demos N (the first N episodes), comma-separated."""
    method: str = "cat"
    """Augmentation: a seed-table row (``cat``, ``gail``, …) or an ablation ``METHOD:key=value[:key=value…]``."""
    drop_terminated: bool = False
    """Drop augmented trajectories that ended in a terminal state (a fall) before BC (as ``datasets filter``)."""
    bc_rows: tuple[str, ...] = setting(BC_ROWS, choices=BC_ROWS)
    """BC rows to train, comma-separated: on the demos, on the augmented set alone, on both."""

    def table_config(self, demos: int) -> SeedTableConfig:
        """The seed-table config whose augmentation jobs make this study's sets on ``demos`` demos."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(BenchConfig)}
        return SeedTableConfig(**shared, demos=demos, rows=(self.method,))


QUICK: dict[str, Any] = {"per_episode": 3, "bc_steps": 1500, "eval_episodes": 5, "seeds": 1}
"""The quick profile's budgets of a benchmark (fields of :class:`BenchConfig`)."""
QUICK_METHOD_CONFIG: dict[str, dict[str, Any]] = {
    "cat": {"total_steps": 4096, "bc_warmstart_steps": 300, "n_envs": 4, "n_steps": 256},
    "gail": {"total_steps": 4096, "bc_warmstart_steps": 300, "n_envs": 4, "n_steps": 256},
    **{method: {"steps": 300, "value_steps": 200, "gan_steps": 200, "reward_steps": 200, "max_disagreement": 0.0}
       for method in ("bdm", "bdm-cl")},
    "synther": {"steps": 300, "width": 64, "layers": 2, "sample_steps": 8},
}
"""Per method: the quick profile's budgets."""

B = TypeVar("B", bound="BenchConfig | OffRLBenchConfig")


def resolve_quick(config: B) -> B:
    """Apply the quick profile's budgets when ``quick`` (values that differ from the class's defaults are kept):
    :data:`QUICK`, or :data:`QUICK_OFFRL` for the offline-RL benchmark."""
    if not config.quick:
        return config
    default = type(config)()
    profile = QUICK_OFFRL if isinstance(config, OffRLBenchConfig) else QUICK
    return dataclasses.replace(config, **{k: v for k, v in profile.items()
                                          if getattr(config, k) == getattr(default, k)})


PARTS = ("sanity", "augmentation")
"""The offline-RL benchmark's parts: the algorithms on full datasets, and the augmentation table."""
SANITY_DATASETS = ("halfcheetah-medium-replay", "hopper-medium-replay", "walker2d-medium-replay")
AUGMENTATION_DATASETS = ("walker2d-medium-replay", "halfcheetah-medium-replay")
SUBSET_ROW, FULL_ROW = "subset", "full"
"""The augmentation table's rows without a synthetic set: the subset alone, and the whole dataset (the ceiling)."""
OFFRL_ROWS = (SUBSET_ROW, "synther", "synther:relabel=simulator", "bdm", FULL_ROW)
OFFRL_ALGOS = ("td3bc", "iql")


@dataclass(frozen=True)
class OffRLBenchConfig:
    """Augmentation → offline RL: TD3+BC and IQL on a subset of a dataset, with and without each method's
    synthetic set mixed into every minibatch, against the subset alone and the whole dataset; and a sanity part
    (BC, TD3+BC, IQL on whole datasets)."""

    part: str = setting("augmentation", choices=PARTS)
    """sanity: BC, TD3+BC and IQL on whole datasets; augmentation: the subset / synthetic-set / full table."""
    datasets: tuple[str, ...] = ()
    """Dataset names or files, comma-separated; empty: the part's own (sanity: halfcheetah, hopper and walker2d
    medium-replay; augmentation: walker2d and halfcheetah medium-replay)."""
    rows: tuple[str, ...] = OFFRL_ROWS
    """Augmentation rows, comma-separated: subset (the subset alone), full (the whole dataset), or a seed-table
    row whose set, made from the subset, is mixed in (synther, bdm, an ablation METHOD:key=value[:key=value…])."""
    algos: tuple[str, ...] = setting(OFFRL_ALGOS, choices=OFFRL_ALGOS)
    """Offline-RL algorithms, comma-separated (the sanity part adds BC)."""
    subset: float = setting(0.15, above=0, maximum=1)
    """Share of each dataset's transitions the augmentation rows train on (whole episodes drawn with the seed)."""
    real_ratio: float = setting(0.5, minimum=0, maximum=1)
    """Share of every minibatch from the real subset when a synthetic set is mixed in (SynthER's r = 0.5)."""
    per_episode: int = setting(10, minimum=1)
    """Size of the synthetic sets: SynthER samples this many times the subset's transitions, bdm starts this many
    traces per subset episode."""
    updates: int = setting(100_000, minimum=1)
    """Updates of every run (BC's steps in the sanity part); CORL trains 1M, see docs/offrl.md for this default."""
    eval_every: int = setting(10_000, minimum=0)
    """Updates between points of the learning curves (0: only after the last)."""
    eval_episodes: int = setting(10, minimum=1, maximum=1000)
    """Evaluation episodes per point of a curve and noise level (CORL: 10)."""
    action_noise: tuple[float, ...] = setting((0.0,), minimum=0)
    """Evaluation noise levels σ, comma-separated (0 = standard evaluation)."""
    seeds: int = setting(3, minimum=1)
    """Seeds first_seed..first_seed+N-1 (each seeds the subset, the synthetic sets, training and evaluation)."""
    first_seed: int = setting(0, minimum=0)
    """First seed; choose settings on other seeds (e.g. from 100) than the reported ones."""
    quick: bool = False
    """Tiny budgets for a smoke check (not for results)."""

    def __post_init__(self) -> None:
        check_settings(self)

    def part_datasets(self) -> tuple[str, ...]:
        """The datasets this part runs on."""
        return self.datasets or (SANITY_DATASETS if self.part == "sanity" else AUGMENTATION_DATASETS)


QUICK_OFFRL: dict[str, Any] = {"updates": 200, "eval_every": 100, "eval_episodes": 2, "seeds": 1, "per_episode": 1}
"""The offline-RL benchmark's quick profile (the methods' budgets are :data:`QUICK_METHOD_CONFIG`'s)."""
