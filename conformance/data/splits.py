"""Seeded train/validation/test splits and per-epoch shuffle orders, drawn once in numpy.

Two ways to draw a split: the project's own (``split_indices(..., method="project")``, numpy's
``default_rng``) and scikit-learn's ``train_test_split`` rows exactly (``method="sklearn"``, in
``sklearn_split``, with the seed document's own split, ``document_split``).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .datasets import Dataset
from .errors import DataError, _check_int, _error, _fmt_number
from .indices import SplitIndices, _check_fraction
from .sklearn_split import sklearn_split_indices


def _count(fraction: float, n: int) -> int:
    """``ceil(fraction * n)`` (as scikit-learn sizes a test set), at least 1 when ``fraction > 0``.

    A product within 1e-9 (relative) of an integer counts as that integer, so that e.g.
    ``0.07 * 100 = 7.000000000000001`` gives 7, not 8.
    """
    if fraction == 0.0 or n == 0:
        return 0
    product = fraction * n
    nearest = round(product)
    count = nearest if abs(product - nearest) <= 1e-9 * max(1.0, product) else math.ceil(product)
    return max(1, int(count))


def split_sizes(n: int, val_fraction: float = 0.2, test_fraction: float = 0.2) -> tuple[int, int, int]:
    """``(n_train, n_val, n_test)`` for ``n`` samples; raises :class:`DataError` if infeasible.

    ``n_test = ceil(test_fraction * n)`` and ``n_val = ceil(val_fraction * n)`` (0 for a zero
    fraction), ``n_train`` is the rest; train must get at least one sample.
    """
    n = _check_int("split_indices", "n", n, minimum=0)
    val = _check_fraction("val_fraction", val_fraction)
    test = _check_fraction("test_fraction", test_fraction)
    if val + test >= 1.0:
        raise DataError(f"split_indices: val_fraction + test_fraction = {val + test:g} leaves nothing to train on; "
                        "make their sum less than 1")
    n_test, n_val = _count(test, n), _count(val, n)
    n_train = n - n_test - n_val
    if n_train < 1:
        need = next((m for m in range(n + 1, n + 10**6) if m - _count(test, m) - _count(val, m) >= 1), None)
        needed = f"at least {need}" if need is not None else "many more"
        raise DataError(
            f"split_indices: {n} samples are too few for val_fraction={val_fraction}, test_fraction={test_fraction} "
            f"({n_test} test + {n_val} val leave {max(n_train, 0)} for training; the split needs {needed} samples); "
            "use more data or smaller (or zero) val/test fractions")
    return n_train, n_val, n_test


METHODS = ("project", "sklearn")


def split_indices(
    y: np.ndarray,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratify: bool = False,
    method: str = "project",
) -> SplitIndices:
    """Seeded train/validation/test indices for labels ``y``, drawn once in numpy.

    ``method="sklearn"``: scikit-learn's ``train_test_split`` rows exactly, for
    ``random_state=seed`` (:func:`sklearn_split_indices`). ``method="project"`` (the default),
    described here: sizes come from :func:`split_sizes` (5 samples with the defaults: 3 / 1 / 1).
    Unstratified: ``perm = np.random.default_rng(seed).permutation(n)``; test is ``perm[:n_test]``, val the next
    ``n_val`` and train the rest. Stratified: the split sizes are the same; each class's share of
    each split is proportional to its size (rounded so that every class and every split total is
    exact, each count within one of its proportional share), with at least one sample of every
    class in every non-empty split, which needs every class to have at least one member per split
    and every split to have room for every class (else :class:`DataError`). The same rng then
    permutes each class's indices (classes in sorted order), deals them out test, val, train, and
    finally permutes each split's indices (test, val, train) so that the classes are interleaved.
    """
    if method not in METHODS:
        raise DataError(f"split_indices: method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "sklearn":
        return sklearn_split_indices(y, val_fraction, test_fraction, seed, stratify)
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise DataError(f"split_indices: y must be 1-D (one label per sample), got shape {labels.shape}; pass y")
    n = int(labels.shape[0])
    n_train, n_val, n_test = split_sizes(n, val_fraction, test_fraction)
    seed = _check_int("split_indices", "seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    if not stratify:
        perm = rng.permutation(n).astype(np.int64)
        return SplitIndices(train=perm[n_test + n_val:], val=perm[n_test:n_test + n_val], test=perm[:n_test])

    classes, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=len(classes))
    split_names = ("test", "val", "train")
    sizes = (n_test, n_val, n_train)
    active = [s for s in range(3) if sizes[s] > 0]
    for c, count in enumerate(counts):
        if count < len(active):
            raise DataError(
                f"split_indices: stratify=True puts every class in each of the {len(active)} splits "
                f"({', '.join(split_names[s] for s in active)}), but class {_label_text(classes[c])} has only {count} "
                f"sample(s); use stratify=False, a zero val/test fraction, or more data of that class")
    for s in active:
        if sizes[s] < len(classes):
            raise DataError(
                f"split_indices: stratify=True puts all {len(classes)} classes in every split, but the "
                f"{split_names[s]} split has only {sizes[s]} of the {n} samples; use stratify=False, a larger "
                f"{split_names[s]} fraction, or more data")
    allocation = _allocate([int(c) for c in counts], [sizes[s] for s in active])
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        members = members[rng.permutation(members.size)]
        start = 0
        for slot, s in enumerate(active):
            take = allocation[c][slot]
            parts[s].append(members[start:start + take])
            start += take
    shuffled = []
    for s in range(3):  # test, val, train
        joined = np.concatenate(parts[s]).astype(np.int64) if parts[s] else np.empty(0, dtype=np.int64)
        shuffled.append(joined[rng.permutation(joined.size)])
    test, val, train = shuffled
    return SplitIndices(train=train, val=val, test=test)


def _label_text(label: Any) -> str:
    """A class label for a message: numbers as written by hand, anything else quoted."""
    value = label.item() if isinstance(label, np.generic) else label
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _fmt_number(float(value))
    return repr(value)


def _allocate(counts: list[int], sizes: list[int]) -> list[list[int]]:
    """An integer matrix with row sums ``counts`` and column sums ``sizes``, near proportional.

    Each cell starts at the floor of its share ``counts[c] * sizes[s] / n``; the rows' missing
    units are then placed greedily, row by row, in the columns still missing the most (Ryser's
    construction, which always succeeds here because the fractional parts form a feasible
    transportation problem), preferring larger fractional parts. So every cell is within one of
    its share. Finally every zero cell is raised to one by a 2x2 exchange that keeps all sums
    (possible because every row sum is at least the number of columns and every column sum at
    least the number of rows).
    """
    n = sum(counts)
    rows, cols = len(counts), len(sizes)
    share = [[counts[c] * sizes[s] for s in range(cols)] for c in range(rows)]  # times n, exact
    alloc = [[share[c][s] // n for s in range(cols)] for c in range(rows)]
    col_need = [sizes[s] - sum(alloc[c][s] for c in range(rows)) for s in range(cols)]
    for c in range(rows):
        row_need = counts[c] - sum(alloc[c])
        order = sorted(range(cols), key=lambda s: (-col_need[s], -(share[c][s] % n), s))
        for s in order[:row_need]:
            if col_need[s] <= 0:  # impossible by Ryser's theorem; guard against a logic error
                raise RuntimeError("stratified split allocation failed")
            alloc[c][s] += 1
            col_need[s] -= 1
    if any(col_need):
        raise RuntimeError("stratified split allocation failed")

    def surplus(c: int, s: int) -> int:
        return alloc[c][s] * n - share[c][s]

    for c in range(rows):
        for s in range(cols):
            while alloc[c][s] == 0:
                s2 = max((t for t in range(cols) if alloc[c][t] >= 2), key=lambda t: (surplus(c, t), -t))
                c2 = max((d for d in range(rows) if alloc[d][s] >= 2), key=lambda d: (surplus(d, s), -d))
                alloc[c][s] += 1
                alloc[c][s2] -= 1
                alloc[c2][s] -= 1
                alloc[c2][s2] += 1
    return alloc


def apply_split(dataset: Dataset, idx: SplitIndices) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (X, y), "val": (X, y), "test": (X, y)}``: float64 copies, rows in index order
    (with ``idx.val_is_test``, "val" holds copies of the test rows)."""
    n = dataset.n_samples
    everything = np.concatenate([idx.train, idx.test] if idx.val_is_test else [idx.train, idx.val, idx.test])
    if everything.size != n or not np.array_equal(np.sort(everything), np.arange(n)):
        raise _error(dataset.source, f"the split indices do not partition the {n} rows (they cover "
                     f"{everything.size} indices)", "build them with split_indices(dataset.y, ...) for this dataset")
    return {
        name: (np.array(dataset.X[rows], dtype=np.float64), np.array(dataset.y[rows], dtype=np.float64))
        for name, rows in (("train", idx.train), ("val", idx.val), ("test", idx.test))
    }


def epoch_orders(n: int, seed: int) -> Iterator[np.ndarray]:
    """The minibatch order of each epoch, one epoch at a time: ``rng.permutation(n)`` per epoch,
    ``rng = np.random.default_rng(seed)``. Both frameworks' ``fit`` draw exactly these orders, so
    their minibatches are identical; lazily, a run of any length holds one order at a time."""
    n = _check_int("shuffle_orders", "n", n, minimum=1)
    seed = _check_int("shuffle_orders", "seed", seed, minimum=0)
    rng = np.random.default_rng(seed)

    def orders() -> Iterator[np.ndarray]:
        while True:
            yield rng.permutation(n).astype(np.int64)
    return orders()


def shuffle_orders(n: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The first ``epochs`` orders of :func:`epoch_orders`."""
    orders = epoch_orders(n, seed)
    epochs = _check_int("shuffle_orders", "epochs", epochs, minimum=0)
    return [next(orders) for _ in range(epochs)]
