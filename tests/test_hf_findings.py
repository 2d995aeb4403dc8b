"""The differences between mlx-lm 0.32.2 and transformers 5.23 that the hf pairs found
(docs/ARCHITECTURES.md, "Findings"), each proven: the pair differs at the named layer, or the
checkpoint path fails as the entry says, and the same pair with the one flag changed conforms.
Also the checkpoint path itself: a transformers checkpoint loaded by mlx-lm's own loader conforms to
transformers' loading of the same folder. Needs the ``[hf]`` extra; marked ``hf``. The registry's entries
``hf-*`` (docs/PORTING.md, conformance/registry/hf.py) reproduce each finding in plain torch and MLX
(tests/pitfalls/test_hf.py) so that the guide's proofs run without the extra; ``test_config_fixture_is_current``
keeps the config dictionaries those proofs read current."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("mlx_lm", reason="needs the [hf] extra (pip install -e '.[hf]')")
pytest.importorskip("transformers", reason="needs the [hf] extra (pip install -e '.[hf]')")

from conformance import pair  # noqa: E402
from conformance.pair.hf import checkpoint, zoo  # noqa: E402

pytestmark = pytest.mark.hf
os.environ.setdefault("OMP_NUM_THREADS", "1")
ADAMW = pair.AdamW(1e-3, weight_decay=0.01)


def _check(arch, steps=2, **overrides):
    mlx_model, torch_model = zoo.build(arch, **overrides)
    return pair.check(mlx_model, torch_model, zoo.tokens(), loss="causal_lm", optimizer=ADAMW, steps=steps, ensemble=0)


@pytest.mark.parametrize("arch, layer", [("gemma", "model.layers.0.mlp.down_proj"),
                                         ("starcoder2", "model.layers.0.mlp.c_proj")])
def test_exact_gelu(arch, layer):
    """transformers computes the tanh approximation (for Gemma even where the config says
    hidden_act="gelu": it rewrites that legacy value to "gelu_pytorch_tanh"), mlx-lm the exact GELU.
    With transformers' activation replaced by torch's exact GELU, the same pair conforms."""
    import torch

    differs = _check(arch)
    assert differs.status == "does-not-conform" and differs.first_layer == layer, differs.summary()
    mlx_model, torch_model = zoo.build(arch)
    for block in torch_model.model.layers:
        block.mlp.act = block.mlp.act_fn = torch.nn.GELU()  # Gemma calls act_fn, StarCoder2 act
    pair.check(mlx_model, torch_model, zoo.tokens(), loss="causal_lm", optimizer=ADAMW, steps=2,
               ensemble=0).assert_conforms()


def test_tanh_gelu():
    differs = _check("gpt_neox")
    assert differs.first_layer == "gpt_neox.layers.0.mlp.dense_4h_to_h", differs.summary()
    _check("gpt_neox", hidden_act="gelu_pytorch_tanh").assert_conforms()


def test_rope_parameters(tmp_path):
    checkpoint.save("qwen2", tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert "rope_theta" not in config and config["rope_parameters"]["rope_theta"] == 10000.0
    report = pair.check(*checkpoint.load(tmp_path), zoo.tokens(), loss="causal_lm", optimizer=ADAMW, steps=1,
                        ensemble=0)
    assert report.status == "not-comparable", report.summary()
    assert report.problem.startswith("model.layers.0.self_attn.rope: rope frequencies differ: transformers rope_theta "
                                     "10000.0 (default), mlx base 1000000"), report.problem
    _check("qwen2", steps=1).assert_conforms()  # built with rope_theta given to mlx-lm (zoo.bridge): conforms


def test_gpt2_n_ctx(tmp_path):
    from mlx_lm.utils import load_model

    checkpoint.save("gpt2", tmp_path)
    assert "n_ctx" not in json.loads((tmp_path / "config.json").read_text())
    with pytest.raises(TypeError, match="n_ctx"):
        load_model(tmp_path)


def test_neox_intermediate():
    report = _check("gpt_neox", steps=1, intermediate_size=128)
    assert report.status == "not-comparable" and "dense_h_to_4h" in report.problem and "(256, 64)" in report.problem, \
        report.summary()


def test_padding_idx():
    report = _check("llama", steps=1, pad_token_id=0)
    assert report.status == "not-comparable" and "model.embed_tokens (Embedding): padding_idx" in report.problem, \
        report.summary()


@pytest.mark.parametrize("arch", ["llama", "mixtral"])
def test_checkpoint_path_conforms(tmp_path, arch):
    """save_pretrained (safetensors) -> mlx-lm's load_model (sanitize, strict load_weights) against
    transformers' from_pretrained of the same folder: forward and three AdamW steps conform."""
    checkpoint.save(arch, tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    report = pair.check(*checkpoint.load(tmp_path), zoo.tokens(), loss="causal_lm", optimizer=ADAMW, steps=3,
                        ensemble=0)
    report.assert_conforms()


def test_config_fixture_is_current(tmp_path):
    """tests/pitfalls/data/hf_configs.json, read by the registry's plain proofs (tests/pitfalls/test_hf.py),
    is what transformers writes now for the tiny GPT-2, GPT-NeoX and Qwen2."""
    from pathlib import Path

    fixture = json.loads((Path(__file__).parent / "pitfalls" / "data" / "hf_configs.json").read_text())
    for arch in ("gpt2", "gpt_neox", "qwen2"):
        checkpoint.save(arch, tmp_path / arch)
        assert json.loads((tmp_path / arch / "config.json").read_text()) == fixture[arch], arch
