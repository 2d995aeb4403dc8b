"""Weight layouts: how a torch module's parameters become an MLX module's, and back.

A ``Rule`` knows one pair of layer types. ``to_mlx`` and ``to_torch`` map a module's tensors (any
tensors of a parameter's shape: the parameters themselves, their gradients, an optimizer's moments)
between the two layouts; ``activation`` brings the MLX module's output into torch's layout so
per-layer outputs can be compared; ``problems`` names settings of the pair that make them compute
different things even with identical weights (MLX's ``GroupNorm`` without ``pytorch_compatible``,
different ``eps``, a bias on one side only, torch's ``batch_first=False``). Nothing is guessed from
shapes: a pair of types without a rule is an error that names it.

The rules (torch -> MLX):

- ``Linear``: ``weight`` (out, in) and ``bias`` as they are.
- ``Conv1d``/``Conv2d``/``Conv3d``: MLX is channels-last: inputs NLC/NHWC, weights (O, k..., I)
  against torch's (O, I, k...): the input-channel axis moves last.
- ``ConvTranspose1d/2d/3d``: torch's weight is (I, O/groups, k...), MLX's (O, k..., I).
- A ``Linear`` after a flatten of a conv's output (``after_flatten(C, H, W)``): torch flattens
  NCHW as (C, H, W), MLX NHWC as (H, W, C), so the weight's input columns are permuted.
- ``Embedding``: the table as it is (``padding_idx``, ``max_norm``, ``scale_grad_by_freq`` and
  ``sparse`` change torch's computation and have no MLX counterpart: refused by name).
  ``LayerNorm``, ``RMSNorm``: ``weight``/``bias`` (one normalized axis; ``elementwise_affine`` alike).
- ``GroupNorm``: ``weight``/``bias``; MLX must be built with ``pytorch_compatible=True``.
- ``BatchNorm1d/2d/3d``: ``weight``/``bias`` and the running statistics (torch's buffers, MLX's frozen
  arrays, judged after every step); ``eps``, ``momentum``, ``affine`` and ``track_running_stats``
  compared; torch's ``momentum=None`` (a cumulative average) is refused, so ``num_batches_tracked``
  (read only then) has no MLX counterpart. MLX's ``BatchNorm`` takes 2- to 4-d inputs: a
  ``BatchNorm3d`` port folds two spatial axes.
- ``MultiheadAttention`` -> ``MultiHeadAttention``: torch's packed ``in_proj_weight`` (3E, E) and
  ``in_proj_bias`` split into ``query_proj``, ``key_proj`` and ``value_proj``; ``out_proj`` as is.
  MLX's projections have no bias by default: build it with ``bias=True`` to match torch's default.
- ``LSTM``/``GRU`` (one layer, ``batch_first=True``): ``weight_ih_l0`` -> ``Wx``, ``weight_hh_l0`` ->
  ``Wh``, same gate order (i, f, g, o; r, z, n). torch has two biases, MLX one (LSTM: their sum;
  GRU: ``b`` = the input bias plus the r and z parts of the hidden one, ``bhn`` = its n part): the
  forward pass maps, but training cannot agree (torch moves both biases, so their sum moves twice
  as far), so ``to_torch`` refuses and a lockstep says so.

``register(rule)`` adds a rule for a custom layer; a rule only needs ``torch_type``, ``mlx_type`` and
the per-name transforms (see ``Rule``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Array = np.ndarray


class NotInvertible(ValueError):
    """The MLX layer cannot hold the torch layer's parameters one for one (it merges some)."""


def _channels_last(w: Array) -> Array:  # (O, I, k...) -> (O, k..., I)
    return np.moveaxis(w, 1, -1)


def _channels_first(w: Array) -> Array:  # (O, k..., I) -> (O, I, k...)
    return np.moveaxis(w, -1, 1)


def _identity(a: Array) -> Array:
    return a


