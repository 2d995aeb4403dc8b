"""A rule both frameworks share, against its own anchor (comparing MLX with torch cannot see a rule
both sides get wrong the same way): standardization against scikit-learn's ``StandardScaler``.

Over hypothesis-drawn columns (``strategies.scaler_columns``: Gaussian, constant, near-constant
and discrete columns, spreads 1e-6..1e6, offsets up to 1e6 spreads, float32 and float64): the
"constant column" decision, ``scale_``, ``mean_`` and every standardized value; the issue's
pressure column; shift invariance. Small sizes in the default run; up to millions of rows behind
the ``slow`` marker (``python -m pytest -m slow``). The other anchors: ``test_anchor_split.py``
(scikit-learn's ``train_test_split``), ``test_anchor_rules.py`` (torch's ``ReduceLROnPlateau``, a
plain early-stopping loop), ``test_metrics.py`` (scikit-learn's metrics and their warnings).

The standardized values are judged under the table's "data" entry with scale 0: the scaler never
rounds the mean (it subtracts ``shift_`` and then ``centre_``), so the entry's ``|mean|/std``
allowance is not needed, and a scaler that rounded the mean to float32 fails here (offset 1e6
spreads: 0.06 of a spread). float64 (CPU) is judged under the "data"/"float64" entry.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from sklearn.preprocessing import StandardScaler as SkScaler

import references as ref
import strategies as S
from conformance.runner import side
from conformance.steps import rounded
from conformance.tolerances import data_scale

pytestmark = pytest.mark.data

EPS64 = np.finfo(np.float64).eps


def fit_side(name: str, train: np.ndarray, others: list[np.ndarray], dtype: str, device: str) -> dict:
    """The side's ``StandardScaler`` fit on ``train``: its statistics and the standardized rows."""
    pkg = side(name)
    with pkg.device.use_device(device):
        scaler = pkg.data.StandardScaler().fit(pkg.data.to_array(train, dtype))
        out = lambda a: pkg.data.to_numpy(scaler.transform(pkg.data.to_array(a, dtype)))  # noqa: E731
        return {"mean": pkg.data.to_numpy(scaler.mean_), "var": pkg.data.to_numpy(scaler.var_),
                "scale": pkg.data.to_numpy(scaler.scale_), "train": out(train), "others": [out(o) for o in others]}


