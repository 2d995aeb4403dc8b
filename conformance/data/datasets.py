"""The datasets the suite ships: the seed document's five samples and a seeded synthetic problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import _check_int, _error, _names


@dataclass(frozen=True, eq=False)
class Dataset:
    """A binary classification table, ready for either framework.

    ``X`` is float64 of shape ``(n, d)`` and finite; ``y`` is float64 of shape ``(n,)`` holding
    only 0.0 and 1.0. ``label_map`` maps the original target values to 0/1 when they were not
    already ``{0, 1}`` (``None`` otherwise); ``notes`` are human-readable remarks about how the
    data was read. The arrays are validated (and converted to float64) on construction; treat
    them as read-only and use :func:`apply_split` to get private copies. ``==`` is identity
    (arrays have no single truth value), so compare fields with numpy instead.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    source: str
    label_map: dict[Any, int] | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        names = tuple(str(name) for name in self.feature_names)
        where = "Dataset"
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise _error(self.source, f"X must be 2-D with at least one row and column, got shape {X.shape}",
                         "pass an (n_samples, n_features) array", where)
        if y.shape != (X.shape[0],):
            raise _error(self.source, f"y must have shape ({X.shape[0]},) to match X, got {y.shape}",
                         "pass one label per row of X", where)
        if not np.isfinite(X).all():
            raise _error(self.source, "X contains NaN or infinity", "pass finite features", where)
        if not np.isin(y, (0.0, 1.0)).all():
            raise _error(self.source, "y must hold only 0.0 and 1.0", "encode the labels as 0/1", where)
        if len(names) != X.shape[1]:
            raise _error(self.source, f"{len(names)} feature names for {X.shape[1]} columns of X",
                         "pass one name per column", where)
        all_names = (*names, str(self.target_name))
        if len(set(all_names)) != len(all_names):
            raise _error(self.source, f"column names are not unique: {_names(all_names)}",
                         "give every feature and the target a distinct name", where)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "target_name", str(self.target_name))
        object.__setattr__(self, "label_map", None if self.label_map is None else dict(self.label_map))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def n_samples(self) -> int:
        """Number of rows."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.X.shape[1])


def document_dataset() -> Dataset:
    """The seed document's five samples: ``X = [[1, 2], ..., [5, 6]]``, ``y = [0, 1, 0, 1, 0]``."""
    return Dataset(
        X=np.array([[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]], dtype=np.float64),
        y=np.array([0, 1, 0, 1, 0], dtype=np.float64),
        feature_names=("x1", "x2"),
        target_name="y",
        source="document",
    )


def synthetic_dataset(n_samples: int, n_features: int = 2, seed: int = 0) -> Dataset:
    """A seeded, learnable but not separable binary problem whose features need standardizing.

    With ``rng = np.random.default_rng(seed)``: the labels are exactly ``n_samples // 2`` ones and
    the rest zeros, in a random order; a random unit direction ``u`` is drawn, and each sample is
    ``z ~ N(+u, I)`` for class 1 and ``N(-u, I)`` for class 0 (so the Bayes error is
    ``Phi(-1)``, about 16%). Column ``j`` of ``z`` is then scaled by ``10 ** linspace(-1, 2, d)[j]``
    (0.1 up to 100) and shifted by an offset drawn uniformly from ``[-20, 20]``.
    """
    source = f"synthetic(n={n_samples}, n_features={n_features}, seed={seed})"
    n = _check_int(source, "n_samples", n_samples, minimum=1)
    d = _check_int(source, "n_features", n_features, minimum=1)
    seed = _check_int(source, "seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    n_pos = n // 2
    y = rng.permutation(np.concatenate([np.zeros(n - n_pos), np.ones(n_pos)]))
    direction = rng.standard_normal(d)
    norm = float(np.linalg.norm(direction))
    direction = direction / norm if norm > 0 else np.eye(d)[0]
    z = rng.standard_normal((n, d)) + np.outer(2.0 * y - 1.0, direction)
    scales = 10.0 ** np.linspace(-1.0, 2.0, d)
    offsets = rng.uniform(-20.0, 20.0, d)
    X = z * scales + offsets
    note = (
        "two Gaussian classes with means at +/-u (u a random unit vector) and unit variance; "
        f"columns scaled by {', '.join(f'{s:.3g}' for s in scales)} and shifted by "
        f"{', '.join(f'{o:.3g}' for o in offsets)}"
    )
    return Dataset(
        X=X,
        y=y,
        feature_names=tuple(f"x{j + 1}" for j in range(d)),
        target_name="y",
        source=source,
        notes=(note,),
    )

