"""The grid of a BC batch: datasets × seeds × options, expanded into cells (one train + evaluate run each).

Grid file (TOML; every key optional except ``datasets``; lists make the product)::

    datasets = ["halfcheetah-expert", "runs/cat.hdf5"]
    seeds = 3                      # 3 → seeds 0, 1, 2; or a list [0, 1, 2]
    episodes = [1, 3, 7]           # first N episodes of each dataset; 0 = all (default)
    episodes_seed = 0              # draw the N episodes at random with this seed instead of taking the first N
    with_expert = ["", "halfcheetah-expert"]   # "" = BC on the dataset alone
    expert_episodes = 7            # first N episodes of the expert dataset (default all)
    action_noise = [0.0, 0.1]      # perturbed evaluation σ
    steps = 60000
    eval_episodes = 100
    [bc]                           # any other BCConfig field: batch_size, lr, hidden, ...
    lr = 3e-4
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trajaug.bc.train import BCConfig
from trajaug.core import defaults
from trajaug.core.config import check_known_keys, parse_config
from trajaug.core.errors import TrajaugInputError
from trajaug.datasets.cells import digest, listed, read_grid_file, seed_list, slug

__all__ = ["Cell", "Grid", "read_grid_file", "slug"]

PATHS = ("dataset", "with_expert")
"""A cell's fields that name a dataset (hashed by absolute path, see ``digest``)."""


@dataclass(frozen=True)
class Cell:
    """One train + evaluate run. ``None`` episodes: the whole dataset; ``None`` with_expert: no expert data."""

    dataset: str
    seed: int
    episodes: int | None = None
    episodes_seed: int | None = None
    with_expert: str | None = None
    expert_episodes: int | None = None
    action_noise: float = 0.0
    steps: int = BCConfig.steps
    eval_episodes: int = defaults.EVAL_EPISODES
    bc: tuple[tuple[str, Any], ...] = ()
    """Other BCConfig fields as sorted (name, value) pairs."""

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "bc": dict(self.bc)}

    @property
    def cell_id(self) -> str:
        """Readable and unique: ``<dataset>-ep<N>-s<seed>[-x<expert>][-n<σ>]-<hash of every field>``."""
        parts = self._training_parts()
        if self.action_noise:
            parts.append(f"n{self.action_noise:g}")
        return "-".join(parts + [digest(self.to_dict(), PATHS)])

    @property
    def training_id(self) -> str:
        """Like ``cell_id`` but over the training fields only: cells that differ only in how they are evaluated
        (``action_noise``, ``eval_episodes``) share one trained policy under ``OUT/train/<training_id>/``."""
        record = {k: v for k, v in self.to_dict().items() if k not in ("action_noise", "eval_episodes")}
        return "-".join(self._training_parts() + [digest(record, PATHS)])

    def _training_parts(self) -> list[str]:
        """The readable head of both ids: ``<dataset>``, ``ep<N>``, ``s<seed>`` and, with an expert, ``x<expert>``."""
        parts = [slug(self.dataset), f"ep{self.episodes or 'all'}", f"s{self.seed}"]
        if self.with_expert:
            parts.append(f"x{slug(self.with_expert)}")
        return parts

    def bc_config(self) -> BCConfig:
        return parse_config(BCConfig, {**dict(self.bc), "steps": self.steps, "seed": self.seed}, "bc config")


@dataclass(frozen=True)
class Grid:
    """The product datasets × seeds × episodes × with_expert × action_noise, with shared scalar options."""

    datasets: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    episodes: tuple[int | None, ...] = (None,)
    episodes_seed: int | None = None
    with_expert: tuple[str | None, ...] = (None,)
    expert_episodes: int | None = None
    action_noise: tuple[float, ...] = (0.0,)
    steps: int = BCConfig.steps
    eval_episodes: int = defaults.EVAL_EPISODES
    bc: tuple[tuple[str, Any], ...] = field(default=())

    def cells(self) -> list[Cell]:
        return [Cell(dataset, seed, episodes, self.episodes_seed, expert, self.expert_episodes, noise, self.steps,
                     self.eval_episodes, self.bc)
                for dataset, episodes, expert, noise, seed in itertools.product(
                    self.datasets, self.episodes, self.with_expert, self.action_noise, self.seeds)]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "bc": dict(self.bc)}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Grid:
        """From a TOML-like mapping (see the module docstring); bad keys or values raise TrajaugInputError."""
        check_known_keys(cls, values, "grid")
        if not values.get("datasets"):
            raise TrajaugInputError("grid: no datasets (give --dataset or datasets = [...] in the grid file)")

        kwargs: dict[str, Any] = dict(values)  # every key is a field (checked above)
        try:
            kwargs["datasets"] = tuple(str(d) for d in listed(values["datasets"]))
            if "seeds" in values:
                kwargs["seeds"] = seed_list(values["seeds"])
            if "episodes" in values:
                kwargs["episodes"] = tuple(int(e) or None for e in listed(values["episodes"]))
            if "with_expert" in values:
                kwargs["with_expert"] = tuple(str(x) or None for x in listed(values["with_expert"]))
            if "action_noise" in values:
                kwargs["action_noise"] = tuple(float(x) for x in listed(values["action_noise"]))
            for key in ("episodes_seed", "expert_episodes", "steps", "eval_episodes"):
                if values.get(key) is not None:
                    kwargs[key] = int(values[key])
            given = dict(values.get("bc") or {})
            bc = parse_config(BCConfig, {**given, "steps": kwargs.get("steps", BCConfig.steps)}, "grid: bc")
            kwargs["bc"] = tuple(sorted((k, getattr(bc, k)) for k in given))
        except (TypeError, ValueError) as error:
            raise TrajaugInputError(f"grid: {error}") from None
        if not kwargs.get("seeds", (0,)):
            raise TrajaugInputError("grid: no seeds")
        return cls(**kwargs)

