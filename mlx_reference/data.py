"""Step 1 of the document: data into MLX arrays, and standardization fit on the training set.

The seed document fits scikit-learn's ``StandardScaler`` on all the data before splitting (a leak
of test statistics into training) and hands MLX float64 arrays that MLX silently turns into
float32. Here the split comes first (``conformance.data``), the scaler is fit on the training set
only, and the dtype is chosen explicitly.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16, "float64": mx.float64}


def to_array(x: np.ndarray, dtype: str = "float32") -> mx.array:
    """A numpy array as an MLX array of ``dtype`` (explicit: MLX has no float64 on the GPU)."""
    # The dtype goes to mx.array itself: mx.array(float64 numpy) is float32 already, and casting
    # afterwards would give float64 arrays holding float32-rounded values.
    return mx.array(np.asarray(x), dtype=DTYPES[dtype])


def to_numpy(x: mx.array) -> np.ndarray:
    """An MLX array as a numpy array (bfloat16 widened to float32, which numpy lacks)."""
    if x.dtype == mx.bfloat16:
        x = x.astype(mx.float32)
    return np.array(x)


class StandardScaler:
    """Subtract the training mean and divide by the training population standard deviation.

    Matches scikit-learn's ``StandardScaler``: ``ddof=0``, and a column whose variance is zero up
    to rounding is left unscaled (scale 1) instead of being divided by zero.
    """

    def fit(self, X: mx.array) -> "StandardScaler":
        X = _check_2d(X, "fit")
        n = X.shape[0]
        # Shift by the first sample before averaging: MLX's CPU backend sums float32 in sequence,
        # so the mean of values far from zero (|mean| >> std) loses digits that matter after
        # centring (n = 1e6, |mean|/std ~ 100: 1e-2 std off). Shifted values are O(std).
        shift = X[0]
        self.mean_ = shift + mx.mean(X - shift, axis=0)
        self.var_ = mx.var(X - shift, axis=0)  # ddof=0, like numpy and scikit-learn (torch's default is 1)
        eps = mx.finfo(X.dtype).eps
        constant = self.var_ <= n * eps * self.var_ + (n * mx.abs(self.mean_) * eps) ** 2
        self.scale_ = mx.where(constant, mx.ones_like(self.var_), mx.sqrt(self.var_))
        return self

    def transform(self, X: mx.array) -> mx.array:
        X = _check_2d(X, "transform")
        if not hasattr(self, "mean_"):
            raise RuntimeError("StandardScaler.transform called before fit; call fit on the training set first")
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"StandardScaler was fit on {self.mean_.shape[0]} features, got {X.shape[1]}")
        return (X - self.mean_) / self.scale_

    def fit_transform(self, X: mx.array) -> mx.array:
        return self.fit(X).transform(X)


def _check_2d(X: mx.array, what: str) -> mx.array:
    if X.ndim != 2:
        raise ValueError(f"StandardScaler.{what} needs a 2-D array (samples, features), got shape {tuple(X.shape)}")
    return X
