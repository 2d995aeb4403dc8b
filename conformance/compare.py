"""One comparison for every check, and failure messages that say exactly what differs.

``compare`` returns a ``Check``: the quantity's path, the worst element (index, both values,
absolute and relative error), how many elements are out of tolerance, the tolerance used with its
reason, and how to reproduce. ``assert_close`` raises ``AssertionError`` with that message. When a
float64 value of the same quantity is given (or a function that computes it), a failing check says
which side is closer to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

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
    atol: float
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

    def message(self) -> str:
        a, e = self.names
        head = f"{self.path}: "
        if self.problem:
            return head + self.problem + self._tail()
        verdict = "ok" if self.passed else "MISMATCH"
        share = f"{self.n_mismatched}/{self.n_total} ({100.0 * self.n_mismatched / max(self.n_total, 1):.1f}%)"
        where = "" if self.worst_index is None or self.worst_index == () else f"{list(self.worst_index)}"
        text = (
            f"{head}{verdict}: {share} elements out of tolerance; worst{(' at ' + where) if where else ''}: "
            f"{a}={self.actual_value!r} {e}={self.expected_value!r} abs err {self.max_abs:.3e} "
            f"rel err {self.max_rel:.3e}; allowed atol {self.atol:.1e} + rtol {self.rtol:.1e} * |{e}|"
            f" ({self.kind}, {self.dtype}, {self.mode}{'' if self.step is None else f', step {self.step}'})"
        )
        if self.closer:
            errs = self.exact_errors or {}
            text += (f"; against float64: {a} err {errs.get(a, float('nan')):.3e}, {e} err "
                     f"{errs.get(e, float('nan')):.3e}: {self.closer} is closer")
        return text + self._tail()

    def _tail(self) -> str:
        return f"; reproduce: {self.reproduce}" if self.reproduce else ""

    def to_json(self) -> dict:
        d = asdict(self)
        d["worst_index"] = list(self.worst_index) if self.worst_index is not None else None
        d["names"] = list(self.names)
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
) -> Check:
    """Compare ``actual`` (first of ``names``) with ``expected`` under the table's tolerance."""
    tol = tol or tolerance(kind, dtype, mode, step)
    base = dict(path=path, kind=kind, dtype=dtype, mode=mode, step=step, rtol=tol.rtol, atol=tol.atol,
                reason=tol.reason, names=names, reproduce=reproduce)
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return problem(path, f"shape {a.shape} from {names[0]} but {e.shape} from {names[1]}", kind=kind, dtype=dtype,
                       mode=mode, step=step, tol=tol, names=names, reproduce=reproduce)
    both_nan = np.isnan(a) & np.isnan(e)
    same_inf = np.isinf(a) & (a == e)
    diff = np.where(both_nan | same_inf, 0.0, np.abs(a - e))
    diff = np.where(np.isnan(diff), np.inf, diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(e))
    if a.size == 0:
        return Check(**base, passed=True, n_total=0, n_mismatched=0, max_abs=0.0, max_rel=0.0)
    # the worst element: the largest error relative to its own allowance
    allowance = tol.atol + tol.rtol * np.abs(np.where(np.isfinite(e), e, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowance > 0, diff / allowance, np.where(diff > 0, np.inf, 0.0))
    flat = int(np.argmax(ratio)) if np.any(ratio > 0) else int(np.argmax(diff))
    n_bad = int(np.count_nonzero(diff > allowance))
    idx = tuple(int(i) for i in np.unravel_index(flat, a.shape)) if a.ndim else ()
    check = Check(**base, passed=n_bad == 0, n_total=int(a.size), n_mismatched=n_bad,
                  max_abs=float(diff.max()), max_rel=float(np.nanmax(rel)),
                  worst_index=idx, actual_value=float(a.reshape(-1)[flat]), expected_value=float(e.reshape(-1)[flat]))
    if n_bad and exact is not None:
        x = np.asarray(exact() if callable(exact) else exact, dtype=np.float64)
        if x.shape == a.shape:
            ea, ee = float(np.abs(a - x).max()), float(np.abs(e - x).max())
            check.exact_errors = {names[0]: ea, names[1]: ee}
            check.closer = names[0] if ea < ee else names[1] if ee < ea else "neither"
    return check


def compare_tree(actual: Mapping, expected: Mapping, *, path: str, exact: Mapping | None = None, **kwargs) -> list[Check]:
    """``compare`` for every key of two dicts of arrays (weights, gradients, optimizer state)."""
    names = kwargs.get("names", ("mlx", "torch"))
    checks = []
    for key in sorted(set(actual) | set(expected)):
        p = f"{path} / {key}"
        if key in actual and key in expected:
            checks.append(compare(actual[key], expected[key], path=p, exact=None if exact is None else exact.get(key), **kwargs))
        else:
            checks.append(problem(p, f"present in {names[key in expected]} only", **kwargs))
    return checks


def problem(path: str, what: str, *, kind: str, dtype: str = "float32", mode: str = "ieee", step: int | None = None,
            tol: Tolerance | None = None, names: tuple[str, str] = ("mlx", "torch"), reproduce: str | None = None,
            **_ignored) -> Check:
    """A failed check for a structural problem (a shape or a key that does not match)."""
    tol = tol or tolerance(kind, dtype, mode, step)
    return Check(path=path, kind=kind, dtype=dtype, mode=mode, step=step, rtol=tol.rtol, atol=tol.atol,
                 reason=tol.reason, names=names, reproduce=reproduce, passed=False, n_total=0, n_mismatched=0,
                 max_abs=float("inf"), max_rel=float("inf"), problem=what)


def assert_close(actual, expected, **kwargs) -> Check:
    """``compare``, raising ``AssertionError`` with the full diagnosis when it fails."""
    check = compare(actual, expected, **kwargs)
    if not check.passed:
        raise AssertionError(check.message())
    return check


def assert_all(checks: list[Check]) -> None:
    """Raise ``AssertionError`` listing every failed check (the first one first)."""
    failed = [c for c in checks if not c.passed]
    if failed:
        raise AssertionError(f"{len(failed)} of {len(checks)} checks failed:\n" + "\n".join(c.message() for c in failed))
