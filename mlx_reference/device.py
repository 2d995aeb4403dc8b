"""Where MLX runs: the CPU, or the GPU (Metal on Apple silicon, CUDA on NVIDIA).

MLX arrays live in unified memory and are not tied to a device; the device is where operations
run. ``use_device`` sets MLX's default device for the duration of a ``with`` block.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import mlx.core as mx
import numpy as np

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
    """How float32 matmuls are computed on ``device``: ``"ieee"`` or ``"tf32"``, as measured.

    MLX may run float32 matmuls on reduced-precision (TF32) units on supported GPUs: its CUDA
    backend does by default, as do Apple's M5-class GPUs. ``MLX_ENABLE_TF32=0`` turns this off,
    but MLX reads the variable once, at its first matmul, so it must be set before the process
    multiplies anything. Rather than guess from the hardware, this probes once per device: a
    256 x 256 matmul against float64; TF32 (10-bit mantissa) errs by ~1e-3 relative, IEEE float32
    by ~1e-6.
    """
    if backend(device) == "cpu":
        return "ieee"
    if device not in _PROBED:
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((2, 256, 256)).astype(np.float32)
        exact = a.astype(np.float64) @ b.astype(np.float64)
        with use_device(device):
            got = np.array(mx.array(a) @ mx.array(b), dtype=np.float64)
        err = float(np.abs(got - exact).max() / np.abs(exact).max())
        _PROBED[device] = "tf32" if err > 1e-4 else "ieee"
    return _PROBED[device]


_PROBED: dict[str, str] = {}


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

    MLX reads ``MLX_ENABLE_TF32`` once, at the process's first matmul, and has no call to change
    it afterwards; so this only verifies, and says how to get the other mode.
    """
    if mode not in ("tf32", "ieee"):
        raise ValueError(f"unknown precision mode {mode!r}; choose 'tf32' or 'ieee'")
    if gpu_backend() and precision_mode("gpu") != mode:
        flag = "0" if mode == "ieee" else "1"
        raise RuntimeError(
            f"MLX's CUDA backend runs in {precision_mode('gpu')} mode; "
            f"start Python with MLX_ENABLE_TF32={flag} for {mode}"
        )
