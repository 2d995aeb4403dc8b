"""LoRA: peft's ``lora.Linear`` on a transformers model against mlx-lm's ``LoRALinear``.

Layouts (peft 0.21, mlx-lm 0.32, read from their sources): peft wraps the base layer
(``base_layer``) and keeps one ``torch.nn.Linear`` per adapter, ``lora_A.<name>.weight`` (r, in) and
``lora_B.<name>.weight`` (out, r), and computes ``base_layer(x) + lora_B(lora_A(dropout(x))) *
scaling`` with ``scaling = lora_alpha / r`` (``lora_alpha / sqrt(r)`` with ``use_rslora``). mlx-lm's
``LoRALinear`` keeps the base as ``linear`` and the adapters as bare arrays ``lora_a`` (in, r) and
``lora_b`` (r, out), the transposes of peft's, and computes ``linear(x) + scale * ((dropout(x) @
lora_a) @ lora_b)`` where ``scale`` is the factor itself (mlx-lm's ``lora_parameters`` ``scale``,
20.0 by default; there is no alpha). The base layer's tensors go through its own rule (a ``Linear``
as it is, GPT-2's ``Conv1D`` transposed).

Refused, naming the layer and the flag: a scale that differs (peft's ``lora_alpha / r`` against
mlx-lm's ``scale``), a rank that differs, DoRA (``use_dora``) on either side, peft's ``lora_bias``,
more than one active adapter, and adapters on different projections (``targets``: peft's
``target_modules`` against mlx-lm's ``keys`` and ``num_layers``). Dropout in either adapter is
refused by ``pair.check``'s dropout check, which names the module (``lora_dropout``, ``dropout``).
Frozen base weights must be frozen on both sides (``Mapping``'s check): mlx-lm's trainer calls
``model.freeze()`` before ``linear_to_lora_layers``; peft freezes all but the adapters.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..layouts import Rule, find


def _t(a):
    return np.ascontiguousarray(np.swapaxes(np.asarray(a), 0, 1))


def is_peft_lora(mod) -> bool:
    """A peft LoRA layer (``peft.tuners.lora.layer.Linear`` and its kin)."""
    return type(mod).__module__.startswith("peft.tuners.lora") and hasattr(mod, "lora_A")


def is_mlx_lora(mod) -> bool:
    """An mlx-lm LoRA (or DoRA) layer: ``lora_a`` and ``lora_b`` around a base ``linear``."""
    return hasattr(mod, "lora_a") and hasattr(mod, "lora_b") and hasattr(mod, "linear")


def _adapter(tmod) -> str | None:
    active = list(getattr(tmod, "active_adapters", []))
    return active[0] if len(active) == 1 else None


def _check(tmod, mmod) -> list[str]:
    name = _adapter(tmod)
    if name is None:
        return [f"peft active adapters {list(tmod.active_adapters)}: activate exactly one (set_adapter)"]
    out = []
    t_dora, m_dora = bool(tmod.use_dora.get(name, False)), type(mmod).__name__.startswith("DoRA")
    if t_dora or m_dora:
        out.append(f"use_dora: peft {t_dora}, mlx-lm {type(mmod).__name__}: DoRA has no rule here; use plain LoRA "
                   "(peft use_dora=False, mlx-lm fine_tune_type lora)")
    if tmod.lora_bias.get(name, False):
        out.append("lora_bias: peft's lora_B has a bias, mlx-lm's lora_b none: build peft with lora_bias=False")
    r_t, r_m = int(tmod.r[name]), int(mmod.lora_a.shape[-1])
    if r_t != r_m:
        out.append(f"r: peft rank {r_t}, mlx-lm rank {r_m}: give both the same rank")
    s_t, s_m = float(tmod.scaling[name]), float(mmod.scale)
    if abs(s_t - s_m) > 1e-12 * max(abs(s_t), 1.0):
        how, of = ("sqrt(r)", f"sqrt({r_t})") if tmod.use_rslora.get(name, False) else ("r", f"{r_t}")
        out.append(f"scale: peft scales the adapter by lora_alpha / {how} = {tmod.lora_alpha[name]} / {of} = {s_t!r}, "
                   f"mlx-lm by scale {s_m!r} (mlx-lm's scale is the factor itself): set mlx-lm's lora_parameters "
                   f"scale to {s_t!r} (or peft's lora_alpha to match)")
    base = find(tmod.base_layer, mmod.linear)
    if base is None:
        out.append(f"base layer: no layout rule for torch {type(tmod.base_layer).__name__} -> MLX "
                   f"{type(mmod.linear).__name__}")
    else:
        out += [f"base layer: {p}" for p in base.problems(tmod.base_layer, mmod.linear)]
    return out


def rule(tmod, mmod) -> Rule:
    """The rule for one peft LoRA layer against one mlx-lm LoRA layer (its base layer's rule inside)."""
    name = _adapter(tmod) or "default"
    base = find(tmod.base_layer, mmod.linear) if is_mlx_lora(mmod) else None
    names = {f"base_layer.{k}": (f"linear.{m}", f, g) for k, (m, f, g) in (base.names if base else {}).items()}
    names[f"lora_A.{name}.weight"] = ("lora_a", _t, _t)
    names[f"lora_B.{name}.weight"] = ("lora_b", _t, _t)
    return Rule(f"LoRA ({type(tmod.base_layer).__name__} base)", "peft lora.Linear", "mlx_lm LoRALinear", names,
                check=_check)


def _short(paths: list[str]) -> str:
    """``model.layers.0.self_attn.q_proj`` ... -> ``self_attn.q_proj in layers 0, 1``."""
    groups: dict[str, list[str]] = {}
    for p in paths:
        m = re.match(r"^(.*?)\.(\d+)\.(.+)$", p)
        key, layer = (m.group(3), m.group(2)) if m else (p, "")
        groups.setdefault(key, []).append(layer)
    return "; ".join(f"{k} in layers {', '.join(sorted(set(v), key=int))}" if v[0] else k for k, v in groups.items()) \
        or "none"


def targets(torch_model, mlx_model, rename) -> str | None:
    """Where the adapters differ (``None`` when both sides adapt the same layers, or neither)."""
    torch_side = [rename(p) for p, m in torch_model.named_modules() if is_peft_lora(m)]
    mlx_side = [p for p, m in mlx_model.named_modules() if is_mlx_lora(m)]
    key = lambda p: [int(x) if x.isdigit() else x for x in p.split(".")]  # noqa: E731
    only_t, only_m = sorted(set(torch_side) - set(mlx_side), key=key), sorted(set(mlx_side) - set(torch_side), key=key)
    if not (only_t or only_m):
        return None
    first, side = (only_t[0], "peft") if only_t and (not only_m or key(only_t[0]) <= key(only_m[0])) else \
        (only_m[0], "mlx-lm")
    return (f"{first}: a LoRA adapter on the {side} side only: peft adapts {_short(sorted(torch_side, key=key))}, "
            f"mlx-lm {_short(sorted(mlx_side, key=key))}: adapt the same projections (peft target_modules, mlx-lm "
            "lora_parameters keys and num_layers)")


def unwrap(model):
    """A peft ``PeftModel``'s transformers model (its LoRA layers in place); any other model as it is."""
    if type(model).__module__.startswith("peft.") and hasattr(model, "get_base_model"):
        return model.get_base_model()
    return model


def scaling(lora_alpha: float, r: int, use_rslora: bool = False) -> float:
    """peft's adapter factor, the value mlx-lm's ``scale`` must have for the same computation."""
    return lora_alpha / (math.sqrt(r) if use_rslora else r)
