"""Local (teacher-forced) step checks: at every step the candidate restarts from the reference's
state and takes that one step, and the result is judged against the step's own rounding.

Free-running float32 runs drift apart by rounding that kinks, Adam's division by a tiny
sqrt(v), TF32, width and minibatch chaos amplify; no fixed budget holds for all of them. Here
errors never accumulate: before step k the candidate (MLX) loads the reference's (torch's)
weights, Adam moments, step count and learning rate, and is given the same batch. Three checks
decide, each under a budget derived per element (``conformance.bounds``, ``conformance.intervals``):

- *gradients*: the candidate's ``loss_and_gradients`` at those weights against the reference's
  gradients of that step, within the two sides' rounding bounds (ReLU ties arbitrated in float64);
- *adam, same gradients*: the candidate's optimizer fed the reference's gradients against the
  reference's new state, within the update's rounding (tight: no gradient error enters);
  these two, which localise a difference (gradient or update) and cost a pass of their own, run at
  steps 1 to 10, every ``detail_every``-th step, and at any step where another check failed;
- *training step*: the candidate's own training step (``make_train_step`` through ``train_epoch``,
  compiled or not) against the reference's new state, within the interval Adam reaches from
  gradients anywhere inside the rounding bounds (a gradient within rounding of 0 may flip Adam's
  first step by a whole lr: that is rounding, not a bug); and its loss against the reference's.

Two anchors check the reference itself against the mathematics, so a rule both sides might share
is not judged only against its twin: the reference's gradients against the float64 ones
(``bounds``), and its Adam step against the update's formula (``intervals``).

The first step at which any check fails is the run's first divergence.
"""

from __future__ import annotations

import numpy as np

from .bounds import step_bounds
from .ledger import Ledger, Segments
from .optimizers import Adam, Optimizer
from .sides import side
from .tolerances import step_rounding


class SimpleNNRounding:
    """The rounding model of SimpleNN's step: the derived bounds of ``conformance.bounds``."""

    name = "derived (conformance.bounds)"
    numpy_ok = True  # on the CPU the bounds take numpy arrays (no torch dispatch on tiny operations)

    def bounds(self, weights: dict, X, y, mode: str):
        return step_bounds(weights, X, y, mode)


class Shadow:
    """One side's model, optimizer and training step, restarted from any state: the code under
    test (``make_adam``, ``loss_and_gradients``, ``apply_gradients``, ``make_train_step`` and
    ``train_epoch``), driven step by step."""

    def __init__(self, name: str, in_features: int, hidden: int, learning_rate: float, compiled: bool, device: str):
        self.name, self.device = name, device
        self.pkg = pkg = side(name)
        with pkg.device.use_device(device):
            self.model = pkg.model.to_dtype(pkg.model.SimpleNN(in_features, hidden), "float32")
            self.optimizer = pkg.optim.make_adam(self.model, learning_rate)
            self.train_step = pkg.train.make_train_step(self.model, self.optimizer, compiled=compiled)
            self.lr0 = pkg.optim.get_learning_rate(self.optimizer)  # as made, before any state is loaded
        self._data: dict[int, tuple] = {}

    def arrays(self, X: np.ndarray, y: np.ndarray):
        """``X`` and ``y`` as this side's arrays (kept for the last few batches seen)."""
        key = id(X)
        if key not in self._data:
            if len(self._data) > 4:
                self._data.clear()
            with self.pkg.device.use_device(self.device):
                self._data[key] = (X, self.pkg.data.to_array(X), self.pkg.data.to_array(y))
        return self._data[key][1:]

    def load(self, weights: dict, state: dict, learning_rate: float) -> None:
        pkg = self.pkg
        with pkg.device.use_device(self.device):
            pkg.model.load_weights(self.model, weights)
            pkg.optim.import_optimizer_state(self.optimizer, self.model, state)
            pkg.optim.set_learning_rate(self.optimizer, learning_rate)

    def gradients(self, weights: dict, X, y) -> tuple[float, dict]:
        with self.pkg.device.use_device(self.device):
            self.pkg.model.load_weights(self.model, weights)
            return self.pkg.loss.loss_and_gradients(self.model, X, y)

    def apply(self, gradients: dict) -> tuple[dict, dict]:
        pkg = self.pkg
        with pkg.device.use_device(self.device):
            pkg.optim.apply_gradients(self.optimizer, self.model, gradients)
            return pkg.model.export_weights(self.model), pkg.optim.export_optimizer_state(self.optimizer, self.model)

    def step(self, X, y) -> tuple[float, dict, dict]:
        pkg, seen = self.pkg, []
        with pkg.device.use_device(self.device):
            pkg.train.train_epoch(self.train_step, self.model, self.optimizer, X, y,
                                  on_step=lambda model, opt, loss: seen.append(float(pkg.data.to_numpy(loss))))
            return seen[0], pkg.model.export_weights(self.model), pkg.optim.export_optimizer_state(self.optimizer, self.model)

    def evaluate(self, weights: dict, X, y) -> tuple[np.ndarray, float]:
        """Logits and loss at ``weights`` in evaluation mode (the side's ``evaluate_loss``)."""
        pkg = self.pkg
        with pkg.device.use_device(self.device):
            pkg.model.load_weights(self.model, weights)
            loss = pkg.validate.evaluate_loss(self.model, X, y)  # switches to evaluation mode
            return np.asarray(pkg.data.to_numpy(self.model(X)), dtype=np.float64), float(loss)


