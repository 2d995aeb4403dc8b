"""The proofs of the registry's entries on normalisation layers (see ``helpers``; weights move by ``layouts``)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import torch
from torch import nn as tnn

from conformance.compare import assert_close, compare
from . import layouts
from .helpers import demonstrates, measured


def _features(shape=(2, 8, 5, 5)) -> np.ndarray:
    """Channels of different means and spreads: what a normalisation layer exists for."""
    rng = np.random.default_rng(31)
    c = shape[1]
    scale, shift = np.arange(1, c + 1).reshape(1, c, 1, 1), np.arange(c).reshape(1, c, 1, 1)
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


@demonstrates("groupnorm-pytorch-compatible")
def test_groupnorm_pytorch_compatible():
    x = _features()
    tnorm = tnn.GroupNorm(2, 8)
    with torch.no_grad():
        expected = tnorm(torch.tensor(x)).numpy()
    naive = layouts.load(nn.GroupNorm(2, 8), layouts.norm(layouts.state(tnorm)))
    out = layouts.channels_first(np.array(naive(mx.array(layouts.channels_last(x)))))
    measured("groupnorm-pytorch-compatible", "gap", np.abs(out - expected).max())

    fixed = layouts.load(nn.GroupNorm(2, 8, pytorch_compatible=True), layouts.norm(layouts.state(tnorm)))
    assert_close(layouts.channels_first(np.array(fixed(mx.array(layouts.channels_last(x))))), expected,
                 path="GroupNorm(pytorch_compatible=True)", kind="forward")


def _running_var_before_0_32_1(x_last: np.ndarray, steps: int, momentum: float = 0.1):
    """The running statistics MLX's BatchNorm kept before 0.32.1: the variance of each batch with
    divisor n (biased), in float64 (ml-explore/mlx#3817 made it n - 1, as torch's)."""
    flat = x_last.reshape(-1, x_last.shape[-1]).astype(np.float64)
    mean, var = np.zeros(flat.shape[1]), np.ones(flat.shape[1])
    for _ in range(steps):
        mean = (1 - momentum) * mean + momentum * flat.mean(0)
        var = (1 - momentum) * var + momentum * flat.var(0)
    return mean, var


@demonstrates("batchnorm-running-var")
def test_batchnorm_running_var():
    x = _features((2, 8, 1, 2))  # four values a channel: where n and n - 1 differ most
    tnorm = tnn.BatchNorm2d(8)
    mnorm = nn.BatchNorm(8)
    for _ in range(10):  # ten training steps on the batch, then evaluation with the running statistics
        tnorm(torch.tensor(x))
        mnorm(mx.array(layouts.channels_last(x)))
    tnorm.eval()
    mnorm.eval()
    with torch.no_grad():
        expected = tnorm(torch.tensor(x)).numpy()
    mean, var = _running_var_before_0_32_1(layouts.channels_last(x), 10)
    old = layouts.channels_first((layouts.channels_last(x) - mean) / np.sqrt(var + 1e-5))
    measured("batchnorm-running-var", "old_gap", np.abs(old - expected).max())
    assert not compare(old.astype(np.float32), expected, path="BatchNorm before 0.32.1, eval", kind="forward").passed

    assert_close(np.array(mnorm.running_var), tnorm.running_var.numpy(), path="running_var", kind="forward")
    assert_close(layouts.channels_first(np.array(mnorm(mx.array(layouts.channels_last(x))))), expected,
                 path="BatchNorm (mlx >= 0.32.1), eval", kind="forward")


@demonstrates("rmsnorm-eps")
def test_rmsnorm_eps():
    x = (np.random.default_rng(32).standard_normal((4, 16)) * 1e-3).astype(np.float32)  # activations of size 1e-3
    tnorm = tnn.RMSNorm(16)
    assert tnorm.eps is None  # torch: finfo(dtype).eps at run time
    with torch.no_grad():
        expected = tnorm(torch.tensor(x)).numpy()
    naive = layouts.load(nn.RMSNorm(16), layouts.norm(layouts.state(tnorm)))
    assert naive.eps == 1e-5
    measured("rmsnorm-eps", "gap", np.abs(np.array(naive(mx.array(x))) - expected).max())

    fixed = layouts.load(nn.RMSNorm(16, eps=float(torch.finfo(torch.float32).eps)), layouts.norm(layouts.state(tnorm)))
    assert_close(np.array(fixed(mx.array(x))), expected, path="RMSNorm(eps=finfo(float32).eps)", kind="forward")
