"""Every parameter's gradient of the full model's training loss (BCE on SimpleNN's logits):
MLX against torch against float64 backpropagation written out in numpy."""

from __future__ import annotations

import numpy as np
import pytest

import references as ref
from conformance import steps
from conformance.tolerances import gradient_scales
from conformance.weights import init_weights

pytestmark = pytest.mark.gradients

SHAPES = [(5, 2, 10), (3, 2, 10), (16, 4, 4), (1, 3, 7), (256, 8, 32), (1024, 16, 256)]


def _case(n, d, h, seed=0, w_scale=1.0):
    rng = np.random.default_rng(seed + 7 * n + d)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X @ rng.standard_normal(d) + rng.standard_normal(n) > 0).astype(np.float32)
    w = {k: (v * w_scale).astype(np.float32) for k, v in init_weights(d, h, seed).items()}
    return X, y, w


def _check(conf, X, y, w, case, dtype="float32"):
    exact = ref.loss_and_gradients(w, X, y, dtype)
    got = {name: steps.loss_and_gradients(name, w, X, y, dtype, conf.device) for name in ("mlx", "torch")}
    assert sorted(got["mlx"][1]) == sorted(got["torch"][1]) == sorted(exact[1]), \
        f"{case}: gradient keys differ: mlx {sorted(got['mlx'][1])}, torch {sorted(got['torch'][1])}"
    scales = gradient_scales(steps.rounded_tree(w, dtype), steps.rounded(X, dtype))
    conf.close(got["mlx"][0], got["torch"][0], path=f"{case} / loss", kind="loss", dtype=dtype, exact=exact[0])
    conf.tree(got["mlx"][1], got["torch"][1], path=f"{case} / grads", kind="gradient", dtype=dtype, exact=exact[1],
              scales=scales)
    for name, (loss, grads) in got.items():
        conf.close(loss, exact[0], path=f"{case} / loss", kind="loss", dtype=dtype, names=(name, "float64"))
        conf.tree(grads, exact[1], path=f"{case} / grads", kind="gradient", dtype=dtype, names=(name, "float64"),
                  scales=scales)


@pytest.mark.parametrize("n, d, h", SHAPES, ids=[f"n{n}-in{d}-h{h}" for n, d, h in SHAPES])
def test_model_gradients(conf, n, d, h):
    X, y, w = _case(n, d, h)
    _check(conf, X, y, w, f"gradients n={n} in={d} hidden={h}")


def test_model_gradients_with_large_logits(conf):
    """Weights x8: logits of tens, sigmoid saturating, many ReLUs off."""
    X, y, w = _case(64, 4, 16, seed=2, w_scale=8.0)
    _check(conf, X, y, w, "gradients with weights x8")


@pytest.mark.parametrize("n", [1, 32])
def test_model_gradients_when_every_prediction_is_right(conf, n):
    """Labels set to the model's own confident predictions: every sigmoid(z) - y is tiny, and the
    gradients are sums of rounding-size terms (judged by the size of the terms, not the result)."""
    X, _, w = _case(n, 3, 8, seed=5, w_scale=6.0)
    y = (ref.forward(w, X) > 0).astype(np.float32)
    _check(conf, X, y, w, f"gradients n={n}, all predictions right")


@pytest.mark.parametrize("dtype", steps.LOW_PRECISION)
@pytest.mark.parametrize("n, d, h", [(5, 2, 10), (64, 8, 32)])
def test_model_gradients_low_precision(conf, dtype, n, d, h):
    X, y, w = _case(n, d, h)
    _check(conf, X, y, w, f"gradients {dtype} n={n} in={d} hidden={h}", dtype)
