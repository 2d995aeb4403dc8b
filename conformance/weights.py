"""Initial weights both frameworks start from, drawn once in numpy.

The two frameworks' random number generators cannot be made to produce the same numbers, so
instead of seeding both, one set of weights is drawn here and loaded into each side. The
distribution is PyTorch's default for ``nn.Linear``: weight and bias uniform on
(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

import numpy as np


def init_weights(in_features: int = 2, hidden: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """``SimpleNN(in_features, hidden)`` weights, float32, under PyTorch's key names."""
    if in_features < 1 or hidden < 1:
        raise ValueError(f"init_weights: in_features and hidden must be >= 1, got {in_features} and {hidden}")
    rng = np.random.default_rng(seed)

    def uniform(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    return {
        "fc1.weight": uniform((hidden, in_features), in_features),
        "fc1.bias": uniform((hidden,), in_features),
        "fc2.weight": uniform((1, hidden), hidden),
        "fc2.bias": uniform((1,), hidden),
    }
