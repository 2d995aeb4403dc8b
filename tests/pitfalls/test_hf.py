"""The proofs of the registry's entries on Hugging Face models (transformers 5.23 against mlx-lm
0.32.2), in plain torch and plain MLX so that they run without the ``[hf]`` extra: each reproduces
the difference with the libraries' own building blocks at the sizes ``conformance.pair.hf.zoo``
uses (hidden 64, intermediate 128, head dim 16), and shows the fix agreeing. The same findings on
the real models, with transformers and mlx-lm, are proven in ``tests/test_hf_findings.py`` (the
``hf`` marker); each test below names its counterpart there. ``data/hf_configs.json`` holds the
config dictionaries transformers 5.23 writes for the tiny GPT-2, GPT-NeoX and Qwen2
(``save_pretrained``), kept current by ``tests/test_hf_findings.py::test_config_fixture_is_current``."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import torch
from torch import nn as tnn

from conformance import pair
from conformance.compare import assert_close, compare
from conformance.pair.hf import zoo
from .helpers import demonstrates, measured

CONFIGS = json.loads((Path(__file__).parent / "data" / "hf_configs.json").read_text())
HIDDEN, INTER = 64, 128


def _mlp_weights(seed=0):
    """A gated MLP's weights as transformers initialises them (normal, std 0.02), torch's layout."""
    g = np.random.default_rng(seed)
    return [g.normal(0, 0.02, s).astype(np.float32) for s in ((INTER, HIDDEN), (INTER, HIDDEN), (HIDDEN, INTER))]


def _gated(x, w, act, lib):
    gate, up, down = w
    if lib == "mlx":
        x, gate, up, down = (mx.array(a) for a in (x, gate, up, down))
        return np.array((act(x @ gate.T) * (x @ up.T)) @ down.T)
    x, gate, up, down = (torch.tensor(a) for a in (x, gate, up, down))
    return ((act(x @ gate.T) * (x @ up.T)) @ down.T).numpy()


@demonstrates("hf-gelu-exact-vs-tanh")
def test_hf_gelu_exact_vs_tanh():
    """Counterpart: tests/test_hf_findings.py::test_exact_gelu and ::test_tanh_gelu."""
    x = np.linspace(-6, 6, 20001, dtype=np.float32)
    t_tanh = tnn.functional.gelu(torch.tensor(x), approximate="tanh").numpy()
    exact = np.array(nn.gelu(mx.array(x)))
    measured("hf-gelu-exact-vs-tanh", "gelu_gap", np.abs(exact - t_tanh).max())
    tokens = np.random.default_rng(1).standard_normal((64, HIDDEN)).astype(np.float32)  # RMS-normed inputs: ~N(0, 1)
    w = _mlp_weights()
    torch_mlp = _gated(tokens, w, lambda a: tnn.functional.gelu(a, approximate="tanh"), "torch")  # Gemma in transformers
    mlx_mlp = _gated(tokens, w, nn.gelu, "mlx")  # Gemma in mlx-lm
    measured("hf-gelu-exact-vs-tanh", "mlp_rel", np.abs(mlx_mlp - torch_mlp).max() / np.abs(torch_mlp).max())
    assert not compare(mlx_mlp, torch_mlp, path="exact-GELU MLP against the tanh one", kind="forward").passed
    assert_close(_gated(tokens, w, nn.gelu_approx, "mlx"), torch_mlp, path="nn.gelu_approx MLP", kind="forward")
    assert_close(mlx_mlp, _gated(tokens, w, tnn.functional.gelu, "torch"), path="exact GELU on both", kind="forward")


def _rotate_half(x, base):
    """transformers' rotary embedding (``rotate_half``), float32, positions 0..L-1."""
    d = x.shape[-1]
    inv = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d)
    freqs = torch.outer(torch.arange(x.shape[-2]).float(), inv)
    emb = torch.cat([freqs, freqs], -1)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * emb.cos() + torch.cat([-x2, x1], -1) * emb.sin()


@demonstrates("hf-rope-parameters")
def test_hf_rope_parameters():
    """Counterpart: tests/test_hf_findings.py::test_rope_parameters (the checkpoint through mlx-lm's loader)."""
    qwen2 = CONFIGS["qwen2"]
    assert "rope_theta" not in qwen2 and qwen2["rope_parameters"]["rope_theta"] == 10000.0
    q = np.random.default_rng(2).standard_normal((1, 4, 16, 16)).astype(np.float32)  # (batch, heads, positions, dim 16)
    torch_q = _rotate_half(torch.tensor(q), 10000.0).numpy()
    defaulted = np.array(mx.fast.rope(mx.array(q), 16, traditional=False, base=1e6, scale=1.0, offset=0))  # Qwen2's default
    measured("hf-rope-parameters", "rotated_gap", np.abs(defaulted - torch_q).max() / np.abs(torch_q).max())
    base = zoo.bridge("qwen2", qwen2)["rope_theta"]  # the fix: read rope_parameters
    assert base == 10000.0
    fixed = np.array(mx.fast.rope(mx.array(q), 16, traditional=False, base=base, scale=1.0, offset=0))
    assert_close(fixed, torch_q, path="rope with rope_parameters' base", kind="forward")


