"""The free-running run, judged against the natural spread of correct float32 training.

After the local checks have judged the rules step by step, the candidate's own pipeline run
(what a user sees) is compared with the reference's. Where training amplifies rounding, two
correct runs part, so the comparison is against an *ensemble*: the reference run again with its
learning rate scaled by 1 +- update_rtol and from initial weights moved at rounding level
(``tolerances.FREE_RUNNING``). The candidate conforms when it stays within ``margin`` times the
largest member's deviation (plus the quantity's own rounding): its training loss at every step,
its validation loss at every epoch, its final weights and test logits (L2 distance from the
reference), its stopping decisions and its test metrics.

The members' spread also says when a run is *sensitive to rounding*: the first step at which it
exceeds a hundred times the loss's own rounding. A candidate that parts from the reference after
that step, inside the envelope, diverged by chaos, not by a difference of rules.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .compare import Check, compare
from .ledger import Ledger, Segments
from .tolerances import FREE_RUNNING, Tolerance, step_rounding

CHAOS = 100.0  # members' spread over the loss's own rounding from which a run counts as sensitive to rounding


class NonFinite(Exception):
    """NaN or infinity appeared in a run: where, in which quantity, on which side."""

    def __init__(self, side: str, step: int, quantity: str, value: float):
        self.side, self.step, self.quantity, self.value = side, step, quantity, value
        super().__init__(f"{side}: {quantity} is {value} at training step {step}; the run stopped there "
                         "(lower the learning rate, or check the data's scale)")


class LossSeries:
    """``on_step``: the loss and the learning rate of every step as floats, stopping the run at the
    first non-finite loss."""

    def __init__(self, pkg, name: str):
        self.pkg, self.name, self.losses, self.lrs = pkg, name, [], array("d")

    def __call__(self, model, optimizer, loss) -> None:
        value = float(self.pkg.data.to_numpy(loss))
        self.losses.append(value)
        self.lrs.append(self.pkg.optim.get_learning_rate(optimizer))
        if not np.isfinite(value):
            raise NonFinite(self.name, len(self.losses), "the training loss", value)


@dataclass
class Run:
    """One free run: its pipeline result and the loss of every step."""

    name: str
    result: dict
    losses: np.ndarray


@dataclass
class FreeRun:
    """What the ensemble says about the free-running run."""

    members: list[Run] = field(default_factory=list)
    spread: np.ndarray | None = None  # the members' largest deviation from the reference, per step
    allowance: np.ndarray | None = None
    chaos_step: int | None = None  # first step from which rounding is amplified CHAOS-fold
    deviation: np.ndarray | None = None  # |candidate - reference| per step
    judged: bool = False


def jittered(weights: dict, rel: float, seed: int) -> dict:
    """``weights`` moved by ``rel`` relative, each element up or down at random, in float32."""
    rng = np.random.default_rng(1_000_003 + seed)
    return {k: (np.asarray(v, np.float64) * (1 + rel * rng.choice([-1.0, 1.0], size=np.shape(v)))).astype(np.float32)
            for k, v in weights.items()}


def run_members(run_reference: Callable[[dict, float, str], Run], weights: dict, learning_rate: float, mode: str,
                count: int | None = None) -> list[Run]:
    """The ensemble: ``run_reference(weights, learning_rate, label)`` for each perturbation."""
    count = FREE_RUNNING.members if count is None else count
    return [run_reference(w, lr, label) for label, w, lr in member_specs(weights, learning_rate, mode, count)]


def member_specs(weights: dict, learning_rate: float, mode: str, count: int) -> list[tuple[str, dict, float]]:
    """``(label, initial weights, learning rate)`` of each member, the two kinds interleaved so that
    a small ensemble has both: lr x (1 + rho), moved weights, lr x (1 - rho), moved weights, ..."""
    rho, rel = step_rounding(mode).update_rtol, FREE_RUNNING.jitter_of(mode)
    lr_members = [(f"lr x (1 + {rho:g})", weights, learning_rate * (1 + rho)),
                  (f"lr x (1 - {rho:g})", weights, learning_rate * (1 - rho))]
    moved = [(f"initial weights moved by {rel:.1e} (draw {j})", jittered(weights, rel, j), learning_rate)
             for j in range(1, max(count - 2, 0) + 1)]
    order = [m for pair in zip(lr_members, moved[:2]) for m in pair] + lr_members[len(moved[:2]):] + moved[2:]
    return order[:count]


def _deviations(ref: np.ndarray, series: list[np.ndarray]) -> np.ndarray:
    """Per step, the largest |member - reference| among the members still running then."""
    out = np.zeros(len(ref))
    for s in series:
        n = min(len(s), len(ref))
        with np.errstate(invalid="ignore"):
            out[:n] = np.maximum(out[:n], np.abs(np.asarray(s[:n]) - ref[:n]))
    return out


def _window_max(x: np.ndarray, half: int) -> np.ndarray:
    if half <= 0 or len(x) == 0:
        return x
    padded = np.pad(x, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return windows.max(axis=1)


def judge_series(ledger: Ledger, path: str, kind: str, cand, ref, members: list, floor, half: int,
                 names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Judge a per-step (or per-epoch) series: at each point the candidate may be ``margin`` times
    the largest deviation any member has had from the reference up to that point (and within
    ``half`` points after it) plus ``floor`` away. A member's deviation crosses zero now and then
    (iris, 1 000 epochs: six members all within 1.6e-6 at epoch 655, where their deviations are
    otherwise up to 4e-5), so the envelope is the running maximum, never narrower than it was.
    Returns the members' spread, the allowance and the floor."""
    mu = FREE_RUNNING.margin
    n = min(len(cand), len(ref))
    c, r = np.asarray(cand[:n], dtype=np.float64), np.asarray(ref[:n], dtype=np.float64)
    spread = np.maximum.accumulate(_window_max(_deviations(r, [np.asarray(m) for m in members]), half))
    fl = np.resize(np.asarray(floor, dtype=np.float64), n) if len(floor) else np.zeros(n)
    allowance = mu * spread + fl
    ledger.judge(path, kind, Segments([""], [(n,)]), c, r, allowance, None, _label(len(members), names))
    return spread, allowance, fl


