"""Where trained networks run: the ``device`` run option (``auto | cpu | cuda | cuda:N | mps``).

:func:`resolve_device` turns the option into a ``torch.device`` (``auto``: the first CUDA GPU torch sees, else Apple's
MPS, else the CPU) and refuses a device torch cannot use with one line naming ``--device``. The CPU is the default
everywhere; on it (and with ``auto`` on a machine without a GPU) nothing is moved, so its results keep their bytes
(``tests/test_behaviour.py``).

Determinism on a CUDA GPU. Resolving a CUDA device applies :func:`cuda_determinism`: cuDNN in deterministic mode with
its autotuner (``benchmark``) off, TF32 off for matmuls and cuDNN (float32 stays IEEE float32), and
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (set only when unset, and effective only if no cuBLAS handle exists yet in the
process, i.e. before the first CUDA matmul), which cuBLAS needs to give the same bits run after run. BC and offline RL
also train under ``torch.use_deterministic_algorithms(True)`` (an op without a deterministic kernel raises), the
augmenters under its ``warn_only`` form (such an op warns). What stays true even then:

* a GPU gives other bits than the CPU (other kernels, other summation orders), and another GPU model, driver, CUDA or
  torch version may give other bits again; reproducible means: the same seed on the same machine and software;
* ops that accumulate with atomics on the GPU (``index_add_`` / ``scatter_add_`` and the backward passes of
  ``index_select``, gathers and embedding lookups) are non-deterministic; trajaug's training loops index data that
  needs no gradient, so none of their gradients take that path, but the warnings of ``warn_only`` are the check;
* random numbers drawn on the GPU (SynthER's noise, the GPU's share of torch's global generator) come from CUDA's
  generator, seeded by the same ``torch.manual_seed`` but another stream than the CPU's; minibatch indices stay on
  seeded CPU generators, so every device trains on the same minibatches.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import re
from collections.abc import Iterator
from typing import Any, TypeVar

import torch
from torch import nn

from trajaug.core.errors import TrajaugInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
"""The values ``--device`` accepts (``cuda:N``: the N-th CUDA GPU, 0-based)."""
CUBLAS_WORKSPACE = ":4096:8"
"""``CUBLAS_WORKSPACE_CONFIG`` for deterministic cuBLAS (NVIDIA's documented value; ``:16:8`` is the smaller one)."""
_CUDA = re.compile(r"cuda(?::(\d+))?")
M = TypeVar("M", bound=nn.Module)


def resolve_device(spec: str | torch.device = "cpu") -> torch.device:
    """The ``torch.device`` for ``spec`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``; a ``torch.device`` is
    taken as it is, so internal callers and tests can pass ``torch.device("meta")``). A CUDA device gets the settings
    of :func:`cuda_determinism`. A device torch cannot use raises :class:`TrajaugInputError`."""
    if isinstance(spec, torch.device):
        if spec.type == "cuda":
            return resolve_device(str(spec))
        return spec
    text = str(spec).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return resolve_device("cuda:0")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise TrajaugInputError("--device mps: torch sees no Apple MPS device here; use --device cpu or auto")
        return torch.device("mps")
    match = _CUDA.fullmatch(text)
    if match is None:
        raise TrajaugInputError(f"--device {spec}: must be one of {', '.join(DEVICE_CHOICES)}")
    if not torch.cuda.is_available():
        hip = getattr(torch.version, "hip", None)
        build = (f"built for CUDA {torch.version.cuda}" if torch.version.cuda else f"built for ROCm {hip}" if hip
                 else "a CPU-only build")
        raise TrajaugInputError(f"--device {spec}: torch {torch.__version__} ({build}) sees no CUDA GPU; "
                                "use --device cpu or auto")
    index, count = int(match.group(1) or 0), torch.cuda.device_count()
    if index >= count:
        raise TrajaugInputError(f"--device {spec}: torch sees {count} CUDA GPU{'s' if count != 1 else ''} "
                                f"(cuda:0 to cuda:{count - 1})")
    cuda_determinism()
    return torch.device("cuda", index)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def cuda_determinism() -> None:
    """Process-wide settings for reproducible CUDA training (module docstring): cuBLAS workspace, cuDNN
    deterministic and not autotuned, TF32 off. Harmless without a GPU (they are flags)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # torch ≥ 2.9: the new API (never mix it with the old)
        cudnn: Any = torch.backends.cudnn
        backends: tuple[Any, ...] = (torch.backends.cuda.matmul, cudnn, cudnn.conv, cudnn.rnn)
        for backend in backends:
            backend.fp32_precision = "ieee"
    else:  # pragma: no cover - older torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def device_record(device: str | torch.device) -> dict[str, Any]:
    """What an output's metadata records of the device it trained on: ``{"type", "index", "name"}`` (``name``: the
    GPU's, from ``torch.cuda.get_device_name``; None on the CPU), plus the CUDA version and the determinism settings
    on a CUDA GPU."""
    device = torch.device(device)
    record: dict[str, Any] = {"type": device.type, "index": device.index, "name": None}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        record.update(index=index, name=torch.cuda.get_device_name(index), cuda=torch.version.cuda,
                      cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
                      matmul_fp32_precision=getattr(torch.backends.cuda.matmul, "fp32_precision", None),
                      cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    elif device.type == "mps":
        record["name"] = "Apple MPS"
    return record


def cpu_state(value: Any) -> Any:
    """``value`` (a state dict, an optimizer state, nested dicts / lists of tensors) with every tensor detached and
    copied to the CPU: what a checkpoint holds, whatever device trained it."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: cpu_state(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(cpu_state(item) for item in value)
    return value


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a CUDA GPU runs asynchronously), so that a wall time measures it; a
    no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def on_cpu(module: M) -> M:
    """``module`` itself when all its parameters and buffers are on the CPU, else a copy of it moved there (inference
    next to the simulator: a network trained on a GPU is evaluated on the CPU)."""
    if all(t.device.type == "cpu" for t in itertools.chain(module.parameters(), module.buffers())):
        return module
    return copy.deepcopy(module).to("cpu")


@contextlib.contextmanager
def deterministic_algorithms(device: torch.device, warn_only: bool = False) -> Iterator[None]:
    """On a CUDA ``device``: ``torch.use_deterministic_algorithms(True, warn_only=…)`` inside the block, the previous
    mode restored after it (an op without a deterministic CUDA kernel raises, or warns with ``warn_only``). Elsewhere a
    no-op, so CPU runs are what they always were."""
    if device.type != "cuda":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=warn_only and not (before and not before_warn))  # never laxer
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)