@dataclass
class Rule:
    """How one torch layer type maps onto one MLX layer type.

    ``names``: torch tensor name -> (MLX name, to_mlx, to_torch) for one-to-one tensors;
    ``to_mlx_fn``/``to_torch_fn`` for the rest (custom functions on the whole dict); ``activation`` maps the
    MLX output (numpy, the first element of a tuple output) to torch's layout; ``check(torch_mod,
    mlx_mod)`` returns the problems of the pair."""

    name: str
    torch_type: str  # qualified names, so the module needs neither framework to import
    mlx_type: str
    names: dict[str, tuple[str, Callable, Callable]] = field(default_factory=dict)
    to_mlx_fn: Callable | None = None
    to_torch_fn: Callable | None = None
    activation: Callable[[Array], Array] = _identity
    check: Callable | None = None
    buffers: tuple[str, ...] = ()  # torch buffers that are state (BatchNorm's running statistics)
    ignored: tuple[str, ...] = ()  # torch tensors with no MLX counterpart, and why (see the rule)
    inputs: Callable[[Array], Array] | None = None  # the MLX input to torch's layout (default: as ``activation``)

    def to_mlx(self, tensors: dict[str, Array], torch_mod=None) -> dict[str, Array]:
        if self.to_mlx_fn is not None:
            return self.to_mlx_fn(tensors, torch_mod)
        return {self.names[k][0]: self.names[k][1](np.asarray(v)) for k, v in tensors.items() if k in self.names}

    def to_torch(self, tensors: dict[str, Array], torch_mod=None) -> dict[str, Array]:
        if self.to_torch_fn is not None:
            return self.to_torch_fn(tensors, torch_mod)
        back = {mlx: (t, inv) for t, (mlx, _, inv) in self.names.items()}
        return {back[k][0]: back[k][1](np.asarray(v)) for k, v in tensors.items() if k in back}

    def problems(self, torch_mod, mlx_mod) -> list[str]:
        return list(self.check(torch_mod, mlx_mod)) if self.check else []


def _mro_names(obj) -> list[str]:
    cls = obj if isinstance(obj, type) else type(obj)
    return [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]


RULES: dict[tuple[str, str], Rule] = {}


def register(rule: Rule) -> Rule:
    """Add (or replace) the rule for ``rule.torch_type`` and ``rule.mlx_type``."""
    RULES[(rule.torch_type, rule.mlx_type)] = rule
    return rule


def find(torch_mod, mlx_mod) -> Rule | None:
    """The rule for the pair's types (the most specific registered ones in each class hierarchy)."""
    for t in _mro_names(torch_mod):
        for m in _mro_names(mlx_mod):
            if (t, m) in RULES:
                return RULES[(t, m)]
    return None


def _has(mod, name: str) -> bool:
    try:
        return name in mod
    except TypeError:
        return getattr(mod, name, None) is not None


def _same(what: str, a, b) -> list[str]:
    return [] if a == b else [f"{what}: torch {a!r}, mlx {b!r}"]


def _bias_check(t, m) -> list[str]:
    tb, mb = getattr(t, "bias", None) is not None, _has(m, "bias")
    return [] if tb == mb else [f"bias: torch {'has one' if tb else 'has none'}, mlx {'has one' if mb else 'has none'}"]


T, M = "torch.nn.modules", "mlx.nn.layers"
P = {"weight": ("weight", _identity, _identity), "bias": ("bias", _identity, _identity)}

LINEAR = register(Rule("Linear", f"{T}.linear.Linear", f"{M}.linear.Linear", dict(P), check=_bias_check))


def _conv_check(t, m) -> list[str]:
    out = _bias_check(t, m)
    nd = t.weight.ndim - 2
    tup = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd  # noqa: E731
    for what in ("stride", "padding", "dilation"):
        if hasattr(m, what):
            out += _same(what, tup(getattr(t, what)), tup(getattr(m, what)))
    if isinstance(t.padding, str):
        out.append(f"padding={t.padding!r} on the torch side: give MLX the same explicit padding")
    if getattr(t, "groups", 1) != getattr(m, "groups", 1):
        out += _same("groups", t.groups, getattr(m, "groups", 1))
    if getattr(t, "padding_mode", "zeros") != "zeros":
        out.append(f"padding_mode: torch {t.padding_mode!r}, MLX pads with zeros: pad explicitly in the MLX port")
    if any(getattr(t, "output_padding", (0,)) or (0,)):
        out.append(f"output_padding: torch {tuple(t.output_padding)}, MLX's ConvTranspose has none")
    return out


