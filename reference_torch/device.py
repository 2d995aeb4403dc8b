"""Where PyTorch runs: the CPU, or the GPU (CUDA on NVIDIA, MPS on Apple silicon).

``use_device`` sets torch's default device for the duration of a ``with`` block, so tensors made by
this package land there.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

DEVICES = ("cpu", "gpu")


def gpu_backend() -> str | None:
    """The GPU backend torch can use here: ``"cuda"``, ``"mps"`` or ``None``."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return None


def available_devices() -> list[str]:
    """The devices of ``DEVICES`` that work here, the CPU first."""
    return ["cpu", "gpu"] if gpu_backend() else ["cpu"]


def backend(device: str) -> str:
    """The backend that runs work for ``device``: ``"cpu"``, ``"cuda"`` or ``"mps"``."""
    _check(device)
    return "cpu" if device == "cpu" else (gpu_backend() or "none")


def precision_mode(device: str) -> str:
    """How float32 matmuls are computed on ``device``: ``"ieee"`` or ``"tf32"``.

    torch uses TF32 on CUDA only when ``torch.backends.cuda.matmul.allow_tf32`` is on (off by
    default; ``torch.set_float32_matmul_precision("high")`` turns it on).
    """
    if backend(device) == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "ieee"


def set_precision_mode(mode: str) -> None:
    """Make torch's CUDA float32 matmuls use ``mode``: ``"tf32"`` or ``"ieee"``."""
    if mode not in ("tf32", "ieee"):
        raise ValueError(f"unknown precision mode {mode!r}; choose 'tf32' or 'ieee'")
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    torch.backends.cudnn.allow_tf32 = mode == "tf32"


def device_name(device: str) -> str:
    """A human-readable name of the hardware behind ``device``."""
    _check(device)
    if device == "gpu" and gpu_backend() == "cuda":
        return torch.cuda.get_device_name()
    return gpu_backend() or "cpu" if device == "gpu" else "cpu"


@contextmanager
def use_device(device: str) -> Iterator[None]:
    """Make tensors of this package on ``device`` ("cpu" or "gpu") inside the ``with`` block."""
    _check(device)
    if device == "gpu" and not gpu_backend():
        raise RuntimeError("torch has no GPU backend here (neither CUDA nor MPS); use device 'cpu'")
    # a device context, not set_default_device: restoring a default with set_default_device(previous)
    # leaves a function mode installed for good, and every later torch call (the verdict's reruns,
    # the ensemble) pays its dispatch; the context pops its mode, leaving torch as it was
    with torch.device(gpu_backend() if device == "gpu" else "cpu"):
        yield


def synchronize(device: str) -> None:
    """Wait for all queued work on ``device`` to finish."""
    _check(device)
    if backend(device) == "cuda":
        torch.cuda.synchronize()
    elif backend(device) == "mps":
        torch.mps.synchronize()


def _check(device: str) -> None:
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
