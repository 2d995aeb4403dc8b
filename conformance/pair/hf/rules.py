"""Layout rules for transformers' own layer classes against mlx-lm's (``conformance.pair.layouts``).

- ``CONV1D``: GPT-2's ``transformers.pytorch_utils.Conv1D`` stores its weight (in, out), the
  transpose of a Linear's; MLX's ``Linear`` is (out, in), so the weight is transposed both ways.
- ``rms_norm``: any transformers ``*RMSNorm`` (Llama, Qwen2/3, Mistral, Phi3, Mixtral, Gemma) onto
  an MLX RMSNorm (``nn.RMSNorm`` or mlx-lm's own Gemma ``RMSNorm``): ``weight`` as it is; the eps
  (transformers calls it ``variance_epsilon`` in the Llama family, ``eps`` in Gemma's) and the norm's
  offset (Gemma's ``x * (1 + weight)`` against ``x * weight``, probed on each side with the weight
  at zero) are flags: a difference is refused, naming the layer.
- ``scaled_embedding``: an embedding whose torch module multiplies its output (Gemma's
  ``GemmaScaledWordEmbedding``, ``embed_scale``) where mlx-lm scales after the lookup: the table as
  it is, the MLX output brought to torch's by the same factor for the layer comparison (the next
  layer's comparison proves mlx-lm scales it).
- ``TIED_HEAD``: a torch output projection whose weight *is* the input embedding's (a tied
  parameter) against mlx-lm's ``embed_tokens.as_linear``: no tensor of its own; its output (the
  logits) is compared with the MLX model's.
- ``ROUTER``: a mixture-of-experts router (Mixtral's ``MixtralTopKRouter``, a bare ``weight``) onto
  an MLX ``Linear``.
- ``EXPERTS``: transformers' fused experts (``gate_up_proj`` (E, 2I, H), ``down_proj`` (E, H, I))
  onto mlx-lm's ``SwitchGLU`` (``gate_proj``/``up_proj``/``down_proj`` (E, out, in)): the first half
  of ``gate_up_proj``'s rows is the gate, as transformers' ``chunk(2)`` reads it.
"""

from __future__ import annotations

import numpy as np

from ..layouts import LINEAR, Rule, register

T, M = "torch.nn.modules", "mlx.nn.layers"
IDENTITY = ("weight", lambda a: a, lambda a: a)


def _transpose(a):
    return np.ascontiguousarray(np.swapaxes(np.asarray(a), 0, 1))


CONV1D = register(Rule("transformers Conv1D", "transformers.pytorch_utils.Conv1D", f"{M}.linear.Linear",
                       {"weight": ("weight", _transpose, _transpose), "bias": ("bias", lambda a: a, lambda a: a)},
                       check=LINEAR.check))


def torch_eps(mod):
    """A transformers norm's epsilon, whatever the class calls it."""
    for name in ("variance_epsilon", "eps", "epsilon"):
        if getattr(mod, name, None) is not None:
            return float(getattr(mod, name))
    return None


def _torch_offset(mod) -> bool:
    """True when the torch norm computes x * (1 + weight): probed with the weight at zero."""
    import copy

    import torch

    probe = copy.deepcopy(mod).float()
    with torch.no_grad():
        probe.weight.zero_()
        out = probe(torch.ones(1, mod.weight.shape[-1]))
    return bool(out.abs().max() > 0.5)


def _mlx_offset(mod) -> bool:
    import mlx.core as mx

    saved = mod.weight
    mod.weight = mx.zeros_like(saved)
    try:
        out = mod(mx.ones((1, saved.shape[-1])))
        return bool(mx.max(mx.abs(out)).item() > 0.5)
    finally:
        mod.weight = saved


