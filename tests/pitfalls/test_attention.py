"""The proofs of the registry's entries on embeddings, attention and transformers (see ``helpers``;
weights move by ``layouts``)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import torch
from mlx.utils import tree_flatten
from torch import nn as tnn

from conformance.compare import assert_close, compare
from . import layouts
from .helpers import demonstrates, measured

DIMS, HEADS = 8, 2


def _tokens(n: int = 2, length: int = 4) -> np.ndarray:
    return np.random.default_rng(41).standard_normal((n, length, DIMS)).astype(np.float32)


def _torch_attention() -> tnn.MultiheadAttention:
    torch.manual_seed(0)
    attention = tnn.MultiheadAttention(DIMS, HEADS, batch_first=True)
    with torch.no_grad():  # torch starts its biases at zero: give them values, as training would
        attention.in_proj_bias.uniform_(-1, 1)
        attention.out_proj.bias.uniform_(-1, 1)
    return attention


@demonstrates("embedding-init")
def test_embedding_init():
    mx.random.seed(0)
    torch.manual_seed(0)
    mlx_std = float(np.array(nn.Embedding(1000, 64).weight).std())
    torch_std = tnn.Embedding(1000, 64).weight.detach().numpy().std()
    measured("embedding-init", "std_ratio", mlx_std / torch_std)

    fixed = nn.Embedding(1000, 64)
    fixed.weight = mx.random.normal(fixed.weight.shape)  # N(0, 1), torch's
    measured("embedding-init", "fixed_ratio", float(np.array(fixed.weight).std()) / torch_std)
    ids = np.array([[3, 1, 999]])
    t_embedding = tnn.Embedding(1000, 64)
    loaded = layouts.load(nn.Embedding(1000, 64), layouts.embedding(layouts.state(t_embedding)))
    assert_close(np.array(loaded(mx.array(ids))), t_embedding(torch.tensor(ids)).detach().numpy(),
                 path="Embedding lookup", kind="exchange")


@demonstrates("mha-bias-default")
def test_mha_bias_default():
    x = _tokens()
    tattn = _torch_attention()
    with torch.no_grad():
        expected = tattn(*[torch.tensor(x)] * 3, need_weights=False)[0].numpy()
    naive = nn.MultiHeadAttention(DIMS, HEADS)
    assert {k for k, _ in tree_flatten(naive.parameters())} == {f"{p}.weight" for p in ("query_proj", "key_proj",
                                                                                      "value_proj", "out_proj")}
    weights_only = {k: v for k, v in layouts.multi_head_attention(layouts.state(tattn)).items() if k.endswith("weight")}
    layouts.load(naive, weights_only)  # all that fits
    measured("mha-bias-default", "gap", np.abs(np.array(naive(*[mx.array(x)] * 3)) - expected).max())

    fixed = layouts.load(nn.MultiHeadAttention(DIMS, HEADS, bias=True), layouts.multi_head_attention(layouts.state(tattn)))
    assert_close(np.array(fixed(*[mx.array(x)] * 3)), expected, path="MultiHeadAttention(bias=True)", kind="forward")


@demonstrates("attention-bool-mask-inverted")
def test_attention_bool_mask_inverted():
    x = _tokens()
    tattn = _torch_attention()
    masked = np.triu(np.ones((4, 4), dtype=bool), k=1)  # torch's convention: True where attention is NOT allowed
    with torch.no_grad():
        expected = tattn(*[torch.tensor(x)] * 3, attn_mask=torch.tensor(masked), need_weights=False)[0].numpy()
    mattn = layouts.load(nn.MultiHeadAttention(DIMS, HEADS, bias=True), layouts.multi_head_attention(layouts.state(tattn)))
    naive = np.array(mattn(*[mx.array(x)] * 3, mask=mx.array(masked)))
    measured("attention-bool-mask-inverted", "gap", np.abs(naive - expected).max())

    assert_close(np.array(mattn(*[mx.array(x)] * 3, mask=mx.array(~masked))), expected,
                 path="boolean mask, True = may attend", kind="forward")
    additive = nn.MultiHeadAttention.create_additive_causal_mask(4)
    assert_close(np.array(mattn(*[mx.array(x)] * 3, mask=additive)), expected, path="additive causal mask",
                 kind="forward")


@demonstrates("transformer-encoder-layer-defaults")
def test_transformer_encoder_layer_defaults():
    torch.manual_seed(3)
    x = _tokens()
    tlayer = tnn.TransformerEncoderLayer(DIMS, HEADS, dim_feedforward=32, batch_first=True).eval()  # post-norm
    with torch.no_grad():
        for name in ("self_attn.in_proj_bias", "self_attn.out_proj.bias"):
            tlayer.get_parameter(name).uniform_(-1, 1)
        expected = tlayer(torch.tensor(x)).numpy()
    defaults = nn.TransformerEncoderLayer(DIMS, HEADS)
    assert defaults.norm_first and defaults.linear1.weight.shape == (4 * DIMS, DIMS) and defaults.dropout1._p_1 == 1.0
    assert tlayer.norm_first is False and tnn.TransformerEncoderLayer(DIMS, HEADS).linear1.out_features == 2048
    sd = layouts.transformer_encoder_layer(layouts.state(tlayer))

    naive = nn.TransformerEncoderLayer(DIMS, HEADS, mlp_dims=32)  # the shapes made to fit, the rest default
    layouts.load(naive, {k: v for k, v in sd.items() if "attention" not in k or k.endswith("weight")})
    naive.eval()
    measured("transformer-encoder-layer-defaults", "gap", np.abs(np.array(naive(mx.array(x), None)) - expected).max())

    fixed = nn.TransformerEncoderLayer(DIMS, HEADS, mlp_dims=32, norm_first=False, dropout=0.1)
    fixed.attention = nn.MultiHeadAttention(DIMS, HEADS, bias=True)
    layouts.load(fixed, sd)
    fixed.eval()
    assert_close(np.array(fixed(mx.array(x), None)), expected, path="TransformerEncoderLayer, post-norm", kind="forward")
    assert not compare(np.array(fixed(mx.array(x), None)), np.array(naive(mx.array(x), None)), path="pre-norm",
                       kind="forward").passed
