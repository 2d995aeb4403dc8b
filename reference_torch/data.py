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


class StandardScaler:
    """Subtract the training mean and divide by the training population standard deviation.

    Matches scikit-learn's ``StandardScaler``: ``correction=0`` (torch's ``var`` and ``std``
    default to the unbiased ``correction=1``), and a column whose variance is zero up to rounding
    is left unscaled (scale 1) instead of being divided by zero.
    """

    def fit(self, X: torch.Tensor) -> "StandardScaler":
        X = _check_2d(X, "fit")
        n = X.shape[0]
        # Shift by the first sample before averaging (see mlx_reference.data: MLX's CPU sums need
        # it; torch's cascade summation does not, but the two sides stay the same computation).
        shift = X[0]
        self.mean_ = shift + torch.mean(X - shift, dim=0)
        self.var_ = torch.var(X - shift, dim=0, correction=0)  # torch's default is correction=1
        eps = torch.finfo(X.dtype).eps
        constant = self.var_ <= n * eps * self.var_ + (n * torch.abs(self.mean_) * eps) ** 2
        self.scale_ = torch.where(constant, torch.ones_like(self.var_), torch.sqrt(self.var_))
        return self

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        X = _check_2d(X, "transform")
        if not hasattr(self, "mean_"):
            raise RuntimeError("StandardScaler.transform called before fit; call fit on the training set first")
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"StandardScaler was fit on {self.mean_.shape[0]} features, got {X.shape[1]}")
        return (X - self.mean_) / self.scale_

    def fit_transform(self, X: torch.Tensor) -> torch.Tensor:
        return self.fit(X).transform(X)


def _check_2d(X: torch.Tensor, what: str) -> torch.Tensor:
    if X.ndim != 2:
        raise ValueError(f"StandardScaler.{what} needs a 2-D array (samples, features), got shape {tuple(X.shape)}")
    return X
