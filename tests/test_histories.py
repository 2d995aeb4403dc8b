"""The verdict's history checks (``conformance.histories``) tested as a product: the epoch
loss's budget is the rounding of the float32 sum the loops compute (covering it, from below) and
no more (its terms recomputed here, and 1.01x of it fails); a learning-rate or validation-loss
history one epoch off fails at the epoch where it differs, naming the step; a loop that took
other steps than its batches make is a failed check, never a silent pass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conformance.histories import batch_sizes, epoch_loss, judge_histories
from conformance.ledger import Ledger
from conformance.tolerances import step_rounding


def _float32_epoch_loss(losses, sizes):
    """The loops' own arithmetic: total = total + loss * |b| in float32, then total / n."""
    total = np.float32(0.0)
    for loss, size in zip(losses, sizes):
        total = np.float32(total + np.float32(np.float32(loss) * np.float32(size)))
    return float(np.float32(total / np.float32(sum(sizes))))


def test_batch_sizes_are_the_loops():
    assert batch_sizes(10, 4) == [4, 4, 2] and batch_sizes(10, None) == [10] and batch_sizes(10, 10) == [10]
    assert batch_sizes(10, 25) == [10] and batch_sizes(12, 4) == [4, 4, 4]


@pytest.mark.parametrize("n, b", [(10, 4), (1000, 7), (5, None)])
def test_epoch_loss_bound_covers_the_float32_sum_and_is_its_formula(n, b):
    """From below: 300 epochs of random float32 losses summed as the loops sum them stay within
    the bound. From above: the bound is (u + u min(k, 4 sqrt k)) sum_b |b L_b| / n + u |mean| +
    (k + 2) eta, recomputed here; a term multiplied by the batch count or the rows is caught."""
    sizes = batch_sizes(n, b)
    k, u, eta = len(sizes), step_rounding("ieee").u, step_rounding("ieee").eta
    rng = np.random.default_rng(k)
    losses = np.float32(np.exp(rng.normal(size=(300, k)) * 2)).astype(np.float64)
    exact, bound = epoch_loss(losses.reshape(-1), sizes)
    got = np.array([_float32_epoch_loss(row, sizes) for row in losses])
    assert np.all(np.abs(got - exact) <= bound), float(np.max(np.abs(got - exact) / bound))
    for e in (0, 299):
        size = sum(s * abs(x) for s, x in zip(sizes, losses[e])) / n
        mean = sum(s * x for s, x in zip(sizes, losses[e])) / n
        want = (u + u * min(k, 4 * math.sqrt(k))) * size + u * abs(mean) + (k + 2) * eta
        assert bound[e] == pytest.approx(want, rel=1e-12) and exact[e] == pytest.approx(mean, rel=1e-12), (e, bound[e], want)


def _history(losses, sizes, lrs_per_epoch, val=None):
    exact, bound = epoch_loss(losses, sizes)
    epochs = len(exact)
    return {"epoch": list(range(1, epochs + 1)), "train_loss": list(exact), "lr": list(lrs_per_epoch),
            "val_loss": list(val if val is not None else np.linspace(1.0, 0.5, epochs))}, bound


def _failed(ledger):
    return {c.path: c for c in ledger.checks() if not c.passed}


@pytest.mark.parametrize("factor, passes", [(0.99, True), (1.01, False)])
def test_epoch_loss_fails_just_outside_its_bound(factor, passes):
    sizes = batch_sizes(10, 4)
    rng = np.random.default_rng(3)
    losses = rng.uniform(0.2, 0.9, size=5 * len(sizes))
    lrs = [1e-2] * 5
    history, bound = _history(losses, sizes, lrs)
    history["train_loss"][3] += factor * bound[3]
    led = Ledger()
    judge_histories(led, "mlx", "local", history, losses, np.repeat(lrs, len(sizes)), sizes, history["val_loss"])
    failed = _failed(led)
    assert (not failed) is passes, sorted(failed)
    if not passes:
        (check,) = failed.values()
        assert check.path.startswith("6 local / mlx's epoch training loss") and check.step == 4 * len(sizes), check.path


def test_a_plain_mean_of_the_batch_losses_fails():
    sizes = batch_sizes(10, 4)
    losses = np.array([0.5, 0.6, 0.9] * 3)
    history, _ = _history(losses, sizes, [1e-3] * 3)
    history["train_loss"] = list(losses.reshape(3, 3).mean(axis=1))
    led = Ledger()
    judge_histories(led, "torch", "anchor", history, losses, [1e-3] * 9, sizes)
    assert sorted(_failed(led)) == ["6 anchor / torch's epoch training loss (its steps' losses weighted by batch size)"]


@pytest.mark.parametrize("shift", ["late", "early"])
def test_a_history_one_epoch_off_fails_where_it_differs(shift):
    """The rate fell after epoch 3 (the steps of epoch 4 applied 1e-3): a history that says it fell
    an epoch later, or earlier, fails at epoch 4's (or 3's) last step; a shifted validation-loss
    history fails too."""
    sizes = batch_sizes(12, 4)
    applied = [1e-2] * 3 + [1e-3] * 3
    losses = np.full(6 * len(sizes), 0.4)
    steps = np.repeat(applied, len(sizes))
    recorded = applied[:1] + applied[:-1] if shift == "late" else applied[1:] + applied[-1:]
    history, _ = _history(losses, sizes, recorded)
    val = list(history["val_loss"])
    led = Ledger()
    judge_histories(led, "mlx", "local", history, losses, steps, sizes, val[:1] + val[:-1])
    failed = _failed(led)
    lr_path = "6 local / mlx's learning-rate history (the rate its steps applied)"
    assert sorted(failed) == sorted([lr_path, "6 local / mlx's validation-loss history (the losses its epochs evaluated)"])
    assert failed[lr_path].step == (4 if shift == "late" else 3) * len(sizes), failed[lr_path].step


def test_steps_that_the_batches_do_not_make_fail():
    sizes = batch_sizes(10, 4)
    losses = np.full(8, 0.4)  # 4 epochs of 2 steps: the last, partial batch dropped
    history = {"epoch": [1, 2, 3, 4], "train_loss": [0.4] * 4, "lr": [1e-3] * 4}
    led = Ledger()
    judge_histories(led, "mlx", "local", history, losses, [1e-3] * 8, sizes)
    failed = _failed(led)
    assert len(failed) == 2 and all("took 8 steps in 4 epochs" in c.message() for c in failed.values()), failed
