"""The histories a user reads, each judged against what its own run did.

``fit`` returns per epoch a training loss and a learning rate: the numbers a user prints, plots
and (for the loss) compares across runs. The local checks judge each step, not these summaries,
so a summary can be wrong while every step is right. Two checks per side close that gap, each
against the definition, computed here from the side's own steps (read by its ``on_step``):

- *the epoch's training loss*: the mean over the epoch's samples of the loss each was trained
  at, ``sum_b |b| L_b / n`` over its batches ``b`` (a plain mean of the batch losses differs
  where the last batch is smaller), within the rounding of that float32 sum;
- *the learning rate of each epoch*: the rate every step of that epoch applied (the scheduler
  steps between epochs), identical. A history one epoch off says the rate fell an epoch later
  (or earlier) than it did;
- *the validation loss of each epoch*: the loss the epoch evaluated (the value its early stopping
  and schedule were fed, as ``on_epoch`` reported it), identical.

The candidate's are local checks ("6 local / ..."), the reference's anchors ("6 anchor / ..."),
each at the training step that ends the epoch.
"""

from __future__ import annotations

import numpy as np

from .compare import compare, problem
from .ledger import Ledger, Segments
from .tolerances import step_rounding


def batch_sizes(n_train: int, batch_size: int | None) -> list[int]:
    """The sizes of one epoch's batches, as both loops cut them (the last may be smaller)."""
    if batch_size is None or batch_size >= n_train:
        return [n_train]
    return [min(s + batch_size, n_train) - s for s in range(0, n_train, batch_size)]


def epoch_loss(losses, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per epoch, ``sum_b |b| L_b / n`` in float64 and its float32 rounding bound: each product
    ``|b| L_b`` rounds (u), their sum of k terms errs by ``g(k)`` of the sum of magnitudes, the
    division by n rounds once more (u of the result); eta for a subnormal."""
    r = step_rounding("ieee")  # no matmul: the same in either mode
    k, n = len(sizes), float(sum(sizes))
    per = np.asarray(losses, dtype=np.float64).reshape(-1, k) * np.asarray(sizes, dtype=np.float64)
    exact = per.sum(axis=1) / n
    size = np.abs(per).sum(axis=1) / n
    return exact, (r.u + float(r.gamma(k))) * size + r.u * np.abs(exact) + (k + 2) * r.eta


def common_of(ledger: Ledger) -> dict:
    return dict(kind="decision", mode=ledger.mode, reproduce=ledger.reproduce, device=ledger.device)


def judge_histories(ledger: Ledger, name: str, part: str, history: dict, losses, lrs, sizes: list[int],
                    val_losses=None) -> None:
    """Judge one side's ``history["train_loss"]`` and ``history["lr"]`` against its steps'
    ``losses`` and ``lrs`` (one per training step, in order), and ``history["val_loss"]`` against
    ``val_losses``, the losses its epochs evaluated (``on_epoch``'s records: what its early
    stopping and schedule were fed); ``part`` "local" or "anchor"."""
    epochs, k = len(history.get("epoch", [])), len(sizes)
    head = f"6 {part} / {name}'s"
    if val_losses is not None:
        ledger.add(compare(np.asarray(history.get("val_loss", []), dtype=np.float64),
                           np.asarray(val_losses, dtype=np.float64), path=f"{head} validation-loss history (the losses "
                           "its epochs evaluated)", names=(name, "its epochs"), step=epochs * k, **common_of(ledger)))
    paths = (f"{head} epoch training loss (its steps' losses weighted by batch size)",
             f"{head} learning-rate history (the rate its steps applied)")
    common = common_of(ledger)
    if len(losses) != epochs * k or len(lrs) != epochs * k:
        for path in paths:
            ledger.add(problem(path, f"{name} took {len(losses)} steps in {epochs} epochs; the batches of "
                                     f"{sum(sizes)} rows make {k} an epoch", **common))
        return
    exact, bound = epoch_loss(losses, sizes)
    got = np.asarray(history["train_loss"], dtype=np.float64)
    applied = np.asarray(lrs, dtype=np.float64).reshape(-1, k)
    recorded = np.asarray(history["lr"], dtype=np.float64)
    if got.shape != exact.shape or recorded.shape != (epochs,):
        for path, what in zip(paths, ("train_loss", "lr")):
            ledger.add(problem(path, f"{name}'s history has {len(history.get(what, []))} {what} values for "
                                     f"{epochs} epochs", **common))
        return
    one = Segments([""], [()])
    for e in range(epochs):
        step = (e + 1) * k
        ledger.judge(paths[0], "loss", one, got[e:e + 1], exact[e:e + 1], bound[e:e + 1], step,
                     "the float32 rounding of sum_b |b| L_b / n (conformance.histories)",
                     names=(name, "its steps' weighted mean"))
        ledger.judge(paths[1], "decision", Segments([""], [(k,)]), np.full(k, recorded[e]), applied[e], np.zeros(k),
                     step, "recorded, not computed: identical", names=(name, "its steps' rate"))
