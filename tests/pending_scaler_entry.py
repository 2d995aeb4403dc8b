"""PENDING, for the lead to move: a registry entry and its proof, kept out of the registry while its
owner restructures ``conformance/registry.py`` and ``tests/test_pitfalls.py``.

To merge: put ``ENTRY``'s ``_entry(...)`` into ``conformance/registry.py``'s step 1 (after
"std-convention"), move ``test_mlx_cpu_sequential_sum`` into ``tests/test_pitfalls.py`` (it uses
only names that file already has: ``demonstrates``, ``measured``, ``MD``, ``MDEV``,
``assert_close``, ``synthetic_dataset``, ``mx``, ``np``, ``torch``), delete this file and the
stand-ins below, and re-render the guide (``python -m conformance.guide``). The file name does not
match ``test_*.py``, so the default run does not collect it; run it with
``python -m pytest tests/pending_scaler_entry.py``.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import torch

from conformance.compare import assert_close
from conformance.data import synthetic_dataset
from conformance.registry import Measurement, _entry
from mlx_reference import data as MD, device as MDEV

ENTRY = _entry(
    "mlx-cpu-sequential-sum", step=1, seed_defect=False, kind="silent",
    title="MLX's CPU sums float32 in sequence: a mean over a million rows is wrong",
    mlx=("`mx.sum`, `mx.mean`, `mx.var` and `mx.std` along an axis on the CPU add the elements one after "
         "another in float32, so the error grows with the number of rows (each addition rounds at the size of "
         "the running sum). MLX's GPU backends reduce in a tree."),
    torch=("`torch.sum`, `mean`, `var` and `std` on the CPU sum in a cascade of blocks and on CUDA in a tree: "
           "the error grows like log n."),
    naive_failure=(
        "Standardizing with `(X - mx.mean(X, axis=0)) / mx.std(X, axis=0)` on the CLI's synthetic columns "
        "(`--synthetic`, float32) is off from float64 by {naive_1e3:.2g} at 1 000 rows, {naive_1e5:.2g} at "
        "100 000, {naive_1e6:.2g} at 1 000 000 and {naive_5e6:.2g} standardized units at 5 000 000 rows; the same "
        "two lines in torch by {torch_5e6:.2g} at 5 000 000."),
    fix=("Sum in blocks: `mlx_reference.data.column_sum` sums the rows 16 at a time and the block sums again "
         "(a tree of log_16 n levels, each error below 15 u), and `StandardScaler` shifts the columns by the first "
         "row, takes a two-pass variance and never rounds the mean: {fixed_5e6:.2g} at 5 000 000 rows, on every "
         "backend."),
    reference=("mlx_reference.data.column_sum", "mlx_reference.data.StandardScaler.fit",
               "reference_torch.data.column_sum"),
    measured=tuple(
        Measurement(key, value, how, rel=0.5) for key, value, how in (
            ("naive_1e3", 2.94e-05, "max |naive MLX z - float64 z| on the first 1 000 rows of "
             "synthetic_dataset(5 000 000, 2, seed=0) in float32, on the CPU; the order of magnitude is the "
             "point (the exact value follows the SIMD width of MLX's CPU reduction): +/- 50%"),
            ("naive_1e5", 6.88e-04, "the same on the first 100 000 rows"),
            ("naive_1e6", 0.325, "the same on the first 1 000 000 rows"),
            ("naive_5e6", 4.57, "the same on all 5 000 000 rows (column 1's mean is 3.5 spreads off)"),
            ("torch_5e6", 2.42e-06, "torch's (X - X.mean(0)) / X.std(0, correction=0) on the 5 000 000 rows"),
            ("fixed_5e6", 6.6e-07, "mlx_reference.data.StandardScaler on the 5 000 000 rows (float32 rounding "
             "level; the data entry allows 2e-5 + 1e-5 |z|)"),
        )),
)


# ---- stand-ins for tests/test_pitfalls.py's helpers (delete when moving) ----------------------

def demonstrates(entry_id: str):
    def decorate(fn):
        fn.entry_id = entry_id
        return fn
    return decorate


def measured(entry_id: str, key: str, observed) -> float:
    m = next(m for m in ENTRY.measured if m.key == key)
    value = float(observed)
    assert m.agrees(value), f"{entry_id}: {key} measures {value:.6g} now, the entry says {m.allowed()} ({m.how})"
    return value


# ---- the proof ----------------------------------------------------------------------------------

@demonstrates("mlx-cpu-sequential-sum")
def test_mlx_cpu_sequential_sum():
    X = synthetic_dataset(5_000_000, 2, seed=0).X.astype(np.float32)

    def exact(rows):  # float64, shifted by the first row so that its own sums see the spread only
        x = rows.astype(np.float64) - rows[0]
        return (x - x.mean(axis=0)) / x.std(axis=0)

    def naive(rows):
        a = mx.array(rows)
        return np.array((a - mx.mean(a, axis=0)) / mx.std(a, axis=0))

    errors, reference = {}, None
    with MDEV.use_device("cpu"):  # the sequential sums are the CPU backend's; the GPU reduces in a tree
        for n, key in ((1_000, "naive_1e3"), (100_000, "naive_1e5"), (1_000_000, "naive_1e6"), (5_000_000, "naive_5e6")):
            reference = exact(X[:n])
            errors[n] = measured("mlx-cpu-sequential-sum", key, np.abs(naive(X[:n]) - reference).max())
        fixed = MD.to_numpy(MD.StandardScaler().fit_transform(MD.to_array(X)))
    assert list(errors.values()) == sorted(errors.values()) and errors[5_000_000] > 1.0, (
        f"the naive MLX error no longer grows with n to whole standard deviations: {errors}")
    t = torch.as_tensor(X)
    measured("mlx-cpu-sequential-sum", "torch_5e6",
             np.abs(((t - t.mean(0)) / t.std(0, correction=0)).numpy() - reference).max())
    measured("mlx-cpu-sequential-sum", "fixed_5e6", np.abs(fixed - reference).max())
    # torch's StandardScaler at millions of rows: tests/test_anchor_scaler.py (-m slow)
    assert_close(fixed, reference, path="mlx_reference StandardScaler at 5 000 000 rows", kind="data", scale=0.0,
                 names=("mlx", "float64"))