def _norm_check(t, m) -> list[str]:
    out = []
    te, me = torch_eps(t), getattr(m, "eps", None)
    if te is None or me is None or abs(te - me) > 1e-12 * max(abs(te), 1e-30):
        out.append(f"eps: transformers {te!r} ({type(t).__name__}), mlx {me!r}: build both from the same config")
    if "weight" not in dict(t.named_parameters(recurse=False)) or getattr(m, "weight", None) is None:
        out.append(f"weight: transformers {type(t).__name__} and mlx {type(m).__name__} must both have one")
    elif _torch_offset(t) != _mlx_offset(m):
        what = {True: "x * (1 + weight)", False: "x * weight"}
        out.append(f"norm offset: transformers {type(t).__name__} computes {what[_torch_offset(t)]}, mlx "
                   f"{type(m).__name__} {what[_mlx_offset(m)]}: use the architecture's own norm class")
    return out


RMS_NORM = Rule("transformers RMSNorm", "transformers *RMSNorm", "an MLX RMSNorm", {"weight": IDENTITY},
                check=_norm_check)


def scaled_embedding(scale: float) -> Rule:
    """An embedding whose torch output is ``lookup * scale`` (mlx-lm multiplies after the lookup)."""
    return Rule(f"scaled Embedding (x{scale:g})", f"{T}.sparse.Embedding", f"{M}.embedding.Embedding",
                {"weight": IDENTITY}, activation=lambda a: a * np.float64(np.float32(scale)))


def _tied_check(t, m) -> list[str]:
    return [] if getattr(m, "lm_head", None) is None else [
        "tie_word_embeddings: transformers ties lm_head to the input embedding, mlx has its own lm_head: "
        "build both with the same tie_word_embeddings"]


class WholeModel(Rule):
    """A rule whose torch output is read at the model's root (``.logits``): a tied head's logits are
    compared after everything the model does to them (Gemma 2's final soft-capping)."""

    torch_output = ""


TIED_HEAD = WholeModel("tied output embedding", f"{T}.linear.Linear", "the MLX model (embed_tokens.as_linear)",
                 to_mlx_fn=lambda t, mod: {}, to_torch_fn=lambda m, mod: {}, check=_tied_check)
ROUTER = Rule("MoE router", "transformers *TopKRouter", f"{M}.linear.Linear", {"weight": IDENTITY},
              check=lambda t, m: [] if not (getattr(m, "bias", None) is not None) else ["bias: mlx has one, "
                                                                                          "the router has none"])


def _experts_to_mlx(t: dict, mod) -> dict:
    out = {}
    if "gate_up_proj" in t:
        gate, up = np.split(np.asarray(t["gate_up_proj"]), 2, axis=1)
        out.update({"gate_proj.weight": gate, "up_proj.weight": up})
    if "down_proj" in t:
        out["down_proj.weight"] = np.asarray(t["down_proj"])
    return out


def _experts_to_torch(m: dict, mod) -> dict:
    out = {}
    if "gate_proj.weight" in m and "up_proj.weight" in m:
        out["gate_up_proj"] = np.concatenate([np.asarray(m["gate_proj.weight"]), np.asarray(m["up_proj.weight"])], 1)
    if "down_proj.weight" in m:
        out["down_proj"] = np.asarray(m["down_proj.weight"])
    return out


def _experts_check(t, m) -> list[str]:
    e_t, e_m = t.gate_up_proj.shape[0], m.gate_proj.weight.shape[0]
    return [] if e_t == e_m else [f"num_experts: transformers {e_t}, mlx {e_m}"]


class Uncompared(Rule):
    """A rule whose layer outputs are not comparable one for one (mlx-lm's SwitchGLU returns each
    token's k experts unweighted, transformers' experts their weighted sum): its tensors map, and the
    layers after it judge its output."""

    compared = False


EXPERTS = Uncompared("MoE experts (gate_up_proj -> SwitchGLU)", "transformers *Experts", "mlx_lm SwitchGLU",
               to_mlx_fn=_experts_to_mlx, to_torch_fn=_experts_to_torch, check=_experts_check)
