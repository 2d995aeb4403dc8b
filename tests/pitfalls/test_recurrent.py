"""The proofs of the registry's entries on recurrent layers (see ``helpers``; weights move by ``layouts``)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import torch
from torch import nn as tnn

from conformance.compare import assert_close, compare
from . import layouts
from .helpers import demonstrates, measured

N, L, D, H = 2, 7, 3, 5


def _sequence_time_major() -> np.ndarray:
    """torch's default layout: (L, N, D)."""
    return np.random.default_rng(51).standard_normal((L, N, D)).astype(np.float32)


@demonstrates("lstm-layout-and-bias")
def test_lstm_layout_and_bias():
    torch.manual_seed(4)
    x = _sequence_time_major()
    tlstm = tnn.LSTM(D, H)  # batch_first=False: torch's default
    with torch.no_grad():
        out, (h_n, c_n) = tlstm(torch.tensor(x))
    expected = layouts.batch_first(out.numpy())
    sd = layouts.state(tlstm)
    mlstm = layouts.load(nn.LSTM(D, H), layouts.lstm(sd))
    time_major, _ = mlstm(mx.array(x))  # (L, N, D) read as a batch of L sequences of length N: runs
    measured("lstm-layout-and-bias", "time_major_gap",
             np.abs(layouts.batch_first(np.array(time_major)) - expected).max())
    one_bias = layouts.load(nn.LSTM(D, H), {**layouts.lstm(sd), "bias": sd["bias_ih_l0"]})
    measured("lstm-layout-and-bias", "one_bias_gap",
             np.abs(np.array(one_bias(mx.array(layouts.batch_first(x)))[0]) - expected).max())

    hidden, cell = mlstm(mx.array(layouts.batch_first(x)))  # every step's state, batch-first
    assert_close(np.array(hidden), expected, path="LSTM hidden states", kind="forward")
    assert_close(np.array(hidden[:, -1]), h_n[0].numpy(), path="LSTM h_n", kind="forward")
    assert_close(np.array(cell[:, -1]), c_n[0].numpy(), path="LSTM c_n", kind="forward")

    t_moved, mlx_moved, doubled = _bias_step()  # training: torch steps both of its biases
    measured("lstm-layout-and-bias", "bias_step_ratio", np.abs(t_moved).sum() / np.abs(mlx_moved).sum())
    assert_close(doubled, t_moved, path="LSTM bias after one SGD step, its gradient doubled", kind="trajectory",
                 scale=0.1, step=1)


@demonstrates("gru-bias-layout")
def test_gru_bias_layout():
    torch.manual_seed(5)
    x = layouts.batch_first(_sequence_time_major())
    tgru = tnn.GRU(D, H, batch_first=True)
    with torch.no_grad():
        expected = tgru(torch.tensor(x))[0].numpy()
    sd = layouts.state(tgru)
    summed = {**layouts.gru(sd), "b": sd["bias_ih_l0"] + sd["bias_hh_l0"], "bhn": np.zeros(H, np.float32)}
    naive = layouts.load(nn.GRU(D, H), summed)  # the LSTM's rule: both biases summed
    measured("gru-bias-layout", "summed_gap", np.abs(np.array(naive(mx.array(x))) - expected).max())

    fixed = layouts.load(nn.GRU(D, H), layouts.gru(sd))
    assert_close(np.array(fixed(mx.array(x))), expected, path="GRU, b_hn kept apart", kind="forward")


def _gru_before_0_31_2(gru: nn.GRU, x: mx.array) -> np.ndarray:
    """MLX's GRU as it ran before 0.31.2 without an initial state: the first step's candidate left
    out ``bhn`` (ml-explore/mlx#3252); later steps are the current layer's, from that first state."""
    projected = mx.addmm(gru.b, x[:, :1], gru.Wx.T)[:, 0]
    r, z = mx.split(mx.sigmoid(projected[:, :2 * H]), 2, axis=-1)
    first = (1 - z) * mx.tanh(projected[:, 2 * H:])
    rest = gru(x[:, 1:], hidden=first)
    return np.concatenate([np.array(first)[:, None], np.array(rest)], axis=1)


@demonstrates("gru-first-step-bias")
def test_gru_first_step_bias():
    torch.manual_seed(6)
    x = layouts.batch_first(_sequence_time_major())
    tgru = tnn.GRU(D, H, batch_first=True)
    with torch.no_grad():
        tgru.bias_hh_l0.uniform_(-1, 1)
        expected = tgru(torch.tensor(x))[0].numpy()
    mgru = layouts.load(nn.GRU(D, H), layouts.gru(layouts.state(tgru)))
    old = _gru_before_0_31_2(mgru, mx.array(x))
    measured("gru-first-step-bias", "old_gap", np.abs(old - expected).max())
    assert not compare(old, expected, path="GRU before 0.31.2", kind="forward").passed

    assert_close(np.array(mgru(mx.array(x))), expected, path="GRU (mlx >= 0.31.2), no initial state", kind="forward")
    zeros = np.array(mgru(mx.array(x), hidden=mx.zeros((N, H))))
    assert_close(zeros, expected, path="GRU with a zero initial state", kind="forward")


def _bias_step(lr: float = 0.1):
    """One SGD step on sum(outputs) from the same weights: how far the LSTM's total bias moves in torch
    (two parameters, each stepped) and in MLX (one), and MLX's step with the bias gradient doubled."""
    torch.manual_seed(7)
    x = layouts.batch_first(_sequence_time_major())
    tlstm = tnn.LSTM(D, H, batch_first=True)
    sd = layouts.state(tlstm)
    t_opt = torch.optim.SGD(tlstm.parameters(), lr=lr)
    tlstm(torch.tensor(x))[0].sum().backward()
    t_opt.step()
    t_moved = layouts.lstm(layouts.state(tlstm))["bias"] - layouts.lstm(sd)["bias"]

    def mlx_moved(bias_gradient_factor: float) -> np.ndarray:
        mlstm = layouts.load(nn.LSTM(D, H), layouts.lstm(sd))
        grads = nn.value_and_grad(mlstm, lambda m, v: m(v)[0].sum())(mlstm, mx.array(x))[1]
        grads["bias"] = grads["bias"] * bias_gradient_factor
        optim.SGD(learning_rate=lr).update(mlstm, grads)
        return np.array(mlstm.bias) - layouts.lstm(sd)["bias"]

    return t_moved, mlx_moved(1.0), mlx_moved(2.0)
