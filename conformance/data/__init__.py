"""Data for the conformance suite: loading tables, synthetic data, seeded splits and shuffle orders.

Everything here is numpy and the standard library only, so that the MLX and the PyTorch pipelines
receive bit-identical float64 arrays, identical train/val/test indices and identical per-epoch
minibatch orders: every random draw happens once, here, in numpy.

Supported files (chosen by extension, case-insensitive):

* ``.csv`` -- UTF-8 text, a header row, comma-separated (read with :mod:`csv`; blank lines are
  skipped, cells are stripped of surrounding whitespace before they are parsed). A header line
  with no commas but semicolons, tabs or vertical bars is read with that delimiter (a note says
  so); a header of numbers only (a file without a header row) is refused. The file is streamed:
  numeric columns go straight into float64 arrays (``load_table(progress=...)`` reports bytes read).
* ``.json`` -- UTF-8 text holding a list of records: ``[{"x1": 1.0, "y": 0}, ...]``, every record
  with the same keys; the column order is the key order of the first record.
* ``.sqlite`` / ``.sqlite3`` / ``.db`` -- a SQLite database, opened read-only; ``table`` picks the
  table (or view), which may be left out when the database holds exactly one.
* ``.npz`` -- a numpy archive with one 1-D array per column (the array names are the column
  names), or the form with a 2-D ``X`` and a 1-D ``y`` (features named ``x1..xd``, target ``y``).

Features must be numeric and finite, and (``load_table(dtype="float32")``, the default) stay within
float32 through standardization (``conformance.data.ranges``). The target may hold any two distinct
values: ``{0, 1}`` is kept as it is, any other pair (``{-1, 1}``, ``{1, 2}``, ``{"no", "yes"}``...)
is mapped in sorted order to 0 and 1, and the mapping is recorded in :attr:`Dataset.label_map` and
:attr:`Dataset.notes`; numeric labels must be whole numbers (0.3/0.7 is refused, not two classes).

Every problem with the input raises :class:`DataError`, whose message is one line of the form
``<file>: <where>: <what is wrong>; <what to do>``, where ``<where>`` names the row (1-based data
rows; for CSV also the physical line, counting the header as line 1) and the column when known.
"""

from __future__ import annotations

from .datasets import Dataset, document_dataset, synthetic_dataset
from .errors import DataError, PathLike
from .readers import SUPPORTED_EXTENSIONS
from .sklearn_split import document_split, sklearn_split_indices
from .splits import METHODS as SPLIT_METHODS, SplitIndices, apply_split, epoch_orders, shuffle_orders, split_indices, split_sizes
from .tables import DEFAULT_TARGETS, load_table, write_table

__all__ = [
    "DEFAULT_TARGETS",
    "SUPPORTED_EXTENSIONS",
    "DataError",
    "Dataset",
    "PathLike",
    "SPLIT_METHODS",
    "SplitIndices",
    "apply_split",
    "document_dataset",
    "document_split",
    "epoch_orders",
    "load_table",
    "shuffle_orders",
    "sklearn_split_indices",
    "split_indices",
    "split_sizes",
    "synthetic_dataset",
    "write_table",
]
