"""One comparison for every check, and failure messages that say exactly what differs.

``compare`` returns a ``Check``: the quantity's path, the worst element (index, both values,
absolute and relative error), how many elements are out of tolerance, the tolerance used with its
reason, and how to reproduce. ``assert_close`` raises ``AssertionError`` with that message. When a
float64 value of the same quantity is given (or a function that computes it, called only when the
check fails), a failing check says which side is closer to it.

An element passes when ``|actual - expected| <= atol + rtol * |expected|``, where ``atol`` is the
table's absolute part plus its ``atol_scale`` times the largest ``|expected|`` of the tensor (see
``conformance.tolerances``). ``assert_close`` and ``assert_all`` hand every check they judge to the
observers registered with ``observe`` (the pytest plugin's conformance report listens there).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Mapping

import numpy as np

from .tolerances import Tolerance, tolerance

Exact = np.ndarray | float | Callable[[], np.ndarray] | None


@dataclass
class Check:
    path: str
    kind: str
    dtype: str
    mode: str
    step: int | None
    rtol: float
    atol: float  # the absolute allowance used: the table's atol + atol_scale * scale
    reason: str
    passed: bool
    n_total: int
    n_mismatched: int
    max_abs: float
    max_rel: float
    worst_index: tuple | None = None
    actual_value: float | None = None
    expected_value: float | None = None
    names: tuple[str, str] = ("mlx", "torch")
    closer: str | None = None  # which side is nearer the float64 value, when one was given
    exact_errors: dict | None = None
    problem: str | None = None  # a structural problem (shape, missing key), if any
    reproduce: str | None = None
    extra: dict = field(default_factory=dict)
    atol_scale: float = 0.0  # the part of atol proportional to the tensor's scale
    scale: float | None = None  # the tensor's scale: its largest finite |expected| unless the caller gave one
    scale_label: str | None = None  # what ``scale`` is, when the caller gave it
    device: str | None = None
    extra_allowance: float = 0.0  # an absolute allowance on top of the table's, at the worst element
    extra_label: str | None = None  # what it is (the lockstep: the inputs' difference, in float64)
    worst_share: float = 0.0  # the worst element's error over its allowance (> 1: out of tolerance)
    note: str | None = None  # what else the caller knows about this check (a decision's closest call)

    @property
    def allowed(self) -> float:
        """The allowance at the worst element: ``atol + rtol * |expected|`` there."""
        e = self.expected_value if self.expected_value is not None and np.isfinite(self.expected_value) else 0.0
        return self.atol + self.rtol * abs(e) + self.extra_allowance

    @property
    def share(self) -> float:
        """The worst element's error as a share of its allowance (> 1: out of tolerance)."""
        return float("inf") if self.problem else self.worst_share

    def message(self) -> str:
        a, e = self.names
        head = f"{self.path}: "
        if self.problem:
            return head + self.problem + self._context() + self._tail()
        verdict = "ok" if self.passed else "MISMATCH"
        share = f"{self.n_mismatched}/{self.n_total} ({100.0 * self.n_mismatched / max(self.n_total, 1):.1f}%)"
        leaf = self.path.rsplit(" / ", 1)[-1]
        where = "" if not self.worst_index else f" {leaf}{list(self.worst_index)}"
        atol = f"atol {self.atol:.1e}"
        if self.atol_scale:
            base = self.atol - self.atol_scale * (self.scale or 0.0)
            atol += f" (= {base:.2g} + {self.atol_scale:.2g} * {self.scale_label or f'max|{e}|'} {self.scale or 0.0:.3g})"
        wa, we = self.actual_value, self.expected_value
        werr = abs(wa - we) if wa is not None and we is not None and not (np.isnan(wa) and np.isnan(we)) else 0.0
        wrel = werr / abs(we) if we else float("inf") if werr else 0.0
        text = (
            f"{head}{verdict}: {share} elements out of tolerance; worst{where}: "
            f"{a}={wa!r} {e}={we!r}, abs err {werr:.3e}, rel err {wrel:.3e} (tensor max abs err "
            f"{self.max_abs:.3e}); allowed |{a} - {e}| <= {atol} + rtol {self.rtol:.1e} * |{e}|"
            f"{f' + {self.extra_label} {self.extra_allowance:.1e}' if self.extra_label else ''} "
            f"= {self.allowed:.3e} there{self._context()}"
        )
        if self.closer:
            errs = self.exact_errors or {}
            text += (f"; against float64 (CPU): {a} errs by {errs.get(a, float('nan')):.3e}, {e} by "
                     f"{errs.get(e, float('nan')):.3e} at that element (tensor max {errs.get(a + ' max', float('nan')):.1e}"
                     f" and {errs.get(e + ' max', float('nan')):.1e}): {self.closer} is closer")
        return text + self._tail()

    def _context(self) -> str:
        parts = [self.kind, self.dtype, f"{self.mode} matmuls"]
        if self.device:
            parts.append(self.device)
        if self.step is not None:
            parts.append(f"budget of step {self.step}")
        return f" ({', '.join(parts)})"

    def _tail(self) -> str:
        return (f"; note: {self.note}" if self.note else "") + (f"; reproduce: {self.reproduce}" if self.reproduce else "")

    def to_json(self) -> dict:
        d = asdict(self)
        d["worst_index"] = list(self.worst_index) if self.worst_index is not None else None
        d["names"] = list(self.names)
        d["share_of_budget"] = self.share
        d["message"] = self.message()
        return d


