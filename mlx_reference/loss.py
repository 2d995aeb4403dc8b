"""Step 3 of the document: binary cross-entropy.

MLX has no ``nn.BCELoss``. ``mlx.nn.losses.binary_cross_entropy`` takes logits by default
(``with_logits=True``): handing it probabilities gives a wrong number without any error. The model
returns logits, so the loss is the stable logits form; the probability form is here for code that
really holds probabilities. Both insist on logits/probabilities and targets of the same shape.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from .data import to_numpy


def bce_with_logits(logits: mx.array, targets: mx.array) -> mx.array:
    """Mean binary cross-entropy of ``targets`` (0/1) under ``sigmoid(logits)``, computed stably."""
    _check_shapes("bce_with_logits", "logits", logits, targets)
    return nn.losses.binary_cross_entropy(logits, targets, with_logits=True, reduction="mean")


def bce(probabilities: mx.array, targets: mx.array) -> mx.array:
    """Mean binary cross-entropy of ``targets`` under ``probabilities``; log terms clipped at -100."""
    _check_shapes("bce", "probabilities", probabilities, targets)
    return nn.losses.binary_cross_entropy(probabilities, targets, with_logits=False, reduction="mean")


def loss_fn(model: nn.Module, X: mx.array, y: mx.array) -> mx.array:
    """The training loss: BCE of the model's logits on ``X`` against ``y``."""
    return bce_with_logits(model(X), y)


def loss_and_gradients(model: nn.Module, X: mx.array, y: mx.array) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and every parameter's gradient (PyTorch key names), as numpy."""
    loss, grads = nn.value_and_grad(model, loss_fn)(model, X, y)
    mx.eval(loss, grads)
    return loss.item(), {k: to_numpy(v) for k, v in tree_flatten(grads)}


def _check_shapes(fn: str, what: str, inputs: mx.array, targets: mx.array) -> None:
    if tuple(inputs.shape) != tuple(targets.shape):
        raise ValueError(
            f"{fn}: {what} have shape {tuple(inputs.shape)} but targets {tuple(targets.shape)}; "
            f"give both shape (N,) (SimpleNN returns (N,) logits)"
        )
