"""LoRA fine-tuning: mlx-lm's ``LoRALinear`` (``linear_to_lora_layers`` after ``model.freeze()``, as
mlx-lm's trainer does) against peft's LoRA on the transformers model (``get_peft_model``), through
``pair.check`` (``conformance.pair.hf.lora``). The adapters start from the same non-zero values
(peft's ``lora_B`` is zero at init on both sides, so torch's are drawn at random and copied over, as
the harness copies every weight); the base weights are frozen on both sides; the adapters'
gradients, optimizer state and updates are judged at every step, and free running after.
Needs the ``[hf]`` extra; marked ``hf``."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("mlx_lm", reason="needs the [hf] extra (pip install -e '.[hf]')")
pytest.importorskip("peft", reason="needs the [hf] extra (pip install -e '.[hf]')")

from conformance import pair  # noqa: E402
from conformance.pair.hf import lora, zoo  # noqa: E402

pytestmark = pytest.mark.hf
os.environ.setdefault("OMP_NUM_THREADS", "1")
ADAMW = pair.AdamW(1e-3, weight_decay=0.01)
KEYS = {"llama": ["self_attn.q_proj", "self_attn.v_proj"], "qwen2": ["self_attn.q_proj", "self_attn.v_proj"],
        "gpt2": ["attn.c_attn", "mlp.c_fc"]}  # qwen2: biased q/v projections; gpt2: Conv1D bases


def lora_pair(arch, r=4, alpha=8, keys=None, mlx_keys=None, mlx_scale=None, mlx_rank=None, dropout=0.0,
              mlx_dropout=0.0, freeze=True, num_layers=2, peft_extra=None):
    """``(mlx_model, peft_model)``: the same tiny model, LoRA on the same projections by default,
    mlx-lm's scale set to peft's lora_alpha / r unless given."""
    import torch
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from peft import LoraConfig, get_peft_model

    keys = keys or KEYS[arch]
    mlx_model, torch_model = zoo.build(arch)
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=[k.split(".")[-1] for k in keys], lora_dropout=dropout,
                        fan_in_fan_out=arch == "gpt2", **(peft_extra or {}))
    peft_model = get_peft_model(torch_model, config)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    if freeze:
        mlx_model.freeze()
    scale = lora.scaling(alpha, r) if mlx_scale is None else mlx_scale
    linear_to_lora_layers(mlx_model, num_layers, {"rank": mlx_rank or r, "scale": scale, "dropout": mlx_dropout,
                                                  "keys": mlx_keys or keys})
    return mlx_model, peft_model


def _check(mlx_model, peft_model, steps=10, ensemble=6):
    return pair.check(mlx_model, peft_model, zoo.tokens(), loss="causal_lm", optimizer=ADAMW, steps=steps,
                      ensemble=ensemble)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_lora_conforms_over_ten_adamw_steps(arch):
    mlx_model, peft_model = lora_pair(arch)
    adapters = sorted(n for n, p in peft_model.named_parameters() if p.requires_grad)
    assert adapters and all(".lora_A." in n or ".lora_B." in n for n in adapters)
    report = _check(mlx_model, peft_model)
    report.assert_conforms()
    prefix = "base_model.model."
    adapters = [n[len(prefix):] for n in adapters]
    graded = {c.path.split(" / ", 2)[2] for c in report.checks if c.path.startswith("5 local / gradients / ")}
    stepped = {c.path.split(" / ", 2)[2] for c in report.checks if c.path.startswith("5 local / training step / ")}
    assert graded == set(adapters), (sorted(graded), adapters)  # the adapters' gradients, and nothing frozen
    assert set(adapters) <= stepped and {c.extra["steps"] for c in report.checks
                                         if c.path.startswith("5 local / training step")} == {10}
    assert report.free.judged, report.summary()
    frozen = [n for n in report.mapping.torch_names if "base_layer" in n]
    assert frozen and not (set(frozen) & stepped | set(frozen) & graded)


def test_lora_layout_is_the_transpose_and_the_transfer_is_exact():
    """peft's lora_A (r, in) and lora_B (out, r) are mlx-lm's lora_a (in, r) and lora_b (r, out)
    transposed; the MLX layer fed them computes peft's output (the per-layer comparison)."""
    mlx_model, peft_model = lora_pair("llama")
    report = _check(mlx_model, peft_model, steps=1, ensemble=0)
    report.assert_conforms()
    name = "model.layers.0.self_attn.q_proj"
    A = peft_model.get_base_model().get_submodule(name).lora_A["default"].weight.detach().numpy()
    B = peft_model.get_base_model().get_submodule(name).lora_B["default"].weight.detach().numpy()
    moved = report.mapping.torch_to_mlx({f"{name}.lora_A.default.weight": A, f"{name}.lora_B.default.weight": B})
    assert np.array_equal(moved[f"{name}.lora_a"], A.T) and np.array_equal(moved[f"{name}.lora_b"], B.T)
    assert any(c.path == f"2 layers / {name} output" and c.passed for c in report.checks)


