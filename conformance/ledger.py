"""A run's checks, kept in constant memory however many steps it has.

A check at every training step of a long run would hold millions of ``Check`` objects. The
``Ledger`` keeps, per quantity (a path without its step number), how many steps it judged, how
many failed, the worst share of the budget seen (with its step, element and values) and the
first failure in full (``compare``'s message, built only then). ``Ledger.checks()`` returns one
``Check`` per quantity for the report: the first failure, or when all passed the worst step.

``judge`` compares flat vectors holding several tensors at once (``Segments`` says which slice is
which tensor), so a step's dozen tensors cost a few numpy operations, not a dozen ``compare``
calls. An element passes when ``|actual - expected| <= allowance``; the allowance is per element
(the derived bounds of ``conformance.bounds`` and ``conformance.intervals``). NaN or infinity in
either side never passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .compare import Check


@dataclass
class Segments:
    """Names and shapes of the tensors laid end to end in a flat vector."""

    names: list[str]
    shapes: list[tuple]

    @classmethod
    def of(cls, tree: dict) -> "Segments":
        names = sorted(tree)
        return cls(names, [tuple(np.shape(tree[k])) for k in names])

    def flat(self, tree: dict) -> np.ndarray:
        return np.concatenate([np.asarray(tree[k], dtype=np.float64).reshape(-1) for k in self.names]) \
            if self.names else np.zeros(0)

    def bounds(self) -> list[tuple[str, int, int, tuple]]:
        cached = getattr(self, "_bounds", None)
        if cached is not None:
            return cached
        out, start = [], 0
        for name, shape in zip(self.names, self.shapes):
            size = int(np.prod(shape)) if shape else 1
            out.append((name, start, start + size, shape))
            start += size
        self._bounds = out
        return out


@dataclass
class Tally:
    """One quantity's record over the steps it was judged at."""

    path: str
    kind: str
    steps: int = 0
    failed: int = 0
    worst_share: float = -1.0
    worst: dict = field(default_factory=dict)  # step, index, actual, expected, allowed, max_abs, n_total
    first_failure: Check | None = None
    label: str = "derived per-element bound"  # what the allowance is (the judge's label)


class Ledger:
    """Per-quantity tallies of the checks of a run, in the order quantities first appear."""

    def __init__(self, names: tuple[str, str] = ("mlx", "torch"), mode: str = "ieee", device: str = "cpu",
                 reproduce: str | None = None):
        self.names, self.mode, self.device, self.reproduce = names, mode, device, reproduce
        self.tallies: dict[str, Tally] = {}

    def judge(self, prefix: str, kind: str, segments: Segments, actual, expected, allowance, step: int | None,
              label: str, exact: Callable[[], np.ndarray] | None = None, names: tuple[str, str] | None = None) -> bool:
        """Judge flat vectors ``actual`` and ``expected`` against ``allowance`` elementwise; tally
        each segment as the quantity ``f"{prefix} / {name}"``. Returns whether all passed.
        ``exact()`` (float64, same layout) is called only if something fails, to say which side is
        nearer it."""
        a, e, allow = (np.asarray(x, dtype=np.float64) for x in (actual, expected, allowance))
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.abs(a - e)
            bad_value = ~(np.isfinite(a) & np.isfinite(e))
            diff = np.where(bad_value, np.inf, diff)
            ratio = np.where(allow > 0, diff / allow, np.where(diff > 0, np.inf, 0.0))
        ok = True
        for name, lo, hi, shape in segments.bounds():
            r = ratio[lo:hi]
            i = int(np.argmax(r)) if r.size else 0
            share = float(r[i]) if r.size else 0.0
            passed = bool(share <= 1.0)
            ok &= passed
            path = f"{prefix} / {name}" if name else prefix
            t = self.tallies.get(path) or self.tallies.setdefault(path, Tally(path, kind, label=label))
            t.steps += 1
            if share > t.worst_share:
                t.worst_share = share
                t.worst = dict(step=step, index=tuple(int(j) for j in np.unravel_index(i, shape)) if shape else (),
                               actual=float(a[lo + i]) if r.size else None, expected=float(e[lo + i]) if r.size else None,
                               allowed=float(allow[lo + i]) if r.size else 0.0, max_abs=float(diff[lo:hi].max(initial=0.0)),
                               n_total=hi - lo, n_bad=int(np.count_nonzero(r > 1.0)))
            if not passed:
                t.failed += 1
                if t.first_failure is None:
                    t.first_failure = self._check(path, kind, shape, a[lo:hi], e[lo:hi], allow[lo:hi], step, label,
                                                  None if exact is None else (lambda lo=lo, hi=hi: exact()[lo:hi]),
                                                  names or self.names)
        return ok

    def annotate(self, path: str, step: int | None, note: str) -> None:
        """Add what the caller knows to the first failure of ``path``, when that failure is ``step``'s."""
        t = self.tallies.get(path)
        if t is not None and t.first_failure is not None and t.first_failure.step == step:
            c = t.first_failure
            c.note = note if not c.note else f"{c.note}; {note}"

    def add(self, check: Check) -> None:
        """Tally a ready ``Check`` (a static comparison made once, not per step)."""
        t = self.tallies.get(check.path) or self.tallies.setdefault(check.path, Tally(check.path, check.kind))
        t.steps += 1
        if check.share > t.worst_share:
            t.worst_share = check.share
            t.worst = dict(step=check.step, check=check)
        if not check.passed:
            t.failed += 1
            if t.first_failure is None:
                t.first_failure = check

    def _check(self, path, kind, shape, a, e, allow, step, label, exact, names) -> Check:
        from .compare import compare
        from .tolerances import Tolerance

        zero = Tolerance(0.0, 0.0, reason=label)
        return compare(a.reshape(shape), e.reshape(shape), path=path, kind=kind, mode=self.mode, step=step, tol=zero,
                       extra=(allow.reshape(shape), label), names=names, reproduce=self.reproduce, device=self.device,
                       scale=0.0, exact=exact)

    @property
    def passed(self) -> bool:
        return all(t.failed == 0 for t in self.tallies.values())

    def checks(self) -> list[Check]:
        """One ``Check`` per quantity: its first failure, else its worst step (``extra`` holds
        ``steps``, ``failed_steps`` and ``first_failed_step``)."""
        out = []
        for t in self.tallies.values():
            if t.first_failure is not None:
                c = t.first_failure
            elif "check" in t.worst:
                c = t.worst["check"]
            else:
                w = t.worst
                c = Check(path=t.path, kind=t.kind, dtype="float32", mode=self.mode, step=w.get("step"), rtol=0.0,
                          atol=w.get("allowed", 0.0), reason=t.label, passed=True,
                          n_total=w.get("n_total", 0), n_mismatched=0, max_abs=w.get("max_abs", 0.0), max_rel=float("nan"),
                          worst_index=w.get("index"), actual_value=w.get("actual"), expected_value=w.get("expected"),
                          names=self.names, device=self.device, worst_share=max(t.worst_share, 0.0),
                          reproduce=self.reproduce)
            c.extra = {**c.extra, "steps": t.steps, "failed_steps": t.failed,
                       "first_failed_step": t.first_failure.step if t.first_failure else None}
            out.append(c)
        return out
