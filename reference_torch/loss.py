"""Step 3 of the document: binary cross-entropy.

``torch.nn.BCELoss`` takes probabilities and ``BCEWithLogitsLoss`` logits. The model returns
logits, so the loss is the stable logits form; the probability form is here for code that really
holds probabilities. Both insist on logits/probabilities and targets of the same shape.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import to_numpy


def bce_with_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of ``targets`` (0/1) under ``sigmoid(logits)``, computed stably."""
    _check_shapes("bce_with_logits", "logits", logits, targets)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="mean")


def bce(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of ``targets`` under ``probabilities``; log terms clamped at -100."""
    _check_shapes("bce", "probabilities", probabilities, targets)
    return F.binary_cross_entropy(probabilities, targets, reduction="mean")


def loss_fn(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss: BCE of the model's logits on ``X`` against ``y``."""
    return bce_with_logits(model(X), y)


def loss_and_gradients(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and every parameter's gradient (PyTorch key names), as numpy."""
    params = dict(model.named_parameters())
    loss = loss_fn(model, X, y)
    grads = torch.autograd.grad(loss, list(params.values()))
    return loss.item(), {k: to_numpy(g) for k, g in zip(params, grads)}


def _check_shapes(fn: str, what: str, inputs: torch.Tensor, targets: torch.Tensor) -> None:
    if tuple(inputs.shape) != tuple(targets.shape):
        raise ValueError(
            f"{fn}: {what} have shape {tuple(inputs.shape)} but targets {tuple(targets.shape)}; "
            f"give both shape (N,) (SimpleNN returns (N,) logits)"
        )