CONV_W = {"weight": ("weight", _channels_last, _channels_first), "bias": P["bias"]}
CONV_T_W = {"weight": ("weight", lambda w: np.moveaxis(np.swapaxes(w, 0, 1), 1, -1),
                       lambda w: np.swapaxes(np.moveaxis(w, -1, 1), 0, 1)), "bias": P["bias"]}
CONV = {nd: register(Rule(f"Conv{nd}d", f"{T}.conv.Conv{nd}d", f"{M}.convolution.Conv{nd}d", dict(CONV_W),
                          activation=_channels_first, check=_conv_check)) for nd in (1, 2, 3)}
CONV_TRANSPOSE = {nd: register(Rule(f"ConvTranspose{nd}d", f"{T}.conv.ConvTranspose{nd}d",
                                    f"{M}.convolution_transpose.ConvTranspose{nd}d", dict(CONV_T_W),
                                    activation=_channels_first, check=_conv_check)) for nd in (1, 2, 3)}


def _flat_to_mlx(shape: tuple, w):
    w = np.asarray(w)
    return np.moveaxis(w.reshape(w.shape[0], *shape), 1, -1).reshape(w.shape[0], -1)


def _flat_to_torch(shape: tuple, w):  # also an input's rows: (N, *spatial, channels) flat -> (N, channels, *spatial)
    w = np.asarray(w)
    return np.moveaxis(w.reshape(w.shape[0], *shape[1:], shape[0]), -1, 1).reshape(w.shape[0], -1)


def after_flatten(channels: int, *spatial: int) -> Rule:
    """The rule of a ``Linear`` that reads a flattened conv output of shape (channels, *spatial)
    in torch (NCHW) and (*spatial, channels) in MLX (NHWC): its weight's input columns permute.
    Its functions are top-level ones bound by ``functools.partial``, so it pickles (``ranks=``)."""
    from functools import partial

    shape = (channels, *spatial)
    to_mlx, to_torch = partial(_flat_to_mlx, shape), partial(_flat_to_torch, shape)
    return Rule(f"Linear after flatten{shape}", f"{T}.linear.Linear", f"{M}.linear.Linear",
                {"weight": ("weight", to_mlx, to_torch), "bias": P["bias"]}, check=_bias_check, inputs=to_torch)


def _eps_check(t, m) -> list[str]:
    te = getattr(t, "eps", None)
    if te is None:  # torch RMSNorm's default: the dtype's eps
        return [f"eps: torch None (the dtype's machine epsilon, 1.2e-7 for float32), mlx {m.eps!r}: set both"]
    return [] if abs(te - m.eps) <= 1e-12 * max(abs(te), 1e-30) else [f"eps: torch {te!r}, mlx {m.eps!r}"]


def _embedding_check(t, m) -> list[str]:
    out = []
    if t.padding_idx is not None:
        out.append(f"padding_idx: torch {t.padding_idx} (that row gets no gradient and stays fixed), MLX's Embedding "
                   "has none: build torch's without padding_idx, or mask the MLX port's gradient of that row")
    if t.max_norm is not None:
        out.append(f"max_norm: torch {t.max_norm} (rows renormalized in place at lookup), MLX's Embedding has none")
    if t.scale_grad_by_freq:
        out.append("scale_grad_by_freq: torch True (gradients scaled by the tokens' frequency), MLX has no such option")
    if t.sparse:
        out.append("sparse: torch True (sparse gradients); use sparse=False for a lockstep")
    return out


EMBEDDING = register(Rule("Embedding", f"{T}.sparse.Embedding", f"{M}.embedding.Embedding",
              {"weight": ("weight", _identity, _identity)}, check=_embedding_check))
def _affine_check(t, m) -> list[str]:
    out = [] if len(t.normalized_shape) == 1 else [
        f"normalized_shape: torch {tuple(t.normalized_shape)} normalizes over {len(t.normalized_shape)} axes, MLX's "
        "norms over the last one: normalize over one axis on both sides"]
    has = _has(m, "weight")
    return out + _same("elementwise_affine (a weight)", bool(t.elementwise_affine), has)


