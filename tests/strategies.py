"""Hypothesis strategies of the suite, kept in one place and kept small (the suite runs in well
under two minutes): shapes, data, weights, gradient sequences, metric sequences, settings."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.weights import init_weights

seeds = st.integers(0, 2**16)


@st.composite
def model_case(draw, max_n: int = 48, max_in: int = 6, max_hidden: int = 24):
    """``(X, y, weights)``: a batch of 1..max_n samples with 1..max_in features (values within
    +-8, float32) and 0/1 labels, and SimpleNN weights of hidden width 1..max_hidden, PyTorch's
    initialization scaled by 1/4..4."""
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_in))
    h = draw(st.integers(1, max_hidden))
    X = draw(hnp.arrays(np.float32, (n, d), elements=st.floats(-8, 8, width=32, allow_subnormal=False)))
    y = draw(hnp.arrays(np.float32, (n,), elements=st.sampled_from([0.0, 1.0])))
    w_scale = draw(st.sampled_from([0.25, 1.0, 4.0]))
    w = {k: (v * w_scale).astype(np.float32) for k, v in init_weights(d, h, draw(seeds)).items()}
    return X, y, w


@st.composite
def scaler_case(draw):
    """``(train, val)`` columns of 2..64 rows, each column with its own offset (|offset| up to
    1e3) and spread (1e-2..1e2). Constant and near-constant columns, offsets up to 1e6 spreads and
    millions of rows: ``scaler_columns`` (tests/test_anchor_scaler.py)."""
    n = draw(st.integers(2, 64))
    d = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(seeds))
    offsets = np.array([draw(st.floats(-1e3, 1e3)) for _ in range(d)])
    spreads = np.array([draw(st.sampled_from([1e-2, 1.0, 30.0, 1e2])) for _ in range(d)])
    train = (rng.standard_normal((n, d)) * spreads + offsets).astype(np.float32)
    val = (rng.standard_normal((5, d)) * spreads + offsets).astype(np.float32)
    return train, val


metric_sequences = st.lists(st.sampled_from([1.0, 0.99995, 0.9, 0.8, 0.7, 0.5, 0.45, 0.3]) |
                            st.floats(0.0, 2.0, allow_nan=False), min_size=1, max_size=30)

plateau_options = st.fixed_dictionaries({}, optional={
    "mode": st.sampled_from(["min", "max"]),
    "factor": st.sampled_from([0.1, 0.5, 0.9]),
    "patience": st.integers(0, 4),
    "threshold": st.sampled_from([0.0, 1e-4, 0.05]),
    "threshold_mode": st.sampled_from(["rel", "abs"]),
    "cooldown": st.integers(0, 3),
    "min_lr": st.sampled_from([0.0, 1e-4, 5e-4]),
    "eps": st.sampled_from([1e-8, 1e-4]),
})

val_losses = st.lists(st.sampled_from([1.0, 0.9, 0.875, 0.8, 0.75, 0.7, 0.6, float("nan")]) | st.floats(0, 2),
                      min_size=1, max_size=25)


@st.composite
def classification_case(draw):
    """Logits on a grid of quarters (so float32 and float64 agree on their sign; 0 included) and labels."""
    n = draw(st.integers(1, 60))
    logits = np.array(draw(st.lists(st.integers(-12, 12), min_size=n, max_size=n)), np.float32) / 4
    labels = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)), np.float32)
    return logits, labels


@st.composite
def lockstep_case(draw):
    """A short training run: 6..64 synthetic samples, hidden 1..16, full batch or minibatches of
    4..n, 1..3 epochs, lr 1e-3 (the budgets' regime), any seed."""
    n = draw(st.integers(6, 64))
    hidden = draw(st.integers(1, 16))
    batch = draw(st.none() | st.integers(4, n))
    return dict(n=n, hidden=hidden, batch_size=batch, epochs=draw(st.integers(1, 3)), seed=draw(st.integers(0, 999)))


COLUMN_KINDS = ("spread", "constant", "near-constant", "discrete")


@st.composite
def scaler_columns(draw, min_n: int = 1, max_n: int = 200, dtypes=("float32", "float64")):
    """``(train, val, kinds)`` for the scaler's anchor (scikit-learn): ``n`` training rows
    (``min_n..max_n``), 5 validation rows, 1..4 columns in one numpy ``dtype``, each column of
    one kind (``COLUMN_KINDS``): Gaussian "spread"; "constant"; "near-constant" (the constant
    plus -2..2 units in the last place of the dtype); "discrete" (three values, many ties). Each
    column's spread is 1e-6..1e6 and its offset 0 or up to 1e6 times the spread, of either sign."""
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(1, 4))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    rng = np.random.default_rng(draw(seeds))
    kinds = [draw(st.sampled_from(COLUMN_KINDS)) for _ in range(d)]
    cols = []
    for kind in kinds:
        std = 10.0 ** draw(st.floats(-6, 6))
        ratio = draw(st.just(0.0) | st.sampled_from([1.0, 1e6]) | st.floats(-1, 6).map(lambda e: 10.0 ** e))
        offset = ratio * std * draw(st.sampled_from([-1.0, 1.0]))
        m = n + 5
        if kind == "spread":
            col = offset + std * rng.standard_normal(m)
        elif kind == "discrete":
            col = offset + std * rng.integers(0, 3, m)
        else:
            base = dtype.type(offset if offset else std)
            col = np.full(m, base, dtype=dtype)
            if kind == "near-constant":
                col = col + rng.integers(-2, 3, m).astype(dtype) * abs(np.spacing(base))
        cols.append(np.asarray(col).astype(dtype))
    X = np.column_stack(cols)
    return X[:n], X[n:], kinds


# the next metric, relative to the scheduler's threshold (the value that just fails to improve):
# one ulp better, on it, one ulp worse; a fresh value (negative ones too); the last value again;
# NaN; +-inf
PLATEAU_MOVES = st.one_of(st.sampled_from([("boundary", -1), ("boundary", 0), ("boundary", 1), ("repeat", 0),
                                           ("nan", 0), ("inf", 1), ("inf", -1)]),
                          st.tuples(st.just("fresh"), st.floats(-2.0, 2.0, allow_nan=False)))

plateau_settings = st.fixed_dictionaries({
    "mode": st.sampled_from(["min", "max"]),
    "factor": st.sampled_from([0.1, 0.5]) | st.floats(0.01, 0.99),
    "patience": st.integers(0, 4),
    "threshold": st.sampled_from([0.0, 1e-4]) | st.floats(0.0, 0.5),
    "threshold_mode": st.sampled_from(["rel", "abs"]),
    "cooldown": st.integers(0, 3),
    "min_lr": st.sampled_from([0.0, 1e-5, 1e-4, 2e-3]),
    "eps": st.sampled_from([0.0, 1e-8, 1e-4]),
})


@st.composite
def early_stopping_run(draw):
    """A short, noisy training run for ``fit``'s early stopping: 12..24 synthetic samples (half
    validation), hidden 2..12, lr 0.01..0.2 (large, so the validation loss turns), full batch or
    minibatches, up to 20 epochs, and the stopping options."""
    return dict(n=draw(st.integers(12, 24)), hidden=draw(st.integers(2, 12)),
                lr=draw(st.sampled_from([0.01, 0.05, 0.2])), batch_size=draw(st.none() | st.integers(4, 12)),
                epochs=draw(st.integers(1, 20)), patience=draw(st.none() | st.integers(1, 5)),
                min_delta=draw(st.sampled_from([0.0, 1e-3, 0.05])), restore_best=draw(st.booleans()),
                seed=draw(st.integers(0, 999)))
