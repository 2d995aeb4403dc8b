"""Data-parallel training in MLX: ``mx.distributed``, gradients averaged with ``nn.average_gradients``.

Started by ``mlx.launch`` (ring over TCP on CPUs and Macs, NCCL on NVIDIA GPUs; each process
reads its rank and the hostfile from ``MLX_RANK`` and ``MLX_HOSTFILE``). Every process holds the
whole model and optimizer; each step, each computes the gradient of the mean loss over its own
rows, ``nn.average_gradients`` sums them over the group and divides by its size (``all_sum``
alone does not divide: the gradient would be W times torch DDP's), and every process applies the
same Adam update, so all hold identical state. Which rows a process trains on is the caller's
(``batches_of``), as ``DistributedSampler`` is torch's.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from .data import StandardScaler, to_array, to_numpy
from .device import use_device
from .loss import loss_fn
from .metrics import classification_metrics
from .model import SimpleNN, export_weights, load_weights, to_dtype
from .optim import export_optimizer_state, get_learning_rate, make_adam
from .validate import evaluate_loss


def init_group(backend: str = "any"):
    """This process's group (``mx.distributed.init(strict=True)``): an error, not a group of one,
    when the launcher's environment is missing."""
    return mx.distributed.init(strict=True, backend=backend)


def rank_and_size(group) -> tuple[int, int]:
    return group.rank(), group.size()


def average_gradients(gradients: dict[str, np.ndarray], group) -> dict[str, np.ndarray]:
    """The group's mean of each process's ``gradients`` (numpy, PyTorch names), by
    ``nn.average_gradients``."""
    tree = tree_unflatten([(k, to_array(v)) for k, v in gradients.items()])
    averaged = nn.average_gradients(tree, group=group)
    mx.eval(averaged)
    return {k: to_numpy(v) for k, v in tree_flatten(averaged)}


def make_train_step(model: nn.Module, optimizer: optim.Optimizer, group, compiled: bool = True):
    """``train_step(X, y) -> (loss, gradients)``: this process's loss on its rows, and the averaged
    gradient every process applied (lazy)."""
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def train_step(X: mx.array, y: mx.array):
        loss, grads = loss_and_grad(model, X, y)
        grads = nn.average_gradients(grads, group=group)
        optimizer.update(model, grads)
        return loss, grads

    if compiled:
        state = [model.state, optimizer.state]
        train_step = partial(mx.compile, inputs=state, outputs=state)(train_step)
    return train_step


def train_epoch(train_step, model: nn.Module, optimizer: optim.Optimizer, X: mx.array, y: mx.array,
                batches: list[np.ndarray], on_step: Callable | None = None) -> mx.array:
    """One epoch over this process's ``batches`` (row indices); returns its rows' mean loss.
    ``on_step(model, optimizer, loss, gradients, rows, X_batch, y_batch)`` after every step."""
    model.train()
    total, count = mx.array(0.0), 0
    for rows in batches:
        b = mx.array(rows)
        Xb, yb = X[b], y[b]
        loss, grads = train_step(Xb, yb)
        mx.eval(loss, grads, model.parameters(), optimizer.state)
        if on_step is not None:
            on_step(model, optimizer, loss, grads, rows, Xb, yb)
        total, count = total + loss * len(rows), count + len(rows)
    return total / count


def fit(model, optimizer, X_train, y_train, X_val, y_val, group, batches_of: Callable[[int], list],
        epochs: int = 100, compiled: bool = True, on_step: Callable | None = None,
        on_epoch: Callable | None = None) -> dict:
    """Train for ``epochs`` epochs, epoch ``e`` on ``batches_of(e)``; the validation loss (the whole
    validation set, on every process) after each."""
    train_step = make_train_step(model, optimizer, group, compiled=compiled)
    history: dict = {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "stopped_epoch": None}
    for epoch in range(1, epochs + 1):
        lr = get_learning_rate(optimizer)
        train_loss = train_epoch(train_step, model, optimizer, X_train, y_train, batches_of(epoch), on_step).item()
        val_loss = evaluate_loss(model, X_val, y_val) if X_val is not None and X_val.shape[0] else float("nan")
        for key, value in (("epoch", epoch), ("train_loss", train_loss), ("val_loss", val_loss), ("lr", lr)):
            history[key].append(value)
        if on_epoch is not None:
            on_epoch({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr})
    history["best_epoch"] = int(np.nanargmin(history["val_loss"])) + 1 if np.isfinite(history["val_loss"]).any() else None
    history["evaluated_weights"], history["evaluated_epoch"] = "final", len(history["epoch"])
    return history


def run_pipeline(splits: dict, weights: dict[str, np.ndarray], group, batches_of: Callable[[int], list],
                 epochs: int = 100, learning_rate: float = 1e-3, compiled: bool = True, device: str = "cpu",
                 on_step: Callable | None = None, on_epoch: Callable | None = None) -> dict:
    """The document's pipeline on this process: standardize (every process fits the scaler on the
    whole training set, so all hold the same one), train data-parallel, evaluate on the test set."""
    with use_device(device):
        X = {k: to_array(v[0]) for k, v in splits.items()}
        y = {k: to_array(v[1]) for k, v in splits.items()}
        scaler = StandardScaler().fit(X["train"])
        Xs = {k: scaler.transform(v) for k, v in X.items()}
        hidden, in_features = np.shape(weights["fc1.weight"])
        model = load_weights(to_dtype(SimpleNN(in_features, hidden), "float32"), weights)
        optimizer = make_adam(model, learning_rate)
        history = fit(model, optimizer, Xs["train"], y["train"], Xs["val"], y["val"], group, batches_of, epochs,
                      compiled, on_step, on_epoch)
        model.eval()
        test_logits = model(Xs["test"])
        return {"standardized": {k: to_numpy(v) for k, v in Xs.items()}, "history": history,
                "final_weights": export_weights(model), "optimizer_state": export_optimizer_state(optimizer, model),
                "test_logits": to_numpy(test_logits), "test_loss": loss_fn(model, Xs["test"], y["test"]).item(),
                "metrics": classification_metrics(test_logits, y["test"])}
