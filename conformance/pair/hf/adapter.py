"""``adapt``: what ``pair.check`` needs to pair a transformers model with its mlx-lm port.

Called by ``pair.check`` when the torch model is a transformers ``PreTrainedModel``; returns the
``names`` and ``rules`` the mapping then uses (the user's own win), after refusing, with one line
that names the flag and the layer, every setting that makes the pair compute something else:

- dropout given as a probability in the config (``attention_dropout``, ``resid_pdrop``, ...), which
  each framework would draw differently;
- the rotary embedding: transformers keeps one ``*RotaryEmbedding`` per model whose ``inv_freq``
  is a non-persistent buffer (a constant, never copied), mlx-lm a ``RoPE`` per attention layer;
  each MLX rope's frequencies (from its ``base``, ``scale`` or ``_freqs``), its rotated dimensions
  and its layout (``traditional``: MLX rotates interleaved pairs, transformers' ``rotate_half``
  rotates halves) are compared with transformers' ``inv_freq``;
- the tie of the output embedding: transformers' ``lm_head.weight`` *is* the input embedding's
  parameter when tied (found by identity), mlx-lm's tied models have no ``lm_head`` and call
  ``embed_tokens.as_linear``; a tie on one side only is refused;
- the mixture-of-experts' ``num_experts_per_tok``;
- LoRA adapters (``conformance.pair.hf.lora``): on different projections, or with a different
  scale, rank, DoRA or bias.

Names: mlx-lm's conventions where they differ from transformers' (``RENAMES``, per
``config.model_type``: GPT-2's ``transformer.`` is mlx-lm's ``model.``, Mixtral's ``mlp`` its
``block_sparse_moe``), a rewrite of path prefixes, not one entry per module. Rules: by class, for
the transformers classes ``conformance.pair.hf.rules`` knows (its RMSNorms, scaled embeddings,
tied heads, MoE routers and experts; GPT-2's ``Conv1D`` is registered by type).
"""

from __future__ import annotations

import re

import numpy as np

from ..mapping import MappingError
from . import lora
from . import rules as R

RENAMES: dict[str, list[tuple[str, str]]] = {
    "gpt2": [(r"^transformer(\.|$)", r"model\1")],
    "gpt_neox": [(r"^gpt_neox\.layers(\.|$)", r"model.h\1"), (r"^gpt_neox(\.|$)", r"model\1"),
                 (r"^lm_head$", "model.embed_out")],
    "mixtral": [(r"\.mlp\.gate$", ".block_sparse_moe.gate"), (r"\.mlp\.experts$", ".block_sparse_moe.switch_mlp"),
                (r"\.mlp$", ".block_sparse_moe")],
}
DROPOUTS = ("attention_dropout", "attn_pdrop", "resid_pdrop", "embd_pdrop", "hidden_dropout", "embedding_dropout",
            "residual_dropout", "mlp_dropout", "attn_dropout")  # those a causal LM's forward draws (not a classifier's)


def is_transformers(model) -> bool:
    """A transformers ``PreTrainedModel`` (checked by class path, so transformers is not imported)."""
    return any(c.__module__.startswith("transformers.") and c.__name__ == "PreTrainedModel" for c in type(model).__mro__)


def rename(path: str, model_type: str) -> str:
    for pattern, repl in RENAMES.get(model_type, []):
        path = re.sub(pattern, repl, path)
    return path


def _dropout(config) -> list[str]:
    out = []
    for name in DROPOUTS:
        v = getattr(config, name, None)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            out.append(f"{name}={v}")
    return out


def _mlx_inv_freq(rope):
    """An MLX rope's inverse frequencies per rotated pair, its rotated dimensions and layout."""
    import mlx.core as mx

    dims = int(getattr(rope, "dims", getattr(rope, "dim", 0)))
    traditional = bool(getattr(rope, "traditional", False))
    if getattr(rope, "_freqs", None) is not None:
        inv = 1.0 / np.asarray(rope._freqs.astype(mx.float32), np.float64)
    else:
        base, scale = float(rope.base), float(getattr(rope, "scale", 1.0))
        inv = scale / base ** (np.arange(0, dims, 2, dtype=np.float64) / dims)
    return inv, dims, traditional


