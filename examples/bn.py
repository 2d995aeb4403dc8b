"""A residual CNN with BatchNorm on scikit-learn's 8x8 digits, the way mlx-examples' CIFAR ResNet
writes its blocks: conv, BatchNorm, ReLU, conv, BatchNorm, the shortcut added in place
(``out += x`` in MLX), ReLU; then a pooling, a flatten, a Linear, a BatchNorm1d, a GELU and the
head. Activations are modules on both sides, so the per-layer comparison judges them too. The
torch model sets BatchNorm's ``eps`` and ``momentum`` as Keras-ported models do (1e-3 and 0.01);
the wrong port keeps MLX's defaults (1e-5 and 0.1): refused, naming the first such layer and both
flags. BatchNorm's running statistics are judged after every training step."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import torch
from torch import nn as tnn

from conformance import pair

from ._data import digits

EPS, MOMENTUM = 1e-3, 0.01


class TorchBlock(tnn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = tnn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = tnn.BatchNorm2d(c, eps=EPS, momentum=MOMENTUM)
        self.conv2 = tnn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = tnn.BatchNorm2d(c, eps=EPS, momentum=MOMENTUM)
        self.relu = tnn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class TorchNet(tnn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.stem = tnn.Conv2d(1, c, 3, padding=1)
        self.block = TorchBlock(c)
        self.pool = tnn.AvgPool2d(2)
        self.flatten = tnn.Flatten()
        self.fc = tnn.Linear(c * 4 * 4, 32)
        self.bn = tnn.BatchNorm1d(32, eps=EPS, momentum=MOMENTUM)
        self.act = tnn.GELU()
        self.head = tnn.Linear(32, 10)

    def forward(self, x):  # x: (N, 1, 8, 8)
        x = self.pool(self.block(self.stem(x)))
        return self.head(self.act(self.bn(self.fc(self.flatten(x)))))


class Block(nn.Module):
    def __init__(self, c, eps=EPS, momentum=MOMENTUM):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm(c, eps=eps, momentum=momentum)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm(c, eps=eps, momentum=momentum)
        self.relu = nn.ReLU()

    def __call__(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x  # in place, as mlx-examples' ResNet adds its shortcut
        return self.relu(out)


class Net(nn.Module):
    def __init__(self, c=8, eps=EPS, momentum=MOMENTUM):
        super().__init__()
        bn = dict(eps=eps, momentum=momentum)
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.block = Block(c, **bn)
        self.pool = nn.AvgPool2d(2, 2)
        self.fc = nn.Linear(c * 4 * 4, 32)
        self.bn = nn.BatchNorm(32, **bn)
        self.act = nn.GELU()
        self.head = nn.Linear(32, 10)

    def __call__(self, x):  # x: (N, 8, 8, 1)
        x = self.pool(self.block(self.stem(x)))
        return self.head(self.act(self.bn(self.fc(mx.flatten(x, 1)))))


def port(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return dict(torch_model=TorchNet(), mlx_model=Net(), batches=digits(8, 32, seed, images=True),
                loss="cross_entropy", optimizer=pair.Adam(1e-3), inputs=pair.channels_last,
                rules={"fc": pair.after_flatten(8, 4, 4)})


def wrong(seed: int = 0) -> dict:
    """BatchNorm left at MLX's defaults (eps 1e-5, momentum 0.1) where torch's has 1e-3 and 0.01."""
    return {**port(seed), "mlx_model": Net(eps=1e-5, momentum=0.1)}


WRONG_NAMES = "block.bn1"
