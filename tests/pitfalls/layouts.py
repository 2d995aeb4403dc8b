"""Moving torch's layer weights and tensors into MLX's layouts: one small function per kind of layer.

The layer entries' tests use these, and only these, to move weights from torch to MLX, so that
the model-pair harness's layout rules (``conformance/pair/``, to come) can replace them in one
place. Every function takes numpy arrays under torch's names (``state(module)``) and returns numpy
arrays under MLX's names, ready for ``load(module, ...)``.
"""

from __future__ import annotations

import numpy as np
from mlx.utils import tree_unflatten


def state(module) -> dict[str, np.ndarray]:
    """A torch module's parameters and buffers as numpy arrays, under torch's names."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load(module, weights: dict[str, np.ndarray]):
    """Load numpy arrays, under MLX's names, into an MLX module (every name must exist there)."""
    import mlx.core as mx

    module.update(tree_unflatten([(k, mx.array(v)) for k, v in weights.items()]))
    return module


# ------------------------------------------------------------------------------ Linear, Embedding


def linear(sd: dict) -> dict:
    """``nn.Linear``: the same layout in both, weight (out, in)."""
    return {"weight": sd["weight"], **({"bias": sd["bias"]} if "bias" in sd else {})}


def embedding(sd: dict) -> dict:
    """``nn.Embedding``: the same layout in both, weight (num_embeddings, dims)."""
    return {"weight": sd["weight"]}


# ------------------------------------------------------------------------------ convolutions


def channels_last(x: np.ndarray) -> np.ndarray:
    """A torch activation (N, C, *spatial) as MLX's (N, *spatial, C)."""
    return np.moveaxis(x, 1, -1)


def channels_first(x: np.ndarray) -> np.ndarray:
    """An MLX activation (N, *spatial, C) as torch's (N, C, *spatial)."""
    return np.moveaxis(x, -1, 1)


def conv(sd: dict) -> dict:
    """``nn.Conv1d/2d/3d``: weight (out, in/groups, *kernel) -> (out, *kernel, in/groups)."""
    return {"weight": np.moveaxis(sd["weight"], 1, -1), **({"bias": sd["bias"]} if "bias" in sd else {})}


def conv_transpose(sd: dict) -> dict:
    """``nn.ConvTranspose1d/2d/3d`` (groups=1): weight (in, out, *kernel) -> (out, *kernel, in)."""
    w = sd["weight"]
    return {"weight": w.transpose(1, *range(2, w.ndim), 0), **({"bias": sd["bias"]} if "bias" in sd else {})}


def linear_after_flatten(sd: dict, channels: int, spatial: tuple[int, ...]) -> dict:
    """A Linear layer reading a flattened (C, *spatial) activation in torch, re-ordered to read MLX's
    flattened (*spatial, C): the columns of its weight are permuted, nothing else."""
    w = sd["weight"]
    w = w.reshape(w.shape[0], channels, *spatial)
    return {"weight": np.moveaxis(w, 1, -1).reshape(w.shape[0], -1), "bias": sd["bias"]}


# ------------------------------------------------------------------------------ normalisation


def norm(sd: dict) -> dict:
    """``GroupNorm``, ``LayerNorm``, ``RMSNorm``, ``BatchNorm``: the same names (running statistics
    included); what differs is the axis (the last, in MLX) and the flags, not the layout."""
    return {k: v for k, v in sd.items() if k != "num_batches_tracked"}


# ------------------------------------------------------------------------------ attention


def multi_head_attention(sd: dict, prefix: str = "") -> dict:
    """``nn.MultiheadAttention`` (packed ``in_proj``) -> MLX ``MultiHeadAttention(bias=True)``."""
    q, k, v = np.split(sd[prefix + "in_proj_weight"], 3)
    out = {"query_proj.weight": q, "key_proj.weight": k, "value_proj.weight": v,
           "out_proj.weight": sd[prefix + "out_proj.weight"]}
    if prefix + "in_proj_bias" in sd:
        qb, kb, vb = np.split(sd[prefix + "in_proj_bias"], 3)
        out.update({"query_proj.bias": qb, "key_proj.bias": kb, "value_proj.bias": vb,
                    "out_proj.bias": sd[prefix + "out_proj.bias"]})
    return out


def transformer_encoder_layer(sd: dict) -> dict:
    """``nn.TransformerEncoderLayer`` -> MLX ``TransformerEncoderLayer`` (whose attention is given biases)."""
    out = {f"attention.{k}": v for k, v in multi_head_attention(sd, "self_attn.").items()}
    for torch_name, mlx_name in (("linear1", "linear1"), ("linear2", "linear2"), ("norm1", "ln1"), ("norm2", "ln2")):
        out[f"{mlx_name}.weight"], out[f"{mlx_name}.bias"] = sd[f"{torch_name}.weight"], sd[f"{torch_name}.bias"]
    return out


# ------------------------------------------------------------------------------ recurrent


def batch_first(x: np.ndarray) -> np.ndarray:
    """A torch sequence (L, N, D), torch's default layout, as MLX's (N, L, D)."""
    return np.swapaxes(x, 0, 1)


def lstm(sd: dict) -> dict:
    """``nn.LSTM`` (one layer, one direction): gates i, f, g, o in both; torch's two biases summed."""
    out = {"Wx": sd["weight_ih_l0"], "Wh": sd["weight_hh_l0"]}
    if "bias_ih_l0" in sd:
        out["bias"] = sd["bias_ih_l0"] + sd["bias_hh_l0"]
    return out


def gru(sd: dict) -> dict:
    """``nn.GRU`` (one layer, one direction): gates r, z, n in both. The hidden bias of r and z adds to
    the input's (``b``); that of n sits inside the reset gate's product, so it stays apart (``bhn``)."""
    out = {"Wx": sd["weight_ih_l0"], "Wh": sd["weight_hh_l0"]}
    if "bias_ih_l0" in sd:
        b_ih, b_hh = sd["bias_ih_l0"], sd["bias_hh_l0"]
        h = b_hh.shape[0] // 3
        out["b"] = b_ih + np.concatenate([b_hh[:2 * h], np.zeros(h, b_hh.dtype)])
        out["bhn"] = b_hh[2 * h:]
    return out
