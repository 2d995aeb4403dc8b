"""transformers models against their mlx-lm ports through ``pair.check`` (``conformance.pair.hf``):
tiny random configurations built from one description on both sides (``zoo``), forward and ten
steps of AdamW with free running judged; every seeded porting bug is refused or caught, naming its
layer, and the harness fails a port whose gradients are off by just more than the measured rounding.
Needs the ``[hf]`` extra; marked ``hf`` (run with ``-m hf``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("mlx_lm", reason="needs the [hf] extra (pip install -e '.[hf]')")
pytest.importorskip("transformers", reason="needs the [hf] extra (pip install -e '.[hf]')")

from conformance import pair  # noqa: E402
from conformance.pair.hf import zoo  # noqa: E402

pytestmark = pytest.mark.hf
os.environ.setdefault("OMP_NUM_THREADS", "1")
ADAMW = pair.AdamW(1e-3, weight_decay=0.01)


def _check(arch, steps=10, ensemble=6, mlx_overrides=None, patch=None, **overrides):
    mlx_model, torch_model = zoo.build(arch, mlx_overrides=mlx_overrides, **overrides)
    if patch:
        patch(mlx_model)
    return pair.check(mlx_model, torch_model, zoo.tokens(), loss="causal_lm", optimizer=ADAMW, steps=steps,
                      ensemble=ensemble)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2", "gemma2", "mixtral"])
def test_architecture_conforms_forward_and_in_training(arch):
    report = _check(arch)
    report.assert_conforms()
    layers = [c for c in report.checks if c.path.startswith("2 layers /")]
    local = {c.extra["steps"] for c in report.checks if c.path.startswith("5 local / training step")}
    assert layers and local == {10} and report.free.judged, report.summary()


def test_tied_embedding_is_one_tensor_compared_at_the_logits():
    mlx_model, torch_model = zoo.build("qwen2")
    report = pair.check(mlx_model, torch_model, zoo.tokens(), loss="causal_lm", optimizer=ADAMW, steps=1, ensemble=0)
    assert report.mapping.tied == {"lm_head.weight": "model.embed_tokens.weight"}
    assert "lm_head.weight" not in report.mapping.torch_names
    assert any(c.path == "2 layers / lm_head output" for c in report.checks), "the logits are compared"
    report.assert_conforms()


SEEDED = [  # (architecture family, bug, build arguments, what the report must name)
    ("llama", "rope layout", dict(mlx_overrides=dict(rope_traditional=True)),
     "model.layers.0.self_attn.rope: rope traditional"),
    ("qwen2", "rope base", dict(mlx_overrides=dict(rope_theta=1e6)), "model.layers.0.self_attn.rope: rope frequencies"),
    ("qwen2", "norm eps", dict(mlx_overrides=dict(rms_norm_eps=1e-5)), "model.layers.0.input_layernorm"),
    ("llama", "untied embeddings", dict(mlx_overrides=dict(tie_word_embeddings=True)), "lm_head: tie_word_embeddings"),
    ("qwen2", "tied on one side", dict(mlx_overrides=dict(tie_word_embeddings=False)), "lm_head: tie_word_embeddings"),
    ("gpt2", "norm eps", dict(mlx_overrides=dict(layer_norm_epsilon=1e-6)), "transformer.h.0.ln_1"),
    ("mixtral", "experts per token", dict(mlx_overrides=dict(num_experts_per_tok=1)), "num_experts_per_tok"),
]


@pytest.mark.parametrize("arch, bug, kw, named", SEEDED, ids=[f"{a}-{b}" for a, b, _, _ in SEEDED])
def test_seeded_flag_is_refused_naming_its_layer(arch, bug, kw, named):
    report = _check(arch, steps=1, ensemble=0, **kw)
    assert report.status == "not-comparable" and report.exit_status == 2, report.summary()
    assert named in report.problem and "\n" not in report.problem, report.problem


def _gemma_plain_norms(model):
    import mlx.nn as nn

    for layer in model.model.layers:
        layer.input_layernorm = nn.RMSNorm(64, eps=1e-6)


def _gpt2_attention_scale(model):
    for block in model.model.h:
        block.attn.scale = 64 ** -0.5  # the model width's scale, not the head's


def _llama_rope_half_the_dims(model):
    import mlx.core as mx
    import mlx.nn as nn

    class HalfRoPE(nn.RoPE):  # its flags say 16 dimensions; its code rotates 8
        def __call__(self, x, offset=0):
            return mx.fast.rope(x, self.dims // 2, traditional=False, base=self.base, scale=1.0, offset=offset)

    for layer in model.model.layers:
        layer.self_attn.rope = HalfRoPE(16, traditional=False, base=10000.0)


@pytest.mark.parametrize("arch, patch, named", [
    ("gemma2", _gemma_plain_norms, "norm offset"),
    ("gpt2", _gpt2_attention_scale, "transformer.h.0.attn.c_proj"),
    ("llama", _llama_rope_half_the_dims, "model.layers.0.self_attn.o_proj"),
], ids=["gemma2-norm-offset", "gpt2-attention-scale", "llama-rope-code"])
def test_seeded_code_bug_is_named_at_its_layer(arch, patch, named):
    """Bugs no flag shows: the norm offset is probed (refused, naming the layer); a wrong attention
    scale and a rope whose code rotates half the dimensions its flags say are caught by the layer
    comparison at the attention's output projection (the first compared layer after the attention).
    (Positions shifted by one are no bug: rope is relative, and the pair conforms.)"""
    report = _check(arch, steps=1, ensemble=0, patch=patch)
    assert not report.passed, report.summary()
    assert named in report.summary(), report.summary()


@pytest.mark.parametrize("factor, passes", [(1e-5, False), (1e-6, True)])
def test_measured_budget_is_bounded_from_above(monkeypatch, factor, passes):
    """On a real model the gradient budget fails a systematic 1e-5 relative difference at step 1
    and passes 1e-6 (about both sides' 8u floors together)."""
    from conformance.pair import sides

    real = sides.MLXPort.gradients

    def scaled(self, weights, X, y):
        loss, grads = real(self, weights, X, y)
        return loss, {k: v * np.float32(1 + factor) for k, v in grads.items()}

    monkeypatch.setattr(sides.MLXPort, "gradients", scaled)
    report = _check("llama", steps=2, ensemble=0)
    if passes:
        assert report.passed, report.summary()
    else:
        failed = [c for c in report.checks if not c.passed]
        assert failed and all(c.path.startswith("5 local / gradients / ") for c in failed), report.summary()
        assert report.first_failure().step == 1


def test_padding_and_ignored_labels():
    """Right padding with pad_token_id: pads are ignored labels and masked out of transformers'
    attention; the pair conforms. Left padding is refused naming the batch and row."""
    from conformance.pair.hf import BatchError, causal_lm

    tokens = zoo.tokens()
    tokens[1, 12:] = 0
    tokens[3, 9:] = 0
    mlx_model, torch_model = zoo.build("llama")
    report = pair.check(mlx_model, torch_model, tokens, loss=causal_lm(pad_token_id=0), optimizer=ADAMW, steps=3,
                        ensemble=0)
    report.assert_conforms()
    left = zoo.tokens()
    left[2, :3] = 0
    with pytest.raises(BatchError, match="batch 0, row 2: a pad token precedes a real one"):
        causal_lm(pad_token_id=0).prepare(left)


def test_causal_lm_loss_is_the_shifted_mean_on_both_sides():
    """The loss against a plain numpy computation in float64 from the same logits."""
    import mlx.core as mx
    import torch

    from conformance.pair.hf import causal_lm

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 7)).astype(np.float32)
    labels = rng.integers(0, 7, size=(2, 5))
    labels[0, 3] = -100
    lp = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
    picks = [-lp[b, t - 1, labels[b, t]] for b in range(2) for t in range(1, 5) if labels[b, t] != -100]
    expected = float(np.mean(picks))

    class Out:
        def __init__(self, z):
            self.logits = z
    loss = causal_lm()
    got_mlx = float(loss.mlx(lambda X: mx.array(logits), None, mx.array(labels)).item())
    got_torch = float(loss.torch(lambda input_ids, attention_mask: Out(torch.tensor(logits)), None, torch.tensor(labels)))
    assert abs(got_mlx - expected) < 1e-5 and abs(got_torch - expected) < 1e-5, (got_mlx, got_torch, expected)
