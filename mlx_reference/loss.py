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
    """Mean binary cross-entropy of ``targets`` under ``probabilities``; log terms clipped at -100.

    The value is ``nn.losses.binary_cross_entropy(..., with_logits=False)``'s. Its gradient is
    PyTorch's ``(p - y) / max(p (1 - p), 1e-12)``: differentiating the clipped logs instead gives
    NaN wherever a probability is exactly 0 or 1 (the clip's zero gradient times log's infinite
    one), and float32 ``sigmoid`` already returns exactly 1.0 for logits above about 17.
    """
    _check_shapes("bce", "probabilities", probabilities, targets)
    return mx.mean(_bce_terms(probabilities, targets))


@mx.custom_function
def _bce_terms(p: mx.array, y: mx.array) -> mx.array:
    return -(y * _clipped_log(p) + (1 - y) * _clipped_log(1 - p))


@_bce_terms.vjp
def _bce_terms_vjp(primals, cotangent, output):
    p, y = primals
    # at least float32 inside, as torch computes half-precision losses: in float16, 1e-12 is 0
    # and p (1 - p) of a subnormal p keeps a digit or two
    wide = mx.float64 if p.dtype == mx.float64 else mx.float32
    p32, y32, c32 = p.astype(wide), y.astype(wide), cotangent.astype(wide)
    grad_p = c32 * (p32 - y32) / mx.maximum(p32 * (1 - p32), 1e-12)
    grad_y = c32 * (_clipped_log(1 - p32) - _clipped_log(p32))
    return grad_p.astype(p.dtype), grad_y.astype(y.dtype)


def _clipped_log(x: mx.array) -> mx.array:
    return mx.maximum(mx.log(x), -100.0)


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
