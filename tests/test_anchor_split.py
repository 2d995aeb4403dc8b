"""A rule both frameworks share, against its own anchor: the split. ``split_indices(...,
method="sklearn")`` must give the very rows of scikit-learn's ``train_test_split`` for
``random_state=seed`` (two successive calls for train / validation / test, as documented in
``conformance.data.sklearn_split``), and ``document_split`` the seed document's own rows.
Either both raise, or the rows are identical, in order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split

from conformance.data import DataError, apply_split, document_dataset, document_split, split_indices

pytestmark = pytest.mark.data


def sklearn_rows(y: np.ndarray, val: float, test: float, seed: int, stratify: bool) -> dict | str:
    """The documented recipe, run by scikit-learn itself: the rows, or the error it raises."""
    rows = np.arange(len(y))
    try:
        if test > 0:
            rest, test_rows = train_test_split(rows, test_size=test, random_state=seed, stratify=y if stratify else None)
        else:
            rest, test_rows = rows, rows[:0]
        if val > 0:
            train, val_rows = train_test_split(rest, test_size=val / (1 - test), random_state=seed,
                                               stratify=y[rest] if stratify else None)
        else:
            train, val_rows = rest, rows[:0]
    except ValueError as e:
        return str(e)
    return {"train": train, "val": val_rows, "test": test_rows}


def ours(y: np.ndarray, val: float, test: float, seed: int, stratify: bool) -> dict | str:
    try:
        idx = split_indices(y, val, test, seed, stratify, method="sklearn")
    except DataError as e:
        return str(e)
    return {"train": idx.train, "val": idx.val, "test": idx.test}


def check_same(y, val, test, seed, stratify) -> None:
    expected, got = sklearn_rows(y, val, test, seed, stratify), ours(y, val, test, seed, stratify)
    where = f"n={len(y)} val={val} test={test} seed={seed} stratify={stratify}"
    if isinstance(expected, str) or isinstance(got, str):
        assert isinstance(expected, str) and isinstance(got, str), (
            f"{where}: scikit-learn gives {expected if isinstance(expected, str) else 'rows'}, "
            f"ours {got if isinstance(got, str) else 'rows'}")
        return
    for part in ("train", "val", "test"):
        assert np.array_equal(got[part], expected[part]), (
            f"{where}: {part} rows {got[part].tolist()[:20]} but train_test_split gives {expected[part].tolist()[:20]}")


def labels(n: int, share: float, classes: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if classes == 2:
        return (rng.random(n) < share).astype(np.float64)
    return rng.integers(0, classes, n).astype(np.float64)


@pytest.mark.parametrize("stratify", [False, True])
@pytest.mark.parametrize("n", [2, 3, 5, 10, 37, 100, 1000])
def test_two_way_split_is_train_test_split(n, stratify):
    """Train / test only (val 0), over fractions and seeds; 0.07 of 100 rows is 8 test rows in
    scikit-learn (``ceil(7.000000000000001)``), where the project's own rule gives 7."""
    y = labels(n, 0.4, seed=n)
    for test in (0.07, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.9):
        for seed in (0, 1, 42, 2**31 - 1, 2**32 - 1):
            check_same(y, 0.0, test, seed, stratify)


@pytest.mark.parametrize("stratify", [False, True])
def test_three_way_split_is_two_train_test_splits(stratify):
    for n in (5, 12, 50, 333):
        y = labels(n, 0.3, classes=2 if n < 50 else 3, seed=n)
        for val, test in ((0.2, 0.2), (0.1, 0.3), (0.25, 0.15), (0.3, 0.0), (0.45, 0.45)):
            for seed in (0, 7, 42):
                check_same(y, val, test, seed, stratify)


@given(n=st.integers(2, 400), val=st.sampled_from([0.0]) | st.floats(0.01, 0.45), test=st.sampled_from([0.0]) |
       st.floats(0.01, 0.5), seed=st.integers(0, 2**32 - 1), stratify=st.booleans(), share=st.floats(0.0, 1.0),
       classes=st.sampled_from([2, 3]))
def test_split_is_train_test_split(n, val, test, seed, stratify, share, classes):
    """Any size, fractions, seed, class balance (including one-member classes, which scikit-learn
    refuses to stratify), two or three classes: the same rows, or both refuse."""
    check_same(labels(n, share, classes, seed=n), val, test, seed, stratify)


def test_sklearn_method_needs_a_legacy_seed():
    with pytest.raises(DataError, match="0..2\\*\\*32 - 1"):
        split_indices(np.zeros(10), seed=2**32, method="sklearn")
    with pytest.raises(DataError, match="method must be one of project, sklearn"):
        split_indices(np.zeros(10), method="pandas")


def test_document_split_is_the_documents():
    """The seed's ``train_test_split(X_scaled, y, test_size=0.2, random_state=42)`` on its five rows:
    4 training rows and 1 test row, in scikit-learn's order; the document validates on its test
    set, so by default the validation rows are the test rows; ``validation="train"`` takes them
    from the training rows by a second call with ``test_size=0.25``, keeping the test row."""
    ds = document_dataset()
    X_train, X_test, y_train, y_test = train_test_split(ds.X, ds.y, test_size=0.2, random_state=42)
    sets = apply_split(ds, document_split(ds.y))
    assert [len(sets[k][0]) for k in ("train", "val", "test")] == [4, 1, 1]
    for part, X, y in (("train", X_train, y_train), ("test", X_test, y_test), ("val", X_test, y_test)):
        assert np.array_equal(sets[part][0], X) and np.array_equal(sets[part][1], y), f"{part}: not the document's rows"
    X_tr, X_val, y_tr, y_val = train_test_split(X_train, y_train, test_size=0.25, random_state=42)
    held_out = apply_split(ds, document_split(ds.y, validation="train"))
    for part, X, y in (("train", X_tr, y_tr), ("val", X_val, y_val), ("test", X_test, y_test)):
        assert np.array_equal(held_out[part][0], X) and np.array_equal(held_out[part][1], y), f"{part}: not the rows"
    with pytest.raises(DataError, match="validation must be 'test'"):
        document_split(ds.y, validation="val")
