"""Reading a policy checkpoint written by ``torch.save`` (BC's and offline RL's): one place for the checks that turn
a missing, foreign or corrupt file into one line naming it, and for loading its weights into a network."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trajaug.core.device import resolve_device
from trajaug.core.errors import TrajaugInputError


def read_checkpoint(path: Path, device: str | torch.device, what: str, keys: Iterable[str],
                    checkpoint_format: str) -> dict[str, Any]:
    """The dict saved at ``path`` (``weights_only=True``, tensors mapped to ``device``), after checking it is a
    ``what`` checkpoint (e.g. "BC") holding ``keys`` and ``format == checkpoint_format``; TrajaugInputError else."""
    if not path.is_file():
        raise TrajaugInputError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise TrajaugInputError(f"{path}: not a torch checkpoint (torch.save writes a zip archive; this is not one)")
    try:
        payload = torch.load(path, weights_only=True, map_location=resolve_device(device))
    except Exception as error:  # torch raises many types for corrupt / foreign files
        reason = str(error).strip().splitlines()[0].split(". ")[0][:120] if str(error).strip() else ""
        raise TrajaugInputError(f"{path}: not a readable torch checkpoint ({reason or type(error).__name__})") from None
    if not isinstance(payload, dict):
        raise TrajaugInputError(f"{path}: not a trajaug {what} checkpoint (holds a {type(payload).__name__}, "
                                "not a dict)")
    missing = [key for key in keys if key not in payload]
    if missing:
        raise TrajaugInputError(f"{path}: not a trajaug {what} checkpoint (missing keys: {', '.join(missing)})")
    if payload["format"] != checkpoint_format:
        raise TrajaugInputError(f"{path}: checkpoint format {payload['format']!r}, expected {checkpoint_format!r}")
    return payload


def load_weights(path: Path, network: nn.Module, state_dict: Mapping[str, Any], device: str | torch.device) -> None:
    """Move ``network`` to ``device`` and load ``state_dict`` into it; a mismatch is one line naming ``path``."""
    try:
        network.to(resolve_device(device)).load_state_dict(state_dict)
    except (RuntimeError, TypeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0][:120]
        raise TrajaugInputError(f"{path}: checkpoint weights do not match its network ({reason})") from None
