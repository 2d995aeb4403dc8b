"""Step 4 of the document: Adam, and reducing the learning rate when validation stalls.

PyTorch's ``Adam`` always corrects its moments' bias; ``ReduceLROnPlateau`` is PyTorch's own.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau  # noqa: F401  (the reference the MLX class mirrors)

from .data import to_numpy


def make_adam(
    model: nn.Module,
    learning_rate: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.Adam:
    """``torch.optim.Adam`` over the model's parameters."""
    # foreach=False: the plain per-parameter loop, the textbook form of the update.
    return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=betas, eps=eps, foreach=False)


def get_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def export_optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, np.ndarray]:
    """Adam's state under PyTorch's names: ``<param>.exp_avg``, ``<param>.exp_avg_sq``, ``step``."""
    out: dict[str, np.ndarray] = {}
    step = 0.0
    for name, p in model.named_parameters():
        state = optimizer.state.get(p) or {}  # empty until the first step, like MLX's zeros
        out[f"{name}.exp_avg"] = to_numpy(state["exp_avg"]) if state else np.zeros(tuple(p.shape), np.float32)
        out[f"{name}.exp_avg_sq"] = to_numpy(state["exp_avg_sq"]) if state else np.zeros(tuple(p.shape), np.float32)
        step = float(state["step"]) if state else 0.0
    out["step"] = np.asarray(step, dtype=np.float64)
    return out


def import_optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module, state: dict[str, np.ndarray]) -> None:
    """Set Adam's state from ``export_optimizer_state``'s form (PyTorch's names), in place.

    A step count of 0 empties the state, as a fresh ``Adam`` has it before its first step.
    """
    step = float(np.asarray(state["step"]))
    for name, p in model.named_parameters():
        if step == 0:
            optimizer.state.pop(p, None)
            continue
        optimizer.state[p] = {
            "step": torch.tensor(step, dtype=torch.float32),
            "exp_avg": torch.as_tensor(np.asarray(state[f"{name}.exp_avg"]), device=p.device).to(p.dtype).clone(),
            "exp_avg_sq": torch.as_tensor(np.asarray(state[f"{name}.exp_avg_sq"]), device=p.device).to(p.dtype).clone(),
        }


def apply_gradients(optimizer: torch.optim.Optimizer, model: nn.Module, gradients: dict[str, np.ndarray]) -> None:
    """One optimizer step with the given gradients (numpy, PyTorch names) instead of computed ones."""
    for name, p in model.named_parameters():
        p.grad = torch.as_tensor(np.asarray(gradients[name]), device=p.device).to(p.dtype).reshape(p.shape)
    optimizer.step()
