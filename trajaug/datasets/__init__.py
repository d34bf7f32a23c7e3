"""Datasets: the :class:`~trajaug.core.dataset.Dataset` type, D4RL and Minari storage, names, checks.

Importing the package stays light (no h5py, torch or simulator): ``qlearning_dataset`` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trajaug.datasets.qlearning import qlearning_dataset

__all__ = ["qlearning_dataset"]


def __getattr__(name: str) -> Any:
    if name == "qlearning_dataset":
        from trajaug.datasets.qlearning import qlearning_dataset

        return qlearning_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
