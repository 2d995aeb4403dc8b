"""The MLP of ``examples/mlp.py`` trained data-parallel: the port's own training step averages the
ranks' gradients with ``nn.average_gradients``, as mlx-examples' distributed MNIST does. Check it
with ``python -m conformance pair examples/dp.py --ranks 2`` (torch under DDP and torchrun, MLX
under mlx.launch); with one rank the group is a single process and the same step trains alone.

The wrong port sums the ranks' gradients with ``mx.distributed.all_sum`` and forgets to divide by
the group's size: gradients W times DDP's, which Adam's scale invariance almost hides in the weights
and the check names at its averaged gradients (``WRONG_NAMES``)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

from . import mlp


def mlp_loss(model, X, y):
    return nn.losses.cross_entropy(model(X), y, reduction="mean")


def averaged_step(model, optimizer, X, y):
    """One data-parallel step: local gradients, their mean over the group, the update."""
    loss, grads = nn.value_and_grad(model, mlp_loss)(model, X, y)
    optimizer.update(model, nn.average_gradients(grads))
    return loss


def summed_step(model, optimizer, X, y):
    """The trap: ``all_sum`` used as if it averaged."""
    loss, grads = nn.value_and_grad(model, mlp_loss)(model, X, y)
    optimizer.update(model, tree_map(mx.distributed.all_sum, grads))
    return loss


def port(seed: int = 0) -> dict:
    return {**mlp.port(seed), "train_step": averaged_step, "steps": 6}


def wrong(seed: int = 0) -> dict:
    return {**port(seed), "train_step": summed_step}


WRONG_NAMES = "averaged gradients"  # what the report must name (with ranks=2)
