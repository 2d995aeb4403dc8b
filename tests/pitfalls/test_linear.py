"""The proofs of the registry's entries on Linear layers, activations and initialisation (see ``helpers``)."""

from __future__ import annotations

import inspect
import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch
from torch import nn as tnn

from conformance.compare import assert_close, compare
from .helpers import demonstrates, measured

SHAPE = (256, 512)  # (out, in): a Linear layer's weight in both frameworks


def _std(a) -> float:
    return float(np.asarray(a, dtype=np.float64).std())


@demonstrates("he-init-gain")
def test_he_init_gain():
    mx.random.seed(0)
    torch.manual_seed(0)
    t_uniform = tnn.init.kaiming_uniform_(torch.empty(SHAPE))  # torch's defaults: fan_in, gain sqrt(2) (ReLU)
    t_normal = tnn.init.kaiming_normal_(torch.empty(SHAPE))
    measured("he-init-gain", "uniform_ratio", _std(nn.init.he_uniform()(mx.zeros(SHAPE))) / _std(t_uniform))
    measured("he-init-gain", "normal_ratio", _std(nn.init.he_normal()(mx.zeros(SHAPE))) / _std(t_normal))
    assert inspect.signature(nn.init.he_uniform()).parameters["gain"].default == 1.0

    fixed = np.array(nn.init.he_uniform()(mx.zeros(SHAPE), gain=math.sqrt(2.0)))
    bound = math.sqrt(2.0) * math.sqrt(3.0 / SHAPE[1])  # torch's: gain * sqrt(3 / fan_in)
    assert np.abs(fixed).max() <= bound and np.abs(t_uniform.numpy()).max() <= bound
    measured("he-init-gain", "fixed_ratio", _std(fixed) / _std(t_uniform))


@demonstrates("init-returns-initializer")
def test_init_returns_initializer():
    mx.random.seed(1)
    torch.manual_seed(1)
    layer = nn.Linear(SHAPE[1], SHAPE[0])
    before = np.array(layer.weight)
    returned = nn.init.glorot_uniform(layer.weight)  # torch's habit: xavier_uniform_(layer.weight)
    assert callable(returned)
    np.testing.assert_array_equal(np.array(layer.weight), before)  # nothing happened, and nothing said so
    measured("init-returns-initializer", "std_ratio", _std(before) / _std(tnn.init.xavier_uniform_(torch.empty(SHAPE))))

    layer.weight = nn.init.glorot_uniform()(layer.weight)
    bound = math.sqrt(6.0 / sum(SHAPE))  # torch's xavier_uniform_ bound
    t_weight = tnn.init.xavier_uniform_(torch.empty(SHAPE)).numpy()
    assert np.abs(np.array(layer.weight)).max() <= bound and np.abs(t_weight).max() <= bound
    measured("init-returns-initializer", "fixed_ratio", _std(layer.weight) / _std(t_weight))


@demonstrates("gelu-approximations")
def test_gelu_approximations():
    x = np.linspace(-6, 6, 2001, dtype=np.float32)
    t_tanh = tnn.GELU(approximate="tanh")(torch.tensor(x)).numpy()
    with pytest.raises(TypeError):
        nn.GELU(approximate="tanh")
    fast = np.array(nn.GELU(approx="fast")(mx.array(x)))
    measured("gelu-approximations", "fast_gap", np.abs(fast - t_tanh).max())
    assert not compare(fast, t_tanh, path="GELU(approx='fast') against torch's tanh", kind="forward").passed

    for approx in ("precise", "tanh"):
        assert_close(np.array(nn.GELU(approx=approx)(mx.array(x))), t_tanh, path=f"GELU(approx={approx!r})",
                     kind="forward")
    assert_close(np.array(nn.GELU()(mx.array(x))), tnn.GELU()(torch.tensor(x)).numpy(), path="GELU() (erf)",
                 kind="forward")
