"""Moving torch's layer weights and tensors into MLX's layouts: one small function per kind of layer.

The layer entries' tests use these, and only these, to move weights from torch to MLX, so that
the model-pair harness's layout rules (``conformance/pair/``, to come) can replace them in one
place. Every function takes numpy arrays under torch's names (``state(module)``) and returns numpy
arrays under MLX's names, ready for ``load(module, ...)``.
"""

from __future__ import annotations

import numpy as np
from mlx.utils import tree_unflatten

from conformance.pair import layouts as rules


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
    return rules.LINEAR.to_mlx(sd)


def embedding(sd: dict) -> dict:
    """``nn.Embedding``: the same layout in both, weight (num_embeddings, dims)."""
    return rules.EMBEDDING.to_mlx(sd)


def channels_last(x: np.ndarray) -> np.ndarray:
    """A torch activation (N, C, *spatial) as MLX's (N, *spatial, C)."""
    return np.moveaxis(x, 1, -1)


def channels_first(x: np.ndarray) -> np.ndarray:
    """An MLX activation (N, *spatial, C) as torch's (N, C, *spatial)."""
    return rules.CONV[2].activation(x)


def conv(sd: dict) -> dict:
    """``nn.Conv1d/2d/3d``: weight (out, in/groups, *kernel) -> (out, *kernel, in/groups)."""
    return rules.CONV[np.ndim(sd["weight"]) - 2].to_mlx(sd)


def conv_transpose(sd: dict) -> dict:
    """``nn.ConvTranspose1d/2d/3d`` (groups=1): weight (in, out, *kernel) -> (out, *kernel, in)."""
    return rules.CONV_TRANSPOSE[np.ndim(sd["weight"]) - 2].to_mlx(sd)


def linear_after_flatten(sd: dict, channels: int, spatial: tuple[int, ...]) -> dict:
    """A Linear layer reading a flattened (C, *spatial) activation in torch, re-ordered to read MLX's
    flattened (*spatial, C): the columns of its weight are permuted, nothing else."""
    return rules.after_flatten(channels, *spatial).to_mlx(sd)


def norm(sd: dict) -> dict:
    """``GroupNorm``, ``LayerNorm``, ``RMSNorm``, ``BatchNorm``: the same names (running statistics
    included); what differs is the axis (the last, in MLX) and the flags, not the layout."""
    return rules.BATCH_NORM[2].to_mlx(sd)  # the norms share names; BatchNorm's rule also maps running stats


def multi_head_attention(sd: dict, prefix: str = "") -> dict:
    """``nn.MultiheadAttention`` (packed ``in_proj``) -> MLX ``MultiHeadAttention(bias=True)``."""
    local = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return rules.MULTIHEAD_ATTENTION.to_mlx(local)


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
    return rules.LSTM.to_mlx(sd)


def gru(sd: dict) -> dict:
    """``nn.GRU`` (one layer, one direction): gates r, z, n in both. The hidden bias of r and z adds to
    the input's (``b``); that of n sits inside the reset gate's product, so it stays apart (``bhn``)."""
    return rules.GRU.to_mlx(sd)
