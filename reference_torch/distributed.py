"""Data-parallel training in PyTorch: ``torch.distributed`` and ``DistributedDataParallel``.

Started by ``torchrun`` (or any launcher that sets torch's env rendezvous: ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); gloo on CPUs, NCCL on NVIDIA GPUs. DDP
broadcasts rank 0's weights when it wraps the model and, during ``backward``, all-reduces every
gradient and divides it by the group's size, so each process steps with the mean of the
processes' gradients. Which rows a process trains on is the caller's (``batches_of``; torch's
``DistributedSampler`` is the rule ``conformance.distributed.sharding`` writes once for both).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .data import StandardScaler, to_array, to_numpy
from .device import use_device
from .loss import loss_fn
from .metrics import classification_metrics
from .model import SimpleNN, export_weights, load_weights, to_dtype
from .optim import export_optimizer_state, get_learning_rate, make_adam
from .validate import evaluate_loss


def init_group(backend: str = "gloo"):
    """Join the process group from torch's env rendezvous (``torchrun`` sets it)."""
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.group.WORLD


def rank_and_size(group) -> tuple[int, int]:
    return dist.get_rank(group), dist.get_world_size(group)


def average_gradients(gradients: dict[str, np.ndarray], group) -> dict[str, np.ndarray]:
    """The group's mean of each process's ``gradients``: ``all_reduce`` (sum), then the division."""
    out = {}
    for k, v in gradients.items():
        t = to_array(v)
        dist.all_reduce(t, group=group)
        out[k] = to_numpy(t / dist.get_world_size(group))
    return out


def make_train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, group, compiled: bool = True):
    """``train_step(X, y) -> (loss, gradients)``: this process's loss on its rows, and the averaged
    gradient (DDP's, in ``.grad`` after ``backward``) that every process applied. ``compiled`` is
    accepted to keep ``mlx_reference.distributed``'s signature."""
    ddp = DistributedDataParallel(model, process_group=group)
    params = dict(model.named_parameters())

    def train_step(X: torch.Tensor, y: torch.Tensor):
        optimizer.zero_grad()
        loss = loss_fn(ddp, X, y)
        loss.backward()
        grads = {k: p.grad.detach().clone() for k, p in params.items()}
        optimizer.step()
        return loss.detach(), grads

    return train_step


def train_epoch(train_step, model: torch.nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor,
                y: torch.Tensor, batches: list[np.ndarray], on_step: Callable | None = None) -> torch.Tensor:
    """One epoch over this process's ``batches`` (row indices); returns its rows' mean loss.
    ``on_step(model, optimizer, loss, gradients, rows, X_batch, y_batch)`` after every step."""
    model.train()
    total, count = torch.zeros((), dtype=torch.float32, device=X.device), 0
    for rows in batches:
        b = torch.as_tensor(rows, device=X.device)
        Xb, yb = X[b], y[b]
        loss, grads = train_step(Xb, yb)
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
        with torch.no_grad():
            test_logits = model(Xs["test"])
            test_loss = loss_fn(model, Xs["test"], y["test"]).item()
        return {"standardized": {k: to_numpy(v) for k, v in Xs.items()}, "history": history,
                "final_weights": export_weights(model), "optimizer_state": export_optimizer_state(optimizer, model),
                "test_logits": to_numpy(test_logits), "test_loss": test_loss,
                "metrics": classification_metrics(test_logits, y["test"])}
