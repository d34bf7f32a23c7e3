"""The grid of an offline-RL batch: datasets × episodes × algorithms × config variants × seeds, expanded into cells
(one :func:`~trajaug.offrl.train.train_offrl` run each, evaluated as ``offrl train`` evaluates).

Grid file (TOML). Run options at the top level (every key optional except ``datasets``; a list makes the product),
hyperparameters in tables, parsed by :func:`trajaug.core.config.parse_config` into the
:class:`~trajaug.offrl.td3bc.TD3BCConfig` / :class:`~trajaug.offrl.iql.IQLConfig` that ``offrl train`` builds from its
options (only the fields given are recorded; the others keep the config's defaults)::

    datasets = ["halfcheetah-medium", "runs/cat.hdf5"]   # names or files, as offrl train --dataset takes them
    algos = ["td3bc", "iql"]       # default: both
    seeds = 3                      # 3 → seeds 0, 1, 2; or a list [0, 1, 2]
    episodes = 0                   # first N episodes of each dataset (a list makes the product); 0 = all (default)
    eval_every = 5000              # updates between points of the learning curve; 0: only after the last
    eval_episodes = 10             # evaluation episodes per point and σ
    action_noise = [0.0, 0.1]      # the evaluated σ (default); every cell reports final and best for each
    subset = [0.15, 1]             # a seeded random share of the transitions, whole episodes (1 = all, the default)
    synthetic = ["", "runs/synther.hdf5"]   # a synthetic set mixed into every minibatch ("" = none, the default)
    real_ratio = 0.5               # share of each minibatch from the dataset when a synthetic set is mixed in

    [config]                       # fields both configs have (steps, batch_size, lr, hidden, ...), for every algo
    steps = 100000
    [td3bc]                        # TD3BCConfig fields (overriding [config])
    alpha = 2.5
    [[iql]]                        # IQLConfig fields; an array of tables is one variant per table: 2 IQL variants
    expectile = 0.7
    [[iql]]
    expectile = 0.9

A cell's ``seed`` seeds the networks, minibatches and smoothing noise, draws its subset and selects the evaluation
episodes (``eval_seeds(seed, ·)``), as ``offrl train --seed`` does. ``subset``, ``synthetic`` and ``real_ratio`` are
``offrl train``'s ``--subset``, ``--synthetic`` and ``--real-ratio``; a cell without them has the id and the run it
had before they existed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trajaug.core import defaults
from trajaug.core.config import parse_config
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.cells import digest, listed, read_grid_file, seed_list, slug
from trajaug.offrl.replay import REAL_RATIO
from trajaug.offrl.train import ALGORITHMS

Pairs = tuple[tuple[str, Any], ...]
"""Config fields as sorted (name, value) pairs: hashable, in a frozen cell."""
EVAL_EVERY = 5000
EVAL_EPISODES = 10
"""``offrl train``'s defaults (CORL's): a curve point every 5000 updates, 10 episodes each."""
RUN_OPTIONS = ("datasets", "algos", "seeds", "episodes", "eval_every", "eval_episodes", "action_noise", "subset",
               "synthetic", "real_ratio")
MIX_FIELDS = ("subset", "synthetic", "real_ratio")
"""Cell fields recorded (and hashed into the id) only when set: a cell without them keeps its earlier id."""
SHARED_TABLE = "config"


@dataclass(frozen=True)
class Cell:
    """One ``train_offrl`` run. ``None`` episodes: the whole dataset."""

    dataset: str
    algo: str
    seed: int
    episodes: int | None = None
    eval_every: int = EVAL_EVERY
    eval_episodes: int = EVAL_EPISODES
    action_noise: tuple[float, ...] = defaults.EVAL_NOISE
    """The evaluated σ (Gaussian noise on executed actions, in units of the action)."""
    config: Pairs = ()
    """The config fields the grid sets ([config] and the algorithm's table); the others keep their defaults."""
    subset: float | None = None
    """Train on this share of the transitions, whole episodes drawn with the seed; None: all."""
    synthetic: str | None = None
    """A synthetic dataset (name or file) mixed into every minibatch; None: the dataset alone."""
    real_ratio: float = REAL_RATIO
    """Share of each minibatch drawn from the dataset (used with ``synthetic`` only)."""

    def to_dict(self) -> dict[str, Any]:
        record = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        for key in MIX_FIELDS:
            if record[key] is None or (key == "real_ratio" and self.synthetic is None):
                del record[key]
        return {**record, "action_noise": list(self.action_noise), "config": _plain(self.config)}

    @property
    def cell_id(self) -> str:
        """Readable and unique: ``<dataset>-ep<N>[-sub<fraction>][-x<synthetic>]-<algo>-s<seed>-<hash of every
        field>``."""
        mix = (f"-sub{self.subset:g}" if self.subset is not None else "") + (
            f"-x{slug(self.synthetic)}" if self.synthetic is not None else "")
        return (f"{slug(self.dataset)}-ep{self.episodes or 'all'}{mix}-{self.algo}-s{self.seed}-"
                f"{digest(self.to_dict(), ('dataset', 'synthetic'))}")

    def mix(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~trajaug.offrl.train.train_offrl` for the subset and the real ratio
        (the synthetic dataset itself is loaded by the cell)."""
        return {**({"subset": self.subset} if self.subset is not None else {}),
                **({"real_ratio": self.real_ratio} if self.synthetic is not None else {})}

    def algo_config(self) -> Any:
        """The :class:`TD3BCConfig` / :class:`IQLConfig` of this cell."""
        return parse_config(ALGORITHMS[self.algo][0], dict(self.config), f"{self.algo} config")


def _plain(pairs: Pairs) -> dict[str, Any]:
    """Pairs as a JSON-like dict (tuples as lists)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in pairs}


@dataclass(frozen=True)
class Grid:
    """The product datasets × episodes × algos × each algorithm's variants × seeds, with shared run options."""

    datasets: tuple[str, ...]
    algos: tuple[str, ...] = tuple(ALGORITHMS)
    seeds: tuple[int, ...] = (0, 1, 2)
    episodes: tuple[int | None, ...] = (None,)
    eval_every: int = EVAL_EVERY
    eval_episodes: int = EVAL_EPISODES
    action_noise: tuple[float, ...] = defaults.EVAL_NOISE
    variants: tuple[tuple[str, tuple[Pairs, ...]], ...] = ()
    """Per algorithm, its variants: the fields each sets ([config] merged with one of the algorithm's tables); an
    algorithm without any runs its config's defaults."""
    subset: tuple[float | None, ...] = (None,)
    synthetic: tuple[str | None, ...] = (None,)
    real_ratio: float = REAL_RATIO

    def cells(self) -> list[Cell]:
        variants = dict(self.variants)
        return [Cell(dataset, algo, seed, episodes, self.eval_every, self.eval_episodes, self.action_noise, config,
                     subset, synthetic, self.real_ratio)
                for dataset in self.datasets for episodes in self.episodes for subset in self.subset
                for synthetic in self.synthetic for algo in self.algos for config in variants.get(algo, ((),))
                for seed in self.seeds]

    def to_dict(self) -> dict[str, Any]:
        record = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {**record, "variants": {algo: [_plain(v) for v in found] for algo, found in self.variants}}

    @classmethod
    def from_file(cls, path: str | Path) -> Grid:
        """From a TOML grid file (see the module docstring); errors name the file."""
        return cls.from_mapping(read_grid_file(path), str(path))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], what: str = "grid") -> Grid:
        """From a TOML-like mapping (see the module docstring). Bad keys or values (an unknown algorithm or field,
        a value of the wrong type, out of range or not finite) raise :class:`TrajaugInputError` naming ``what``."""
        known = (*RUN_OPTIONS, SHARED_TABLE, *ALGORITHMS)
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise TrajaugInputError(f"{what}: unknown keys {', '.join(unknown)} (known: {', '.join(known)})")
        if not values.get("datasets"):
            raise TrajaugInputError(f"{what}: no datasets (give datasets = [...])")
        kwargs: dict[str, Any] = {"datasets": _distinct(what, "datasets", [_text(what, "datasets", d)
                                                                             for d in listed(values["datasets"])])}
        if "algos" in values:
            kwargs["algos"] = _distinct(what, "algos", [_algo(what, a) for a in listed(values["algos"])])
        if "seeds" in values:
            kwargs["seeds"] = _seeds(what, values["seeds"])
        if "episodes" in values:
            kwargs["episodes"] = _distinct(what, "episodes", [_integer(what, "episodes", e, 0) or None
                                                               for e in listed(values["episodes"])])
        if "eval_every" in values:
            kwargs["eval_every"] = _integer(what, "eval_every", values["eval_every"], 0)
        if "eval_episodes" in values:
            kwargs["eval_episodes"] = _integer(what, "eval_episodes", values["eval_episodes"], 0, 1000)
        if "action_noise" in values:
            kwargs["action_noise"] = _distinct(what, "action_noise", [_sigma(what, x)
                                                                       for x in listed(values["action_noise"])])
        if "subset" in values:
            kwargs["subset"] = _distinct(what, "subset", [_fraction(what, "subset", x, open_low=True)
                                                           for x in listed(values["subset"])])
        if "synthetic" in values:
            kwargs["synthetic"] = _distinct(what, "synthetic", [_text(what, "synthetic", x) if x != "" else None
                                                                 for x in listed(values["synthetic"])])
        if "real_ratio" in values:
            kwargs["real_ratio"] = _fraction(what, "real_ratio", values["real_ratio"], open_low=False)
        for algo in ALGORITHMS:
            if algo in values and algo not in kwargs.get("algos", cls.algos):
                raise TrajaugInputError(f"{what}: [{algo}] is given but {algo} is not in algos")
        shared = _table(what, SHARED_TABLE, values.get(SHARED_TABLE, {}))
        kwargs["variants"] = tuple((algo, _variants(what, algo, shared, values.get(algo)))
                                   for algo in kwargs.get("algos", cls.algos))
        return cls(**kwargs)


def _variants(what: str, algo: str, shared: dict[str, Any], given: Any) -> tuple[Pairs, ...]:
    """The variants of ``algo``: one per table of ``given`` (a table or an array of tables; none: one, [config]
    alone), each checked by building the algorithm's config from [config] and the table."""
    config_cls = ALGORITHMS[algo][0]
    _config(config_cls, shared, f"{what}: [{SHARED_TABLE}] (for {algo})")
    tables = [{}] if given is None else [_table(what, algo, t) for t in listed(given)]
    found = []
    for table in tables:
        merged = {**shared, **table}
        config = _config(config_cls, merged, f"{what}: [{algo}]")
        found.append(tuple(sorted((key, getattr(config, key)) for key in merged)))
    return _distinct(what, algo, found)


def _config(config_cls: type, values: dict[str, Any], where: str) -> Any:
    """``parse_config`` with every error prefixed by ``where``, and an integer field refusing a non-integer (TOML
    gives ``steps = 1.5`` as a float, which the ranges alone would let through)."""
    defaults_of = {field.name: field.default for field in dataclasses.fields(config_cls)}
    try:
        for key, value in values.items():
            default = defaults_of.get(key)
            if isinstance(default, bool) and not isinstance(value, bool):
                raise TrajaugInputError(f"{key}: {value!r} is not true or false")
            if type(default) is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise TrajaugInputError(f"{key}: {value!r} is not an integer")
        return parse_config(config_cls, values, where)
    except TrajaugInputError as error:
        message = str(error)
        raise TrajaugInputError(message if message.startswith(where) else f"{where}: {message}") from None


def _table(what: str, name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TrajaugInputError(f"{what}: {name}: expected a table ([{name}] with key = value lines), got {value!r}")
    return dict(value)


def _text(what: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TrajaugInputError(f"{what}: {key}: {value!r} is not a name or path")
    return value


def _algo(what: str, value: Any) -> str:
    if value not in ALGORITHMS:
        raise TrajaugInputError(f"{what}: algos: unknown algorithm {value!r} (known: {', '.join(ALGORITHMS)})")
    return str(value)


def _integer(what: str, key: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None
                                                                                    and value > maximum):
        bounds = f"in [{minimum}, {maximum}]" if maximum is not None else f"≥ {minimum}"
        raise TrajaugInputError(f"{what}: {key}: {value!r} is not an integer {bounds}")
    return value


def _seeds(what: str, value: Any) -> tuple[int, ...]:
    """A count (≥ 1) or a list of seeds (each ≥ 0, no repeats)."""
    if isinstance(value, list):
        return _distinct(what, "seeds", [_integer(what, "seeds", s, 0) for s in value])
    return seed_list(_integer(what, "seeds", value, 1))


def _sigma(what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise TrajaugInputError(f"{what}: action_noise: {value!r} is not a finite number ≥ 0")
    return float(value)


def _fraction(what: str, key: str, value: Any, open_low: bool) -> float | None:
    """A number in (0, 1] (``open_low``; 1 → None: all) or in [0, 1]."""
    low = "(0" if open_low else "[0"
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value > 1
            or value < 0 or (open_low and value == 0)):
        raise TrajaugInputError(f"{what}: {key}: {value!r} is not a number in {low}, 1]")
    return None if open_low and value == 1 else float(value)


def _distinct(what: str, key: str, items: list[Any]) -> tuple[Any, ...]:
    """``items`` as a tuple, refusing none at all and a repeat (it would make the same cell twice)."""
    if not items:
        raise TrajaugInputError(f"{what}: {key}: an empty list")
    for i, item in enumerate(items):
        if item in items[:i]:
            shown = _plain(item) if key in ALGORITHMS else item
            raise TrajaugInputError(f"{what}: {key}: {shown!r} given twice")
    return tuple(items)