def compare(
    actual,
    expected,
    *,
    path: str,
    kind: str,
    dtype: str = "float32",
    mode: str = "ieee",
    step: int | None = None,
    tol: Tolerance | None = None,
    exact: Exact = None,
    names: tuple[str, str] = ("mlx", "torch"),
    reproduce: str | None = None,
    device: str | None = None,
    scale=None,
    scale_label: str | None = None,
    lr: float | None = None,
    extra=None,
) -> Check:
    """Compare ``actual`` (first of ``names``) with ``expected`` under the table's tolerance.

    ``scale`` replaces the tensor's largest ``|expected|`` as the magnitude the table's
    ``atol_scale`` multiplies, for quantities whose rounding error follows another magnitude: a
    number (standardized data: the raw means in units of the standard deviation) or an array of
    the tensor's shape, one magnitude per element (Adam's first moment: the root of its second).
    ``lr``, the learning rate of a training run, is the scale of trajectory entries and adds the
    drift of ``step`` steps to a loss or logits (``tolerances.tolerance``). ``extra``, a pair
    ``(allowance, label)`` (a number or an array of the tensor's shape), is allowed on top of
    the table's budget and named in the message: the runner's effect of the inputs' difference."""
    tol = tol or tolerance(kind, dtype, mode, step, lr)
    if scale is None and tol.scale_of == "lr" and lr is not None:
        scale, scale_label = lr, "lr"
    base = dict(path=path, kind=kind, dtype=dtype, mode=mode, step=step, rtol=tol.rtol, atol=tol.atol,
                reason=tol.reason, names=names, reproduce=reproduce, atol_scale=tol.atol_scale, device=device)
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return problem(path, f"shape {a.shape} from {names[0]} but {e.shape} from {names[1]}", kind=kind, dtype=dtype,
                       mode=mode, step=step, tol=tol, names=names, reproduce=reproduce, device=device, lr=lr)
    if a.size == 0:
        return Check(**base, passed=True, n_total=0, n_mismatched=0, max_abs=0.0, max_rel=0.0, scale=0.0)
    both_nan = np.isnan(a) & np.isnan(e)
    same_inf = np.isinf(a) & (a == e)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(both_nan | same_inf, 0.0, np.abs(a - e))
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = np.where(diff == 0, 0.0, diff / np.abs(e))
    finite_e = np.where(np.isfinite(e), e, 0.0)
    base["scale_label"] = scale_label or tol.scale_of
    if scale is None:
        if tol.scale_of and tol.atol_scale:
            raise ValueError(f"{path}: a {kind} comparison needs scale= ({tol.scale_of}; see conformance.tolerances)")
        scale = float(np.abs(finite_e).max())
    elif np.ndim(scale):
        scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), a.shape)
    else:
        scale = float(scale)
    atol = tol.atol + tol.atol_scale * scale
    # the worst element: the largest error relative to its own allowance
    allowance = atol + tol.rtol * np.abs(finite_e)
    if extra is not None:
        base["extra_label"] = extra[1]
        extra_arr = np.broadcast_to(np.asarray(extra[0], dtype=np.float64), a.shape)
        allowance = allowance + extra_arr
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowance > 0, diff / allowance, np.where(diff > 0, np.inf, 0.0))
    flat = int(np.argmax(ratio)) if np.any(ratio > 0) else int(np.argmax(diff))
    n_bad = int(np.count_nonzero(diff > allowance))
    idx = tuple(int(i) for i in np.unravel_index(flat, a.shape)) if a.ndim else ()
    if np.ndim(scale):  # report the worst element's own scale and allowance
        scale = float(scale.reshape(-1)[flat])
        atol = tol.atol + tol.atol_scale * scale
    base["atol"] = float(atol)
    if extra is not None:
        base["extra_allowance"] = float(extra_arr.reshape(-1)[flat])
    check = Check(**base, passed=n_bad == 0, n_total=int(a.size), n_mismatched=n_bad,
                  max_abs=float(diff.max()), max_rel=float(np.nanmax(rel)) if not np.isnan(rel).all() else float("nan"), scale=scale, worst_share=float(ratio.reshape(-1)[flat]),
                  worst_index=idx, actual_value=float(a.reshape(-1)[flat]), expected_value=float(e.reshape(-1)[flat]))
    if n_bad and exact is not None:
        x = exact() if callable(exact) else exact
        x = None if x is None else np.asarray(x, dtype=np.float64)
        if x is not None and x.shape == a.shape:
            ea, ee = np.abs(a - x), np.abs(e - x)
            wa, we = float(ea.reshape(-1)[flat]), float(ee.reshape(-1)[flat])
            check.exact_errors = {names[0]: wa, names[1]: we, names[0] + " max": float(ea.max()),
                                  names[1] + " max": float(ee.max())}
            check.closer = names[0] if wa < we else names[1] if we < wa else "neither"
    return check


