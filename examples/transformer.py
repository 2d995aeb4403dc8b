"""A transformer encoder block classifying token sequences: token and position embeddings,
multi-head self-attention, a residual and layer norm, a ReLU MLP, a residual and layer norm (post-
norm, as torch's nn.TransformerEncoderLayer), mean-pooled into a linear head. Written out in both
frameworks with their attention layers: torch's packed ``in_proj_weight`` maps onto MLX's three
projections, and MLX's MultiHeadAttention needs ``bias=True`` to match torch's default. The wrong
port normalizes first (pre-norm, the order of MLX's own TransformerEncoderLayer): the report names
the attention as the first layer that disagrees."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import torch
from torch import nn as tnn

from conformance import pair

VOCAB, LENGTH, DIMS, HEADS, CLASSES = 16, 8, 32, 4, 2


class TorchBlock(tnn.Module):
    def __init__(self):
        super().__init__()
        self.embed = tnn.Embedding(VOCAB, DIMS)
        self.pos = tnn.Embedding(LENGTH, DIMS)
        self.attn = tnn.MultiheadAttention(DIMS, HEADS, batch_first=True)
        self.norm1, self.norm2 = tnn.LayerNorm(DIMS), tnn.LayerNorm(DIMS)
        self.mlp_in, self.mlp_out = tnn.Linear(DIMS, 4 * DIMS), tnn.Linear(4 * DIMS, DIMS)
        self.head = tnn.Linear(DIMS, CLASSES)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        a, _ = self.attn(x, x, x, need_weights=False)
        x = self.norm1(x + a)
        x = self.norm2(x + self.mlp_out(torch.relu(self.mlp_in(x))))
        return self.head(x.mean(dim=1))


class Block(nn.Module):
    def __init__(self, pre_norm: bool = False):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIMS)
        self.pos = nn.Embedding(LENGTH, DIMS)
        self.attn = nn.MultiHeadAttention(DIMS, HEADS, bias=True)
        self.norm1, self.norm2 = nn.LayerNorm(DIMS), nn.LayerNorm(DIMS)
        self.mlp_in, self.mlp_out = nn.Linear(DIMS, 4 * DIMS), nn.Linear(4 * DIMS, DIMS)
        self.head = nn.Linear(DIMS, CLASSES)
        self.pre_norm = pre_norm

    def __call__(self, tokens):
        x = self.embed(tokens) + self.pos(mx.arange(tokens.shape[1]))
        if self.pre_norm:
            h = self.norm1(x)
            x = x + self.attn(h, h, h)
            x = x + self.mlp_out(nn.relu(self.mlp_in(self.norm2(x))))
        else:
            x = self.norm1(x + self.attn(x, x, x))
            x = self.norm2(x + self.mlp_out(nn.relu(self.mlp_in(x))))
        return self.head(x.mean(axis=1))


def tokens(batches: int = 8, size: int = 32, seed: int = 0):
    """Random token sequences, labelled by whether token 3 occurs before token 7 (ties: 0)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        X = rng.integers(0, VOCAB, size=(size, LENGTH))
        first = lambda t: np.where((X == t).any(1), (X == t).argmax(1), LENGTH)  # noqa: E731
        out.append((X.astype(np.int64), (first(3) < first(7)).astype(np.int64)))
    return out


def port(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return dict(torch_model=TorchBlock(), mlx_model=Block(), batches=tokens(8, 32, seed), loss="cross_entropy",
                optimizer=pair.AdamW(1e-3, weight_decay=0.01))


def wrong(seed: int = 0) -> dict:
    """Pre-norm where torch's block is post-norm."""
    return {**port(seed), "mlx_model": Block(pre_norm=True)}


WRONG_NAMES = "attn"
