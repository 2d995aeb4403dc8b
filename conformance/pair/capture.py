"""Per-layer outputs of both models on the same input, compared in execution order, so a report
names the first layer that disagrees (and how far its input already was).

torch: a forward hook on every mapped module. MLX: every mapped module's class is swapped, for the
duration of one call, for a subclass whose ``__call__`` records the output (Python looks ``__call__``
up on the type, so an instance attribute would not do). The MLX output is brought to torch's layout
by the layer's rule (channels-last to channels-first, ...). Each layer's budget is measured like a
local step's (``tolerances.MEASURED``): the torch forward in float64 and in float32 from weights
moved at rounding level; either side may deviate from float64 by ``margin`` times the largest
rerun's deviation plus ``floor`` u of the value.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np

from ..compare import Check
from ..ledger import Ledger, Segments
from ..tolerances import MEASURED, step_rounding
from .mapping import Mapping


def _compared(mapping: Mapping):
    """The pairs whose outputs are compared: an MLX module to record, and a rule that does not say
    its outputs differ in form (``compared = False``: MoE experts, judged by the layers after)."""
    return [p for p in mapping.pairs if p.mlx_module is not None and getattr(p.rule, "compared", True)]


def _same_form(mine: np.ndarray, ref: np.ndarray) -> np.ndarray | None:
    """The MLX output in torch's shape where they differ only in leading axes of the same total
    (a broadcast position embedding (L, D) against (1, L, D), tokens flattened (B*L, E) against
    (B, L, E)); None where they really differ."""
    if mine.shape == ref.shape:
        return mine
    if mine.size == ref.size and mine.ndim and ref.ndim and mine.shape[-1] == ref.shape[-1]:
        return mine.reshape(ref.shape)
    return None


def _first(out):
    if hasattr(out, "logits"):  # a transformers output object
        return out.logits
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


@contextmanager
def _torch_hooks(model, mapping: Mapping, record: list):
    handles = []
    for pair in _compared(mapping):
        at = getattr(pair.rule, "torch_output", pair.torch_path)  # a rule may read its output elsewhere
        mod = model.get_submodule(at) if at else model
        handles.append(mod.register_forward_hook(
            lambda m, i, o, path=pair.torch_path: record.append((path, _first(o).detach().cpu().double().numpy()))))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def _mlx_wrapped(mapping: Mapping, record: list):
    import mlx.core as mx

    swapped = []
    for pair in _compared(mapping):
        mod, cls = pair.mlx_module, type(pair.mlx_module)

        def __call__(self, *a, _cls=cls, _path=pair.torch_path, **k):
            out = _cls.__call__(self, *a, **k)
            record.append((_path, mx.array(_first(out))))  # a copy: the caller may add into it in place (x += y)
            return out

        mod.__class__ = type(cls.__name__, (cls,), {"__call__": __call__})
        swapped.append((mod, cls))
    try:
        yield
    finally:
        for mod, cls in swapped:
            mod.__class__ = cls


def mlx_outputs(mlx_model, mapping: Mapping, X) -> dict[str, np.ndarray]:
    """Each mapped MLX layer's output on ``X`` (evaluation mode), in torch's layout, by torch path."""
    import mlx.core as mx

    record: list = []
    mlx_model.eval()
    with _mlx_wrapped(mapping, record):
        mx.eval(mlx_model(X))
    rules = {p.torch_path: p.rule for p in mapping.pairs}
    out = {}
    for path, o in record:
        if path not in out:
            out[path] = rules[path].activation(np.array(_first(o).astype(mx.float32), dtype=np.float64))
    return out


def torch_outputs(torch_model, mapping: Mapping, X) -> tuple[list[str], dict[str, np.ndarray]]:
    """Each mapped torch layer's output on ``X`` (evaluation mode) and the order they ran in."""
    import torch

    record: list = []
    torch_model.eval()
    with torch.no_grad(), _torch_hooks(torch_model, mapping, record):
        torch_model(X)
    order = list(dict.fromkeys(p for p, _ in record))
    return order, {p: o for p, o in reversed(record)}