def compare_tree(actual: Mapping, expected: Mapping, *, path: str, exact: Mapping | Callable[[], Mapping] | None = None,
                 scales: Mapping | None = None, extras: Mapping | None = None, **kwargs) -> list[Check]:
    """``compare`` for every key of two dicts of arrays (weights, gradients, optimizer state).

    ``exact`` is a dict of float64 values with the same keys, or a function returning one (called
    at most once, and only when a check fails). ``scales`` maps keys to ``(scale, label)`` for
    ``compare`` (see ``tolerances.adam_state_scales``)."""
    names = kwargs.get("names", ("mlx", "torch"))
    if callable(exact):
        exact = _LazyTree(exact)
    checks = []
    for key in sorted(set(actual) | set(expected)):
        p = f"{path} / {key}"
        if key in actual and key in expected:
            scale, label = (scales or {}).get(key, (None, None))
            checks.append(compare(actual[key], expected[key], path=p, exact=None if exact is None else exact.get(key),
                                  scale=scale, scale_label=label, extra=(extras or {}).get(key), **kwargs))
        else:
            checks.append(problem(p, f"present in {names[key in expected]} only", **kwargs))
    return checks


class _LazyTree:
    """A mapping whose values come from ``fn()`` on first use."""

    def __init__(self, fn: Callable[[], Mapping]):
        self.fn, self._tree = fn, None

    def _get(self) -> Mapping:
        if self._tree is None:
            self._tree = self.fn()
        return self._tree

    def get(self, key):
        return lambda: (self._get() or {}).get(key)


def problem(path: str, what: str, *, kind: str, dtype: str = "float32", mode: str = "ieee", step: int | None = None,
            tol: Tolerance | None = None, names: tuple[str, str] = ("mlx", "torch"), reproduce: str | None = None,
            device: str | None = None, lr: float | None = None, **_ignored) -> Check:
    """A failed check for a structural problem (a shape or a key that does not match)."""
    tol = tol or tolerance(kind, dtype, mode, step, lr)
    return Check(path=path, kind=kind, dtype=dtype, mode=mode, step=step, rtol=tol.rtol, atol=tol.atol,
                 reason=tol.reason, names=names, reproduce=reproduce, passed=False, n_total=0, n_mismatched=0,
                 max_abs=float("inf"), max_rel=float("inf"), problem=what, atol_scale=tol.atol_scale, device=device)


# ---- verdicts, and who hears of them

_observers: list[Callable[[Check], None]] = []


def add_observer(fn: Callable[[Check], None]) -> None:
    """Call ``fn(check)`` for every check that ``assert_close``/``assert_all`` judge from now on."""
    _observers.append(fn)


def remove_observer(fn) -> None:
    if fn in _observers:
        _observers.remove(fn)


@contextmanager
def observe(fn: Callable[[Check], None]) -> Iterator[None]:
    """``add_observer`` for the duration of a ``with`` block."""
    add_observer(fn)
    try:
        yield
    finally:
        remove_observer(fn)


_suspended = [0]


@contextmanager
def unobserved() -> Iterator[None]:
    """Judge without telling the observers: for tests of the comparison itself, whose checks fail
    on purpose and are no verdict on MLX."""
    _suspended[0] += 1
    try:
        yield
    finally:
        _suspended[0] -= 1


def _judged(checks: list[Check]) -> None:
    if _suspended[0]:
        return
    for fn in list(_observers):
        for c in checks:
            fn(c)


def assert_close(actual, expected, **kwargs) -> Check:
    """``compare``, raising ``AssertionError`` with the full diagnosis when it fails."""
    check = compare(actual, expected, **kwargs)
    _judged([check])
    if not check.passed:
        raise AssertionError(check.message())
    return check


def assert_all(checks: list[Check], context: str | None = None) -> None:
    """Raise ``AssertionError`` listing every failed check (the first one first).

    ``context`` (for example the first training step that left its budget) opens the message."""
    _judged(checks)
    failed = [c for c in checks if not c.passed]
    if failed:
        head = f"{len(failed)} of {len(checks)} checks failed"
        shown = failed[:12]
        more = f"\n... and {len(failed) - len(shown)} more" if len(failed) > len(shown) else ""
        raise AssertionError(f"{head}{': ' + context if context else ''}:\n" + "\n".join(c.message() for c in shown) + more)
