"""Step 1: standardization in MLX and torch against scikit-learn, and the split both sides share.

The scaler is fit on the training rows only and applied to validation and test rows; constant
columns are left unscaled (scale 1), as scikit-learn does. Loading and splitting in depth:
``tests/test_data_loading.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

import references as ref
from conformance import steps
from conformance.data import apply_split, document_dataset, split_indices, split_sizes, synthetic_dataset
from conformance.runner import side
from conformance.tolerances import data_scale

pytestmark = pytest.mark.data


def _constant_columns(n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, val and test with a varying column, a constant 3.5, a constant 0 and a constant 1e4
    column; val and test move the constants by +1 and -2.5 (exact in float32), so the unscaled
    shift shows."""
    rng = np.random.default_rng(5)
    def block(m, shift):
        return np.column_stack([rng.normal(2.0, 3.0, m), np.full(m, 3.5 + shift), np.full(m, 0.0 + shift),
                                np.full(m, 1e4 + shift)])
    return block(n, 0.0), block(7, 1.0), block(5, -2.5)


def _splits(dataset, seed=0):
    sp = apply_split(dataset, split_indices(dataset.y, seed=seed))
    return sp["train"][0], sp["val"][0], sp["test"][0]


CASES = {
    "document": lambda: _splits(document_dataset()),
    "synthetic n=64 d=2": lambda: _splits(synthetic_dataset(64, 2, seed=1)),
    "synthetic n=1024 d=8 (|mean|/std up to 90)": lambda: _splits(synthetic_dataset(1024, 8, seed=2), seed=2),
    "synthetic n=4096 d=2": lambda: _splits(synthetic_dataset(4096, 2, seed=3), seed=3),
    "constant columns (3.5, 0, 1e4)": _constant_columns,
}


@pytest.mark.parametrize("case", list(CASES))
def test_standardization_matches_sklearn(conf, case):
    """Fit on train, transform train/val/test: MLX and torch against scikit-learn's StandardScaler
    (float64, from the same float32 inputs), and against each other."""
    train, val, test = CASES[case]()
    expected = ref.sklearn_standardize(train, val, test)
    scale = data_scale(steps.rounded(train, "float32"))
    out = {name: steps.standardize(name, train, val, test, device=conf.device) for name in ("mlx", "torch")}
    for name, got in out.items():
        for part, a, e in (("train", got["train"], expected["train"]), ("val", got["others"][0], expected["others"][0]),
                           ("test", got["others"][1], expected["others"][1])):
            conf.close(a, e, path=f"{case} / {name} standardized {part}", kind="data", scale=scale,
                       names=(name, "sklearn"))
        # scale_ is a std in data units: its rounding is relative (constant columns: exactly 1)
        conf.close(got["scale"], expected["scale"], path=f"{case} / {name} scale_", kind="data", scale=0.0,
                   names=(name, "sklearn"))
        conf.close(got["mean"] / expected["scale"], expected["mean"] / expected["scale"],
                   path=f"{case} / {name} mean_ (in units of scale_)", kind="data", scale=scale, names=(name, "sklearn"))
    for part in ("train", "val", "test"):
        get = (lambda o: o["train"]) if part == "train" else (lambda o, i={"val": 0, "test": 1}[part]: o["others"][i])
        conf.close(get(out["mlx"]), get(out["torch"]), path=f"{case} / standardized {part}", kind="data", scale=scale,
                   exact=get(expected))


def test_constant_columns_are_left_unscaled(conf):
    """A zero-variance column keeps scale 1 (no division by zero): train becomes 0, and a val row
    1.0 above the constant becomes 1.0, as in scikit-learn."""
    train, val, _ = _constant_columns()
    for name in ("mlx", "torch"):
        got = steps.standardize(name, train, val, device=conf.device)
        names = (name, "expected")
        conf.decision(got["scale"][1:], np.ones(3), path=f"{name} scale_ of the constant columns", names=names)
        conf.decision(got["train"][:, 1:], np.zeros_like(train[:, 1:]), path=f"{name} standardized constant train columns",
                      names=names)
        conf.decision(got["others"][0][:, 1:], np.ones((len(val), 3)), path=f"{name} val constants + 1", names=names)


@pytest.mark.parametrize("name", ["mlx", "torch"])
def test_scaler_errors_are_the_same(name):
    """Mirror image: the same mistakes raise the same errors with the same words on both sides."""
    pkg = side(name)
    with pytest.raises(RuntimeError, match="before fit"):
        pkg.data.StandardScaler().transform(pkg.data.to_array(np.ones((2, 2))))
    scaler = pkg.data.StandardScaler().fit(pkg.data.to_array(np.ones((3, 2))))
    with pytest.raises(ValueError, match="fit on 2 features, got 3"):
        scaler.transform(pkg.data.to_array(np.ones((2, 3))))
    with pytest.raises(ValueError, match="needs a 2-D array"):
        pkg.data.StandardScaler().fit(pkg.data.to_array(np.ones(3)))


@pytest.mark.parametrize("n, val, test", [(5, 0.2, 0.2), (100, 0.1, 0.3), (37, 0.25, 0.15), (1000, 0.0, 0.2)])
def test_split_sizes_match_sklearn(n, val, test):
    """Test and validation sizes follow scikit-learn's rule for a fractional ``test_size``
    (``ceil(fraction * n)``), each taken of all n samples."""
    n_train, n_val, n_test = split_sizes(n, val, test)
    sk_test = len(train_test_split(np.arange(n), test_size=test)[1])
    sk_val = len(train_test_split(np.arange(n), test_size=val)[1]) if val else 0
    assert (n_test, n_val, n_train) == (sk_test, sk_val, n - sk_test - sk_val), \
        f"split_sizes({n}, {val}, {test}) = {(n_train, n_val, n_test)}; scikit-learn sizes give test {sk_test}, val {sk_val}"


@pytest.mark.parametrize("stratify", [False, True])
def test_split_is_a_deterministic_disjoint_partition(stratify):
    ds = synthetic_dataset(203, seed=4)
    a = split_indices(ds.y, 0.2, 0.2, seed=11, stratify=stratify)
    b = split_indices(ds.y, 0.2, 0.2, seed=11, stratify=stratify)
    parts = [a.train, a.val, a.test]
    assert all(np.array_equal(x, y) for x, y in zip(parts, [b.train, b.val, b.test])), "same seed, different split"
    joined = np.concatenate(parts)
    assert np.array_equal(np.sort(joined), np.arange(ds.n_samples)), "the split is not a partition of the rows"
    assert [len(p) for p in (a.test, a.val)] == [41, 41]
    if stratify:
        share = ds.y.mean()
        for name, p in (("train", a.train), ("val", a.val), ("test", a.test)):
            assert abs(ds.y[p].mean() - share) <= 1.0 / len(p), f"{name}: class share {ds.y[p].mean():.3f} vs {share:.3f}"
