"""Step 5 of the document: the training loop.

The PyTorch idiom: ``optimizer.zero_grad()``, the loss, ``loss.backward()``, ``optimizer.step()``.
The step is left uncompiled (``torch.compile`` is not the reference); ``compiled`` is accepted to
keep the signature of ``mlx_reference.train``. Nothing reads a value back to the host inside an
epoch unless ``on_step`` asks for it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from .loss import loss_fn
from .optim import get_learning_rate
from .validate import EarlyStopping, evaluate_loss

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_train_step(model: nn.Module, optimizer: torch.optim.Optimizer, compiled: bool = True) -> StepFn:
    """A function ``train_step(X, y) -> loss`` that updates ``model`` in place."""

    def train_step(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(model, X, y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return train_step


def train_epoch(
    train_step: StepFn,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int | None = None,
    order: np.ndarray | None = None,
    on_step: Callable | None = None,
) -> torch.Tensor:
    """One pass over (X, y): full batch, or minibatches of ``batch_size`` in ``order``.

    Returns the epoch's training loss, the mean of the batch losses weighted by batch size, as a
    tensor on the device. ``on_step(model, optimizer, loss)`` runs after every step.
    """
    model.train()
    n = X.shape[0]
    if batch_size is None or batch_size >= n:
        batches = [None]
    else:
        idx = torch.as_tensor(order if order is not None else np.arange(n), device=X.device)
        batches = [idx[s:s + batch_size] for s in range(0, n, batch_size)]
    total = torch.zeros((), dtype=torch.float32, device=X.device)
    for b in batches:
        loss = train_step(X, y) if b is None else train_step(X[b], y[b])
        if on_step is not None:
            on_step(model, optimizer, loss)
        total = total + loss * (n if b is None else b.shape[0])
    return total / n


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    seed: int = 0,
    patience: int | None = None,
    min_delta: float = 0.0,
    scheduler=None,
    compiled: bool = True,
    on_step: Callable | None = None,
    on_epoch: Callable | None = None,
    restore_best: bool = False,
) -> dict:
    """Train for up to ``epochs`` epochs; validate, schedule and stop early on the validation loss.

    Minibatch orders are drawn once per epoch from ``np.random.default_rng(seed)``, so both
    frameworks see the same batches. ``restore_best=True`` puts the weights of the best
    validation epoch back at the end (needs a validation set); the default keeps the final
    weights, as the document evaluates its model after the last epoch and as Keras'
    ``EarlyStopping(restore_best_weights=False)`` does: choosing weights by the validation loss
    is a decision the caller makes, not a side effect of early stopping. ``on_epoch(record)``
    gets each epoch's record (host values). Returns the history: per-epoch ``train_loss``,
    ``val_loss``, ``lr``; ``stopped_epoch``, ``best_epoch``, ``best_val_loss``; and which weights
    the model holds now: ``evaluated_weights`` ("best" or "final") from ``evaluated_epoch`` (0:
    the initial weights, when no epoch ran).
    """
    if restore_best and X_val is None:
        raise ValueError("fit: restore_best=True chooses weights by the validation loss; pass X_val and y_val")
    train_step = make_train_step(model, optimizer, compiled=compiled)
    rng = np.random.default_rng(seed)
    stopper = EarlyStopping(patience, min_delta, keep_best=restore_best) if X_val is not None else None
    history: dict = {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "stopped_epoch": None}
    train_losses = []
    n = X_train.shape[0]
    for epoch in range(1, epochs + 1):
        lr = get_learning_rate(optimizer)
        order = rng.permutation(n) if batch_size is not None and batch_size < n else None
        train_losses.append(train_epoch(train_step, model, optimizer, X_train, y_train, batch_size, order, on_step))
        val_loss = evaluate_loss(model, X_val, y_val) if X_val is not None else float("nan")
        history["epoch"].append(epoch)
        history["val_loss"].append(val_loss)
        history["lr"].append(lr)
        if on_epoch is not None:
            on_epoch({"epoch": epoch, "train_loss": train_losses[-1].item(), "val_loss": val_loss, "lr": lr})
        if scheduler is not None and X_val is not None:
            scheduler.step(val_loss)
        if stopper is not None and stopper.step(val_loss, model, epoch):
            history["stopped_epoch"] = epoch
            break
    history["train_loss"] = [float(v) for v in torch.stack(train_losses).tolist()] if train_losses else []
    history["evaluated_weights"], history["evaluated_epoch"] = "final", len(history["epoch"])
    if stopper is not None:
        history["best_epoch"], history["best_val_loss"] = stopper.best_epoch, stopper.best_loss
        if restore_best and stopper.best_epoch is not None:
            stopper.restore_best(model)
            history["evaluated_weights"], history["evaluated_epoch"] = "best", stopper.best_epoch
    return history
