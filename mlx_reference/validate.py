"""Step 6 of the document: validation loss each epoch, and early stopping that keeps the best weights.

MLX has no ``torch.no_grad``: nothing records gradients unless a function is wrapped in
``mx.grad``/``nn.value_and_grad``, so evaluation is a plain call. ``model.eval()`` still exists
(for layers such as dropout). MLX arrays are immutable and an optimizer update replaces them, so
holding references to the parameters is already a snapshot; torch needs a clone.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

from .loss import loss_fn


def evaluate_loss(model: nn.Module, X: mx.array, y: mx.array) -> float:
    """The loss on (X, y) in evaluation mode, as a Python float (one host synchronization)."""
    model.eval()
    return loss_fn(model, X, y).item()


class EarlyStopping:
    """Stop when the validation loss has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``patience=None`` never stops. With ``keep_best`` (the default) it remembers the weights of the
    epoch with the lowest validation loss, and ``restore_best`` puts them back into the model.
    """

    def __init__(self, patience: int | None = 10, min_delta: float = 0.0, keep_best: bool = True):
        if patience is not None and patience < 1:
            raise ValueError(f"EarlyStopping: patience must be at least 1 (or None for never), got {patience}")
        if min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta}")
        self.patience, self.min_delta, self.keep_best = patience, min_delta, keep_best
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.best_weights = None

    def step(self, val_loss: float, model: nn.Module, epoch: int) -> bool:
        """Record epoch ``epoch``'s validation loss; True when training should stop."""
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            if self.keep_best:
                self.best_weights = tree_flatten(model.parameters())  # immutable arrays: no copy needed
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience

    def restore_best(self, model: nn.Module) -> None:
        if not self.keep_best:
            raise RuntimeError("EarlyStopping(keep_best=False) kept no weights to restore; pass keep_best=True")
        if self.best_weights is not None:
            model.update(tree_unflatten(self.best_weights))
            mx.eval(model.parameters())
