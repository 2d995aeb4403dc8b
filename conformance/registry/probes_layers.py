"""Probes of the entries on devices, precision and memory, and on the layers (see ``probes``)."""

from __future__ import annotations

import inspect
import math

from .probes import _default, _mx, probe


# ---------------------------------------------------------------------------------- devices


def _gpu_backend() -> str | None:
    import mlx.core as mx

    if hasattr(mx, "cuda") and mx.cuda.is_available():
        return "cuda"
    return "metal" if mx.metal.is_available() else None


def _tf32_switched_off() -> bool:
    """``MLX_ENABLE_TF32=0``: reduced precision switched off on purpose (the suite's IEEE runs on a
    GPU), so the probes of the entries about it cannot tell whether MLX's default still behaves so."""
    import os

    return os.environ.get("MLX_ENABLE_TF32") == "0"


@probe("tf32-cuda")
def _tf32_cuda():
    if _gpu_backend() != "cuda" or _tf32_switched_off():
        return None
    import numpy as np

    mx = _mx()
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 256), dtype=np.float32), rng.standard_normal((256, 256), dtype=np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    with mx.stream(mx.gpu):
        got = np.array(mx.array(a) @ mx.array(b))
    return float(np.abs(got - exact).max() / np.abs(exact).max()) > 1e-5


@probe("float64-gpu")
def _float64_gpu():
    if _gpu_backend() is None:
        return None
    mx = _mx()
    try:
        with mx.stream(mx.gpu):
            mx.eval(mx.array([1.0], dtype=mx.float64) * 2)
    except ValueError:
        return True
    return False


@probe("reduced-precision-convolutions")
def _tf32_convolutions():
    if _gpu_backend() != "cuda" or _tf32_switched_off():
        return None
    import numpy as np

    mx = _mx()
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 16, 16, 64), dtype=np.float32), rng.standard_normal((64, 3, 3, 64), dtype=np.float32)
    with mx.stream(mx.cpu):  # float32 on the CPU: IEEE, 1e-7 from exact
        exact = np.array(mx.conv2d(mx.array(x), mx.array(w), padding=1))
    with mx.stream(mx.gpu):
        got = np.array(mx.conv2d(mx.array(x), mx.array(w), padding=1))
    return float(np.abs(got - exact).max() / np.abs(exact).max()) > 1e-5


@probe("float64-cpu-float32-accurate")
def _float64_exp_float32():
    import numpy as np

    mx = _mx()
    if not hasattr(mx, "float64"):
        return False
    x = [0.1 * i for i in range(-50, 51)]
    got = np.array(mx.exp(mx.array(x, dtype=mx.float64))).tolist()
    return max(abs(g - math.exp(v)) / math.exp(v) for g, v in zip(got, x)) > 1e-10


@probe("softmax-precise")
def _softmax_half_accumulation():
    import numpy as np

    mx = _mx()
    z = mx.array((np.random.default_rng(0).standard_normal((4, 4096)) * 3).astype(np.float16))
    row_sum = lambda p: float(np.abs(np.array(p.astype(mx.float32)).astype(np.float64).sum(-1) - 1).max())  # noqa: E731
    return row_sum(mx.softmax(z, axis=-1)) > 10 * row_sum(mx.softmax(z, axis=-1, precise=True))


@probe("no-autocast-gradscaler")
def _no_autocast():
    import mlx.optimizers as optim

    return not hasattr(_mx(), "autocast") and not hasattr(optim, "GradScaler")


@probe("memory-api-and-cache")
def _memory_cache():
    mx = _mx()
    if not hasattr(mx, "get_cache_memory"):
        return False  # before 0.24.1: the functions live in mx.metal only
    limit = mx.set_cache_limit(1 << 40)
    try:
        mx.clear_cache()
        a = mx.ones((1024, 1024))
        mx.eval(a)
        del a
        return mx.get_cache_memory() >= 4 * 2 ** 20
    finally:
        mx.set_cache_limit(limit)
        mx.clear_cache()


# ---------------------------------------------------------------------------------- layers


