"""The comparison and the tolerance table themselves: what a failure message says, how NaN,
infinity, shapes and missing keys are judged, and that every table entry is complete."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.compare import assert_close, compare, compare_tree, unobserved
from conformance.tolerances import DTYPES, KINDS, MODES, table, tolerance


def test_failure_message_points_at_the_element():
    a = np.zeros((3, 4), np.float32)
    e = a.copy()
    a[2, 1], a[0, 0] = 1e-3, 1e-9
    check = compare(a, e, path="epoch 37 / grads / fc1.weight", kind="gradient", scale=1.0, reproduce="pytest -k x",
                    exact=lambda: e)
    assert not check.passed and check.n_mismatched == 1 and check.worst_index == (2, 1)
    msg = check.message()
    for part in ("epoch 37 / grads / fc1.weight: MISMATCH", "1/12 (8.3%)", "worst fc1.weight[2, 1]",
                 "mlx=0.0010000000474974513 torch=0.0", "abs err 1.000e-03", "allowed |mlx - torch| <=",
                 "against float64 (CPU)", "torch is closer", "reproduce: pytest -k x"):
        assert part in msg, f"{part!r} not in {msg!r}"


def test_nan_and_infinity():
    nan, inf = float("nan"), float("inf")
    assert compare([nan, inf, -inf, 1.0], [nan, inf, -inf, 1.0], path="x", kind="loss").passed
    for a, b in (([nan], [1.0]), ([1.0], [nan]), ([inf], [-inf]), ([inf], [1.0])):
        check = compare(a, b, path="x", kind="loss")
        assert not check.passed, (a, b)


def test_shape_and_key_problems():
    check = compare(np.zeros((4, 1)), np.zeros(4), path="logits", kind="forward")
    assert not check.passed and "shape (4, 1) from mlx but (4,) from torch" in check.message()
    checks = compare_tree({"a": np.zeros(2)}, {"a": np.zeros(2), "b": np.zeros(1)}, path="grads", kind="decision")
    assert [c.passed for c in checks] == [True, False] and "present in torch only" in checks[1].message()


def test_assert_close_raises_with_the_message():
    with unobserved(), pytest.raises(AssertionError, match=r"loss: MISMATCH: 1/1 .* rel err 1.000e-02"):
        assert_close(1.01, 1.0, path="loss", kind="loss")


def test_trajectories_need_the_learning_rate():
    with pytest.raises(ValueError, match="needs scale="):
        compare(np.zeros(2), np.zeros(2), path="w", kind="trajectory", step=3)
    with pytest.raises(ValueError, match="needs the learning rate"):
        tolerance("loss", step=3)
    t1, t10 = tolerance("trajectory", step=1), tolerance("trajectory", step=10)
    assert t10.atol_scale == pytest.approx(10 * t1.atol_scale) and t10.rtol == t1.rtol


def test_every_entry_is_complete():
    """Every (kind, dtype, mode) the suite uses has an entry with rtol, atol and a reason; TF32
    entries are at least as wide as IEEE ones; exact kinds are exact."""
    entries = table()
    for (kind, dtype, mode), tol in entries.items():
        assert kind in KINDS and dtype in DTYPES and mode in MODES, (kind, dtype, mode)
        assert tol.rtol >= 0 and tol.atol >= 0 and tol.atol_scale >= 0, (kind, dtype, mode)
        assert len(tol.reason) > 40, f"{kind}/{dtype}/{mode}: the reason says too little: {tol.reason!r}"
    for kind in ("data", "forward", "loss", "gradient", "optimizer_state", "trajectory", "metric"):
        ieee, tf32 = tolerance(kind, "float32", "ieee"), tolerance(kind, "float32", "tf32")
        assert (tf32.rtol, tf32.atol, tf32.atol_scale) >= (ieee.rtol, ieee.atol, ieee.atol_scale) or \
            (tf32.rtol >= ieee.rtol and tf32.atol_scale >= ieee.atol_scale), kind
    for kind in ("forward", "loss", "gradient"):
        for dtype in ("bfloat16", "float16"):
            assert tolerance(kind, dtype, "tf32") == tolerance(kind, dtype, "ieee")
    assert (tolerance("decision").rtol, tolerance("decision").atol) == (0.0, 0.0)