def _rope_problems(torch_model, mlx_model) -> list[str]:
    import mlx.nn as nn

    ropes = sorted(((n, m) for n, m in mlx_model.named_modules()
                    if isinstance(m, nn.RoPE) or type(m).__name__.endswith("RoPE")),
                   key=lambda nm: [int(p) if p.isdigit() else p for p in nm[0].split(".")])  # layer 0 first
    rotary = [m for _, m in torch_model.named_modules() if type(m).__name__.endswith("RotaryEmbedding")
              and getattr(m, "inv_freq", None) is not None]
    if not rotary:
        return [f"{ropes[0][0]}: mlx rotates queries and keys (RoPE), transformers has no rotary embedding"] if ropes else []
    if not ropes:
        return ["transformers has a rotary embedding, the MLX model none (no module named *RoPE)"]
    hf = rotary[0]
    inv_t = hf.inv_freq.detach().double().cpu().numpy()
    params = getattr(hf.config, "rope_parameters", None) or {}
    base = params.get("rope_theta", getattr(hf.config, "rope_theta", None))
    out = []
    for path, rope in ropes:
        inv_m, dims, traditional = _mlx_inv_freq(rope)
        if traditional:
            out.append(f"{path}: rope traditional: mlx True (rotates interleaved pairs), transformers rotates halves "
                       "(rotate_half, traditional=False): build the MLX rope with traditional=False")
        if dims != 2 * inv_t.shape[0]:
            out.append(f"{path}: rope dims: mlx rotates {dims} of each head, transformers {2 * inv_t.shape[0]} "
                       "(partial_rotary_factor)")
        elif not np.allclose(inv_m, inv_t, rtol=1e-5, atol=0):
            mlx_base = getattr(rope, "base", None)
            out.append(f"{path}: rope frequencies differ: transformers rope_theta {base!r} "
                       f"({params.get('rope_type', 'default')}), mlx base {mlx_base!r}"
                       f"{'' if getattr(rope, 'scale', 1.0) == 1.0 else ', scale ' + repr(rope.scale)}: "
                       "build both from the same rope_theta and rope scaling")
        if out:
            break  # the first MLX layer that differs (every layer is built alike)
    scaling = float(getattr(hf, "attention_scaling", 1.0))
    mscale = float(getattr(ropes[0][1], "mscale", getattr(ropes[0][1], "_scale", 1.0)))
    if abs(scaling - mscale) > 1e-6 and not out:
        out.append(f"{ropes[0][0]}: rope attention scaling: transformers {scaling}, mlx {mscale}")
    return out


def _tied(torch_model) -> bool:
    inp, outp = torch_model.get_input_embeddings(), torch_model.get_output_embeddings()
    return outp is not None and inp is not None and outp.weight is inp.weight


def adapt(torch_model, mlx_model, names: dict | None = None, rules: dict | None = None):
    """``(names, rules)`` for ``Mapping.build``; raises ``MappingError`` naming a flag that differs."""
    config = torch_model.config
    model_type = getattr(config, "model_type", "")
    drop = _dropout(config)
    if drop:
        raise MappingError(f"dropout draws different masks in each framework (transformers config {', '.join(drop)}):"
                           " build the model with them at 0 for a lockstep")
    problems = _rope_problems(torch_model, mlx_model)
    if problems:
        raise MappingError(problems[0])
    mlx_paths = dict(mlx_model.named_modules())
    names, rules = dict(names or {}), dict(rules or {})
    adapters = lora.targets(torch_model, mlx_model, lambda p: names.get(p, rename(p, model_type)))
    if adapters:
        raise MappingError(adapters)
    head = torch_model.get_output_embeddings()
    head_path = next((n for n, m in torch_model.named_modules() if head is not None and m is head), None)
    if head_path is not None:
        mlx_head = names.get(head_path, rename(head_path, model_type))
        has_head = mlx_head in mlx_paths and mlx_head != ""
        if _tied(torch_model) and not has_head:
            names.setdefault(head_path, "")
            rules.setdefault(head_path, R.TIED_HEAD)
        elif _tied(torch_model):
            raise MappingError(f"{head_path}: tie_word_embeddings: transformers ties {head_path} to the input "
                               f"embedding (one tensor), mlx has its own {mlx_head}: build both with the same "
                               "tie_word_embeddings")
        elif not has_head:
            raise MappingError(f"{head_path}: tie_word_embeddings: transformers {head_path} has its own weight, mlx "
                               "has no module there (it ties its output to the input embedding, as_linear): build "
                               "both with the same tie_word_embeddings")
    k = getattr(config, "num_experts_per_tok", None)
    for path, mod in mlx_paths.items():
        mk = getattr(mod, "num_experts_per_tok", None)
        if k is not None and mk is not None and int(mk) != int(k):
            raise MappingError(f"{path}: num_experts_per_tok: transformers {k}, mlx {mk}")
    for path, mod in torch_model.named_modules():
        new = rename(path, model_type)
        if new != path and new in mlx_paths:  # a module mlx-lm lacks (dropout at 0) is left to the mapping
            names.setdefault(path, new)
        cls = type(mod).__name__
        own = dict(mod.named_parameters(recurse=False))
        if lora.is_peft_lora(mod):  # peft's LoRA layer (its base layer's rule inside)
            rules.setdefault(path, lora.rule(mod, mlx_paths[names.get(path, new)]))
        elif cls.endswith("RMSNorm"):
            rules.setdefault(path, R.RMS_NORM)
        elif cls.endswith("TopKRouter") and set(own) == {"weight"}:
            rules.setdefault(path, R.ROUTER)
        elif cls.endswith("Experts") and "gate_up_proj" in own:
            rules.setdefault(path, R.EXPERTS)
        elif getattr(mod, "embed_scale", None) is not None and hasattr(mod, "embedding_dim"):
            rules.setdefault(path, R.scaled_embedding(float(mod.embed_scale)))
    return names, rules
