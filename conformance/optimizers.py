"""Optimizers a lockstep comparison can judge: one specification, both frameworks' optimizers built
from it with the same semantics, and the interval its step reaches (``conformance.intervals``).

``Adam``/``AdamW``/``SGD`` name torch's hyperparameters. MLX's defaults differ where a port goes
wrong silently, so ``make_mlx`` sets them explicitly: ``bias_correction=True`` (MLX's ``Adam`` and
``AdamW`` skip it by default), ``AdamW``'s weight decay (MLX's default 0.01, torch's 0.01 too, but
named here), SGD's dampening. MLX's SGD with dampening starts its momentum buffer at zero where
torch copies the first gradient: a real difference, which the local checks then report.

State travels under PyTorch's names: ``<param>.exp_avg``, ``<param>.exp_avg_sq`` (Adam, AdamW),
``<param>.momentum_buffer`` (SGD with momentum), and ``step``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .intervals import Interval, adam_interval, sgd_interval
from .tolerances import StepRounding


@dataclass(frozen=True)
class Optimizer:
    kind: str  # "adam", "adamw" or "sgd"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False

    def __post_init__(self):
        if self.kind not in ("adam", "adamw", "sgd"):
            raise ValueError(f"unknown optimizer {self.kind!r}; use Adam, AdamW or SGD")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be positive, got {self.lr}")

    @property
    def label(self) -> str:
        """The optimizer as its name reads in a report: Adam, AdamW, SGD (with momentum)."""
        name = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}[self.kind]
        return name + (" with momentum" if self.kind == "sgd" and self.momentum else "")

    @property
    def suffixes(self) -> tuple[str, ...]:
        if self.kind == "sgd":
            return (".momentum_buffer",) if self.momentum else ()
        return (".exp_avg", ".exp_avg_sq")

    def interval(self, p, state: dict[str, np.ndarray], t: int, lr: float, g_lo, g_hi,
                 rounding: StepRounding) -> dict[str, Interval]:
        """Where the step lands: ``"param"`` and each of ``suffixes``; ``state`` maps each suffix to
        the flat state before the step."""
        if self.kind == "sgd":
            buf = state.get(".momentum_buffer", np.zeros_like(p))
            iv = sgd_interval(p, buf, t, lr, g_lo, g_hi, rounding, self.momentum, self.dampening, self.nesterov,
                              self.weight_decay)
            return {"param": iv["param"], **({".momentum_buffer": iv["momentum_buffer"]} if self.momentum else {})}
        iv = adam_interval(p, state[".exp_avg"], state[".exp_avg_sq"], t, lr, g_lo, g_hi, rounding, self.betas,
                           self.eps, self.weight_decay, decoupled=self.kind == "adamw")
        return {"param": iv["param"], ".exp_avg": iv["exp_avg"], ".exp_avg_sq": iv["exp_avg_sq"]}

    def make_torch(self, params):
        import torch

        if self.kind == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, dampening=self.dampening,
                                   nesterov=self.nesterov, weight_decay=self.weight_decay)
        cls = torch.optim.AdamW if self.kind == "adamw" else torch.optim.Adam
        return cls(params, lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay)

    def make_mlx(self):
        import mlx.optimizers as optim

        if self.kind == "sgd":
            return optim.SGD(learning_rate=self.lr, momentum=self.momentum, dampening=self.dampening,
                             nesterov=self.nesterov, weight_decay=self.weight_decay)
        if self.kind == "adamw":
            return optim.AdamW(learning_rate=self.lr, betas=list(self.betas), eps=self.eps,
                               weight_decay=self.weight_decay, bias_correction=True)
        if self.weight_decay:
            raise ValueError("MLX's Adam has no weight decay (torch's Adam adds weight_decay * p to the gradient): "
                             "use weight_decay=0, or write the decay into the MLX loss, or compare AdamW")
        return optim.Adam(learning_rate=self.lr, betas=list(self.betas), eps=self.eps, bias_correction=True)

    @property
    def mlx_state_keys(self) -> dict[str, str]:
        """MLX's state key for each of ``suffixes``."""
        return {".exp_avg": "m", ".exp_avg_sq": "v", ".momentum_buffer": "v"}


def Adam(lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> Optimizer:
    return Optimizer("adam", lr, tuple(betas), eps, weight_decay)


def AdamW(lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01) -> Optimizer:
    return Optimizer("adamw", lr, tuple(betas), eps, weight_decay)


def SGD(lr: float, momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0) -> Optimizer:
    return Optimizer("sgd", lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay)