LAYER_NORM = register(Rule("LayerNorm", f"{T}.normalization.LayerNorm", f"{M}.normalization.LayerNorm", dict(P),
              check=lambda t, m: _eps_check(t, m) + _affine_check(t, m) + _bias_check(t, m)))
RMS_NORM = register(Rule("RMSNorm", f"{T}.normalization.RMSNorm", f"{M}.normalization.RMSNorm",
              {"weight": ("weight", _identity, _identity)}, check=lambda t, m: _eps_check(t, m) + _affine_check(t, m)))
GROUP_NORM = register(Rule("GroupNorm", f"{T}.normalization.GroupNorm", f"{M}.normalization.GroupNorm", dict(P),
              activation=_channels_first,
              check=lambda t, m: _eps_check(t, m) + _same("groups", t.num_groups, m.num_groups)
              + ([] if m.pytorch_compatible else ["pytorch_compatible: mlx False (MLX's default normalizes "
                                                   "differently); build it with pytorch_compatible=True"])))


def _bn_check(t, m) -> list[str]:
    if t.momentum is None:
        return ["momentum: torch None (a cumulative average over num_batches_tracked), MLX's BatchNorm has only an "
                f"exponential one (momentum {m.momentum!r}): give torch a momentum"]
    out = _eps_check(t, m)
    out += [] if abs(t.momentum - m.momentum) <= 1e-12 else [f"momentum: torch {t.momentum!r}, mlx {m.momentum!r}"]
    out += _same("affine", t.affine, _has(m, "weight")) + _same("track_running_stats", t.track_running_stats,
                                                                 m.track_running_stats)
    return out


BN = {**P, "running_mean": ("running_mean", _identity, _identity), "running_var": ("running_var", _identity, _identity)}
# torch's num_batches_tracked counts the training forwards; it is read only when momentum is None (a
# cumulative average), which the check refuses, so it changes nothing here and has no MLX counterpart.
# MLX's BatchNorm takes 2- to 4-d inputs: a BatchNorm3d port folds two spatial axes (N, D*H, W, C), and
# the layer comparison regroups them (``capture``).
BATCH_NORM = {nd: register(Rule(f"BatchNorm{nd}d", f"{T}.batchnorm.BatchNorm{nd}d", f"{M}.normalization.BatchNorm",
                                dict(BN), activation=_identity if nd == 1 else _channels_first,
                                check=_bn_check, buffers=("running_mean", "running_var"),
                                ignored=("num_batches_tracked",))) for nd in (1, 2, 3)}


def _mha_to_mlx(t: dict, mod) -> dict:
    out = {}
    if "in_proj_weight" in t:
        q, k, v = np.split(np.asarray(t["in_proj_weight"]), 3, axis=0)
        out.update({"query_proj.weight": q, "key_proj.weight": k, "value_proj.weight": v})
    for x in ("q", "k", "v"):
        if f"{x}_proj_weight" in t:
            out[f"{dict(q='query', k='key', v='value')[x]}_proj.weight"] = np.asarray(t[f"{x}_proj_weight"])
    if "in_proj_bias" in t:
        q, k, v = np.split(np.asarray(t["in_proj_bias"]), 3, axis=0)
        out.update({"query_proj.bias": q, "key_proj.bias": k, "value_proj.bias": v})
    for x in ("weight", "bias"):
        if f"out_proj.{x}" in t:
            out[f"out_proj.{x}"] = np.asarray(t[f"out_proj.{x}"])
    return out


