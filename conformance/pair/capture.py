"""Per-layer inputs and outputs of both models on the same input, compared in execution order, so a
report names the first layer that disagrees, and says whether that layer's input already differed.

Which layers: every mapped layer (those with a layout rule) and every parameterless layer present
on both sides at the same path (an activation, a pooling, a flatten, dropout at 0), so a GELU with
another approximation is named itself, not the Linear after it.

torch: a forward pre-hook and a forward hook on every compared module copy its first positional
input and its output at the call (``nn.ReLU(inplace=True)`` rewrites its input afterwards). MLX:
every compared module's class is swapped, for the duration of one call, for a subclass whose
``__call__`` copies its input and output to numpy at the call (Python looks ``__call__`` up on the
type, so an instance attribute would not do). Values are copied, never referenced: MLX's ``x += y``
(mlx-lm's position embeddings, a ResNet's shortcut) rewrites the array a reference would hold.
A module called twice (one pooling layer used after each conv) is compared at its first call.

The MLX values are brought to torch's layout by the layer's rule (channels-last to channels-first,
...); for a parameterless layer the layout is the one under which its MLX input matches torch's.
Each layer's budget is measured like a local step's (``tolerances.MEASURED``): the torch forward in
float64 and in float32 from weights moved at rounding level; either side may deviate from float64
by ``margin`` times the largest rerun's deviation plus ``floor`` u of the value.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np

from ..compare import Check
from ..ledger import Ledger, Segments
from ..tolerances import MEASURED, step_rounding
from .mapping import Mapping
from .select import first_tensor


def _torch_np(t) -> np.ndarray | None:
    t = first_tensor(t)
    if t is None:
        return None
    # a copy: .double() of a float64 tensor is the tensor itself, which an in-place layer rewrites afterwards
    return np.array(t.detach().cpu().numpy(), dtype=np.float64, copy=True)


def _mlx_np(a) -> np.ndarray | None:
    import mlx.core as mx

    a = first_tensor(a)
    if a is None:
        return None
    return np.array(a.astype(mx.float32) if mx.issubdtype(a.dtype, mx.floating) else a, dtype=np.float64)


def _first_arg(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if first_tensor(a) is not None:
            return a
    return None


@contextmanager
def _torch_hooks(model, mapping: Mapping, record: dict):
    handles = []
    for pair in mapping.compared:
        at = getattr(pair.rule, "torch_output", pair.torch_path)  # a rule may read its output elsewhere (the logits)
        mod = model.get_submodule(at) if at else model

        def pre(m, args, kwargs, path=pair.torch_path):
            if path not in record:
                record[path] = [_torch_np(_first_arg(args, kwargs)), None]

        def post(m, args, kwargs, out, path=pair.torch_path):
            order = record.setdefault("__order__", [])
            if path not in order:
                record[path][1] = _torch_np(out)
                order.append(path)

        handles.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(mod.register_forward_hook(post, with_kwargs=True))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def _mlx_wrapped(mapping: Mapping, record: dict):
    swapped = []
    for pair in mapping.compared:
        mod, cls = pair.mlx_module, type(pair.mlx_module)
        if any(m is mod for m, _ in swapped):
            continue

        def __call__(self, *a, _cls=cls, _path=pair.torch_path, **k):
            given = _mlx_np(_first_arg(a, k)) if _path not in record else None
            out = _cls.__call__(self, *a, **k)
            if _path not in record:
                record[_path] = [given, _mlx_np(out)]
            return out

        mod.__class__ = type(cls.__name__, (cls,), {"__call__": __call__})
        swapped.append((mod, cls))
    try:
        yield
    finally:
        for mod, cls in swapped:
            mod.__class__ = cls


def mlx_values(mlx_model, mapping: Mapping, X) -> dict[str, list]:
    """Each compared MLX layer's [input, output] on ``X`` (evaluation mode), numpy, MLX's layout."""
    import mlx.core as mx

    record: dict = {}
    mlx_model.eval()
    with _mlx_wrapped(mapping, record):
        mx.eval(first_tensor(mlx_model(X)))
    return record


def torch_values(torch_model, mapping: Mapping, X) -> tuple[list[str], dict[str, list]]:
    """Each compared torch layer's [input, output] on ``X`` (evaluation mode) and the order they ran in."""
    import torch

    record: dict = {}
    torch_model.eval()
    with torch.no_grad(), _torch_hooks(torch_model, mapping, record):
        torch_model(X)
    return record.pop("__order__", []), record


