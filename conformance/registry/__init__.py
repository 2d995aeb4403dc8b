"""The registry of differences: every way MLX and PyTorch differ that a port meets, and every
defect of the seed document's code, as data.

The entries live in one module per theme (``data_model``, ``loss``, ``optimizer``, ``loop``,
``platform``, ``distributed``, ``layers``, ``sequences``, ``hf``) and are gathered here in the guide's order; ``entry`` defines what an
entry is. ``tests/test_registry.py`` walks this registry: every entry must name a collected test
in ``tests/pitfalls/test_<section>.py`` (called ``test_<id with underscores>``) that is not
skipped on the CPU unless the entry needs a GPU, every seed line it quotes must still be in the
document, every measured number must be re-measured by its test, and the installed MLX must
behave as the entry's ``mlx_versions`` say (``conformance.registry.drift``). The porting guide
(``docs/PORTING.md``) is rendered from these entries by ``python -m conformance.guide``.

To re-measure everything: ``PITFALLS_MEASURE=measured.jsonl python -m pytest tests/pitfalls``
writes one JSON line per measurement (and checks none of them).

The document's data, unless an entry says otherwise, are its five samples split by
``conformance.data.split_indices`` (seed 0: 3 train, 1 validation, 1 test), standardized with the
training rows' mean and population standard deviation, float32, and SimpleNN starts from
``conformance.weights.init_weights(2, 10, seed=0)``. "The seed's split" is the document's own:
``StandardScaler`` on all five rows, then ``train_test_split(test_size=0.2, random_state=42)``
(4 train rows, 1 test row).

This package imports neither MLX nor torch: ``python -m conformance.registry.drift`` runs with
MLX alone, against any version.
"""

from __future__ import annotations

from typing import Iterator

from . import data_model, distributed, hf, layers, loop, loss, optimizer, platform, sequences
from .api import API_NAMES, ApiName
from .entry import (DEVICES, KINDS, MEASURED_WITH, SECTIONS, TEST_DIR, TIMING_SPREAD, Entry, Measurement,
                    Section)

_ALL = (data_model.ENTRIES + loss.ENTRIES + optimizer.ENTRIES + loop.ENTRIES + platform.ENTRIES + distributed.ENTRIES
        + layers.ENTRIES + sequences.ENTRIES + hf.ENTRIES)
ENTRIES: tuple[Entry, ...] = tuple(e for s in SECTIONS for e in _ALL if e.section == s)

__all__ = ["API_NAMES", "ApiName", "DEVICES", "ENTRIES", "KINDS", "MEASURED_WITH", "SECTIONS", "TEST_DIR",
           "TIMING_SPREAD", "Entry", "Measurement", "Section", "by_section", "get", "measurement", "most_costly"]


def get(entry_id: str) -> Entry:
    for e in ENTRIES:
        if e.id == entry_id:
            return e
    raise KeyError(f"no registry entry {entry_id!r}; ids: {', '.join(e.id for e in ENTRIES)}")


def measurement(entry_id: str, key: str) -> Measurement:
    for m in get(entry_id).measured:
        if m.key == key:
            return m
    raise KeyError(f"registry entry {entry_id!r} has no measurement {key!r}")


def by_section(section: str) -> Iterator[Entry]:
    return (e for e in ENTRIES if e.section == section)


def most_costly() -> list[Entry]:
    """The entries ranked by ``cost`` (the README's ten most costly pitfalls)."""
    return sorted((e for e in ENTRIES if e.cost is not None), key=lambda e: e.cost)