def compare_layers(ledger: Ledger, torch_model, port, X, weights: dict, mode: str, step: int | None,
                   names=("mlx", "torch"), seed: int = 0) -> str | None:
    """Judge every mapped layer's output at ``weights`` (torch names) on the input ``X`` (torch's
    layout, numpy); ``port`` is the ``MLXPort``. Copies of the torch model are used, so the
    reference's own is not disturbed. Returns the torch path of the first layer that disagrees."""
    import torch

    mapping: Mapping = port.mapping
    torch_model = copy.deepcopy(torch_model)
    X_torch = torch.as_tensor(np.asarray(X), device=next(torch_model.parameters()).device)
    X_torch = X_torch.float() if X_torch.is_floating_point() else X_torch.long()
    with port._dev():
        port._set(weights)
    X_mlx = port.arrays(X, np.zeros(1))[0]
    mlx_model = port.model

    r = step_rounding(mode)
    rel = 4 * (r.u + r.operand)
    rng = np.random.default_rng(seed)
    wide = torch.device("cpu") if X_torch.device.type == "mps" else X_torch.device

    def load(model, w, dtype):
        with torch.no_grad():
            state = model.state_dict()
            for n, v in w.items():
                state[n].copy_(torch.as_tensor(np.asarray(v)).to(state[n].dtype))

    load(torch_model, weights, torch.float32)
    exact_model = copy.deepcopy(torch_model).to(wide).double()
    order, exact = torch_outputs(exact_model, mapping, X_torch.to(wide).double() if X_torch.is_floating_point()
                                 else X_torch.to(wide))
    _, ref = torch_outputs(torch_model, mapping, X_torch)
    work = copy.deepcopy(torch_model)
    params = {n for n, _ in work.named_parameters()}
    dev = {p: np.abs(ref[p] - exact[p]) for p in order}
    for _ in range(MEASURED.reruns):
        load(work, {n: (np.asarray(v, np.float64) * (1 + rel * rng.choice([-1.0, 1.0], size=np.shape(v)))).astype(np.float32)
                    if n in params else v for n, v in weights.items()}, torch.float32)
        _, again = torch_outputs(work, mapping, X_torch)
        for p in order:
            dev[p] = np.maximum(dev[p], np.abs(again[p] - exact[p]))
    with port._dev():
        mine = mlx_outputs(mlx_model, mapping, X_mlx)
    first = None
    for p in order:
        path = f"2 layers / {p or '(root)'} output" + ("" if step is None else f" at step {step}")
        if p in mine and _same_form(mine[p], ref[p]) is not None:
            mine[p] = _same_form(mine[p], ref[p])
        if p not in mine or mine[p].shape != ref[p].shape:
            what = "never ran" if p not in mine else f"shape {mine[p].shape} (in torch's layout), torch {ref[p].shape}"
            ledger.add(Check(path=path, kind="forward", dtype="float32", mode=mode, step=step, rtol=0.0, atol=0.0,
                             reason="layer outputs", passed=False, n_total=0, n_mismatched=0, max_abs=float("inf"),
                             max_rel=float("inf"), names=names, problem=f"the MLX layer's output {what}"))
            first = first or p
            continue
        allow = 2 * (MEASURED.margin * dev[p] + MEASURED.floor * r.u * np.abs(exact[p])) + 16 * r.eta
        seg = Segments([""], [mine[p].shape])
        ok = ledger.judge(path, "forward", seg, mine[p].reshape(-1), ref[p].reshape(-1), allow.reshape(-1), step,
                          "both sides' measured rounding of the layer (tolerances.MEASURED)",
                          exact=lambda p=p: exact[p].reshape(-1))
        if not ok and first is None:
            first = p
    return first
