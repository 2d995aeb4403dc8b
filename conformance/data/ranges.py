"""Features that float32 cannot carry through standardization, refused before anything runs.

Both frameworks compute in float32, and both scalers (``mlx_reference.data``,
``reference_torch.data``) shift a column by its first training value, sum the shifted values and
their squares, and test for a constant column with ``(n * |mean| * eps) ** 2`` (bounded here with
the largest value). A value beyond float32's range becomes infinity; a sum beyond it does too, and
the run then compares NaN with NaN or infinity. Each bound below is checked on the whole column (the training rows are a subset, so
the bound holds for them too), in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .errors import _error

F32_MAX = float(np.finfo(np.float32).max)  # 3.4e38
F32_TINY = float(np.finfo(np.float32).tiny)  # 1.2e-38, the smallest normal float32
F32_EPS = float(np.finfo(np.float32).eps)
_RESCALE = "rescale the column (multiply or divide it by a power of ten) or leave it out of features="


def check_float32(X: np.ndarray, names: Sequence[str], row_label: Callable[[int], str], source: str) -> None:
    """Raise :class:`DataError` naming the first column (and row, for a single value) that leaves
    float32's range as a value or in the scaler's arithmetic."""
    n = X.shape[0]
    for j, name in enumerate(names):
        column = X[:, j]
        high, low = float(column.max()), float(column.min())
        largest = max(abs(high), abs(low))
        if largest > F32_MAX:
            i = int(np.argmax(column) if abs(high) >= abs(low) else np.argmin(column))
            raise _error(source, f"value {float(column[i]):.6g} is beyond float32's range (largest {F32_MAX:.3g}), "
                         "in which both frameworks compute", _RESCALE, f"{row_label(i)}, column {name!r}")
        spread = high - low
        for what, value in ((f"the sum of {n} shifted values (rows x spread {spread:.3g})", n * spread),
                            (f"the sum of {n} squared deviations (rows x spread^2)", n * spread * spread),
                            (f"the scaler's constant-column test ((rows x |mean| x eps)^2, |mean| up to {largest:.3g})",
                             (n * largest * F32_EPS) ** 2)):
            if value > F32_MAX:
                raise _error(source, f"standardizing it overflows float32: {what} reaches {value:.3g}, beyond "
                             f"float32's largest {F32_MAX:.3g}", _RESCALE, f"column {name!r}")
        if 0.0 < spread * spread < F32_TINY:
            raise _error(source, f"its values differ by at most {spread:.3g}, whose square underflows float32 "
                         "(smallest normal 1.2e-38), so standardization would take the column for a constant",
                         _RESCALE, f"column {name!r}")
