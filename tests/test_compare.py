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


def _edge_case(key):
    """The step, learning rate and scale an entry is judged at here: a growing entry at step 7."""
    kind, dtype, mode = key
    entry = table()[key]
    step = 7 if entry.growth else None
    lr = 1e-2 if entry.scale_of == "lr" else None
    scale = None if entry.scale_of == "lr" else 0.3 if entry.scale_of else None
    return entry, step, lr, scale


@pytest.mark.parametrize("key", sorted(table()), ids=lambda k: "-".join(k))
def test_every_entry_fails_just_outside_it(key):
    """Every entry of the table, as ``compare`` reads it (its own mode and dtype; a growing entry
    at step 7, a trajectory at lr 1e-2): 0.99x the allowance computed here from the entry's fields
    passes at every element, 1.01x at one element fails there. A loss or logits after 7 steps
    also carry the trajectory entry's drift of 7 steps, which is judged the same way."""
    kind, dtype, mode = key
    entry, step, lr, scale = _edge_case(key)
    expected = np.linspace(-2.0, 3.0, 12)
    size = scale if scale is not None else lr if lr is not None else float(np.abs(expected).max())
    f = 1.0 + entry.growth * ((step or 1) - 1)
    cases = [(step, lr, (entry.atol + entry.atol_scale * size) * f + entry.rtol * np.abs(expected))]
    if kind in ("loss", "forward") and dtype == "float32":
        drift = table()[("trajectory", dtype, mode)]
        cases.append((7, 1e-2, entry.atol + entry.atol_scale * size + entry.rtol * np.abs(expected)
                      + (drift.atol + drift.atol_scale * 1e-2) * (1 + drift.growth * 6)))
    for at, rate, allow in cases:
        common = dict(path="x", kind=kind, dtype=dtype, mode=mode, step=at, lr=rate, scale=scale)
        ok = compare(expected + 0.99 * allow, expected, **common)
        assert ok.passed, ok.message()
        actual = expected + 0.99 * allow
        actual[5] = expected[5] + 1.01 * allow[5]
        bad = compare(actual, expected, **common)
        assert not bad.passed and bad.worst_index == (5,) and bad.n_mismatched == 1, (key, at, bad.message())


@pytest.mark.parametrize("mode, per_step", [("ieee", 1e-8 / 1e-2 + 4e-5 + 1e-5), ("tf32", 1e-8 / 1e-2 + 4.4e-3 + 1e-5)])
@pytest.mark.parametrize("factor, passes", [(0.99, True), (1.01, False)])
def test_trajectory_entry_is_a_systematic_update_difference(mode, per_step, factor, passes):
    """The trajectory entries pinned to what they mean, not to their own fields: parameters after
    k Adam steps whose every update is f relative larger than the reference's. With a constant
    gradient every exact update is lr |g| / (|g| + eps), so from 0 the two part by k lr f after k
    steps; an entry of (rtol, atol, atol_scale x lr, growth 1) allows k (atol + atol_scale lr) +
    rtol k lr, that is f up to atol / lr + atol_scale + rtol: in IEEE mode 1e-6 + 4e-5 + 1e-5 at
    lr 1e-2 (five times update_rtol, the systematic difference the local rules accept; the
    measured MLX-torch drift used 0.18 of it), in TF32 1e-6 + 4.4e-3 + 1e-5. 0.99x that passes at
    step 50 and 1.01x fails: an entry loosened (or its growth steepened) fails here."""
    lr, k = 1e-2, 50
    g = np.array([0.3, -1.7, 2e-3, 40.0])
    p = {"ref": np.zeros_like(g), "cand": np.zeros_like(g)}
    m, v = np.zeros_like(g), np.zeros_like(g)
    for t in range(1, k + 1):  # Adam from its formula, in float64
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g ** 2
        update = (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        p["ref"] = p["ref"] - lr * update
        p["cand"] = p["cand"] - lr * (1 + factor * per_step) * update
    check = compare(p["cand"], p["ref"], path="weights after 50 steps", kind="trajectory", mode=mode, step=k, lr=lr)
    assert check.passed is passes, check.message()
