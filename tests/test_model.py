"""Step 2: SimpleNN's forward pass from identical weights, and the weight exchange between frameworks.

Square layers (in_features == hidden) are included on purpose: a weight transposed on one side
then has the right shape and changes only the numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

import references as ref
from conformance import steps
from conformance.runner import side
from conformance.weights import init_weights

pytestmark = pytest.mark.model

# (n, in_features, hidden, weight scale): the document's shape, square layers, one sample, wide
SHAPES = [(5, 2, 10, 1.0), (16, 4, 4, 1.0), (7, 10, 10, 1.0), (1, 3, 8, 1.0), (64, 8, 32, 5.0), (1024, 16, 256, 1.0)]


def _inputs(n, d, h, w_scale, seed=0):
    rng = np.random.default_rng(seed + 100 * d + h)
    X = rng.standard_normal((n, d)).astype(np.float32)
    w = {k: (v * w_scale).astype(np.float32) for k, v in init_weights(d, h, seed).items()}
    return X, w


@pytest.mark.parametrize("n, d, h, w_scale", SHAPES, ids=[f"n{n}-in{d}-h{h}-w{s:g}" for n, d, h, s in SHAPES])
def test_forward_matches_torch_and_float64(conf, n, d, h, w_scale):
    X, w = _inputs(n, d, h, w_scale)
    exact = ref.forward(w, X)
    logits = {name: steps.forward(name, w, X, device=conf.device) for name in ("mlx", "torch")}
    case = f"forward n={n} in={d} hidden={h}"
    conf.close(logits["mlx"], logits["torch"], path=f"{case} / logits", kind="forward", exact=exact)
    for name, got in logits.items():
        conf.close(got, exact, path=f"{case} / logits", kind="forward", names=(name, "float64"))


@pytest.mark.parametrize("dtype", steps.LOW_PRECISION)
@pytest.mark.parametrize("n, d, h", [(5, 2, 10), (64, 8, 32), (256, 4, 64)])
def test_forward_low_precision(conf, dtype, n, d, h):
    """bfloat16 and float16 weights and inputs, each dtype under its own budget; float64 from the
    same rounded inputs."""
    X, w = _inputs(n, d, h, 1.0)
    exact = ref.forward(w, X, dtype)
    logits = {name: steps.forward(name, w, X, dtype, conf.device) for name in ("mlx", "torch")}
    case = f"forward {dtype} n={n} in={d} hidden={h}"
    conf.close(logits["mlx"], logits["torch"], path=f"{case} / logits", kind="forward", dtype=dtype, exact=exact)
    for name, got in logits.items():
        conf.close(got, exact, path=f"{case} / logits", kind="forward", dtype=dtype, names=(name, "float64"))


@pytest.mark.parametrize("d, h", [(2, 10), (4, 4), (16, 256)])
def test_weight_round_trip_is_exact(conf, d, h):
    """MLX -> dict -> torch -> dict -> MLX: every parameter bit for bit, under PyTorch's names."""
    w0 = init_weights(d, h, seed=3)
    from_mlx = steps.weights_round_trip("mlx", w0, device=conf.device)
    from_torch = steps.weights_round_trip("torch", from_mlx, device=conf.device)
    back = steps.weights_round_trip("mlx", from_torch, device=conf.device)
    assert sorted(from_mlx) == sorted(from_torch) == sorted(w0), \
        f"keys differ: initial {sorted(w0)}, from MLX {sorted(from_mlx)}, from torch {sorted(from_torch)}"
    for stage, got in (("mlx export", from_mlx), ("torch export", from_torch), ("mlx again", back)):
        for key in w0:
            assert got[key].dtype == np.float32, f"{stage} / {key}: dtype {got[key].dtype}, expected float32"
            conf.close(got[key], w0[key], path=f"round trip / {stage} / {key}", kind="exchange", names=(stage, "initial"))


@pytest.mark.parametrize("name", ["mlx", "torch"])
def test_load_weights_rejects_wrong_names_and_shapes(name):
    pkg = side(name)
    model = pkg.model.SimpleNN(2, 10)
    w = init_weights(2, 10)
    with pytest.raises(ValueError, match=r"missing \['fc2.bias'\]"):
        pkg.model.load_weights(model, {k: v for k, v in w.items() if k != "fc2.bias"})
    with pytest.raises(ValueError, match=r"weights\['fc1.weight'\] has shape \(2, 10\)"):
        pkg.model.load_weights(model, {**w, "fc1.weight": w["fc1.weight"].T})


@pytest.mark.parametrize("name", ["mlx", "torch"])
def test_logits_have_shape_n(name):
    """SimpleNN returns (N,) logits on both sides, the shape BCE's targets have."""
    X, w = _inputs(6, 3, 5, 1.0)
    assert steps.forward(name, w, X).shape == (6,)
