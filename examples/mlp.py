"""An MLP classifier on scikit-learn's 8x8 digits, MNIST-style (the model of mlx-examples'
mnist/main.py: a list of Linear layers with ReLU between them), trained with cross-entropy and
Adam. The wrong port forgets the output layer's bias: the mapping refuses, naming the layer."""

from __future__ import annotations

import mlx.nn as nn
import torch
from torch import nn as tnn

from conformance import pair

from ._data import digits

DIMS = (64, 64, 32, 10)


class TorchMLP(tnn.Module):
    def __init__(self, dims=DIMS):
        super().__init__()
        self.layers = tnn.ModuleList(tnn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class MLP(nn.Module):
    def __init__(self, dims=DIMS, output_bias: bool = True):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-2], dims[1:-1])]
        self.layers.append(nn.Linear(dims[-2], dims[-1], bias=output_bias))

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.relu(layer(x))
        return self.layers[-1](x)


def port(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return dict(torch_model=TorchMLP(), mlx_model=MLP(), batches=digits(8, 64, seed), loss="cross_entropy",
                optimizer=pair.Adam(1e-3))


def wrong(seed: int = 0) -> dict:
    """The output layer without its bias."""
    return {**port(seed), "mlx_model": MLP(output_bias=False)}


WRONG_NAMES = "layers.2"  # what the report must name
