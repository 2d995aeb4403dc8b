"""Step 1 of the document: data into torch tensors, and standardization fit on the training set.

The seed document fits scikit-learn's ``StandardScaler`` on all the data before splitting (a leak
of test statistics into training). Here the split comes first (``conformance.data``), the scaler is
fit on the training set only, and the dtype is chosen explicitly.
"""

from __future__ import annotations

import numpy as np
import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}


def to_array(x: np.ndarray, dtype: str = "float32") -> torch.Tensor:
    """A numpy array as a torch tensor of ``dtype`` on the current default device."""
    return torch.as_tensor(np.asarray(x), device=torch.get_default_device()).to(DTYPES[dtype])


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """A torch tensor as a new numpy array (bfloat16 widened to float32, which numpy lacks).

    Always a copy: ``tensor.numpy()`` on the CPU shares memory with the tensor, so a snapshot of
    parameters or optimizer state taken that way changes when the optimizer updates in place.
    """
    x = x.detach()
    if x.dtype == torch.bfloat16:
        x = x.float()
    return x.cpu().numpy().copy()


EPS64 = float(np.finfo(np.float64).eps)  # scikit-learn's "constant column" test uses float64's epsilon, always


def column_sum(X: torch.Tensor) -> torch.Tensor:
    """The sum of each column of ``X``, accurate at any number of rows: ``torch.sum`` already is
    (its CPU kernel sums in a cascade, its CUDA kernel in a tree), where MLX's CPU backend sums in
    sequence and ``mlx_reference.data.column_sum`` sums in blocks instead."""
    return torch.sum(X, dim=0)


class StandardScaler:
    """Subtract the training mean and divide by the training population standard deviation.

    Matches scikit-learn's ``StandardScaler``: ``correction=0`` (torch's ``var`` and ``std``
    default to the unbiased ``correction=1``), and a column that is constant to within the error
    bound of a two-pass variance in float64 (``var <= n eps var + (n |mean| eps)^2``, ``eps``
    float64's whatever the dtype, as scikit-learn) is left unscaled (scale 1). The same
    computation as ``mlx_reference.data.StandardScaler`` (see there): shift by the first training
    row, sum with ``column_sum``, a two-pass variance with scikit-learn's correction, and
    ``transform`` subtracting ``shift_`` and then ``centre_``, so that an offset of 1e6 std costs
    nothing.
    """

    def fit(self, X: torch.Tensor) -> "StandardScaler":
        X = _check_2d(X, "fit")
        n = X.shape[0]
        if n == 0:
            raise ValueError("StandardScaler.fit needs at least one row; fit it on the training set")
        self.shift_ = X[0]
        shifted = X - self.shift_
        self.centre_ = column_sum(shifted) / n
        deviations = shifted - self.centre_
        # correction=0 written out: torch.var's default is correction=1
        var = column_sum(deviations * deviations) / n - (column_sum(deviations) / n) ** 2
        self.var_ = torch.clamp(var, min=0.0)
        self.mean_ = self.shift_ + self.centre_
        self.scale_ = torch.where(_is_constant(self.var_, self.mean_, n), torch.ones_like(self.var_),
                                  torch.sqrt(self.var_))
        return self

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        X = _check_2d(X, "transform")
        if not hasattr(self, "mean_"):
            raise RuntimeError("StandardScaler.transform called before fit; call fit on the training set first")
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"StandardScaler was fit on {self.mean_.shape[0]} features, got {X.shape[1]}")
        return ((X - self.shift_) - self.centre_) / self.scale_

    def fit_transform(self, X: torch.Tensor) -> torch.Tensor:
        return self.fit(X).transform(X)


def _is_constant(var: torch.Tensor, mean: torch.Tensor, n: int) -> torch.Tensor:
    """scikit-learn's test for a column indistinguishable from a constant (the error bound of a
    two-pass variance, Chan, Golub and LeVeque), with float64's epsilon whatever the dtype; float16
    and bfloat16 statistics are widened to float32 first (``n eps`` underflows float16)."""
    if var.dtype in (torch.float16, torch.bfloat16):
        var, mean = var.float(), mean.float()
    return var <= n * EPS64 * var + (n * EPS64 * torch.abs(mean)) ** 2


def _check_2d(X: torch.Tensor, what: str) -> torch.Tensor:
    if X.ndim != 2:
        raise ValueError(f"StandardScaler.{what} needs a 2-D array (samples, features), got shape {tuple(X.shape)}")
    return X
