"""The shortcuts that cut the verdict's cost (issue 24) change nothing it decides.

The candidate's measured reruns batched into one ``mx.vmap`` call (``conformance.pair.batched``)
compute what the calls one by one compute: the same losses and gradients, bit for bit or within a
few units in the last place of float32 (a batched matmul may block its sums differently), on the
examples whose operations MLX can map; a model it cannot map (a convolution) gets ``None``, and
the caller loops. The model's parameters are as they were afterwards. The ReLU ties are found
from two of the reference's measured reruns (not two of their own): units exactly at the kink are
still found, arbitrated, and a correct port with them conforms."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from conformance.pair import batched, validate
from conformance.pair.losses import resolve
from conformance.pair.mapping import Mapping
from conformance.pair.sides import MLXPort, TorchReference

pytestmark = pytest.mark.training


def _port(name):
    spec = importlib.import_module(f"examples.{name}").port()
    loss = resolve(spec.get("loss", "cross_entropy"), spec.get("output"))
    opt, _ = validate.optimizer(spec.get("optimizer"))
    mapping = Mapping.build(spec["torch_model"], spec["mlx_model"], None, None)
    port = MLXPort(spec["mlx_model"], loss.mlx, opt, mapping, inputs=spec.get("inputs"))
    ref = TorchReference(spec["torch_model"], loss.torch, opt, mapping)
    return port, ref.weights(), spec["batches"][0], mapping


@pytest.mark.parametrize("name", ["mlp", "rnn", "transformer"])
def test_batched_reruns_are_the_calls_one_by_one(name):
    from mlx.utils import tree_flatten

    port, w, (X, y), mapping = _port(name)
    rng = np.random.default_rng(0)
    params = set(mapping.torch_names) - set(mapping.buffers)
    sets = [w] + [{n: (v * (1 + 1e-6 * rng.choice([-1.0, 1.0], size=v.shape))).astype(np.float32) if n in params else v
                   for n, v in w.items()} for _ in range(3)]
    perm = rng.permutation(len(X))
    inputs = [(X, y), (X, y), (X[perm], y[perm]), (X, y)]
    port.set_weights(w)
    before = {k: np.array(v) for k, v in tree_flatten(port.model.parameters())}
    out = batched.gradients(port, sets, inputs, [])
    assert out is not None, f"{name}: expected to batch"
    after = {k: np.array(v) for k, v in tree_flatten(port.model.parameters())}
    assert all(np.array_equal(before[k], after[k]) for k in before), "the model's parameters were not restored"
    for (loss, grads, _), ws, (Xj, yj) in zip(out, sets, inputs):
        one_loss, one = port.gradients(ws, *port.arrays(Xj, yj))
        assert abs(loss - one_loss) <= 4 * np.finfo(np.float32).eps * abs(one_loss)
        assert set(grads) == set(one)
        for n in one:
            scale = np.abs(one[n]).max() + 1e-30
            assert np.max(np.abs(grads[n] - one[n])) <= 8 * np.finfo(np.float32).eps * scale, n


def test_a_model_mlx_cannot_map_falls_back():
    port, w, (X, y), _ = _port("cnn")
    assert batched.gradients(port, [w, w], [(X, y), (X, y)], []) is None
    loss, _ = port.gradients(w, *port.arrays(X, y))  # the model still works after the failed attempt
    assert np.isfinite(loss)


def test_units_at_the_kink_are_still_found_and_arbitrated():
    """An MLP whose first layer has units with zero weights and bias: their pre-activation is
    exactly 0 for every sample (a tie in every float32 run); the check names them as ReLU ties in
    its gradient check and the correct port conforms."""
    import torch

    from conformance import pair

    mod = importlib.import_module("examples.mlp")
    spec = dict(mod.port())
    first = spec["torch_model"].layers[0]
    with torch.no_grad():
        first.weight[:8] = 0.0
        first.bias[:8] = 0.0
    report = pair.check(spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches"), **spec, steps=2, ensemble=0)
    report.assert_conforms()
    reasons = [c.reason for c in report.checks if c.path.startswith("5 local / gradients")]
    counts = [int(r.split("; ")[1].split(" ReLU")[0]) for r in reasons if "ReLU ties" in r]
    assert counts and min(counts) >= 8 * 64, reasons[:2]
