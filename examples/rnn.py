"""An LSTM classifying real-valued sequences (the sign of a running sum), batch-first on both
sides, its last hidden state into a linear head, trained with SGD and momentum. Both LSTMs are
built without biases: torch's LSTM has two (input and hidden) where MLX's has one, so the forward
pass maps (their sum) but training cannot agree: torch moves both and their sum moves twice as far
(the pair harness refuses such a pair, saying so; ``rnn_two_biases`` shows it). The wrong port
reads the first time step's hidden state instead of the last: the LSTM's outputs agree and the
report names the head as the first layer that disagrees."""

from __future__ import annotations

import mlx.nn as nn
import numpy as np
import torch
from torch import nn as tnn

from conformance import pair

FEATURES, LENGTH, HIDDEN = 3, 12, 16


class TorchRNN(tnn.Module):
    def __init__(self, bias: bool = False):
        super().__init__()
        self.lstm = tnn.LSTM(FEATURES, HIDDEN, batch_first=True, bias=bias)
        self.head = tnn.Linear(HIDDEN, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class RNN(nn.Module):
    def __init__(self, bias: bool = False, step: int = -1):
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, HIDDEN, bias=bias)
        self.head = nn.Linear(HIDDEN, 2)
        self.step = step

    def __call__(self, x):
        hidden, _ = self.lstm(x)
        return self.head(hidden[:, self.step])


def sequences(batches: int = 8, size: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        X = rng.standard_normal((size, LENGTH, FEATURES)).astype(np.float32)
        out.append((X, (X[:, :, 0].sum(1) > 0).astype(np.int64)))
    return out


def port(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return dict(torch_model=TorchRNN(), mlx_model=RNN(), batches=sequences(8, 32, seed), loss="cross_entropy",
                optimizer=pair.SGD(0.1, momentum=0.9))


def wrong(seed: int = 0) -> dict:
    """The first time step's hidden state instead of the last."""
    return {**port(seed), "mlx_model": RNN(step=0)}


def rnn_two_biases(seed: int = 0) -> dict:
    """Both LSTMs with their default biases: two in torch, one in MLX."""
    return {**port(seed), "torch_model": TorchRNN(bias=True), "mlx_model": RNN(bias=True)}


WRONG_NAMES = "head"