def _mha_to_torch(m: dict, mod) -> dict:
    out = {}
    names = ("query_proj", "key_proj", "value_proj")
    if mod is not None and getattr(mod, "in_proj_weight", None) is None:
        for x, n in zip("qkv", names):
            if f"{n}.weight" in m:
                out[f"{x}_proj_weight"] = np.asarray(m[f"{n}.weight"])
    elif all(f"{n}.weight" in m for n in names):
        out["in_proj_weight"] = np.concatenate([np.asarray(m[f"{n}.weight"]) for n in names])
    if all(f"{n}.bias" in m for n in names):
        out["in_proj_bias"] = np.concatenate([np.asarray(m[f"{n}.bias"]) for n in names])
    for x in ("weight", "bias"):
        if f"out_proj.{x}" in m:
            out[f"out_proj.{x}"] = np.asarray(m[f"out_proj.{x}"])
    return out


def _mha_check(t, m) -> list[str]:
    tb, mb = t.in_proj_bias is not None, _has(m.query_proj, "bias")
    out = [] if tb == mb else [f"bias: torch {tb}, mlx {mb} (MLX's MultiHeadAttention has none by default: bias=True)"]
    out += _same("num_heads", t.num_heads, m.num_heads)
    if t.bias_k is not None or t.add_zero_attn:
        out.append("add_bias_kv/add_zero_attn: torch True, MLX's MultiHeadAttention has neither")
    if not t.batch_first:
        out.append("batch_first: torch False (sequence first), MLX is batch first: build torch with batch_first=True")
    return out


MULTIHEAD_ATTENTION = register(Rule("MultiheadAttention", f"{T}.activation.MultiheadAttention", f"{M}.transformer.MultiHeadAttention",
              to_mlx_fn=_mha_to_mlx, to_torch_fn=_mha_to_torch, check=_mha_check))


def _rnn_check(t, m) -> list[str]:
    out = []
    if t.num_layers != 1:
        out.append(f"num_layers: torch {t.num_layers}; MLX's recurrent layers have one: stack them")
    if not t.batch_first:
        out.append("batch_first: torch False (sequence first), MLX is batch first: build torch with batch_first=True")
    if t.bidirectional:
        out.append("bidirectional: torch True; MLX's recurrent layers run forward only")
    if getattr(t, "proj_size", 0):
        out.append(f"proj_size: torch {t.proj_size} (a projected hidden state), MLX's LSTM has none")
    return out


def _lstm_to_mlx(t: dict, mod) -> dict:
    out = {"Wx": np.asarray(t["weight_ih_l0"]), "Wh": np.asarray(t["weight_hh_l0"])}
    if "bias_ih_l0" in t:
        out["bias"] = np.asarray(t["bias_ih_l0"]) + np.asarray(t["bias_hh_l0"])
    return out


def _rnn_to_torch(kind: str):
    def fn(m: dict, mod) -> dict:
        if any(k in m for k in ("bias", "b", "bhn")):
            raise NotInvertible(f"{kind}: torch has two biases (bias_ih_l0, bias_hh_l0) where MLX's has one; the "
                                "forward pass maps (their sum), but trained, torch moves both, so their sum moves "
                                f"twice as far: build both {kind}s with bias=False (a bias elsewhere) or write an "
                                "MLX cell with two biases")
        return {"weight_ih_l0": np.asarray(m["Wx"]), "weight_hh_l0": np.asarray(m["Wh"])}
    return fn


def _gru_to_mlx(t: dict, mod) -> dict:
    out = {"Wx": np.asarray(t["weight_ih_l0"]), "Wh": np.asarray(t["weight_hh_l0"])}
    if "bias_ih_l0" in t:
        bi, bh = np.asarray(t["bias_ih_l0"]), np.asarray(t["bias_hh_l0"])
        h = bi.shape[0] // 3
        out["b"] = bi + np.concatenate([bh[:2 * h], np.zeros(h, bh.dtype)])
        out["bhn"] = bh[2 * h:]
    return out


LSTM = register(Rule("LSTM", f"{T}.rnn.LSTM", f"{M}.recurrent.LSTM", to_mlx_fn=_lstm_to_mlx, to_torch_fn=_rnn_to_torch("LSTM"),
              activation=_identity, check=_rnn_check))
GRU = register(Rule("GRU", f"{T}.rnn.GRU", f"{M}.recurrent.GRU", to_mlx_fn=_gru_to_mlx, to_torch_fn=_rnn_to_torch("GRU"),
              activation=_identity, check=_rnn_check))