@demonstrates("hf-checkpoint-keys")
def test_hf_checkpoint_keys():
    """Counterpart: tests/test_hf_findings.py::test_gpt2_n_ctx (mlx-lm's load_model raises TypeError)."""
    gpt2, neox = CONFIGS["gpt2"], CONFIGS["gpt_neox"]
    missing = {"gpt2": [k for k in ("n_ctx",) if k not in gpt2],
               "gpt_neox": [k for k in ("rotary_emb_base", "rotary_pct") if k not in neox]}
    assert missing == {"gpt2": ["n_ctx"], "gpt_neox": ["rotary_emb_base", "rotary_pct"]}, missing
    assert zoo.bridge("gpt2", gpt2)["n_ctx"] == gpt2["n_positions"]
    bridged = zoo.bridge("gpt_neox", neox)
    assert bridged["rotary_emb_base"] == neox["rope_parameters"]["rope_theta"]
    assert bridged["rotary_pct"] == neox["rope_parameters"]["partial_rotary_factor"]


class _TorchMLP(tnn.Module):
    def __init__(self, inter):
        super().__init__()
        self.dense_h_to_4h, self.dense_4h_to_h = tnn.Linear(HIDDEN, inter), tnn.Linear(inter, HIDDEN)

    def forward(self, x):
        return self.dense_4h_to_h(tnn.functional.gelu(self.dense_h_to_4h(x)))


class _MLXMLP(nn.Module):  # mlx-lm's GPT-NeoX MLP: 4 x hidden, whatever the config says
    def __init__(self):
        super().__init__()
        self.dense_h_to_4h, self.dense_4h_to_h = nn.Linear(HIDDEN, 4 * HIDDEN), nn.Linear(4 * HIDDEN, HIDDEN)

    def __call__(self, x):
        return self.dense_4h_to_h(nn.gelu(self.dense_h_to_4h(x)))


@demonstrates("hf-neox-intermediate")
def test_hf_neox_intermediate():
    """Counterpart: tests/test_hf_findings.py::test_neox_intermediate."""
    torch.manual_seed(0)
    X = np.random.default_rng(3).standard_normal((8, HIDDEN)).astype(np.float32)
    batch = (X, X)
    report = pair.check(_MLXMLP(), _TorchMLP(INTER), batch, loss="mse", steps=1, ensemble=0)
    assert report.status == "not-comparable" and "dense_h_to_4h" in report.problem and "(128, 64)" in report.problem \
        and "(256, 64)" in report.problem, report.problem
    t, m = _TorchMLP(4 * HIDDEN), _MLXMLP()  # the fix: a checkpoint with intermediate_size = 4 x hidden
    m.update({name: {"weight": mx.array(getattr(t, name).weight.detach().numpy()),
                     "bias": mx.array(getattr(t, name).bias.detach().numpy())} for name in ("dense_h_to_4h", "dense_4h_to_h")})
    with torch.no_grad():
        expected = t(torch.tensor(X)).numpy()
    assert_close(np.array(m(mx.array(X))), expected, path="GPT-NeoX MLP at 4 x hidden", kind="forward")


@demonstrates("hf-padding-idx")
def test_hf_padding_idx():
    """Counterpart: tests/test_hf_findings.py::test_padding_idx."""
    torch.manual_seed(0)
    ids = np.array([[5, 0, 7, 0]])  # pad id 0 inside the batch (left or in-between, or an unmasked label)
    t = tnn.Embedding(16, 8, padding_idx=0)
    m = nn.Embedding(16, 8)
    m.weight = mx.array(t.weight.detach().numpy())
    target = np.random.default_rng(4).standard_normal((1, 4, 8)).astype(np.float32)
    (t(torch.tensor(ids)) - torch.tensor(target)).pow(2).sum().backward()
    grad = nn.value_and_grad(m, lambda mod: ((mod(mx.array(ids)) - mx.array(target)) ** 2).sum())(m)[1]["weight"]
    assert float(t.weight.grad[0].abs().max()) == 0.0
    measured("hf-padding-idx", "pad_row_grad", float(np.linalg.norm(np.array(grad)[0])))
    assert_close(np.array(grad)[1:], t.weight.grad[1:].numpy(), path="the other rows' gradients (2 (e - target), elementwise)", kind="forward")
    report = pair.check(_Embed(m), _TEmbed(t), (ids, target), loss="mse", steps=1, ensemble=0)
    assert report.status == "not-comparable" and "padding_idx" in report.problem, report.problem


class _TEmbed(tnn.Module):
    def __init__(self, e):
        super().__init__()
        self.embed_tokens = e

    def forward(self, x):
        return self.embed_tokens(x)


class _Embed(nn.Module):
    def __init__(self, e):
        super().__init__()
        self.embed_tokens = e

    def __call__(self, x):
        return self.embed_tokens(x)
