"""Data for the examples, bundled with scikit-learn or generated: nothing is downloaded."""

from __future__ import annotations

import numpy as np


def digits(batches: int = 8, size: int = 64, seed: int = 0, images: bool = False):
    """scikit-learn's 8x8 digits (10 classes) in [0, 1]: flat (N, 64), or images (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    if images:
        X = X.reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(y))
    return [(X[idx[i * size:(i + 1) * size]], y[idx[i * size:(i + 1) * size]]) for i in range(batches)]