@probe("he-init-gain")
def _he_gain_one():
    import mlx.nn as nn

    return _default(nn.init.he_uniform(), "gain") == 1.0 and _default(nn.init.he_normal(), "gain") == 1.0


@probe("init-returns-initializer")
def _init_not_in_place():
    import mlx.nn as nn

    mx = _mx()
    w = mx.zeros((4, 4))
    return callable(nn.init.glorot_uniform(w)) and not mx.any(w).item()


@probe("gelu-approximations")
def _gelu_approx_keyword():
    import mlx.nn as nn

    return "approximate" not in inspect.signature(nn.GELU).parameters


@probe("conv-channels-last")
def _conv_channels_last():
    import mlx.nn as nn

    mx = _mx()
    conv = nn.Conv2d(2, 4, 3)
    return conv.weight.shape == (4, 3, 3, 2) and conv(mx.zeros((1, 5, 5, 2))).shape == (1, 3, 3, 4)


@probe("conv-transpose-weight-layout")
def _conv_transpose_layout():
    import mlx.nn as nn

    return nn.ConvTranspose2d(2, 4, 3).weight.shape == (4, 3, 3, 2)  # torch's: (2, 4, 3, 3)


@probe("flatten-after-conv-order")
def _flatten_order():
    import mlx.nn as nn

    return nn.Conv1d(2, 4, 3)(_mx().zeros((1, 5, 2))).shape == (1, 3, 4)  # channels last, so flattened last


@probe("conv-bias-init-zero")
def _conv_bias_zero():
    import mlx.nn as nn

    return not _mx().any(nn.Conv2d(2, 8, 3).bias).item()


@probe("groupnorm-pytorch-compatible")
def _groupnorm_default():
    import mlx.nn as nn

    return _default(nn.GroupNorm, "pytorch_compatible") is False


@probe("batchnorm-running-var")
def _batchnorm_biased():
    import mlx.nn as nn

    mx = _mx()
    norm = nn.BatchNorm(1)
    mx.eval(norm(mx.array([[0.0], [2.0]])))
    return abs(norm.running_var.item() - 1.0) < 1e-6  # biased: 0.9 + 0.1 * 1; unbiased: 0.9 + 0.1 * 2


@probe("rmsnorm-eps")
def _rmsnorm_eps():
    import mlx.nn as nn

    return _default(nn.RMSNorm, "eps") == 1e-5


@probe("embedding-init")
def _embedding_scale():
    import mlx.nn as nn
    import numpy as np

    return float(np.array(nn.Embedding(1000, 64).weight).std()) < 0.5


@probe("mha-bias-default")
def _mha_no_bias():
    import mlx.nn as nn

    return _default(nn.MultiHeadAttention, "bias") is False


@probe("attention-bool-mask-inverted")
def _bool_mask_keeps():
    mx = _mx()
    q = mx.zeros((1, 1, 1, 2))
    k = mx.zeros((1, 1, 2, 2))
    v = mx.array([[[[1.0, 1.0], [3.0, 3.0]]]])
    out = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mx.array([[True, False]]))
    return abs(out[0, 0, 0, 0].item() - 1.0) < 1e-6  # True kept the first key; torch's MHA would mask it


@probe("transformer-encoder-layer-defaults")
def _transformer_pre_norm():
    import mlx.nn as nn

    return _default(nn.TransformerEncoderLayer, "norm_first") is True


@probe("lstm-layout-and-bias")
def _lstm_one_bias():
    import mlx.nn as nn

    lstm = nn.LSTM(2, 3)
    return lstm.bias.shape == (12,) and "bias_hh" not in lstm


@probe("gru-bias-layout")
def _gru_bhn():
    import mlx.nn as nn

    gru = nn.GRU(2, 3)
    return gru.b.shape == (9,) and gru.bhn.shape == (3,)


@probe("gru-first-step-bias")
def _gru_first_step_without_bhn():
    import mlx.nn as nn

    mx = _mx()
    gru = nn.GRU(2, 3)
    gru.bhn = mx.ones((3,))
    x = mx.ones((1, 2, 2))
    return not mx.allclose(gru(x), gru(x, hidden=mx.zeros((1, 3)))).item()
