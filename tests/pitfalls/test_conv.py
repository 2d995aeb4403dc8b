"""The proofs of the registry's entries on convolutions (see ``helpers``; weights move by ``layouts``)."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch
from torch import nn as tnn

from conformance.compare import assert_close, compare
from . import layouts
from .helpers import demonstrates, measured


def _images(channels: int = 3, size: tuple[int, int] = (5, 6), n: int = 2) -> np.ndarray:
    return np.random.default_rng(21).standard_normal((n, channels, *size)).astype(np.float32)


def _torch_out(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.tensor(x)).numpy()


@demonstrates("conv-channels-last")
def test_conv_channels_last():
    torch.manual_seed(0)
    x = _images()
    gaps = {}
    for k in (3, 1):
        tconv = tnn.Conv2d(3, 4, k, padding=k // 2)
        sd = layouts.state(tconv)
        naive = nn.Conv2d(3, 4, k, padding=k // 2)  # the weight reshaped, not transposed: it fits, nothing raises
        naive.weight, naive.bias = mx.array(sd["weight"].reshape(4, k, k, 3)), mx.array(sd["bias"])
        out = layouts.channels_first(np.array(naive(mx.array(layouts.channels_last(x)))))
        gaps[k] = np.abs(out - _torch_out(tconv, x)).max()
        reshaped = compare(out, _torch_out(tconv, x), path=f"Conv2d k={k}, weight reshaped", kind="forward").passed
        assert reshaped == (k == 1), f"a reshaped weight should be right at k=1 only (k={k})"
        with pytest.raises(ValueError, match="input channels"):
            naive(mx.array(x))  # NCHW as is: 6 "channels" for a layer of 3
        fixed = layouts.load(nn.Conv2d(3, 4, k, padding=k // 2), layouts.conv(sd))
        assert_close(layouts.channels_first(np.array(fixed(mx.array(layouts.channels_last(x))))), _torch_out(tconv, x),
                     path=f"Conv2d k={k}, channels-last", kind="forward")
    measured("conv-channels-last", "gap_k3", gaps[3])


@demonstrates("conv-transpose-weight-layout")
def test_conv_transpose_weight_layout():
    torch.manual_seed(1)
    x = _images(channels=4)
    tconv = tnn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
    sd = layouts.state(tconv)
    assert sd["weight"].shape == (4, 4, 3, 3)  # (in, out, kH, kW): not Conv2d's (out, in, kH, kW)
    naive = layouts.load(nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1), layouts.conv(sd))
    expected = _torch_out(tconv, x)
    out = layouts.channels_first(np.array(naive(mx.array(layouts.channels_last(x)))))
    measured("conv-transpose-weight-layout", "gap", np.abs(out - expected).max())
    with pytest.raises(ValueError):  # with in != out channels Conv2d's rule at least fails loudly
        layouts.load(nn.ConvTranspose2d(4, 3, 3), layouts.conv(layouts.state(tnn.ConvTranspose2d(4, 3, 3))))(
            mx.array(layouts.channels_last(x)))

    fixed = layouts.load(nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1), layouts.conv_transpose(sd))
    assert_close(layouts.channels_first(np.array(fixed(mx.array(layouts.channels_last(x))))), expected,
                 path="ConvTranspose2d", kind="forward")


@demonstrates("flatten-after-conv-order")
def test_flatten_after_conv_order():
    torch.manual_seed(2)
    x = _images()
    tmodel = tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), tnn.ReLU(), tnn.Flatten(), tnn.Linear(4 * 5 * 6, 2))
    expected = _torch_out(tmodel, x)
    conv = layouts.load(nn.Conv2d(3, 4, 3, padding=1), layouts.conv(layouts.state(tmodel[0])))
    h = nn.relu(conv(mx.array(layouts.channels_last(x))))  # (N, H, W, C)
    naive = layouts.load(nn.Linear(120, 2), layouts.linear(layouts.state(tmodel[3])))
    out = np.array(naive(h.reshape(2, -1)))
    measured("flatten-after-conv-order", "gap", np.abs(out - expected).max())
    assert not compare(out, expected, path="Linear on MLX's flattened (H, W, C)", kind="forward").passed

    fixed = layouts.load(nn.Linear(120, 2), layouts.linear_after_flatten(layouts.state(tmodel[3]), 4, (5, 6)))
    assert_close(np.array(fixed(h.reshape(2, -1))), expected, path="Linear with permuted columns", kind="forward")
    transposed = np.array(naive(h.transpose(0, 3, 1, 2).reshape(2, -1)))  # or flatten in torch's order
    assert_close(transposed, expected, path="Linear on (C, H, W)-flattened", kind="forward")


@demonstrates("conv-bias-init-zero")
def test_conv_bias_init_zero():
    mx.random.seed(0)
    torch.manual_seed(0)
    fan_in = 64 * 3 * 3
    mlx_bias = np.array(nn.Conv2d(64, 256, 3).bias)
    t_bias = tnn.Conv2d(64, 256, 3).bias.detach().numpy()
    measured("conv-bias-init-zero", "mlx_max", np.abs(mlx_bias).max())
    measured("conv-bias-init-zero", "torch_std_ratio", t_bias.std() / (1 / math.sqrt(3 * fan_in)))  # U(-b, b): std b/sqrt(3)
    linear_bias = np.array(nn.Linear(fan_in, 256).bias)
    assert np.abs(linear_bias).max() > 0  # MLX's Linear does draw its bias, as torch's does

    bound = 1 / math.sqrt(fan_in)
    fixed = nn.Conv2d(64, 256, 3)
    fixed.bias = mx.random.uniform(-bound, bound, fixed.bias.shape)
    assert np.abs(np.array(fixed.bias)).max() <= bound and np.abs(t_bias).max() <= bound
    measured("conv-bias-init-zero", "fixed_std_ratio", np.array(fixed.bias).std() / t_bias.std())
