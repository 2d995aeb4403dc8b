"""The proofs of the registry's entries on preparing the data: one test per entry (see ``helpers``)."""

from __future__ import annotations

import math
import re

import mlx.core as mx
import numpy as np
import pytest
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import torch

from conformance.compare import assert_close, compare
from conformance.data import split_indices, synthetic_dataset
from conformance.tolerances import data_scale
from mlx_reference import data as MD, device as MDEV
from reference_torch import data as TD
from .helpers import demonstrates, m_, measured, run_seed, seed_rows, torch_model


@demonstrates("seed-scaler-before-split")
def test_seed_scaler_before_split():
    ns = run_seed(1)
    X_train, X_test, y_train, _ = seed_rows()
    np.testing.assert_array_equal(np.array(ns["y_train"]), y_train)  # the same rows as the seed's split
    fair = StandardScaler().fit(X_train)
    test_shift = np.abs(np.array(ns["X_test"]) - fair.transform(X_test)).max()
    train_shift = np.abs(np.array(ns["X_train"]) - fair.transform(X_train)).max()
    measured("seed-scaler-before-split", "test_shift", test_shift)
    measured("seed-scaler-before-split", "train_shift", train_shift)
    scale = data_scale(X_train)
    assert not compare(np.array(ns["X_test"]), fair.transform(X_test), path="seed X_test", kind="data",
                       scale=scale).passed

    for pkg, name in ((MD, "mlx"), (TD, "torch")):
        scaler = pkg.StandardScaler().fit(pkg.to_array(X_train))
        assert_close(pkg.to_numpy(scaler.transform(pkg.to_array(X_test))), fair.transform(X_test),
                     path=f"{name} StandardScaler fit on train: X_test", kind="data", scale=scale,
                     names=(name, "sklearn"))


@demonstrates("seed-five-samples-one-test")
def test_seed_five_samples_one_test():
    ns = run_seed(1)
    assert (ns["X_train"].shape[0], ns["X_test"].shape[0]) == (4, 1)
    assert not [k for k in ns if re.search(r"(^|_)val", k, re.IGNORECASE)], "the seed has no validation set"
    y_test = np.array(ns["y_test"])
    assert {accuracy_score(y_test, [p]) for p in (0, 1)} == {0.0, 1.0}
    with pytest.raises(ValueError, match="number of classes"):
        train_test_split(ns["X_scaled"], ns["y"], test_size=0.2, random_state=42, stratify=ns["y"])

    idx = split_indices(ns["y"].astype(np.float64))
    assert (len(idx.train), len(idx.val), len(idx.test)) == (3, 1, 1)
    assert sorted(np.concatenate([idx.train, idx.val, idx.test]).tolist()) == list(range(5))
    syn = synthetic_dataset(200)
    strat = split_indices(syn.y, stratify=True)
    for rows in (strat.train, strat.val, strat.test):
        assert set(syn.y[rows].tolist()) == {0.0, 1.0}


@demonstrates("float64-silently-float32")
def test_float64_silently_float32():
    ns = run_seed(1)
    X_train64 = train_test_split(ns["X_scaled"], ns["y"], test_size=0.2, random_state=42)[0]
    assert X_train64.dtype == np.float64 and ns["X_train"].dtype == mx.float32
    rounding = np.abs(np.array(ns["X_train"]).astype(np.float64) - X_train64).max()
    measured("float64-silently-float32", "rounding", rounding)
    assert rounding > 0
    widened = mx.array(X_train64).astype(mx.float64)  # casting afterwards does not bring the digits back
    assert np.abs(np.array(widened) - X_train64).max() == rounding
    t = torch.tensor(X_train64)
    assert t.dtype == torch.float64
    with pytest.raises(RuntimeError, match="same dtype"):
        torch_model()(t)

    a, b = MD.to_array(X_train64, "float32"), TD.to_array(X_train64, "float32")
    assert a.dtype == mx.float32 and b.dtype == torch.float32
    np.testing.assert_array_equal(MD.to_numpy(a), TD.to_numpy(b))
    with MDEV.use_device("cpu"):
        exact = mx.array(X_train64, dtype=mx.float64)
        assert exact.dtype == mx.float64
        np.testing.assert_array_equal(np.array(exact), X_train64)


