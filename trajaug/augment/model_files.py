"""Run options of a method that trains a model (where its weights go and come from), and how records of older
versions, which kept them in the method's config, are read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trajaug.core.config import check_settings, setting
from trajaug.core.errors import TrajaugInputError


@dataclass(frozen=True)
class ModelFiles:
    """Run options of a method that trains a model (CAT, GAIL, SynthER): where its weights go and come from.
    They say where files are, not how the model trains, so they are kept apart from the method's config."""

    save: str = ""
    """Write the trained model here (a ``weights_only`` torch file)."""
    load: str = ""
    """Skip training: load a model saved with ``save`` (refused for other demos than it was trained on)."""
    continue_steps: int = setting(0, minimum=0)
    """With ``load``: train the loaded model this many more steps before sampling (CAT, GAIL), so a long training
    can run in chunks; 0: sample from it as it is."""

    def __post_init__(self) -> None:
        check_settings(self)
        if self.continue_steps and not self.load:
            raise TrajaugInputError("--continue-steps needs --load-model")


RUN_OPTION_KEYS = {"save_generator": "save", "load_generator": "load", "save_model": "save", "load_model": "load",
                   "continue_steps": "continue_steps"}
"""Keys that older versions kept in a method's config and that are :class:`ModelFiles` now (old name → field)."""


def split_run_options(record: Any) -> tuple[Any, ModelFiles]:
    """A recorded method config (a JSON mapping, possibly from an older version) as (its hyperparameters, the
    model files it names): the keys of :data:`RUN_OPTION_KEYS` move out of the config."""
    if not isinstance(record, dict):
        return record, ModelFiles()
    files = {RUN_OPTION_KEYS[k]: v for k, v in record.items() if k in RUN_OPTION_KEYS}
    return {k: v for k, v in record.items() if k not in RUN_OPTION_KEYS}, ModelFiles(**files)
