"""The augmenter interface and the method registry (nothing else: running a method is :mod:`trajaug.augment.apply`).

A method is one module under ``trajaug/augment/`` (a family's subpackage for the learned ones) with a frozen config
dataclass (the paper's defaults, a docstring per field) and an :class:`Augmenter` subclass decorated with
:func:`register`::

    @register("noise")
    class NoiseAugmenter(Augmenter):
        Config = NoiseConfig
        def fit(self, demos): ...
        def sample(self, per_episode): ...   # -> Dataset of augmented trajectories

plus one import line in :mod:`trajaug.augment` so the registry sees it.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from trajaug.augment.model_files import ModelFiles
from trajaug.core import defaults
from trajaug.core.dataset import Dataset
from trajaug.core.device import resolve_device
from trajaug.core.errors import TrajaugInputError
from trajaug.core.progress import Progress

__all__ = ["REGISTRY", "Augmenter", "ModelFiles", "Progress", "get_augmenter", "register"]

REGISTRY: dict[str, type[Augmenter]] = {}


def register(name: str) -> Callable[[type[Augmenter]], type[Augmenter]]:
    """Class decorator: make an augmenter available as ``trajaug augment NAME``."""

    def add(cls: type[Augmenter]) -> type[Augmenter]:
        if name in REGISTRY:
            raise ValueError(f"augmenter {name!r} registered twice")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return add


class Augmenter(ABC):
    """Learns from demonstrations (``fit``) and produces new trajectories (``sample``)."""

    name: ClassVar[str]
    Config: ClassVar[type]
    """The method's frozen config dataclass."""
    default_per_episode: ClassVar[int] = defaults.PER_EPISODE
    """Augmented trajectories per demo (per ordered demo pair for mixup) when the user gives none."""
    uses_simulator: ClassVar[bool] = True
    model_files: ClassVar[tuple[str, ...]] = ()
    """The :class:`ModelFiles` fields the method honours (``save``, ``load``, ``continue_steps``); () for none."""
    uses_device: ClassVar[bool] = False
    """Whether the method trains networks on ``device`` (CAT, GAIL, bdm's ensembles, SynthER); the others ignore it."""

    def __init__(self, config: Any = None, seed: int = 0, files: ModelFiles | None = None,
                 device: str | torch.device = "cpu") -> None:
        """``device``: where the method's networks train (a run option like ``files``, not part of the config:
        :func:`trajaug.core.device.resolve_device`); simulation and collection stay on the CPU."""
        self.device = resolve_device(device)
        self.config = config if config is not None else self.Config()
        self.files = files if files is not None else ModelFiles()
        unused = [f.name for f in dataclasses.fields(ModelFiles)
                  if getattr(self.files, f.name) and f.name not in self.model_files]
        if unused:
            raise TrajaugInputError(f"{self.name}: does not take {', '.join(unused)} (a method that trains no "
                                    "model, or cannot go on training one)")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.demos: Dataset | None = None

    def fit(self, demos: Dataset, progress: Progress | None = None) -> None:
        """Learn from ``demos`` (the default stores them; learned methods train here)."""
        self.demos = demos

    @abstractmethod
    def sample(self, per_episode: int, progress: Progress | None = None) -> Dataset:
        """Generate ``per_episode`` trajectories per demo; ``source_episode`` gives each row's demo index."""

    def fit_stats(self) -> dict[str, Any]:
        """Training statistics to store in the output's metadata (losses, wall time...)."""
        return {}

    def sample_stats(self) -> dict[str, Any]:
        """Statistics of the last ``sample`` call to store in the output's metadata (e.g. rejected candidates)."""
        return {}


def get_augmenter(name: str) -> type[Augmenter]:
    """The method registered as ``name`` (importing any ``trajaug.augment`` module first runs the package's
    ``__init__``, which imports every method and so fills :data:`REGISTRY`)."""
    if name not in REGISTRY:
        raise TrajaugInputError(f"unknown method {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]
