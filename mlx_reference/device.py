"""Where MLX runs: the CPU, or the GPU (Metal on Apple silicon, CUDA on NVIDIA).

MLX arrays live in unified memory and are not tied to a device; the device is where operations
run. ``use_device`` sets MLX's default device for the duration of a ``with`` block.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import mlx.core as mx

DEVICES = ("cpu", "gpu")


def gpu_backend() -> str | None:
    """The GPU backend this MLX build can use: ``"metal"``, ``"cuda"`` or ``None``."""
    if mx.metal.is_available():
        return "metal"
    cuda = getattr(mx, "cuda", None)
    if cuda is not None and cuda.is_available():
        return "cuda"
    return None


def available_devices() -> list[str]:
    """The devices of ``DEVICES`` that work here, the CPU first."""
    return ["cpu", "gpu"] if gpu_backend() else ["cpu"]


def backend(device: str) -> str:
    """The backend that runs work for ``device``: ``"cpu"``, ``"metal"`` or ``"cuda"``."""
    _check(device)
    return "cpu" if device == "cpu" else (gpu_backend() or "none")


def precision_mode(device: str) -> str:
    """How float32 matmuls are computed on ``device``: ``"ieee"`` or ``"tf32"``.

    MLX's CUDA backend uses TF32 tensor cores for float32 matmuls unless the environment sets
    ``MLX_ENABLE_TF32=0`` before MLX starts; Metal and the CPU compute in IEEE float32.
    """
    if backend(device) == "cuda" and os.environ.get("MLX_ENABLE_TF32", "1") != "0":
        return "tf32"
    return "ieee"


def device_name(device: str) -> str:
    """A human-readable name of the hardware behind ``device``."""
    _check(device)
    if device == "gpu" and gpu_backend():
        info = mx.device_info() if hasattr(mx, "device_info") else {}
        return str(info.get("device_name", gpu_backend()))
    return "cpu"


@contextmanager
def use_device(device: str) -> Iterator[None]:
    """Run MLX operations on ``device`` ("cpu" or "gpu") inside the ``with`` block."""
    _check(device)
    if device == "gpu" and not gpu_backend():
        raise RuntimeError("MLX has no GPU backend here (neither Metal nor CUDA); use device 'cpu'")
    previous = mx.default_device()
    mx.set_default_device(mx.gpu if device == "gpu" else mx.cpu)
    try:
        yield
    finally:
        mx.set_default_device(previous)


def synchronize(device: str) -> None:
    """Wait for all queued work on ``device`` to finish."""
    _check(device)
    mx.synchronize()


def _check(device: str) -> None:
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")


def set_precision_mode(mode: str) -> None:
    """Check that MLX's float32 matmuls use ``mode`` ("tf32" or "ieee") on the GPU.

    MLX reads ``MLX_ENABLE_TF32`` once, when its CUDA backend starts, and has no call to change
    it afterwards; so this only verifies, and says how to get the other mode.
    """
    if mode not in ("tf32", "ieee"):
        raise ValueError(f"unknown precision mode {mode!r}; choose 'tf32' or 'ieee'")
    if gpu_backend() == "cuda" and precision_mode("gpu") != mode:
        flag = "0" if mode == "ieee" else "1"
        raise RuntimeError(
            f"MLX's CUDA backend runs in {precision_mode('gpu')} mode; "
            f"start Python with MLX_ENABLE_TF32={flag} for {mode}"
        )
