"""Where the formats' own tools, and trajaug's cache, keep datasets by default (no trajaug import, no heavy import)."""

from __future__ import annotations

import os
from pathlib import Path


def minari_dir() -> Path:
    """Minari's dataset root: ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``."""
    return Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))


def trajaug_home() -> Path:
    """trajaug's own folder (the dataset cache, expert runs): ``$TRAJAUG_HOME`` or ``~/.trajaug``."""
    return Path(os.environ.get("TRAJAUG_HOME", Path.home() / ".trajaug"))


def d4rl_dir() -> Path:
    """D4RL's dataset folder: ``$D4RL_DATASET_DIR`` or ``~/.d4rl/datasets``."""
    return Path(os.environ.get("D4RL_DATASET_DIR", Path.home() / ".d4rl" / "datasets"))
