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
    """``on_step``: the loss of every step as a float, stopping the run at the first non-finite one."""

    def __init__(self, pkg, name: str):
        self.pkg, self.name, self.losses = pkg, name, []

    def __call__(self, model, optimizer, loss) -> None:
        value = float(self.pkg.data.to_numpy(loss))
        self.losses.append(value)
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
    rho = step_rounding(mode).update_rtol
    specs = [(f"lr x (1 + {rho:g})", weights, learning_rate * (1 + rho)),
             (f"lr x (1 - {rho:g})", weights, learning_rate * (1 - rho))]
    rel = FREE_RUNNING.jitter_of(mode)
    specs += [(f"initial weights moved by {rel:.1e} (draw {j})", jittered(weights, rel, j), learning_rate)
              for j in range(1, max(count - 2, 0) + 1)]
    return [run_reference(w, lr, label) for label, w, lr in specs[:count]]


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


def judge(ledger: Ledger, ref: Run, cand: Run, members: list[Run], steps_per_epoch: int, loss_floor: np.ndarray,
          val_floor: np.ndarray, min_delta: float, names: tuple[str, str]) -> FreeRun:
    """Judge the candidate's free run against the ensemble; tally every check in ``ledger``."""
    mu = FREE_RUNNING.margin
    free = FreeRun(members=members, judged=bool(members))
    a, b = names
    label = f"{mu:g} x the largest deviation of {len(members)} perturbed {b} runs (tolerances.FREE_RUNNING)"

    def series(path, kind, c, r, ms, floor, half):
        n = min(len(c), len(r))
        c, r = np.asarray(c[:n], dtype=np.float64), np.asarray(r[:n], dtype=np.float64)
        spread = _window_max(_deviations(r, [np.asarray(m) for m in ms]), half)
        fl = np.resize(np.asarray(floor, dtype=np.float64), n) if len(floor) else np.zeros(n)
        allowance = mu * spread + fl
        ledger.judge(path, kind, Segments([""], [(n,)]), c, r, allowance, None, label)
        return spread, allowance, fl

    spread, allowance, floor = series("8 free-running / training loss per step", "loss", cand.losses, ref.losses,
                                      [m.losses for m in members], loss_floor, steps_per_epoch)
    free.spread, free.allowance = spread, allowance
    n = len(spread)
    free.deviation = np.abs(np.asarray(cand.losses[:n]) - np.asarray(ref.losses[:n]))
    sensitive = np.flatnonzero(spread > CHAOS * np.maximum(floor, 1e-300))
    free.chaos_step = int(sensitive[0]) + 1 if sensitive.size else None
    hr, hc = ref.result["history"], cand.result["history"]
    series("8 free-running / validation loss per epoch", "loss", hc["val_loss"], hr["val_loss"],
           [m.result["history"]["val_loss"] for m in members], val_floor, 1)
    # final (restored) weights and test logits: L2 distance from the reference
    for key, what in (("final_weights", "final weights"), ("test_logits", "test logits")):
        rv, cv = ref.result[key], cand.result[key]
        trees = (rv, cv) if isinstance(rv, dict) else ({"": rv}, {"": cv})
        for name in sorted(trees[0]):
            r_arr = np.asarray(trees[0][name], np.float64)
            dist = float(np.linalg.norm(np.asarray(trees[1][name], np.float64) - r_arr))
            spread_m = max((float(np.linalg.norm(np.asarray((m.result[key] if name == "" else m.result[key][name]), np.float64)
                                                 - r_arr)) for m in members), default=0.0)
            floor_w = 4 * step_rounding(ledger.mode).u * float(np.linalg.norm(r_arr))
            path = f"8 free-running / {what}" + (f" / {name}" if name else "") + f": L2 distance from {b}"
            ledger.judge(path, "trajectory", Segments([""], [()]), np.array([dist]), np.array([0.0]),
                         np.array([mu * spread_m + floor_w]), None, label)
    # decisions: within the members' range, or a tie
    for key in ("stopped_epoch", "best_epoch"):
        values = [h.get(key) for h in [hr] + [m.result["history"] for m in members]]
        got = hc.get(key)
        ledger.add(_within(f"8 free-running / {key.replace('_', ' ')}", got, values, ledger, names))
    # metrics: within the members' range
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
