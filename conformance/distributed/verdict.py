"""The data-parallel verdict: every MLX rank's step, restarted from torch rank r's recorded state,
judged on the single-process engine (``conformance.local``'s checker and its ledger).

At step k, torch rank r recorded its state before the step, its rows, its local gradient g_r (of
the mean loss over its rows), the averaged gradient G = (1/W) sum_r g_r DDP applied, and its state
after. MLX rank r (``worker.replay``) restarted from that state on those rows, and the checks are:

- *loss* and *local gradient* of rank r: within both sides' derived bounds on its rows
  (``conformance.bounds``), as the single-process local checks;
- *averaging, same gradients*: MLX's ``average_gradients`` of torch's own g_r against torch's G.
  Each side sums W terms and divides by W: its error is at most
  (gamma(W-1) + u) (1/W) sum_r |g_r| + 2 eta (a sum of W terms, then the division; DDP divides
  each term first, which the same bound covers), so the allowance is twice that. No gradient
  error enters: ``all_sum`` used as if it averaged (2 G) fails here at step 1, however Adam hides
  it in the weights;
- *averaged gradient*: MLX's own average (of its own local gradients) against G: the mean over
  ranks of each rank's two-sided gradient bound, plus the averaging's;
- *Adam, same gradients*: MLX's optimizer fed G from rank r's state against torch's state after;
- *training step* (decides): MLX's whole data-parallel step against torch's state after, within
  Adam's reach from any gradient within the averaged gradient's bound of G (``intervals``);
- *identical state*: every MLX rank's state after the step equal, exactly, to rank 0's (and torch's
  ranks likewise, as an anchor).

Anchors judge torch itself: each rank's local gradient and the average against float64, and its
Adam against the update's formula. MLX's own loop is judged on what the replay cannot see because
it is handed torch's rows: the rows each of its ranks trained on at every step (identical to
torch's: a shard rule, a per-rank seed or a shuffle that differ fail here) and its ranks holding
identical state at every step of its free run.
"""

from __future__ import annotations

import numpy as np

from ..ledger import Ledger, Segments
from ..local import LocalChecker, Shadow, toward

ONE = Segments([""], [()])


def averaging_bound(checker: LocalChecker, locals_flat: list[np.ndarray]) -> np.ndarray:
    """One side's rounding of (1/W) sum_r g_r, per element: a W-term sum, then the division."""
    r = checker.rounding
    W = len(locals_flat)
    mean_abs = np.sum([np.abs(g) for g in locals_flat], axis=0) / W
    return (float(r.gamma(max(W - 1, 1))) + r.u) * mean_abs + 2 * r.eta