def judge_distance(ledger: Ledger, path: str, cand, ref, members: list, names: tuple[str, str]) -> None:
    """Judge a final tensor by its L2 distance from the reference's: at most ``margin`` times the
    largest member's, plus 4u of the reference's norm."""
    r = np.asarray(ref, np.float64)
    dist = float(np.linalg.norm(np.asarray(cand, np.float64) - r))
    spread = max((float(np.linalg.norm(np.asarray(m, np.float64) - r)) for m in members), default=0.0)
    floor = 4 * step_rounding(ledger.mode).u * float(np.linalg.norm(r))
    ledger.judge(path, "trajectory", Segments([""], [()]), np.array([dist]), np.array([0.0]),
                 np.array([FREE_RUNNING.margin * spread + floor]), None, _label(len(members), names))


def _label(count: int, names) -> str:
    return f"{FREE_RUNNING.margin:g} x the largest deviation of {count} perturbed {names[1]} runs (tolerances.FREE_RUNNING)"


def chaos_step(spread: np.ndarray, floor: np.ndarray) -> int | None:
    """The first step at which the members' spread exceeds ``CHAOS`` times the quantity's rounding."""
    sensitive = np.flatnonzero(spread > CHAOS * np.maximum(floor, 1e-300))
    return int(sensitive[0]) + 1 if sensitive.size else None


def judge(ledger: Ledger, ref: Run, cand: Run, members: list[Run], steps_per_epoch: int, loss_floor: np.ndarray,
          val_floor: np.ndarray, names: tuple[str, str]) -> FreeRun:
    """Judge the candidate's free pipeline run against the ensemble; tally every check in ``ledger``."""
    free = FreeRun(members=members, judged=bool(members))
    b = names[1]
    spread, allowance, floor = judge_series(ledger, "8 free-running / training loss per step", "loss", cand.losses,
                                            ref.losses, [m.losses for m in members], loss_floor, steps_per_epoch, names)
    free.spread, free.allowance, free.chaos_step = spread, allowance, chaos_step(spread, floor)
    free.deviation = np.abs(np.asarray(cand.losses[:len(spread)]) - np.asarray(ref.losses[:len(spread)]))
    hr, hc = ref.result["history"], cand.result["history"]
    judge_series(ledger, "8 free-running / validation loss per epoch", "loss", hc["val_loss"], hr["val_loss"],
                 [m.result["history"]["val_loss"] for m in members], val_floor, 1, names)
    for name in sorted(ref.result["final_weights"]):
        judge_distance(ledger, f"8 free-running / final weights / {name}: L2 distance from {b}",
                       cand.result["final_weights"][name], ref.result["final_weights"][name],
                       [m.result["final_weights"][name] for m in members], names)
    judge_distance(ledger, f"8 free-running / test logits: L2 distance from {b}", cand.result["test_logits"],
                   ref.result["test_logits"], [m.result["test_logits"] for m in members], names)
    # decisions: within the members' range, or a tie
    for key in ("stopped_epoch", "best_epoch"):
        values = [h.get(key) for h in [hr] + [m.result["history"] for m in members]]
        ledger.add(_within(f"8 free-running / {key.replace('_', ' ')}", hc.get(key), values, ledger, names))
    for key in ("accuracy", "precision", "recall", "f1"):
        values = [ref.result["metrics"][key]] + [m.result["metrics"][key] for m in members]
        ledger.add(_within(f"8 free-running / test {key}", cand.result["metrics"][key], values, ledger, names,
                           kind="metric"))
    return free


def _within(path: str, got, values: list, ledger: Ledger, names, kind: str = "decision") -> Check:
    """A check that ``got`` lies within the range of ``values`` (None counts as 'never', +inf)."""
    enc = lambda v: np.inf if v is None else float(v)  # noqa: E731
    vs = [enc(v) for v in values]
    g = enc(got)
    lo, hi = min(vs), max(vs)
    nearest = min(max(g, lo), hi)
    tol = Tolerance(0.0, 0.0, reason=f"the range of the reference and its perturbed runs: [{lo:g}, {hi:g}]")
    with np.errstate(invalid="ignore"):
        check = compare(np.array(g if np.isfinite(g) else -1.0), np.array(nearest if np.isfinite(nearest) else -1.0),
                        path=path, kind=kind, mode=ledger.mode, tol=tol, names=(names[0], f"{names[1]} ensemble"),
                        device=ledger.device, reproduce=ledger.reproduce, scale=0.0)
    check.note = f"{names[0]} {got}; {names[1]} and its perturbed runs {values}"
    return check
