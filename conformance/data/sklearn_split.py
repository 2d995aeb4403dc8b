"""scikit-learn's ``train_test_split`` rows, reproduced in numpy, and the seed document's own split.

A user porting a scikit-learn pipeline needs the very rows it trained and tested on. For an
integer ``random_state``, ``train_test_split`` draws from ``np.random.RandomState(random_state)``
(numpy's legacy generator, whose streams numpy keeps stable across releases):

- unstratified (``ShuffleSplit``): ``n_test = ceil(test_size * n)`` (no tolerance for products
  like ``0.07 * 100 = 7.000000000000001``: 8), ``perm = rng.permutation(n)``; test is
  ``perm[:n_test]``, train ``perm[n_test:]``, in that order;
- stratified (``StratifiedShuffleSplit``): per-class train and test counts from the approximate
  mode of the multivariate hypergeometric distribution (ties broken by ``rng.choice``), each
  class's rows (in index order) permuted, train and test cut from them class by class, then each
  of train and test permuted.

This module is that code, written from scikit-learn 1.9's ``sklearn/model_selection/_split.py``
and ``sklearn/utils/extmath.py::_approximate_mode``; ``tests/test_anchor_split.py`` checks it
against scikit-learn itself.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import DataError, _check_int
from .indices import SplitIndices, _check_fraction

DOCUMENT_TEST_SIZE = 0.2  # the seed: train_test_split(X_scaled, y, test_size=0.2, random_state=42)
DOCUMENT_RANDOM_STATE = 42


def sklearn_split_indices(y, val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0,
                          stratify: bool = False):
    """The rows of two successive ``train_test_split`` calls with ``random_state=seed``::

        rest, test = train_test_split(np.arange(n), test_size=test_fraction, random_state=seed,
                                      stratify=y if stratify else None)
        train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction),
                                      random_state=seed, stratify=y[rest] if stratify else None)

    so ``val_fraction`` and ``test_fraction`` are both fractions of all ``n`` rows, as in
    :func:`split_indices` (0.2 and 0.2: 3 / 1 / 1 of 5 rows). A zero fraction skips its call
    (both zero: every row trains, in order). Indices come in scikit-learn's order: ``X[idx.test]``
    is its ``X_test``. Where scikit-learn raises (too few rows, a class with one member when
    stratifying, fewer rows in a split than classes), this raises :class:`DataError`.
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise DataError(f"split_indices: y must be 1-D (one label per sample), got shape {labels.shape}; pass y")
    val = _check_fraction("val_fraction", val_fraction)
    test = _check_fraction("test_fraction", test_fraction)
    if val + test >= 1.0:
        raise DataError(f"split_indices: val_fraction + test_fraction = {val + test:g} leaves nothing to train on; "
                        "make their sum less than 1")
    seed = _check_int("split_indices", "seed", seed, minimum=0)
    if seed > 2**32 - 1:
        raise DataError(f"split_indices: method='sklearn' takes seed as numpy's RandomState does, 0..2**32 - 1, "
                        f"got {seed}")
    rest = np.arange(labels.shape[0], dtype=np.int64)
    test_rows = np.empty(0, dtype=np.int64)
    if test > 0:
        rest, test_rows = train_test_split(rest, labels, test, seed, stratify, "test_fraction")
    train_rows, val_rows = rest, np.empty(0, dtype=np.int64)
    if val > 0:
        train_rows, val_rows = train_test_split(rest, labels[rest], val / (1.0 - test), seed, stratify, "val_fraction")
    return SplitIndices(train=train_rows, val=val_rows, test=test_rows)


def document_split(y, validation: str = "test"):
    """The seed document's split: ``train_test_split(X, y, test_size=0.2, random_state=42)``, 4
    training rows and 1 test row of its 5.

    The document has no validation set: its step 6 ("validation") evaluates ``X_test``. With
    ``validation="test"`` (the default, the document as written) the validation rows are the test
    rows (``val_is_test``): early stopping or a plateau schedule on them would select on the test
    set, so a run that reports test metrics should say so. ``validation="train"`` takes the
    validation row from the 4 training rows instead, by a second ``train_test_split(X_train,
    y_train, test_size=0.25, random_state=42)``: 3 / 1 / 1, the document's test row kept.
    """
    if validation == "train":
        return sklearn_split_indices(y, DOCUMENT_TEST_SIZE, DOCUMENT_TEST_SIZE, DOCUMENT_RANDOM_STATE)
    if validation != "test":
        raise DataError(f"document_split: validation must be 'test' (the document's) or 'train', got {validation!r}")
    idx = sklearn_split_indices(y, 0.0, DOCUMENT_TEST_SIZE, DOCUMENT_RANDOM_STATE)
    return SplitIndices(train=idx.train, val=idx.test, test=idx.test, val_is_test=True)


def train_test_split(rows: np.ndarray, labels: np.ndarray, test_size: float, seed: int, stratify: bool,
                     option: str) -> tuple[np.ndarray, np.ndarray]:
    """``train_test_split(rows, test_size=test_size, random_state=seed, stratify=labels or None)``:
    ``(rows[train], rows[test])``; ``option`` names the fraction in error messages."""
    n = rows.shape[0]
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    if n_train <= 0 or n_test <= 0:
        raise DataError(f"split_indices: method='sklearn' splits {n} rows with test_size={test_size:g} ({option}) into "
                        f"{n_train} and {n_test}, and scikit-learn refuses an empty side; use more data or a smaller "
                        f"{option}")
    rng = np.random.RandomState(seed)
    if not stratify:
        perm = rng.permutation(n)
        return rows[perm[n_test:n_test + n_train]], rows[perm[:n_test]]
    classes, y_indices, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    y_indices = y_indices.reshape(-1)
    if class_counts.min() < 2:
        raise DataError(f"split_indices: stratified, method='sklearn': class {classes[class_counts.argmin()]!r} has only "
                        f"1 member among the {n} rows split by {option}, and scikit-learn needs 2; use stratify=False or "
                        "more data of that class")
    if n_train < len(classes) or n_test < len(classes):
        raise DataError(f"split_indices: stratified, method='sklearn': {option} splits {n} rows into {n_train} and "
                        f"{n_test}, fewer than the {len(classes)} classes; use stratify=False, another {option} or more data")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = approximate_mode(class_counts, n_train, rng)
    t_i = approximate_mode(class_counts - n_i, n_test, rng)
    train: list = []
    test: list = []
    for i in range(len(classes)):
        members = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(members[:n_i[i]])
        test.extend(members[n_i[i]:n_i[i] + t_i[i]])
    return rows[rng.permutation(train)], rows[rng.permutation(test)]


def approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """scikit-learn's ``_approximate_mode``: ``n_draws`` shared out in proportion to
    ``class_counts``, floored, the rest given to the largest remainders, ties drawn at random."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)
