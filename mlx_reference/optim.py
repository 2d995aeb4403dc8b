"""Step 4 of the document: Adam, and reducing the learning rate when validation stalls.

The module is ``mlx.optimizers`` (the document imports ``mlx.optim``, which does not exist). MLX's
``Adam`` takes ``learning_rate`` and no parameters, and by default skips bias correction
(``bias_correction=False``): with the default betas its first step is (1-beta1)/sqrt(1-beta2) =
sqrt(10) times PyTorch's. ``bias_correction=True`` gives PyTorch's update. MLX has no
``ReduceLROnPlateau``: the class below follows ``torch.optim.lr_scheduler.ReduceLROnPlateau``.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from .data import to_numpy


def make_adam(
    model: nn.Module,
    learning_rate: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> optim.Adam:
    """Adam with PyTorch's semantics, its state created now (so a compiled step can capture it)."""
    optimizer = optim.Adam(learning_rate=learning_rate, betas=list(betas), eps=eps, bias_correction=True)
    optimizer.init(model.trainable_parameters())
    set_learning_rate(optimizer, learning_rate)
    return optimizer


def get_learning_rate(optimizer: optim.Optimizer) -> float:
    """The learning rate as the Python float it was set to, as torch's ``param_group["lr"]``.

    MLX keeps the rate in ``optimizer.state`` as a float32 array (the update uses that); reading
    it back gives 0.0010000000474974513 for 1e-3, and a schedule computed from the rounded value
    drifts from torch's by an ulp per reduction and can flip an ``eps`` decision.
    """
    stored = optimizer.learning_rate.item()
    value = getattr(optimizer, "_learning_rate_set", None)
    # The float set through set_learning_rate, unless the rate was changed some other way since
    # (optimizer.learning_rate = ...): then the stored float32 is all there is.
    if value is not None and np.float32(value) == np.float32(stored):
        return float(value)
    return stored


def set_learning_rate(optimizer: optim.Optimizer, learning_rate: float) -> None:
    # The learning rate lives in optimizer.state, so a step compiled with the state as its
    # input sees the change without recompiling.
    optimizer.learning_rate = learning_rate
    optimizer._learning_rate_set = float(learning_rate)


def export_optimizer_state(optimizer: optim.Optimizer, model: nn.Module) -> dict[str, np.ndarray]:
    """Adam's state under PyTorch's names: ``<param>.exp_avg``, ``<param>.exp_avg_sq``, ``step``."""
    state = dict(tree_flatten(optimizer.state))
    out: dict[str, np.ndarray] = {}
    for name, _ in tree_flatten(model.trainable_parameters()):
        out[f"{name}.exp_avg"] = to_numpy(state[f"{name}.m"])
        out[f"{name}.exp_avg_sq"] = to_numpy(state[f"{name}.v"])
    out["step"] = np.asarray(optimizer.step.item(), dtype=np.float64)
    return out


def import_optimizer_state(optimizer: optim.Optimizer, model: nn.Module, state: dict[str, np.ndarray]) -> None:
    """Set Adam's state from ``export_optimizer_state``'s form (PyTorch's names), in place.

    The arrays are replaced inside the existing state dictionaries, never by assigning
    ``optimizer.state``: a step compiled with ``inputs=[model.state, optimizer.state]`` holds
    those dictionaries and reads whatever they contain at each call.
    """
    current = optimizer.state
    for name, param in tree_flatten(model.trainable_parameters()):
        node = current
        for part in name.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        node["m"] = mx.array(np.asarray(state[f"{name}.exp_avg"]), dtype=param.dtype)
        node["v"] = mx.array(np.asarray(state[f"{name}.exp_avg_sq"]), dtype=param.dtype)
    current["step"] = mx.array(int(np.asarray(state["step"])), dtype=mx.uint64)


def apply_gradients(optimizer: optim.Optimizer, model: nn.Module, gradients: dict[str, np.ndarray]) -> None:
    """One optimizer step with the given gradients (numpy, PyTorch names) instead of computed ones."""
    grads = tree_unflatten([(k, mx.array(np.asarray(v), dtype=p.dtype))
                            for (k, p), v in ((kp, gradients[kp[0]]) for kp in tree_flatten(model.trainable_parameters()))])
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    The same rules, arguments and defaults as ``torch.optim.lr_scheduler.ReduceLROnPlateau``:
    ``threshold_mode`` "rel" counts an improvement when the metric beats the best by a factor
    ``1 - threshold`` ("min") or ``1 + threshold`` ("max"), "abs" by ``threshold``; after a
    reduction ``cooldown`` epochs pass before bad epochs count again; the rate never goes below
    ``min_lr`` and changes smaller than ``eps`` are ignored. Call ``step(metric)`` once an epoch.
    """

    def __init__(
        self,
        optimizer: optim.Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ):
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau: factor should be < 1.0")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {mode!r} is unknown; use 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode {threshold_mode!r} is unknown; use 'rel' or 'abs'")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def step(self, metric: float) -> None:
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old_lr = get_learning_rate(self.optimizer)  # a Python float, like torch's param_group["lr"]
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                set_learning_rate(self.optimizer, new_lr)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        return [get_learning_rate(self.optimizer)]

    def _is_better(self, a: float) -> bool:
        if self.mode == "min":
            return a < (self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold)
        return a > (self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold)
