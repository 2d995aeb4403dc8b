"""The proofs of the registry's entries on the model: one test per entry (see ``helpers``)."""

from __future__ import annotations

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mlx.utils import tree_flatten
from torch import nn as tnn

from conformance.compare import assert_close
from mlx_reference import data as MD
from .helpers import DOC, demonstrates, m_, measured, mlx_model, run_seed, seed_model_called_properly, t_, torch_logits


@demonstrates("seed-forward-not-called")
def test_seed_forward_not_called():
    ns = run_seed(1, 2)
    model = ns["SimpleNN"]()
    with pytest.raises(TypeError, match="'SimpleNN' object is not callable"):
        model(ns["X_train"])

    X = DOC["train"][0]
    assert_close(MD.to_numpy(mlx_model()(m_(X))), torch_logits(X), path="SimpleNN logits", kind="forward")


@demonstrates("seed-relu-module-per-call")
def test_seed_relu_module_per_call():
    seed_model = seed_model_called_properly()
    X = m_(DOC["train"][0])
    np.testing.assert_array_equal(np.array(seed_model(X))[:, 0], np.array(mlx_model()(X)))

    x = mx.zeros((4, 10))
    mx.eval(x)

    def per_call(fn, n=2000):
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                fn(x)
            best = min(best, (time.perf_counter() - t0) / n)
        return best

    overhead = per_call(lambda v: nn.ReLU()(v)) - per_call(nn.relu)
    measured("seed-relu-module-per-call", "overhead_us", overhead * 1e6)
    assert overhead > 0
    assert_close(MD.to_numpy(mlx_model()(X)), torch_logits(DOC["train"][0]), path="SimpleNN logits", kind="forward")




class _TorchNet(tnn.Module):
    """A torch module with the three kinds of state: a ModuleList, a private parameter, a buffer."""

    def __init__(self):
        super().__init__()
        self.blocks = tnn.ModuleList([tnn.Linear(2, 4), tnn.Linear(4, 1)])
        self._temperature = tnn.Parameter(torch.tensor(2.0))
        self.register_buffer("centre", torch.tensor([0.5, -0.5]))

    def forward(self, x):
        return self.blocks[1](torch.relu(self.blocks[0](x - self.centre))).squeeze(-1) / self._temperature


class _NaiveNet(nn.Module):
    """Ported line by line: a tuple for the ModuleList, the same private name, the buffer as an attribute."""

    def __init__(self):
        super().__init__()
        self.blocks = (nn.Linear(2, 4), nn.Linear(4, 1))
        self._temperature = mx.array(2.0)
        self.centre = mx.array([0.5, -0.5])

    def __call__(self, x):
        return self.blocks[1](nn.relu(self.blocks[0](x - self.centre))).squeeze(-1) / self._temperature


class _FixedNet(nn.Module):
    """A list, a public name for what trains, and the buffer frozen."""

    def __init__(self):
        super().__init__()
        self.blocks = [nn.Linear(2, 4), nn.Linear(4, 1)]
        self.temperature = mx.array(2.0)
        self.centre = mx.array([0.5, -0.5])
        self.freeze(keys=["centre"], recurse=False)

    def __call__(self, x):
        return self.blocks[1](nn.relu(self.blocks[0](x - self.centre))).squeeze(-1) / self.temperature


def _load_blocks(net, tnet) -> None:
    for mine, theirs in zip(net.blocks, tnet.blocks):
        mine.weight, mine.bias = mx.array(theirs.weight.detach().numpy()), mx.array(theirs.bias.detach().numpy())


def _train(net, steps: int = 10, lr: float = 1e-2):
    opt = optim.Adam(learning_rate=lr, bias_correction=True)
    value_and_grad = nn.value_and_grad(net, lambda m, X, y: nn.losses.binary_cross_entropy(m(X), y, reduction="mean"))
    X, y = (m_(a) for a in DOC["train"])
    for _ in range(steps):
        _, grads = value_and_grad(net, X, y)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)


@demonstrates("module-parameter-registration")
def test_module_parameter_registration():
    torch.manual_seed(0)
    tnet = _TorchNet()
    trained_by_torch = sum(p.numel() for p in tnet.parameters())
    naive = _NaiveNet()
    _load_blocks(naive, tnet)
    trainable = dict(tree_flatten(naive.trainable_parameters()))
    assert set(trainable) == {"centre"}
    measured("module-parameter-registration", "naive_trained", sum(v.size for v in trainable.values()))
    measured("module-parameter-registration", "torch_trained", trained_by_torch)
    before = np.array(naive.blocks[0].weight)
    _train(naive)
    np.testing.assert_array_equal(np.array(naive.blocks[0].weight), before)  # the layers never moved
    measured("module-parameter-registration", "buffer_drift", np.abs(np.array(naive.centre) - [0.5, -0.5]).max())
    assert "blocks.0.weight" not in dict(tree_flatten(naive.parameters()))  # and would not be saved

    fixed = _FixedNet()
    _load_blocks(fixed, tnet)
    names = {k.replace("temperature", "_temperature") for k, _ in tree_flatten(fixed.trainable_parameters())}
    assert names == {k for k, _ in tnet.named_parameters()}
    assert {k for k, _ in tree_flatten(fixed.parameters())} - {k for k, _ in tree_flatten(fixed.trainable_parameters())} \
        == set(dict(tnet.named_buffers()))
    _train(fixed)
    t_opt = torch.optim.Adam(tnet.parameters(), lr=1e-2)
    X, y = (t_(a) for a in DOC["train"])
    for _ in range(10):
        t_opt.zero_grad()
        F.binary_cross_entropy_with_logits(tnet(X), y).backward()
        t_opt.step()
    mine = {k.replace("temperature", "_temperature"): np.array(v) for k, v in tree_flatten(fixed.parameters())}
    for key, value in tnet.state_dict().items():
        assert_close(mine[key], value.numpy(), path=f"{key} after 10 Adam steps", kind="trajectory", scale=1e-2, step=10)