def toward(actual: np.ndarray, expected: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The allowance for ``actual`` against ``expected`` when the truth lies in ``[lo, hi]``: the
    room from ``expected`` to the interval's end on ``actual``'s side."""
    return np.maximum(np.where(actual >= expected, hi - expected, expected - lo), 0.0)


class LocalChecker:
    """Runs the local checks of every step it is handed and tallies them in a ``Ledger``.

    ``X``, ``y``: the reference's standardized training set (numpy float32) from which batches are
    cut; ``modes``: the float32 matmul mode of each side ("ieee"/"tf32"); ``ref_device``: where the
    reference's tensors live (the bounds are computed there, with torch)."""

    def __init__(self, candidate: Shadow, X: np.ndarray, y: np.ndarray, ledger: Ledger, modes: dict[str, str],
                 ref_device: str = "cpu", names: tuple[str, str] = ("mlx", "torch"), detail_every: int = 10,
                 rounding=None, optimizer: Optimizer | None = None):
        import torch

        from reference_torch.device import use_device

        self.cand, self.ledger, self.names, self.detail_every = candidate, ledger, names, detail_every
        self.model = rounding or SimpleNNRounding()
        self.optimizer = optimizer or Adam()  # make_adam's defaults on both sides
        self.X = None if X is None else np.asarray(X, dtype=np.float32)
        self.y = None if y is None else np.asarray(y, dtype=np.float32)
        with use_device(ref_device):
            self._where = torch.get_default_device()
        self._X_ref = None if X is None else self._tensor(self.X)
        self._y_ref = None if y is None else self._tensor(self.y)
        self.modes = modes
        self.rounding = step_rounding(modes[names[0]] if "tf32" not in modes.values() else "tf32")
        self.loss_bounds: list[float] = []  # both sides' loss bound at each step: the floor of the free-running judge

    def _tensor(self, a):
        import torch

        a = np.asarray(a)
        if self._where.type == "cpu" and getattr(self.model, "numpy_ok", False):
            return a.astype(np.float64)  # exact copies of the float32 values, converted once
        if a.dtype.kind in "iu":  # class labels stay integers
            return torch.as_tensor(a.astype(np.int64), device=self._where)
        return torch.as_tensor(a.astype(np.float32), device=self._where)

    def _bounds(self, weights: dict, idx=None, X=None, y=None):
        """Both sides' bounds at ``weights`` on the training batch ``idx`` (or on ``X, y``)."""
        if X is None:
            X = self._X_ref if idx is None else self._X_ref[idx]
            y = self._y_ref if idx is None else self._y_ref[idx]
        else:
            X, y = self._tensor(X), self._tensor(y)
        a, b = self.names
        if getattr(self.model, "per_side", False):  # measured on each side
            return self.model.bounds(weights, X, y, self.modes[a], a), self.model.bounds(weights, X, y, self.modes[b], b)
        ba = self.model.bounds(weights, X, y, self.modes[a])
        bb = ba if self.modes[b] == self.modes[a] else self.model.bounds(weights, X, y, self.modes[b])
        return ba, bb

    def check_step(self, k: int, before: tuple[dict, dict], lr: float, idx, ref_loss: float, ref_grads: dict,
                   after: tuple[dict, dict], batch: tuple | None = None) -> bool:
        """Step ``k`` (1-based): ``before``/``after`` are the reference's (weights, optimizer state)
        around it, ``idx`` the batch's rows (None: the whole set) or ``batch`` the batch itself (in the
        reference's layout), ``ref_loss``/``ref_grads`` what the reference computed in it."""
        w0, s0 = before
        w1, s1 = after
        cand, ledger = self.cand, self.ledger
        if batch is not None:
            Xn, yn = batch
            Xc, yc = cand.arrays(Xn, yn)
            ba, bb = self._bounds(w0, X=Xn, y=yn)
        else:
            Xn, yn = (self.X, self.y) if idx is None else (self.X[idx], self.y[idx])
            Xc, yc = cand.arrays(Xn, yn)
            ba, bb = self._bounds(w0, None if idx is None else np.asarray(idx))
        segs = self._segments(ref_grads)
        delta = segs.flat(ba.grads) + segs.flat(bb.grads)
        g_ref = segs.flat(ref_grads)
        exact_g = segs.flat(ba.exact_grads)
        b = self.names[1]
        opt = self.optimizer
        keys = ("",) + opt.suffixes
        p_seg = self._segments(ref_grads, keys)
        t0 = int(np.asarray(s0["step"]))
        ref_after = self.state_vector(segs, w1, s1)

        def interval(g_lo, g_hi):
            return self.reach(segs, (w0, s0), lr, g_lo, g_hi)

        # the candidate's own training step: the check that decides
        lo, hi = interval(g_ref - delta, g_ref + delta)
        cand.load(w0, s0, lr)
        c_loss, cw, cs = cand.step(Xc, yc)
        c_after = self.state_vector(segs, cw, cs)
        ok = ledger.judge("5 local / training step", "trajectory", p_seg, c_after, ref_after,
                          toward(c_after, ref_after, lo, hi), k,
                          f"{opt.label}'s reach from gradients within both sides' rounding bounds (conformance.intervals)")
        ok &= self._step_count(k, cs, t0 + 1, "5 local / training step / step count")
        if getattr(ba, "buffers", None):  # state the step's forward updates (BatchNorm's running statistics)
            b_seg = self._segments(ba.buffers)
            ok &= ledger.judge("5 local / running statistics", "forward", b_seg, b_seg.flat(cw), b_seg.flat(w1),
                               b_seg.flat(ba.buffers) + b_seg.flat(bb.buffers), k,
                               "both sides' measured rounding of the batch's statistics (tolerances.MEASURED)",
                               exact=lambda: b_seg.flat(ba.exact_buffers))
        loss_bound = ba.loss + bb.loss
        self.loss_bounds.append(loss_bound)
        ok &= ledger.judge("5 local / loss", "loss", Segments([""], [()]), np.array([c_loss]), np.array([ref_loss]),
                           np.array([loss_bound]), k, "both sides' rounding bound of the loss (conformance.bounds)",
                           exact=lambda: np.array([ba.exact_loss]))
        # Adam fed the reference's gradients (tight: no gradient error enters), and the anchors
        lo, hi = interval(g_ref, g_ref)
        ledger.judge(f"5 anchor / reference {opt.kind} vs its formula", "optimizer_state", p_seg, ref_after, (lo + hi) / 2,
                     (hi - lo) / 2, k, "the update's rounding from identical inputs (conformance.intervals)",
                     names=(b, "formula"))
        ledger.judge("5 anchor / reference gradients vs float64", "gradient", segs, g_ref, exact_g,
                     segs.flat(bb.grads), k, "the reference's rounding bound (conformance.bounds)", names=(b, "float64"))
        # the diagnostic checks, at the first steps, every detail_every-th, and wherever a check above
        # failed (to say where the difference starts): the candidate's optimizer fed the reference's
        # gradients, and the candidate's gradients at the reference's weights
        if k <= 10 or k % self.detail_every == 0 or not ok:
            cand.load(w0, s0, lr)
            cw, cs = cand.apply(ref_grads)
            c_after = self.state_vector(segs, cw, cs)
            ok &= ledger.judge(f"5 local / {opt.kind}, same gradients", "optimizer_state", p_seg, c_after, ref_after,
                               toward(c_after, ref_after, lo, hi), k,
                               "the update's rounding from identical inputs (conformance.intervals)")
            ok &= self._step_count(k, cs, t0 + 1, f"5 local / {opt.kind}, same gradients / step count")
            _, c_grads = cand.gradients(w0, Xc, yc)
            ok &= ledger.judge("5 local / gradients", "gradient", segs, segs.flat(c_grads), g_ref, delta, k,
                               f"both sides' rounding bound of the gradient (conformance.bounds; {ba.ambiguous} ReLU "
                               "ties)", exact=lambda: exact_g)
        return ok

    def _segments(self, tree: dict, keys: tuple[str, ...] | None = None) -> Segments:
        """The layout of a tree (with ``keys``: each tensor once per key suffix), built once."""
        cache = self.__dict__.setdefault("_layouts", {})
        key = (tuple(sorted(tree)), keys)
        if key not in cache:
            segs = Segments.of(tree)
            cache[key] = segs if keys is None else Segments([n + s for s in keys for n in segs.names],
                                                             segs.shapes * len(keys))
        return cache[key]

    def bounds_on(self, weights: dict, X: np.ndarray, y: np.ndarray):
        """Both sides' rounding bounds at ``weights`` on the batch ``(X, y)`` (the reference's layout)."""
        return self._bounds(weights, X=X, y=y)

    def segments(self, tree: dict, keys: tuple[str, ...] | None = None) -> Segments:
        """The layout of ``tree`` as the checks flatten it (with ``keys``: once per state suffix)."""
        return self._segments(tree, keys)

    def state_vector(self, segs: Segments, weights: dict, state: dict) -> np.ndarray:
        """Weights, then each optimizer moment, flat in the layout of ``segments(tree, ("",) + suffixes)``."""
        return np.concatenate([segs.flat(weights)] + [segs.flat({n: state[n + x] for n in segs.names})
                                                      for x in self.optimizer.suffixes])

    def reach(self, segs: Segments, before: tuple[dict, dict], lr: float, g_lo: np.ndarray, g_hi: np.ndarray):
        """Where the optimizer's step from ``before`` (weights, state) at ``lr`` can land from any
        gradient in ``[g_lo, g_hi]`` (flat, ``segs``'s layout): ``(lo, hi)`` as ``state_vector``."""
        w0, s0 = before
        opt = self.optimizer
        moments = {s: segs.flat({n: s0[n + s] for n in segs.names}) for s in opt.suffixes}
        iv = opt.interval(segs.flat(w0), moments, int(np.asarray(s0["step"])), lr, g_lo, g_hi, self.rounding)
        keys = ("param",) + opt.suffixes
        return np.concatenate([iv[k].lo for k in keys]), np.concatenate([iv[k].hi for k in keys])

    def step_count(self, k: int, state: dict, expected: int, path: str) -> bool:
        """The optimizer's step count after step ``k``: counted, not computed, so identical."""
        return self._step_count(k, state, expected, path)

    def check_validation(self, epoch: int, weights: dict, X: np.ndarray, y: np.ndarray, ref_loss: float) -> float:
        """The candidate's validation loss at the reference's weights after ``epoch``; returns both
        sides' rounding bound of it (the free-running judge's floor)."""
        Xc, yc = self.cand.arrays(np.asarray(X, np.float32), np.asarray(y, np.float32))
        _, loss = self.cand.evaluate(weights, Xc, yc)
        ba, bb = self._bounds(weights, X=X, y=y)
        bound = ba.loss + bb.loss
        self.ledger.judge("6 local / validation loss at torch's weights", "loss", Segments([""], [()]), np.array([loss]),
                          np.array([ref_loss]), np.array([bound]), epoch,
                          "both sides' rounding bound of the loss (conformance.bounds)",
                          exact=lambda: np.array([ba.exact_loss]))
        return bound

    def check_evaluation(self, weights: dict, X: np.ndarray, y: np.ndarray, ref_logits, ref_loss: float) -> None:
        """The candidate's test logits, loss, predictions and metrics at the reference's final weights."""
        from .steps import classification_metrics

        a, b = self.names
        Xc, yc = self.cand.arrays(np.asarray(X, np.float32), np.asarray(y, np.float32))
        logits, loss = self.cand.evaluate(weights, Xc, yc)
        ba, bb = self._bounds(weights, X=X, y=y)
        seg = Segments([""], [tuple(np.shape(ref_logits))])
        allow = ba.logits + bb.logits
        led = self.ledger
        led.judge("7 local / test logits at torch's final weights", "forward", seg, logits, ref_logits, allow, None,
                  "both sides' rounding bound of the logits (conformance.bounds)", exact=lambda: ba.exact_logits)
        led.judge("7 local / test loss at torch's final weights", "loss", Segments([""], [()]), np.array([loss]),
                  np.array([ref_loss]), np.array([ba.loss + bb.loss]), None,
                  "both sides' rounding bound of the loss (conformance.bounds)", exact=lambda: np.array([ba.exact_loss]))
        ties = np.abs(ba.exact_logits) <= allow
        led.judge("7 local / predicted labels at torch's final weights", "decision", seg,
                  (logits > 0).astype(float), (np.asarray(ref_logits) > 0).astype(float), ties.astype(float), None,
                  f"identical, except at samples whose exact logit is within rounding of 0 ({int(ties.sum())} here)")
        mine = classification_metrics(a, logits, y, self.cand.device)
        theirs = classification_metrics(b, logits, y, "cpu")
        for key in ("accuracy", "precision", "recall", "f1", "confusion_matrix"):
            mv, tv = np.asarray(mine[key], float).reshape(-1), np.asarray(theirs[key], float).reshape(-1)
            led.judge(f"7 local / {key} from the same logits", "metric", Segments([""], [mv.shape]), mv, tv,
                      np.zeros_like(mv), None, "counts and their ratios: identical")

    def _step_count(self, k: int, state: dict, expected: int, path: str) -> bool:
        got = float(np.asarray(state["step"]))
        return self.ledger.judge(path, "decision", Segments([""], [()]), np.array([got]), np.array([float(expected)]),
                                 np.array([0.0]), k, "counted, not computed: identical")
