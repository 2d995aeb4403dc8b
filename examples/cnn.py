"""A small CNN on scikit-learn's 8x8 digits as images: conv, ReLU, max-pool, conv, ReLU, max-pool,
flatten, linear. MLX is channels-last: inputs NHWC (``pair.channels_last``), conv weights
(O, kH, kW, I), and the flatten orders its elements (H, W, C) where torch's orders them (C, H, W),
so the Linear after it needs ``after_flatten(C, H, W)``. The wrong port leaves that rule out: the
weights transfer, the shapes agree, and the report names the Linear as the first layer that
disagrees."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import torch
from torch import nn as tnn

from conformance import pair

from ._data import digits


class TorchCNN(tnn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = tnn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = tnn.Conv2d(8, 16, 3, padding=1)
        self.pool = tnn.MaxPool2d(2)
        self.fc = tnn.Linear(16 * 2 * 2, 10)

    def forward(self, x):  # x: (N, 1, 8, 8)
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def __call__(self, x):  # x: (N, 8, 8, 1)
        x = self.pool(nn.relu(self.conv1(x)))
        x = self.pool(nn.relu(self.conv2(x)))
        return self.fc(mx.flatten(x, 1))


def port(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return dict(torch_model=TorchCNN(), mlx_model=CNN(), batches=digits(8, 64, seed, images=True),
                loss="cross_entropy", optimizer=pair.Adam(1e-3), inputs=pair.channels_last,
                rules={"fc": pair.after_flatten(16, 2, 2)})


def wrong(seed: int = 0) -> dict:
    """The flatten's element order forgotten: fc's weight copied as torch has it."""
    return {**port(seed), "rules": {}}


WRONG_NAMES = "fc"
