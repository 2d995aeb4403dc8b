"""The torch variants the benchmarks time compute what the reference computes.

Each variant (``torch_variants.py``: foreach and fused Adam, ``torch.compile`` of the loss, with
CUDA graphs on CUDA) trains from the benchmark's own data and initial weights, step by step beside
the reference as written (``torch-eager``: ``make_adam``'s ``foreach=False`` loop), and every step
is judged by the project's comparison and tolerance table:

- the first step's loss and gradients (same weights on both sides): ``loss`` and ``gradient``
  entries. foreach and fused Adam leave them bitwise equal; ``torch.compile`` regenerates the
  forward and backward kernels, so its sums run in another order: rounding of the same kind the
  entries were measured for (MLX against torch, both against float64);
- the parameters after every step: the ``trajectory`` entry (scale: the learning rate, growing
  with the step), and Adam's moments: the ``optimizer_state`` entry, its scales from
  ``adam_state_scales``; each later loss with the ``loss`` entry plus the drift of the steps before.

Why these budgets hold for rounding and nothing more: an Adam update is ``lr m̂ / (sqrt(v̂) + eps)``,
about ``lr`` in size. The loop, ``_foreach_*`` and the fused kernel evaluate the same formula in
float32 in different groupings (``lerp`` against ``b1 m + (1 - b1) g``, the step size folded in
before or after the division), a few units of float32 rounding (u = 6e-8) of each update: a few
``u lr`` per step, and ``u |p|`` where the parameter itself is rounded. The trajectory entry
allows ``4e-5 lr`` per step (670 u) plus ``1e-5 |p|``: it was measured for MLX against torch, a
pair that differs by this rounding and, besides, by MLX's float32 bias correction (6e-6 of every
update). A variant computing something else fails it: ``test_the_comparison_sees_another_adam``
checks that an ``eps`` or a ``beta2`` other than the reference's is caught.

These run with the benchmarks (``pytest benchmarks``, and ``--benchmark-disable`` in CI), on
the devices of ``--bench-device``, in that session's float32 matmul precision.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import calls
from benchmarks import torch_variants as tv
from benchmarks.cases import COMPILED_TORCH, SIZES, TORCH_IMPLS
from conformance.compare import Check, assert_all, compare, compare_tree
from conformance.tolerances import adam_state_scales, gradient_scales

STEPS = 5
LR = 1e-3
CHECKED_SIZES = ("doc5", "n1k")
VARIANT_IMPLS = [i for i in TORCH_IMPLS if i != tv.TEXTBOOK]


def _train(make_optimizer, impl: str, device: str, size_id: str, steps: int = STEPS) -> dict:
    """``steps`` training steps of ``impl`` (its train step, with the optimizer ``make_optimizer``
    builds) from the benchmark's data and weights; per step: the loss, the gradients it used, and
    the weights and Adam state after it (numpy)."""
    from reference_torch import data as td
    from reference_torch import device as tdev
    from reference_torch import model as tm
    from reference_torch.optim import export_optimizer_state

    size = SIZES[size_id]
    Xn, yn = calls.step_data(size.id, size.n)
    with tdev.use_device(device):
        X, y = td.to_array(Xn), td.to_array(yn)
        model = tm.load_weights(tm.SimpleNN(2, size.hidden), calls.weights_for(size.hidden))
        optimizer = make_optimizer(model)
        step = tv.make_train_step(model, optimizer, impl)
    out: dict = {"X": Xn, "loss": [], "grads": [], "weights": {}, "state": {}}
    for k in range(1, steps + 1):
        loss = step(X, y)
        out["loss"].append(float(td.to_numpy(loss)))
        out["grads"].append({name: td.to_numpy(p.grad) for name, p in model.named_parameters()})
        out["weights"][k] = tm.export_weights(model)
        out["state"][k] = export_optimizer_state(optimizer, model)
    return out


def _checks(variant: dict, reference: dict, name: str, mode: str, device: str) -> list[Check]:
    """Every comparison of one variant's run with the reference's, step by step."""
    common = dict(mode=mode, device=device, names=(name, tv.TEXTBOOK),
                  reproduce=f"python -m pytest benchmarks/test_torch_variants.py -k '{name}'")
    initial = calls.weights_for(reference["weights"][1]["fc1.bias"].shape[0])
    X = reference["X"]
    checks = [compare(variant["loss"][0], reference["loss"][0], path="step 1 / loss", kind="loss", **common)]
    checks += compare_tree(variant["grads"][0], reference["grads"][0], path="step 1 / gradients", kind="gradient",
                           scales=gradient_scales(initial, X), **common)
    terms = _gradient_terms(initial, reference["weights"], X)
    for k in sorted(reference["weights"]):
        if k > 1:
            checks.append(compare(variant["loss"][k - 1], reference["loss"][k - 1], path=f"step {k} / loss",
                                  kind="loss", step=k - 1, lr=LR, **common))
        checks += compare_tree(variant["weights"][k], reference["weights"][k], path=f"step {k} / weights",
                               kind="trajectory", step=k, lr=LR, **common)
        state, ref_state = dict(variant["state"][k]), dict(reference["state"][k])
        checks.append(compare(state.pop("step"), ref_state.pop("step"), path=f"step {k} / adam step count",
                              kind="decision", **common))
        checks += compare_tree(state, ref_state, path=f"step {k} / adam state", kind="optimizer_state", step=k,
                               scales=adam_state_scales(ref_state, terms[k]), **common)
    return checks


def _gradient_terms(initial: dict, weights: dict[int, dict], X) -> dict[int, dict]:
    """Per step k, the size of the terms of the gradients Adam has averaged by then
    (``gradient_scales`` at the weights before each step up to k, the largest elementwise)."""
    out, acc = {}, None
    for k in sorted(weights):
        now = gradient_scales(initial if k == 1 else weights[k - 1], X)
        acc = now if acc is None else {key: (np.maximum(acc[key][0], now[key][0]), now[key][1]) for key in now}
        out[k] = acc
    return out


def _device_or_skip(device: str, settings) -> None:
    from benchmarks import harness

    reason = harness.unavailable("torch", device)
    if reason:
        pytest.skip(reason)


def _mode(device: str, precision_mode: str) -> str:
    return precision_mode if device == "gpu" else "ieee"


_REFERENCE: dict = {}


def _reference(device: str, size_id: str) -> dict:
    key = (device, size_id)
    if key not in _REFERENCE:
        _REFERENCE[key] = _train(lambda m: tv.make_adam(m, tv.TEXTBOOK, LR), tv.TEXTBOOK, device, size_id)
    return _REFERENCE[key]


@pytest.mark.parametrize("size_id", CHECKED_SIZES)
@pytest.mark.parametrize("impl", VARIANT_IMPLS)
def test_variant_agrees_with_the_reference(variant_device, impl, size_id, settings, precision_mode):
    device = variant_device  # each device of --bench-device (conftest.py)
    _device_or_skip(device, settings)
    if impl in COMPILED_TORCH and settings.disabled and size_id != CHECKED_SIZES[0]:
        pytest.skip("--benchmark-disable (CI): compiled variants are checked at the first size only, as they are timed")
    import reference_torch.device as tdev

    reason = tv.not_applicable(impl, device, tdev.backend(device))
    if reason:
        pytest.skip(reason)
    variant = _train(lambda m: tv.make_adam(m, impl, LR), impl, device, size_id)
    checks = _checks(variant, _reference(device, size_id), impl, _mode(device, precision_mode), device)
    assert_all(checks, f"{impl} against the reference's textbook Adam, {size_id} on {device}")
    if impl in ("torch-foreach", "torch-fused"):  # the optimizer alone differs: the gradients are the same
        for name, g in variant["grads"][0].items():
            np.testing.assert_array_equal(g, _reference(device, size_id)["grads"][0][name])


@pytest.mark.parametrize("wrong", ({"eps": 1e-6}, {"betas": (0.9, 0.99)}), ids=("eps=1e-6", "beta2=0.99"))
def test_the_comparison_sees_another_adam(wrong, settings, precision_mode):
    """The agreement above is not vacuous: fused Adam with one hyperparameter off (what a slip in
    a variant's construction would do) fails the same comparison at the benchmark's own sizes."""
    import torch

    for size_id in CHECKED_SIZES:
        kwargs = {"lr": LR, "betas": (0.9, 0.999), "eps": 1e-8, "fused": True, **wrong}
        variant = _train(lambda m: torch.optim.Adam(m.parameters(), **kwargs), "torch-fused", "cpu", size_id)
        checks = _checks(variant, _reference("cpu", size_id), "torch-fused " + str(wrong), "ieee", "cpu")
        failed = [c for c in checks if not c.passed]
        assert failed, f"Adam with {wrong} passed every check against the reference at {size_id}"
        assert all("/ weights" in c.path or "/ adam state" in c.path or "/ loss" in c.path for c in failed)


def test_the_compiled_list_is_the_compiled_variants():
    """``cases.COMPILED_TORCH`` (what the matrix and these checks treat as compiled) names exactly
    the variants that ``torch.compile`` the loss."""
    assert set(COMPILED_TORCH) == {impl for impl, v in tv.VARIANTS.items() if v.compiled}