def _channels_first(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, -1, 1)


def _fit(a: np.ndarray | None, shape: tuple) -> np.ndarray | None:
    """``a`` as ``shape`` when only a regrouping of axes separates them (broadcast leading axes, an
    MLX port that folds two axes to use a 4-d layer), else None."""
    if a is None:
        return None
    if a.shape == tuple(shape):
        return a
    return a.reshape(shape) if a.size == int(np.prod(shape)) and a.size else None


def to_torch_layout(pair, mine: list, theirs: list) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The MLX layer's (input, output) in torch's layout, or None for what cannot be laid out alike."""
    m_in, m_out = mine
    t_in, t_out = theirs
    if pair.rule is not None:
        into = pair.rule.inputs or pair.rule.activation
        m_in = None if m_in is None or t_in is None else _fit(_safe(into, m_in), t_in.shape)
        m_out = None if m_out is None or t_out is None else _fit(_safe(pair.rule.activation, m_out), t_out.shape)
        return m_in, m_out
    if m_in is None or t_in is None or m_out is None or t_out is None:
        return None, None
    best = None  # the layout under which the MLX input is torch's: identity or channels-last
    for layout in ("same", "channels_last") if m_in.ndim >= 3 else ("same",):
        cand = m_in if layout == "same" else _channels_first(m_in)
        if cand.shape == t_in.shape:
            err = float(np.max(np.abs(cand - t_in), initial=0.0))
            if best is None or err < best[0]:
                best = (err, layout, cand)
    if best is None:
        return None, _fit(m_out, t_out.shape) if m_out.shape == t_out.shape else None
    _, layout, m_in = best
    if layout == "same":
        return m_in, _fit(m_out, t_out.shape) if m_out.ndim == t_out.ndim else None
    if m_out.ndim == mine[0].ndim:
        return m_in, _fit(_channels_first(m_out), t_out.shape)
    if m_out.size == mine[0].size:  # a flatten of a channels-last tensor: unflatten, move, flatten as torch
        return m_in, _fit(_channels_first(m_out.reshape(mine[0].shape)), t_out.shape)
    return m_in, None


def _safe(fn, a):
    try:
        return fn(a)
    except (ValueError, IndexError):  # numpy's axis and reshape errors: not in this layout
        return None


def _measured(torch_model, mapping: Mapping, X_torch, weights: dict, mode: str, seed: int):
    """torch's float64 values, its float32 values, and the largest deviation from float64 of reruns
    from weights moved at rounding level, per layer and for its input and output."""
    import torch

    r = step_rounding(mode)
    rel = 4 * (r.u + r.operand)
    rng = np.random.default_rng(seed)
    wide = torch.device("cpu") if X_torch.device.type == "mps" else X_torch.device

    def load(model, w):
        with torch.no_grad():
            state = model.state_dict()
            for n, v in w.items():
                state[n].copy_(torch.as_tensor(np.asarray(v)).to(state[n].dtype))

    load(torch_model, weights)
    exact_model = copy.deepcopy(torch_model).to(wide).double()
    order, exact = torch_values(exact_model, mapping, X_torch.to(wide).double() if X_torch.is_floating_point()
                                else X_torch.to(wide))
    _, ref = torch_values(torch_model, mapping, X_torch)
    work = copy.deepcopy(torch_model)
    params = {n for n, _ in work.named_parameters()}

    def deviation(a, b):
        return None if a is None or b is None or a.shape != b.shape else np.abs(a - b)

    dev = {p: [deviation(ref[p][i], exact[p][i]) for i in (0, 1)] for p in order}
    for _ in range(MEASURED.reruns):
        load(work, {n: (np.asarray(v, np.float64) * (1 + rel * rng.choice([-1.0, 1.0], size=np.shape(v)))).astype(np.float32)
                    if n in params else v for n, v in weights.items()})
        _, again = torch_values(work, mapping, X_torch)
        for p in order:
            for i in (0, 1):
                d = deviation(again[p][i], exact[p][i])
                if d is not None and dev[p][i] is not None:
                    dev[p][i] = np.maximum(dev[p][i], d)
    return order, exact, ref, dev


def compare_layers(ledger: Ledger, torch_model, port, X, weights: dict, mode: str, step: int | None,
                   names=("mlx", "torch"), seed: int = 0) -> str | None:
    """Judge every compared layer's output at ``weights`` (torch names) on the input ``X`` (torch's
    layout, numpy); ``port`` is the ``MLXPort``. Copies of the torch model are used, so the
    reference's own is not disturbed. Returns the torch path of the first layer that disagrees."""
    import torch

    mapping: Mapping = port.mapping
    torch_model = copy.deepcopy(torch_model)
    X_torch = torch.as_tensor(np.asarray(X), device=next(iter(torch_model.parameters())).device)
    X_torch = X_torch.float() if X_torch.is_floating_point() else X_torch.long()
    with port.on_device():
        port.set_weights(weights)
    X_mlx = port.arrays(X, np.zeros(1))[0]
    order, exact, ref, dev = _measured(torch_model, mapping, X_torch, weights, mode, seed)
    with port.on_device():
        mine = mlx_values(port.model, mapping, X_mlx)
    r = step_rounding(mode)
    pairs = {p.torch_path: p for p in mapping.compared}
    first, failed_before = None, []
    for p in order:
        path = f"2 layers / {p or '(root)'} output" + ("" if step is None else f" at step {step}")
        m_in, m_out = to_torch_layout(pairs[p], mine[p], ref[p]) if p in mine else (None, None)
        if m_out is None:
            if ref[p][1] is None:  # torch's layer returned no tensor: nothing to compare
                continue
            what = ("never ran" if p not in mine else "no tensor" if mine[p][1] is None else
                    f"shape {mine[p][1].shape} (MLX's layout), torch {ref[p][1].shape}")
            ledger.add(Check(path=path, kind="forward", dtype="float32", mode=mode, step=step, rtol=0.0, atol=0.0,
                             reason="layer outputs", passed=False, n_total=0, n_mismatched=0, max_abs=float("inf"),
                             max_rel=float("inf"), names=names, problem=f"the MLX layer's output {what}"))
            first = first or p
            failed_before.append(p)
            continue

        def allow(i):
            return 2 * (MEASURED.margin * dev[p][i] + MEASURED.floor * r.u * np.abs(exact[p][i])) + 16 * r.eta

        seg = Segments([""], [m_out.shape])
        ok = ledger.judge(path, "forward", seg, m_out.reshape(-1), ref[p][1].reshape(-1), allow(1).reshape(-1), step,
                          "both sides' measured rounding of the layer (tolerances.MEASURED)",
                          exact=lambda p=p: exact[p][1].reshape(-1))
        if not ok:
            ledger.annotate(path, step, _input_note(m_in, ref[p][0], None if dev[p][0] is None else allow(0),
                                                    failed_before))
            failed_before.append(p)
            first = first or p
    return first


def _input_note(mine, theirs, allowance, failed_before: list[str]) -> str:
    """Whether the failing layer's input already differed, and what that says about the blame."""
    earlier = (f"an earlier layer already disagrees ({failed_before[0]!r})" if failed_before else
               "every earlier compared layer agrees")
    if mine is None or theirs is None or allowance is None or mine.shape != theirs.shape:
        return f"its input could not be compared in torch's layout; {earlier}"
    err = np.abs(mine - theirs)
    if np.all(err <= allowance):
        return ("its input agrees with torch's (within the measured rounding), so this layer computes differently: "
                "its weights' layout, a flag, or its own code")
    worst = float(err.max())
    if failed_before:
        return f"its input already differs (max abs err {worst:.3e}) and {earlier}: the difference comes from before it"
    return (f"its input already differs (max abs err {worst:.3e}) though {earlier}: the difference arises between "
            "them, in an operation no compared layer covers (a flatten's element order, a residual or embedding "
            "sum, a functional call)")
