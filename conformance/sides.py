"""The two sides of a comparison: the MLX package under test and the PyTorch reference.

``side("mlx")`` and ``side("torch")`` import ``mlx_reference`` and ``reference_torch`` with every
step module loaded, so ``side(name).train.fit`` and the like work on either. ``rounded`` gives
an input as both sides receive it (rounded to their dtype), widened back to float64: the
starting point of every float64 reference, so that it measures the arithmetic and not the
rounding of the inputs both sides share.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

SIDES = ("mlx", "torch")
PACKAGES = {"mlx": "mlx_reference", "torch": "reference_torch"}
MODULES = ("data", "device", "model", "loss", "optim", "train", "validate", "metrics", "pipeline")


def torch_cudnn_first() -> None:
    """On an NVIDIA GPU, load torch's bundled cuDNN before MLX is imported.

    Both frameworks link ``libcudnn.so.9``, and whichever loads it first serves the process. MLX's
    CUDA wheel takes the machine's (on the H200 used here, 9.14); torch was built against its own
    (9.19) and refuses an older one at its first cuDNN call ("cuDNN version incompatibility", an LSTM
    on CUDA, say), while MLX runs on the newer one. Called by every entry point before MLX loads."""
    import sys

    if "mlx.core" in sys.modules:
        return
    try:
        import torch

        if torch.cuda.is_available():
            torch.backends.cudnn.version()
    except Exception:  # no torch, no CUDA: nothing to order
        pass


def side(name: str) -> ModuleType:
    """The package of one side, its step modules imported (``side("mlx").train.fit`` ...)."""
    if name not in PACKAGES:
        raise KeyError(f"unknown side {name!r}; the sides are {', '.join(SIDES)}")
    pkg = importlib.import_module(PACKAGES[name])
    for mod in MODULES:
        importlib.import_module(f"{PACKAGES[name]}.{mod}")
    return pkg


def missing_gpus() -> list[str]:
    """The sides with no GPU here, each with what it lacks (empty: both frameworks have one)."""
    return [f"{n} ({'no Metal or CUDA backend' if n == 'mlx' else 'no CUDA or MPS'})"
            for n in ("mlx", "torch") if side(n).device.gpu_backend() is None]


def rounded(x, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` (as both sides receive it) and widened back to float64."""
    import torch  # the rounding of torch and MLX is the same IEEE round-to-nearest-even

    from reference_torch.data import DTYPES

    if dtype == "float64":
        return np.asarray(x, dtype=np.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64)).to(DTYPES[dtype]).to(torch.float64).numpy().copy()


def precision_mode(device: str) -> str:
    """The float32 matmul precision a comparison on ``device`` is judged under: "tf32" when either
    framework multiplies in TF32 there, else "ieee"."""
    return "tf32" if "tf32" in (side(n).device.precision_mode(device) for n in SIDES) else "ieee"
