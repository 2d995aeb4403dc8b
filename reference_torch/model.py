"""Step 2 of the document: ``SimpleNN``, Linear -> ReLU -> Linear, returning logits.

Weights import and export as ``dict[str, np.ndarray]`` with PyTorch's key names, so both
frameworks can start from identical weights.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data import DTYPES, to_numpy


class SimpleNN(nn.Module):
    """``fc1: Linear(in_features, hidden)``, ReLU, ``fc2: Linear(hidden, 1)``; logits of shape (N,)."""

    def __init__(self, in_features: int = 2, hidden: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x))).squeeze(-1)


def load_weights(model: SimpleNN, weights: dict[str, np.ndarray]) -> SimpleNN:
    """Copy ``weights`` (PyTorch key names) into ``model``, checking names and shapes first."""
    current = dict(model.named_parameters())
    _check_weights(model, {k: tuple(v.shape) for k, v in current.items()}, weights)
    with torch.no_grad():
        for key, param in current.items():
            param.copy_(torch.as_tensor(np.asarray(weights[key])).to(param.dtype))
    return model


def export_weights(model: SimpleNN) -> dict[str, np.ndarray]:
    """The model's parameters as numpy arrays under PyTorch's key names."""
    return {k: to_numpy(v) for k, v in model.named_parameters()}


def to_dtype(model: SimpleNN, dtype: str) -> SimpleNN:
    """Cast every parameter to ``dtype`` ("float32", "float16", "bfloat16", "float64")."""
    return model.to(DTYPES[dtype])


def _check_weights(model, expected: dict[str, tuple], weights: dict[str, np.ndarray]) -> None:
    described = f"SimpleNN(in_features={model.fc1.weight.shape[1]}, hidden={model.fc1.weight.shape[0]})"
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise ValueError(
            f"weights do not fit {described}: missing {missing or 'none'}, unexpected {extra or 'none'}; "
            f"expected keys {sorted(expected)}"
        )
    for key, shape in expected.items():
        got = tuple(np.shape(weights[key]))
        if got != shape:
            raise ValueError(f"weights[{key!r}] has shape {got}, but {described} needs {shape}")
