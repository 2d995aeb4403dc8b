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


# Rows summed per block by ``column_sum``: each level of the tree sums BLOCK values in sequence.
BLOCK = 16
EPS64 = float(np.finfo(np.float64).eps)  # scikit-learn's "constant column" test uses float64's epsilon, always


def column_sum(X: mx.array) -> mx.array:
    """The sum of each column of ``X``, accurate at any number of rows.

    MLX's CPU backend sums a column in sequence, so the rounding error of ``mx.sum(X, axis=0)``
    grows with the number of rows: a running sum of a million float32 values near 1 is ~1e6, and
    each addition then rounds away ~1e6 u = 0.06 of the value added. Here the rows are summed in
    blocks of ``BLOCK`` (padded with zeros), then the block sums in blocks, and so on: a tree of
    ``ceil(log_BLOCK n)`` levels, each summing ``BLOCK`` values, so the relative error stays below
    ``(BLOCK - 1) u`` per level (6 levels up to 16.7 million rows: 90 u = 5.4e-6 at worst in
    float32, ~u in practice), as accurate as torch's cascade sums, on every backend.
    """
    while X.shape[0] > BLOCK:
        blocks = -(-X.shape[0] // BLOCK)
        X = mx.pad(X, [(0, blocks * BLOCK - X.shape[0]), (0, 0)])
        X = X.reshape(blocks, BLOCK, X.shape[1]).sum(axis=1)
    return X.sum(axis=0)


class StandardScaler:
    """Subtract the training mean and divide by the training population standard deviation.

    Matches scikit-learn's ``StandardScaler``: ``ddof=0``, and a column that is constant to within
    the error bound of a two-pass variance in float64 (``var <= n eps var + (n |mean| eps)^2``,
    ``eps`` float64's whatever the dtype, as scikit-learn) is left unscaled (scale 1). Accurate in
    float32 at any number of rows and any offset (``|mean| / std`` up to 1e6 and beyond):

    - the columns are shifted by the first training row (``shift_``) before anything is summed, so
      the sums see values of the size of the spread, not of the offset (a difference of two
      values within a factor 2 of each other is exact in floating point);
    - sums go through ``column_sum`` (MLX's CPU sums in sequence);
    - the variance is two-pass: the mean of the squared deviations from the mean, less the squared
      mean deviation (the rounding correction scikit-learn also applies);
    - ``transform`` subtracts ``shift_`` and then ``centre_`` (the mean of the shifted columns):
      ``mean_ = shift_ + centre_`` rounded to float32 would cost ``u |mean|``, 0.06 std at an
      offset of 1e6 std.
    """

    def fit(self, X: mx.array) -> "StandardScaler":
        X = _check_2d(X, "fit")
        n = X.shape[0]
        if n == 0:
            raise ValueError("StandardScaler.fit needs at least one row; fit it on the training set")
        self.shift_ = X[0]
        shifted = X - self.shift_
        self.centre_ = column_sum(shifted) / n
        deviations = shifted - self.centre_
        # ddof=0, like numpy and scikit-learn (torch's default is 1)
        var = column_sum(deviations * deviations) / n - (column_sum(deviations) / n) ** 2
        self.var_ = mx.maximum(var, 0.0)
        self.mean_ = self.shift_ + self.centre_
        self.scale_ = mx.where(_is_constant(self.var_, self.mean_, n), mx.ones_like(self.var_), mx.sqrt(self.var_))
        return self

    def transform(self, X: mx.array) -> mx.array:
        X = _check_2d(X, "transform")
        if not hasattr(self, "mean_"):
            raise RuntimeError("StandardScaler.transform called before fit; call fit on the training set first")
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"StandardScaler was fit on {self.mean_.shape[0]} features, got {X.shape[1]}")
        return ((X - self.shift_) - self.centre_) / self.scale_

    def fit_transform(self, X: mx.array) -> mx.array:
        return self.fit(X).transform(X)


def _is_constant(var: mx.array, mean: mx.array, n: int) -> mx.array:
    """scikit-learn's test for a column indistinguishable from a constant (the error bound of a
    two-pass variance, Chan, Golub and LeVeque), with float64's epsilon whatever the dtype; float16
    and bfloat16 statistics are widened to float32 first (``n eps`` underflows float16)."""
    if var.dtype in (mx.float16, mx.bfloat16):
        var, mean = var.astype(mx.float32), mean.astype(mx.float32)
    return var <= n * EPS64 * var + (n * EPS64 * mx.abs(mean)) ** 2


def _check_2d(X: mx.array, what: str) -> mx.array:
    if X.ndim != 2:
        raise ValueError(f"StandardScaler.{what} needs a 2-D array (samples, features), got shape {tuple(X.shape)}")
    return X