def decided(var: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """scikit-learn's constant test ``var <= n eps var + (n |mean| eps)^2`` where it is decided by
    a factor 2 either way: 1.0 (constant), 0.0 (scaled), or NaN (a tie)."""
    threshold = n * EPS64 * var + (n * np.abs(mean) * EPS64) ** 2
    return np.where(var <= threshold / 2, 1.0, np.where(var >= 2 * threshold, 0.0, np.nan))


def exact_var(train: np.ndarray) -> np.ndarray:
    """The variance of the columns to float64 accuracy (shifted by the first row, two passes)."""
    x = np.asarray(train, dtype=np.float64)
    shifted = x - x[0]
    return ((shifted - shifted.mean(axis=0)) ** 2).mean(axis=0)


def check_against_sklearn(conf, train: np.ndarray, others: list[np.ndarray], dtype: str, where: str) -> None:
    """Both sides' scalers (computing in ``dtype``) against scikit-learn fit on the same values.

    The constant decision is scikit-learn's on the columns as they are, compared on every column
    where it is not a tie: scikit-learn's own variance, or the exact one, within a factor 2 of the
    threshold, which is the error bound of scikit-learn's float64 variance (its decision there is
    its rounding's). The values (``scale_``, ``mean_``, every standardized row) come from
    scikit-learn fit on the columns shifted by their first row: it is shift-invariant, the shift
    is exact for float32 inputs, and it keeps scikit-learn's own error small: numpy reduces axis 0
    of a row-major array row by row, so scikit-learn's mean of a column with offset 1e6 spreads
    errs ~sqrt(n) u 1e6 spreads in float64 (1.9e-8 at n = 1e5, found by hypothesis). What remains
    of that error, at most ``(n - 1) u mean|x - x_0| / std``, is allowed on top of the budget.
    """
    train, others = rounded(train, dtype), [rounded(o, dtype) for o in others]
    n = train.shape[0]
    sk = SkScaler().fit(train)
    d_sk, d_exact = decided(sk.var_, sk.mean_, n), decided(exact_var(train), sk.mean_, n)
    cols = np.flatnonzero(~np.isnan(d_sk) & (d_sk == d_exact))
    if cols.size == 0:
        return
    first = train[0]
    sk0 = SkScaler().fit(train - first)
    constant = (sk.scale_ == 1.0) & (sk.var_ != 1.0)
    ref_scale = np.where(constant, 1.0, np.sqrt(sk0.var_))
    ref = {"mean": first + sk0.mean_, "scale": ref_scale,
           "train": ((train - first) - sk0.mean_) / ref_scale,
           "others": [((o - first) - sk0.mean_) / ref_scale for o in others]}
    own = ((n - 1) * EPS64 / 2 * np.abs(train - first).mean(axis=0) / ref_scale)[cols]
    extra = (own, "scikit-learn's own sequential float64 sum, at most (n - 1) u mean|x - x_0| / std")
    # float32: scale 0 (module docstring); float64: rounding a mean to float64 costs u |mean| / std
    scale = 0.0 if dtype == "float32" else data_scale(train[:, cols])
    for name in ("mlx", "torch"):
        got = fit_side(name, train, others, dtype, conf.device)
        names, at = (name, "sklearn"), f"{where} / {name} ({dtype})"
        decidable = cols[got["var"][cols] != 1.0]  # a variance of exactly 1 scales by 1 either way
        ours = (got["scale"][decidable] == 1.0).astype(float)
        conf.decision(ours, constant[decidable].astype(float), path=f"{at} / constant columns {decidable.tolist()}",
                      names=names)
        conf.close(got["scale"][cols] / ref["scale"][cols], np.ones(cols.size), path=f"{at} / scale_ relative to sklearn's",
                   kind="data", dtype=dtype, scale=0.0, names=names, extra=extra)
        conf.close((got["mean"][cols] - ref["mean"][cols]) / ref["scale"][cols], np.zeros(cols.size),
                   path=f"{at} / mean_ - sklearn's (in units of scale_; mean_ is rounded to {dtype})", kind="data",
                   dtype=dtype, scale=data_scale(train[:, cols]), names=names, extra=extra)
        for part, a, e in [("train", got["train"], ref["train"])] + [
                (f"others[{i}]", a, e) for i, (a, e) in enumerate(zip(got["others"], ref["others"]))]:
            conf.close(a[:, cols], e[:, cols], path=f"{at} / standardized {part}", kind="data", dtype=dtype, scale=scale,
                       names=names, extra=extra)


def _dtypes(conf, input_dtype) -> list[str]:
    """float32 always; float64 too for float64 input on the CPU (MLX has no float64 on the GPU)."""
    return ["float32"] + (["float64"] if input_dtype == np.float64 and conf.device == "cpu" else [])


@given(case=S.scaler_columns())
def test_scaler_matches_sklearn(conf, case):
    train, val, kinds = case
    for dtype in _dtypes(conf, train.dtype):
        check_against_sklearn(conf, train, [val], dtype, f"{train.dtype} columns {kinds}, n={len(train)}")


@pytest.mark.slow
@settings(max_examples=6)
@given(case=S.scaler_columns(min_n=100_000, max_n=3_000_000))
def test_scaler_matches_sklearn_at_millions_of_rows(conf, case):
    """The same at 1e5..3e6 rows: MLX's CPU sums in sequence, so a plain ``mx.mean`` would be off
    by whole standard deviations here (tests/pitfalls/test_data.py::test_mlx_cpu_sequential_sum measures it)."""
    train, val, kinds = case
    for dtype in _dtypes(conf, train.dtype):
        check_against_sklearn(conf, train, [val], dtype, f"{train.dtype} columns {kinds}, n={len(train)}")


@pytest.mark.parametrize("n", [5_000, pytest.param(2**23 + 1, marks=pytest.mark.slow)])
def test_pressure_column_is_scaled_like_sklearn(conf, n):
    """The issue's case: a pressure in pascals (mean 101 325, std 50) in float32. scikit-learn
    scales it by ~50 (float64's epsilon); a float32-epsilon test calls it constant from 5 000 rows
    (std <= n |mean| 1.2e-7), and at 2^23 rows in float32 every column would be."""
    rng = np.random.default_rng(7)
    train = np.column_stack([101_325 + 50 * rng.standard_normal(n), rng.standard_normal(n)]).astype(np.float32)
    test = np.column_stack([101_325 + 50 * rng.standard_normal(20), rng.standard_normal(20)]).astype(np.float32)
    check_against_sklearn(conf, train, [test], "float32", f"pressure column n={n}")
    for name in ("mlx", "torch"):
        scale = fit_side(name, train, [], "float32", conf.device)["scale"][0]
        assert 45 < scale < 55, f"{name}: the pressure column's scale_ is {scale}, scikit-learn's is ~50"


@pytest.mark.parametrize("offset", [101_325.0, -3.0e6, 2.0**23])
def test_standardization_is_shift_invariant(conf, offset):
    """Adding a constant to a column changes nothing standardized, as in scikit-learn: on integer
    columns, where ``x + offset`` is exact in float32, both sides give bit-identical results for
    the column and its shift (the scaler sees only differences from the first row).
    scikit-learn's statistics are shift-invariant and so is its float64 transform; its float32
    transform is not: it rounds ``mean_`` to float32 first (``X -= mean_.astype(X.dtype)``),
    u |mean| / std off, 0.005 of a spread at 101 325 here, which ours avoids."""
    rng = np.random.default_rng(11)
    n = 3_000
    base = np.column_stack([rng.integers(0, 3, n), rng.integers(-500, 500, n)]).astype(np.float32)
    val = np.column_stack([rng.integers(0, 3, 9), rng.integers(-500, 500, 9)]).astype(np.float32)
    shifted, val_shifted = base + np.float32(offset), val + np.float32(offset)
    assert np.array_equal(shifted - np.float32(offset), base), "the test's shift is not exact in float32"
    sk_base = ref.sklearn_standardize(base, val, dtype="float64")
    sk_shifted = ref.sklearn_standardize(shifted, val_shifted, dtype="float64")
    np.testing.assert_allclose(sk_shifted["scale"], sk_base["scale"], rtol=1e-12)
    np.testing.assert_allclose(sk_shifted["train"], sk_base["train"], rtol=0, atol=64 * EPS64 * abs(offset))
    for name in ("mlx", "torch"):
        a = fit_side(name, base, [val], "float32", conf.device)
        b = fit_side(name, shifted, [val_shifted], "float32", conf.device)
        for key in ("scale", "train"):
            conf.decision(b[key], a[key], path=f"{name} {key} of the columns shifted by {offset:g}",
                          names=(f"{name} shifted", f"{name} unshifted"))
        conf.decision(b["others"][0], a["others"][0], path=f"{name} validation rows shifted by {offset:g}",
                      names=(f"{name} shifted", f"{name} unshifted"))
    check_against_sklearn(conf, shifted, [val_shifted], "float32", f"columns shifted by {offset:g}")
