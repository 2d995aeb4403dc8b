"""Small model pairs written the way others write them, for ``conformance.pair``'s tests: an MLP,
a GPT-2-like block (position embeddings added in place, as mlx-lm's GPT-2 does), models that return
tuples, dicts or output objects, BatchNorm nets (1d, 2d, 3d), and the data they train on."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn as tnn


def blobs(n: int = 32, d: int = 4, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, classes, n).astype(np.int64)


class TorchMLP(tnn.Module):
    def __init__(self, d=4, h=16, c=3, act=None):
        super().__init__()
        self.fc1, self.act, self.fc2 = tnn.Linear(d, h), tnn.ReLU() if act is None else act, tnn.Linear(h, c)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MLP(nn.Module):
    def __init__(self, d=4, h=16, c=3, act=None):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(d, h), nn.ReLU() if act is None else act, nn.Linear(h, c)

    def __call__(self, x):
        return self.fc2(self.act(self.fc1(x)))


def mlp_pair(seed: int = 0, **kw):
    torch.manual_seed(seed)
    return MLP(**kw), TorchMLP(**{k: v for k, v in kw.items() if k != "act"})


class TorchGPT(tnn.Module):
    """Token and position embeddings, a LayerNorm, a GELU MLP with a residual, a head."""

    def __init__(self, vocab=11, ctx=6, e=16):
        super().__init__()
        self.wte, self.wpe = tnn.Embedding(vocab, e), tnn.Embedding(ctx, e)
        self.ln, self.fc, self.act, self.proj = tnn.LayerNorm(e), tnn.Linear(e, 2 * e), tnn.GELU(), tnn.Linear(2 * e, e)
        self.head = tnn.Linear(e, vocab)

    def forward(self, idx):
        h = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        h = h + self.proj(self.act(self.fc(self.ln(h))))
        return self.head(h)


class GPT(nn.Module):
    def __init__(self, vocab=11, ctx=6, e=16):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, e), nn.Embedding(ctx, e)
        self.ln, self.fc, self.act, self.proj = nn.LayerNorm(e), nn.Linear(e, 2 * e), nn.GELU(), nn.Linear(2 * e, e)
        self.head = nn.Linear(e, vocab)

    def __call__(self, idx):
        h = self.wte(idx)
        h += self.wpe(mx.arange(idx.shape[1]))  # in place, as mlx-lm's GPT-2 adds its position embeddings
        r = self.proj(self.act(self.fc(self.ln(h))))
        h += r
        return self.head(h)


def tokens(n=8, ctx=6, vocab=11, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, vocab, (n, ctx)).astype(np.int64), rng.integers(0, vocab, (n, ctx)).astype(np.int64)


@dataclass
class Output:
    """An output object as transformers returns them."""

    logits: torch.Tensor
    hidden: torch.Tensor | None = None


class TorchWithOutput(TorchMLP):
    def __init__(self, kind: str = "object", **kw):
        super().__init__(**kw)
        self.kind = kind

    def forward(self, x):
        h = self.act(self.fc1(x))
        z = self.fc2(h)
        return {"object": lambda: Output(z, h), "dict": lambda: {"hidden": h, "logits": z},
                "tuple": lambda: (z, h)}[self.kind]()


class WithTuple(MLP):
    def __call__(self, x):
        h = self.act(self.fc1(x))
        return self.fc2(h), h


class TorchFunctionalDropout(TorchMLP):
    def forward(self, x):
        return self.fc2(F.dropout(self.act(self.fc1(x)), 0.2, self.training))


class TorchBN(tnn.Module):
    """A Linear, BatchNorm{1,2,3}d and a head: ``nd`` 1 reads (N, d), 2 (N, C, 4, 4), 3 (N, C, 2, 2, 2)."""

    def __init__(self, nd=1, c=4, classes=3, **bn):
        super().__init__()
        self.nd = nd
        self.conv = tnn.Linear(4, c) if nd == 1 else {2: tnn.Conv2d, 3: tnn.Conv3d}[nd](2, c, 3, padding=1)
        self.bn = {1: tnn.BatchNorm1d, 2: tnn.BatchNorm2d, 3: tnn.BatchNorm3d}[nd](c, **bn)
        self.head = tnn.Linear(c, classes)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return self.head(h if self.nd == 1 else h.mean(dim=tuple(range(2, h.ndim))))


class BN(nn.Module):
    def __init__(self, nd=1, c=4, classes=3, bn_class=None, **bn):
        super().__init__()
        self.nd = nd
        self.conv = nn.Linear(4, c) if nd == 1 else {2: nn.Conv2d, 3: nn.Conv3d}[nd](2, c, 3, padding=1)
        self.bn = (bn_class or nn.BatchNorm)(c, **bn)
        self.head = nn.Linear(c, classes)

    def __call__(self, x):
        h = self.conv(x)
        if self.nd == 3:  # MLX's BatchNorm takes at most 4-d: fold D and H, as a port of BatchNorm3d does
            n, d, hh, w, c = h.shape
            h = self.bn(h.reshape(n, d * hh, w, c)).reshape(n, d, hh, w, c)
        else:
            h = self.bn(h)
        h = nn.relu(h)
        return self.head(h if self.nd == 1 else h.mean(axis=tuple(range(1, h.ndim - 1))))


class BiasedRunningVar(nn.BatchNorm):
    """A hand-written BatchNorm whose running variance uses the biased batch variance (torch's is unbiased)."""

    def __call__(self, x):
        axes = tuple(range(x.ndim - 1))
        mean, var = mx.mean(x, axis=axes), mx.var(x, axis=axes)
        if self.training:
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
        else:
            mean, var = self.running_mean, self.running_var
        return self.weight * (x - mean) * mx.rsqrt(var + self.eps) + self.bias


def bn_batches(nd: int, n: int = 16, seed: int = 0, count: int = 2):
    rng = np.random.default_rng(seed)
    shape = {1: (n, 4), 2: (n, 2, 4, 4), 3: (n, 2, 2, 2, 2)}[nd]
    return [(rng.normal(size=shape).astype(np.float32), rng.integers(0, 3, n).astype(np.int64)) for _ in range(count)]


def channels_last_nd(x):
    return np.moveaxis(np.asarray(x), 1, -1)


def failing_step(model, optimizer, X, y):
    """A port's training step that raises inside a rank (``tests/test_pair_ranks.py``)."""
    return 1 / 0
