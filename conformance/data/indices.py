"""The split's value type, :class:`SplitIndices`, and the check of a split fraction, shared by
both ways to draw a split (``splits``, the project's; ``sklearn_split``, scikit-learn's rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DataError


@dataclass(frozen=True, eq=False)
class SplitIndices:
    """Row indices of the train, validation and test sets (int64, disjoint, covering ``0..n-1``).

    The indices are kept in the random order in which they were drawn, not sorted, so that
    ``X[idx.train]`` is already shuffled; both frameworks index with the same arrays.
    ``val_is_test``: the validation rows are the test rows (the seed document validates on its
    test set, :func:`document_split`); train and test then cover ``0..n-1``.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_is_test: bool = False

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            array = np.asarray(getattr(self, name))
            if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
                raise DataError(f"SplitIndices: {name} must be a 1-D integer array, got {array.dtype} with "
                                f"shape {array.shape}; build it with split_indices")
            object.__setattr__(self, name, array.astype(np.int64))
        if self.val_is_test and not np.array_equal(self.val, self.test):
            raise DataError("SplitIndices: val_is_test=True needs val to be the test rows; build it with document_split")


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(f"split_indices: {name} must be a number in [0, 1), got {value!r}; pass e.g. {name}=0.2")
    x = float(value)
    if not (0.0 <= x < 1.0):
        raise DataError(f"split_indices: {name} must be in [0, 1), got {value!r}; pass e.g. {name}=0.2 "
                        "(or 0 for no such split)")
    return x
