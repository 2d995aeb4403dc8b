"""Where ``pair.check``'s time goes: named parts, timed only while someone asks (``benchmarks.verdict_cost``).

``with part("measured rounding"):`` around a stretch of the engine adds its wall time to that part,
exclusive of the parts nested inside it (a tie arbitration inside the measured rounding counts as
tie arbitration only), so the parts add up to the time recorded. Outside ``recording()`` a part
costs one attribute test: the verdict does not pay for being measurable.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

_ACTIVE: list[dict] = []  # the open recordings' totals; the top one receives
_STACK: list[list] = []  # the open parts: [name, start, time of the parts nested in it]


@contextmanager
def part(name: str):
    if not _ACTIVE:
        yield
        return
    entry = [name, time.perf_counter(), 0.0]
    _STACK.append(entry)
    try:
        yield
    finally:
        _STACK.pop()
        spent = time.perf_counter() - entry[1]
        totals = _ACTIVE[-1]
        totals[name] = totals.get(name, 0.0) + spent - entry[2]
        if _STACK:
            _STACK[-1][2] += spent


@contextmanager
def recording():
    """Yields a dict that fills with each part's seconds (exclusive of nested parts) and "total"."""
    totals: dict[str, float] = {}
    _ACTIVE.append(totals)
    start = time.perf_counter()
    try:
        with part("other (validation, mapping, bookkeeping)"):
            yield totals
    finally:
        totals["total"] = time.perf_counter() - start
        _ACTIVE.pop()