@demonstrates("std-convention")
def test_std_convention():
    X_train = seed_rows()[0]
    sk = StandardScaler().fit(X_train)
    t = torch.tensor(X_train)
    ratio = (t.std(0) / torch.tensor(sk.scale_)).max().item()
    measured("std-convention", "scale_ratio", ratio)
    n = X_train.shape[0]
    assert ratio == pytest.approx(math.sqrt(n / (n - 1)), rel=1e-12)
    naive = ((t - t.mean(0)) / t.std(0)).numpy()
    measured("std-convention", "standardized_gap", np.abs(naive - sk.transform(X_train)).max())
    scale = data_scale(X_train)
    assert_close(np.array(mx.std(m_(X_train), axis=0)), sk.scale_, path="mx.std default", kind="data", scale=scale,
                 names=("mlx", "sklearn"))

    for pkg, name in ((MD, "mlx"), (TD, "torch")):
        scaler = pkg.StandardScaler().fit(pkg.to_array(X_train))
        assert_close(pkg.to_numpy(scaler.scale_), sk.scale_, path=f"{name} scale_", kind="data", scale=scale,
                     names=(name, "sklearn"))
        assert_close(pkg.to_numpy(scaler.transform(pkg.to_array(X_train))), sk.transform(X_train),
                     path=f"{name} standardized", kind="data", scale=scale, names=(name, "sklearn"))




@demonstrates("python-int-int32")
def test_python_int_int32():
    assert mx.array(3).dtype == mx.int32 and mx.arange(5).dtype == mx.int32 and mx.array([1, 2]).dtype == mx.int32
    assert torch.tensor(3).dtype == torch.int64 and torch.arange(5).dtype == torch.int64
    row, n_cols, col = 49_999, 50_000, 49_999  # the last element of a 50 000 x 50 000 table, flattened
    naive = mx.array(row) * n_cols + col
    assert naive.dtype == mx.int32
    measured("python-int-int32", "wrapped_index", naive.item())
    expected = (torch.tensor(row) * n_cols + col).item()
    assert expected == row * n_cols + col

    fixed = mx.array(row, dtype=mx.int64) * n_cols + col
    assert_close(fixed.item(), expected, path="flat index in int64", kind="decision")
    from_numpy = mx.array(np.array([row])) * n_cols + col  # numpy's int64 stays int64
    assert_close(from_numpy.item(), expected, path="flat index from numpy int64", kind="decision")


@demonstrates("mlx-cpu-sequential-sum")
def test_mlx_cpu_sequential_sum():
    X = synthetic_dataset(1_000_000, 2, seed=0).X.astype(np.float32)

    def exact(rows):  # float64, shifted by the first row so that its own sums see the spread only
        x = rows.astype(np.float64) - rows[0]
        return (x - x.mean(axis=0)) / x.std(axis=0)

    def naive(rows):
        a = mx.array(rows)
        return np.array((a - mx.mean(a, axis=0)) / mx.std(a, axis=0))

    err = lambda n: np.abs(naive(X[:n]) - exact(X[:n])).max()  # noqa: E731
    with MDEV.use_device("cpu"):  # the sequential sums are the CPU backend's; the GPU reduces in a tree
        errors = {1_000: measured("mlx-cpu-sequential-sum", "naive_1e3", err(1_000)),
                  100_000: measured("mlx-cpu-sequential-sum", "naive_1e5", err(100_000)),
                  1_000_000: measured("mlx-cpu-sequential-sum", "naive_1e6", err(1_000_000))}
        fixed = MD.to_numpy(MD.StandardScaler().fit_transform(MD.to_array(X)))
    reference = exact(X)
    assert list(errors.values()) == sorted(errors.values()) and errors[1_000_000] > 0.1, (
        f"the naive MLX error no longer grows with n towards whole standard deviations: {errors}")
    t = torch.as_tensor(X)
    measured("mlx-cpu-sequential-sum", "torch_1e6",
             np.abs(((t - t.mean(0)) / t.std(0, correction=0)).numpy() - reference).max())
    measured("mlx-cpu-sequential-sum", "fixed_1e6", np.abs(fixed - reference).max())
    assert_close(fixed, reference, path="mlx_reference StandardScaler at 1 000 000 rows", kind="data", scale=0.0,
                 names=("mlx", "float64"))