def judge_steps(ledger: Ledger, checker: LocalChecker, shadow: Shadow, torch_ranks: list[dict],
                replays: list[list[dict]], X: np.ndarray, y: np.ndarray, every: int = 1) -> list[float]:
    """Judge every replayed step of every rank; returns the group's loss bound per step (the mean
    over ranks of each rank's loss bound: the free run's floor)."""
    W = len(torch_ranks)
    steps = len(torch_ranks[0]["steps"])
    floors = []
    for k in range(1, steps + 1):
        recs = [t["steps"][k - 1] for t in torch_ranks]
        reps = [rep[k - 1] for rep in replays]
        bounds = [checker.bounds_on(rec["before"][0], X[rec["rows"]], y[rec["rows"]]) for rec in recs]
        floors.append(float(np.mean([ba.loss + bb.loss for ba, bb in bounds])))
        if not (k == 1 or k % every == 0):
            continue
        segs = checker.segments(recs[0]["local"])
        p_seg = checker.segments(recs[0]["local"], ("",) + checker.optimizer.suffixes)
        g_local = [segs.flat(rec["local"]) for rec in recs]
        G = segs.flat(recs[0]["averaged"])
        avg_round = averaging_bound(checker, g_local)
        grad_bound = np.mean([segs.flat(ba.grads) + segs.flat(bb.grads) for ba, bb in bounds], axis=0) + 2 * avg_round
        exact_G = np.mean([segs.flat(ba.exact_grads) for ba, _ in bounds], axis=0)
        lo, hi = None, None
        for r, (rec, rep, (ba, bb)) in enumerate(zip(recs, reps, bounds)):
            at = f"rank {r}"
            ledger.judge(f"5 local / {at} / loss on its rows", "loss", ONE, np.array([rep["loss"]]),
                         np.array([rec["loss"]]), np.array([ba.loss + bb.loss]), k,
                         "both sides' rounding bound of the loss (conformance.bounds)",
                         exact=lambda ba=ba: np.array([ba.exact_loss]))
            ledger.judge(f"5 local / {at} / local gradients", "gradient", segs, segs.flat(rep["local"]), g_local[r],
                         segs.flat(ba.grads) + segs.flat(bb.grads), k,
                         f"both sides' rounding bound of the gradient (conformance.bounds; {ba.ambiguous} ReLU ties)",
                         exact=lambda ba=ba: segs.flat(ba.exact_grads))
            ledger.judge(f"5 local / {at} / averaging, same gradients", "gradient", segs,
                         segs.flat(rep["average_of_reference"]), G, 2 * avg_round, k,
                         f"both sides' rounding of a {W}-term sum and the division by {W}", exact=lambda: exact_G)
            ledger.judge(f"5 local / {at} / averaged gradients", "gradient", segs, segs.flat(rep["averaged"]), G,
                         grad_bound, k, f"the mean of the {W} ranks' gradient bounds, plus the averaging's rounding",
                         exact=lambda: exact_G)
            before, after = rec["before"], rec["after"]
            ref_after = checker.state_vector(segs, *after)
            if lo is None:
                lo, hi = checker.reach(segs, before, rec["lr"], G - grad_bound, G + grad_bound)
                tight = checker.reach(segs, before, rec["lr"], G, G)
            mine = checker.state_vector(segs, *rep["after"])
            ledger.judge(f"5 local / {at} / training step", "trajectory", p_seg, mine, ref_after,
                         toward(mine, ref_after, lo, hi), k,
                         "Adam's reach from averaged gradients within their rounding bound (conformance.intervals)")
            checker.step_count(k, rep["after"][1], int(np.asarray(before[1]["step"])) + 1,
                               f"5 local / {at} / training step / step count")
            shadow.load(before[0], before[1], rec["lr"])
            cw, cs = shadow.apply(rec["averaged"])
            fed = checker.state_vector(segs, cw, cs)
            ledger.judge(f"5 local / {at} / Adam, same averaged gradients", "optimizer_state", p_seg, fed, ref_after,
                         toward(fed, ref_after, *tight), k,
                         "the update's rounding from identical inputs (conformance.intervals)")
            ledger.judge(f"5 anchor / torch {at} / local gradients vs float64", "gradient", segs, g_local[r],
                         segs.flat(ba.exact_grads), segs.flat(bb.grads), k, "the reference's rounding bound",
                         names=("torch", "float64"))
            ledger.judge(f"5 anchor / torch {at} / Adam vs its formula", "optimizer_state", p_seg, ref_after,
                         (tight[0] + tight[1]) / 2, (tight[1] - tight[0]) / 2, k,
                         "the update's rounding from identical inputs (conformance.intervals)", names=("torch", "formula"))
        ledger.judge("5 anchor / torch's averaged gradients vs float64", "gradient", segs, G, exact_G,
                     np.mean([segs.flat(bb.grads) for _, bb in bounds], axis=0) + avg_round, k,
                     "the mean of torch's rank bounds plus its averaging's rounding", names=("torch", "float64"))
        _identical(ledger, "5 local / mlx ranks hold identical state after the step (replay)", checker, segs,
                   [rep["after"] for rep in reps], k, "mlx")
        _identical(ledger, "5 anchor / torch ranks hold identical state after the step", checker, segs,
                   [rec["after"] for rec in recs], k, "torch")
    return floors


def _identical(ledger, path, checker, segs, states, k, name) -> None:
    p_seg = checker.segments(states[0][0], ("",) + checker.optimizer.suffixes)
    first = checker.state_vector(segs, *states[0])
    for r, st in enumerate(states[1:], start=1):
        ledger.judge(path, "decision", p_seg, checker.state_vector(segs, *st), first, np.zeros_like(first), k,
                     f"every rank applies the same averaged gradient: identical to rank 0 (rank {r})",
                     names=(f"{name} rank {r}", f"{name} rank 0"))


def judge_own_loop(ledger: Ledger, checker: LocalChecker, mlx_ranks: list[dict], torch_ranks: list[dict]) -> None:
    """What the replay cannot see: the rows MLX's own ranks trained on, and their state, every step."""
    steps = min(len(mlx_ranks[0]["steps"]), len(torch_ranks[0]["steps"]))
    ledger.judge("5 local / mlx's own loop: steps taken", "decision", ONE, np.array([len(mlx_ranks[0]["steps"])]),
                 np.array([len(torch_ranks[0]["steps"])]), np.zeros(1), None, "counted: identical")
    for k in range(1, steps + 1):
        for r, (m, t) in enumerate(zip(mlx_ranks, torch_ranks)):
            mr, tr = np.asarray(m["steps"][k - 1]["rows"]), np.asarray(t["steps"][k - 1]["rows"])
            same = mr.shape == tr.shape and bool(np.all(mr == tr))
            ledger.judge(f"5 local / rank {r} / mlx's own loop: the rows of its batch", "decision", ONE,
                         np.array([0.0 if same else 1.0]), np.array([0.0]), np.zeros(1), k,
                         f"the sharding rule's rows, identical (mlx {mr.tolist()[:8]}, torch {tr.tolist()[:8]})")
    judge_identical_ranks(ledger, checker, mlx_ranks)


def judge_identical_ranks(ledger: Ledger, checker: LocalChecker, mlx_ranks: list[dict]) -> None:
    """Every MLX rank's state after every step of its free run, identical to rank 0's."""
    segs = checker.segments(mlx_ranks[0]["steps"][0]["local"])
    for k in range(1, len(mlx_ranks[0]["steps"]) + 1):
        _identical(ledger, "8 free-running / mlx ranks hold identical state at every step", checker, segs,
                   [m["steps"][k - 1]["after"] for m in mlx_ranks], k, "mlx")
