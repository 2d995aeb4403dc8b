"""Tiny random model pairs, built from one description on both sides (nothing is downloaded).

``build(arch)`` makes the transformers config from ``ARCHITECTURES[arch]`` (``AutoConfig.for_model``),
the transformers model from it (``AutoModelForCausalLM.from_config``, eager attention, float32,
dropout 0), and the mlx-lm model from the same config's dictionary, the dictionary mlx-lm reads from
a checkpoint's ``config.json`` (``ModelArgs.from_dict``). Where transformers 5 no longer writes a key
an mlx-lm ``ModelArgs`` requires or reads, ``BRIDGE`` supplies it from the config, by name (each
such key is a difference of the checkpoint path: see docs/ARCHITECTURES.md). Every weight is drawn
by transformers' own initialisation from the seed; the norms' weights are then moved off their
constant start (1, or 0 for Gemma's 1 + weight) so that a norm's weight and offset matter to the
outputs. ``pair.check`` moves torch's weights into MLX.
"""

from __future__ import annotations

import importlib

import numpy as np

COMMON = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              vocab_size=128, max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=None)
# pad_token_id None: transformers gives the embedding padding_idx = pad_token_id (that row never trains),
# mlx-lm's Embedding has none; pair refuses the difference (see docs/ARCHITECTURES.md, "padding_idx")
ARCHITECTURES: dict[str, dict] = {
    "llama": dict(COMMON, rms_norm_eps=1e-5, tie_word_embeddings=False),
    "mistral": dict(COMMON, rms_norm_eps=1e-5, sliding_window=None, tie_word_embeddings=False),
    "qwen2": dict(COMMON, rms_norm_eps=1e-6, tie_word_embeddings=True),
    "qwen3": dict(COMMON, rms_norm_eps=1e-6, head_dim=16, tie_word_embeddings=True),
    "gemma": dict(COMMON, rms_norm_eps=1e-6, head_dim=16, num_key_value_heads=1, hidden_act="gelu_pytorch_tanh",
                  hidden_activation="gelu_pytorch_tanh"),
    "gemma2": dict(COMMON, rms_norm_eps=1e-6, head_dim=16, query_pre_attn_scalar=16, sliding_window=32,
                   final_logit_softcapping=30.0, attn_logit_softcapping=50.0),
    "phi3": dict(COMMON, rms_norm_eps=1e-5, num_key_value_heads=4, tie_word_embeddings=False, resid_pdrop=0.0,
                 embd_pdrop=0.0, attention_dropout=0.0),
    "starcoder2": dict(COMMON, norm_epsilon=1e-5, use_bias=True, residual_dropout=0.0, embedding_dropout=0.0,
                       attention_dropout=0.0, tie_word_embeddings=True),
    "gpt2": dict(n_embd=64, n_layer=2, n_head=4, n_positions=64, vocab_size=128, layer_norm_epsilon=1e-5,
                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2, pad_token_id=None),
    # mlx-lm's GPT-NeoX MLP is 4 x hidden whatever intermediate_size says (docs/ARCHITECTURES.md, neox-intermediate)
    "gpt_neox": dict(COMMON, intermediate_size=256, num_key_value_heads=None, layer_norm_eps=1e-5, hidden_dropout=0.0, attention_dropout=0.0,
                     use_parallel_residual=True, tie_word_embeddings=False),
    "mixtral": dict(COMMON, rms_norm_eps=1e-5, num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=False),
}


def bridge(model_type: str, d: dict) -> dict:
    """Keys mlx-lm's ModelArgs reads that transformers 5's config dictionary does not have."""
    rope = d.get("rope_parameters") or {}
    out = {}
    if "rope_theta" in rope and "rope_theta" not in d:
        out["rope_theta"] = rope["rope_theta"]
    if model_type == "gpt2":
        out["n_ctx"] = d["n_positions"]
    if model_type == "gpt_neox":
        out["rotary_emb_base"] = rope.get("rope_theta", 10000)
        out["rotary_pct"] = rope.get("partial_rotary_factor", d.get("rotary_pct", 1.0))
    return out


def hf_config(arch: str, **overrides):
    from transformers import AutoConfig

    desc = dict(ARCHITECTURES[arch], **overrides)
    desc = {k: v for k, v in desc.items() if v is not None or k in ("sliding_window", "pad_token_id")}
    return AutoConfig.for_model(arch, **desc)


def mlx_model(config_dict: dict, **overrides):
    """mlx-lm's model for a transformers config dictionary (as mlx-lm reads config.json)."""
    from mlx_lm.utils import MODEL_REMAPPING

    model_type = config_dict["model_type"]
    arch = importlib.import_module(f"mlx_lm.models.{MODEL_REMAPPING.get(model_type, model_type)}")
    d = {**config_dict, **bridge(model_type, config_dict), **overrides}
    return arch.Model(arch.ModelArgs.from_dict(d))


def torch_model(config, seed: int = 0):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    extra = {"experts_implementation": "eager"} if "experts" in str(config.to_dict()) else {}  # grouped_mm: no float64
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32, **extra)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.split(".")[-2].lower() or name.split(".")[-2].startswith("ln"):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def build(arch: str, seed: int = 0, mlx_overrides: dict | None = None, **overrides):
    """``(mlx_model, torch_model)`` for one architecture from its description (and overrides)."""
    config = hf_config(arch, **overrides)
    return mlx_model(config.to_dict(), **(mlx_overrides or {})), torch_model(config, seed)


def tokens(vocab: int = 128, batch: int = 4, length: int = 16, seed: int = 0, batches: int = 1):
    """Random token ids, ``batches`` arrays of (batch, length) (ids from 3 up: 0-2 are pad/bos/eos)."""
    rng = np.random.default_rng(seed)
    out = [rng.integers(3, vocab, size=(batch, length)).astype(np.int64) for _ in range(batches)]
    return out[0] if batches == 1 else out
