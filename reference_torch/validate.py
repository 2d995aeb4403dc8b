"""Step 6 of the document: validation loss each epoch, and early stopping that keeps the best weights.

Evaluation runs in ``model.eval()`` under ``torch.no_grad()``. ``state_dict()`` returns the live
parameter tensors, which the optimizer updates in place: the best weights must be cloned.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .loss import loss_fn


def evaluate_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """The loss on (X, y) in evaluation mode, as a Python float (one host synchronization)."""
    model.eval()
    with torch.no_grad():
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
                self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience

    def restore_best(self, model: nn.Module) -> None:
        if not self.keep_best:
            raise RuntimeError("EarlyStopping(keep_best=False) kept no weights to restore; pass keep_best=True")
        if self.best_weights is not None:
            model.load_state_dict(self.best_weights)