REFUSED = [  # (bug, lora_pair arguments, what the one-line refusal must name)
    ("mlx-lm's default scale", dict(mlx_scale=20.0), "model.layers.0.self_attn.q_proj (LoRA (Linear base)): scale: "
     "peft scales the adapter by lora_alpha / r = 8 / 4 = 2.0, mlx-lm by scale 20.0"),
    ("alpha passed as scale", dict(mlx_scale=8.0), "set mlx-lm's lora_parameters scale to 2.0"),
    ("wrong projections", dict(mlx_keys=["self_attn.q_proj", "self_attn.k_proj"]),
     "model.layers.0.self_attn.k_proj: a LoRA adapter on the mlx-lm side only: peft adapts self_attn.q_proj in "
     "layers 0, 1; self_attn.v_proj in layers 0, 1"),
    ("last layer only", dict(num_layers=1), "model.layers.0.self_attn.q_proj: a LoRA adapter on the peft side only"),
    ("rank", dict(mlx_rank=8), "r: peft rank 4, mlx-lm rank 8"),
    ("base not frozen in MLX", dict(freeze=False), "torch's is frozen (requires_grad=False), MLX's"),
    ("peft rslora", dict(peft_extra=dict(use_rslora=True)), "lora_alpha / sqrt(r) = 8 / sqrt(4) = 4.0"),
    ("peft lora dropout", dict(dropout=0.1), "lora_dropout.default"),
    ("mlx-lm lora dropout", dict(mlx_dropout=0.1), "self_attn.q_proj.dropout"),
]


@pytest.mark.parametrize("bug, kw, named", REFUSED, ids=[b for b, _, _ in REFUSED])
def test_lora_flag_that_differs_is_refused_naming_it(bug, kw, named):
    report = _check(*lora_pair("llama", **kw), steps=1, ensemble=0)
    assert report.status == "not-comparable" and report.exit_status == 2, report.summary()
    assert named in report.problem and "\n" not in report.problem, report.problem


def test_lora_scale_bug_in_code_is_named_at_its_projection():
    """A LoRALinear whose flag says scale 2.0 and whose code scales twice: no flag shows it; the
    per-layer comparison names the first adapted projection, and the gradients fail at step 1."""
    import mlx.nn as nn

    mlx_model, peft_model = lora_pair("llama")

    def doubled(self, x):
        return self.linear(x) + 2 * self.scale * ((x @ self.lora_a) @ self.lora_b)

    for layer in mlx_model.model.layers:
        cls = type(layer.self_attn.q_proj)
        layer.self_attn.q_proj.__class__ = type("DoubleScaleLoRA", (cls,), {"__call__": doubled})
        assert isinstance(layer.self_attn.q_proj, nn.Module)
    report = _check(mlx_model, peft_model, steps=1, ensemble=0)
    assert not report.passed
    assert report.first_layer is not None and "model.layers.0.self_attn.q_proj" in report.summary(), report.summary()
    failed = {c.path for c in report.checks if not c.passed}
    assert "2 layers / model.layers.0.self_attn.q_proj output" in failed, sorted(failed)
    assert any(p.startswith("5 local / gradients / model.layers.0.self_attn.q_proj.lora_") for p in failed)


@pytest.mark.parametrize("factor, passes", [(1e-5, False), (1e-6, True)])
def test_lora_gradient_budget_is_bounded_from_above(monkeypatch, factor, passes):
    """The adapters' gradients off by 1e-5 relative fail at step 1; 1e-6 passes."""
    from conformance.pair import sides

    real = sides.MLXPort.gradients

    def scaled(self, weights, X, y):
        loss, grads = real(self, weights, X, y)
        return loss, {k: v * np.float32(1 + factor) for k, v in grads.items()}

    monkeypatch.setattr(sides.MLXPort, "gradients", scaled)
    report = _check(*lora_pair("llama"), steps=2, ensemble=0)
    if passes:
        assert report.passed, report.summary()
    else:
        failed = [c for c in report.checks if not c.passed]
        assert failed and all(c.path.startswith("5 local / gradients / ") and ".lora_" in c.path for c in failed)
