"""Step 2 of the document: ``SimpleNN``, Linear -> ReLU -> Linear, returning logits.

MLX calls a module through ``__call__``; the document's ``forward`` is never called, so its model
raises ``'SimpleNN' object is not callable``. Weights import and export as ``dict[str,
np.ndarray]`` with PyTorch's key names, so both frameworks can start from identical weights.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from .data import DTYPES, to_numpy


class SimpleNN(nn.Module):
    """``fc1: Linear(in_features, hidden)``, ReLU, ``fc2: Linear(hidden, 1)``; logits of shape (N,)."""

    def __init__(self, in_features: int = 2, hidden: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def __call__(self, x: mx.array) -> mx.array:
        return self.fc2(nn.relu(self.fc1(x))).squeeze(-1)


def load_weights(model: SimpleNN, weights: dict[str, np.ndarray]) -> SimpleNN:
    """Copy ``weights`` (PyTorch key names) into ``model``, checking names and shapes first."""
    current = dict(tree_flatten(model.parameters()))
    _check_weights(model, {k: tuple(v.shape) for k, v in current.items()}, weights)
    model.update(tree_unflatten([(k, mx.array(np.asarray(weights[k])).astype(current[k].dtype)) for k in current]))
    mx.eval(model.parameters())
    return model


def export_weights(model: SimpleNN) -> dict[str, np.ndarray]:
    """The model's parameters as numpy arrays under PyTorch's key names."""
    return {k: to_numpy(v) for k, v in tree_flatten(model.parameters())}


def to_dtype(model: SimpleNN, dtype: str) -> SimpleNN:
    """Cast every parameter to ``dtype`` ("float32", "float16", "bfloat16", "float64")."""
    model.set_dtype(DTYPES[dtype])
    return model


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
