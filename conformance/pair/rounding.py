"""Measured rounding of one training step of an arbitrary model (``tolerances.MEASURED``).

``MeasuredRounding.bounds(weights, X, y, mode)`` returns, like ``conformance.bounds.step_bounds``
for SimpleNN, one side's bound per gradient element and for the loss, with the float64 values it
bounds the distance from. The bound is measured, not derived: the reference's step is recomputed
in float64 (the anchor) and several times in float32 from rounding-level perturbations of the same
state; each element may lie ``margin`` times the largest rerun's deviation from float64 away from
it, plus a floor of a few u of the value.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..tolerances import MEASURED, step_rounding
from .parts import part


@dataclass
class MeasuredBounds:
    grads: dict[str, np.ndarray]
    loss: float
    exact_grads: dict[str, np.ndarray]
    exact_loss: float
    ambiguous: int = 0
    logits: np.ndarray | None = None
    exact_logits: np.ndarray | None = None
    buffers: dict[str, np.ndarray] | None = None  # the bound of each running statistic after the step
    exact_buffers: dict[str, np.ndarray] | None = None


class MeasuredRounding:
    """Each side's rounding, measured on that side: the reference's reruns against float64, the
    candidate's reruns against its own unperturbed result (their spread is its rounding noise; a
    systematic difference moves every rerun alike and so does not widen it)."""

    name = "measured (tolerances.MEASURED)"
    per_side = True

    def __init__(self, torch_model, loss, device: str = "cpu", permute: bool = True, seed: int = 0,
                 candidate=None, names: tuple[str, str] = ("mlx", "torch"), buffers: list[str] | tuple = ()):
        import torch

        self.loss, self.permute, self.candidate, self.names = loss, permute, candidate, names
        self.buffer_names = list(buffers)  # state a training forward updates (BatchNorm's running statistics)
        self._exact: tuple | None = None
        self.device = torch.device(device)
        wide_device = self.device if self.device.type in ("cpu", "cuda") else torch.device("cpu")
        self.exact_model = copy.deepcopy(torch_model).to(wide_device).double()
        self.work = copy.deepcopy(torch_model).to(self.device)
        self.wide_device = wide_device
        self.rng = np.random.default_rng(seed)
        self.batched = None  # whether the candidate's reruns run as one batched call (None: not yet tried)

    def _run(self, model, weights: dict, X, y, dtype, mode=None):
        import torch
        from contextlib import nullcontext

        with torch.no_grad():
            state = model.state_dict()
            for n, v in weights.items():
                state[n].copy_(torch.as_tensor(np.asarray(v)).to(state[n].dtype))
        model.train()
        model.zero_grad(set_to_none=True)
        X = X.to(dtype) if X.is_floating_point() else X
        y = y.to(dtype) if y.is_floating_point() else y
        with mode if mode is not None else nullcontext():
            loss = self.loss(model, X, y)
            loss.backward()
        grads = {n: p.grad.detach().cpu().numpy().astype(np.float64) for n, p in model.named_parameters()
                 if p.requires_grad}
        if self.buffer_names:
            state = model.state_dict()
            self.last_buffers = {n: state[n].detach().cpu().numpy().astype(np.float64) for n in self.buffer_names}
        return float(loss.detach().cpu()), grads

    def _exact_at(self, weights: dict, X, y, mode: str):
        """float64 loss and gradients at ``weights`` on ``(X, y)``, the reference's float32 reruns, and
        the allowance of its ReLU ties (``conformance.pair.ties``), kept for the other side's call.
        The ties' noise is read from the first two unpermuted reruns (their ReLU inputs recorded as
        they run): the same draws as two reruns of their own would be."""
        import torch

        from .ties import Ties

        key = (id(weights), id(X), mode)
        if self._exact is None or self._exact[0] != key:
            r = step_rounding(mode)
            rel = 4 * (r.u + r.operand)
            Xw, yw = X.to(self.wide_device), y.to(self.wide_device)
            record = Ties()
            with part("float64 anchor"):
                loss, exact = self._run(self.exact_model, weights, Xw, yw, torch.float64, record)
            exact_buffers = getattr(self, "last_buffers", None) if self.buffer_names else None
            with part("measured rounding (torch's reruns)"):
                results, recorded = [], []
                for moved, perm in self._draw(weights, X.shape[0], rel):
                    rec = Ties() if record.inputs and perm is None and len(recorded) < 2 else None
                    Xj, yj = (X, y) if perm is None else (X[torch.as_tensor(perm, device=X.device)],
                                                          y[torch.as_tensor(perm, device=X.device)])
                    value, grads = self._run(self.work, moved, Xj, yj, torch.float32, rec)
                    results.append((value, grads, getattr(self, "last_buffers", None)))
                    if rec is not None:
                        recorded.append(rec.inputs)
            ties_allow = {n: np.zeros_like(v) for n, v in exact.items()}
            with part("tie arbitration"):
                count = self._ties(record, recorded, weights, Xw, yw, exact, ties_allow, rel)
            self._exact = (key, loss, exact, ties_allow, count, exact_buffers, results)
        return self._exact[1:]

    def _draw(self, weights: dict, n: int, rel: float) -> list:
        """``MEASURED.reruns`` reruns' weights (every trainable one moved by ``rel`` in a random
        direction) and batch orders (every other one permuted)."""
        params = {p for p, _ in self.work.named_parameters()}
        runs = []
        for j in range(MEASURED.reruns):
            moved = {k: (np.asarray(v, np.float64) * (1 + rel * self.rng.choice([-1.0, 1.0], size=np.shape(v)))
                         ).astype(np.float32) if k in params else v for k, v in weights.items()}
            perm = self.rng.permutation(n) if self.permute and j % 2 == 1 and n > 1 else None
            runs.append((moved, perm))
        return runs

    def _ties(self, record, recorded, weights, Xw, yw, exact, ties_allow, rel) -> int:
        """Adds to ``ties_allow`` what flipping the step's ReLU ties moves each gradient by; returns their count."""
        import torch

        from .ties import Ties, tie_masks

        if not record.inputs:  # no ReLU: nothing to arbitrate
            return 0
        masks = tie_masks(record.inputs, recorded, MEASURED.margin, rel)
        count = int(sum(int(m.sum()) for m in masks))
        if count:
            for on in (True, False):
                _, forced = self._run(self.exact_model, weights, Xw, yw, torch.float64, Ties(masks, on))
                for n in ties_allow:
                    ties_allow[n] += np.abs(forced[n] - exact[n])
        return count

    def bounds(self, weights: dict, X, y, mode: str, side: str | None = None) -> MeasuredBounds:
        r = step_rounding(mode)
        rel = 4 * (r.u + r.operand)
        exact_loss, exact, ties, ambiguous, exact_buf, reference_runs = self._exact_at(weights, X, y, mode)
        candidate = self.candidate is not None and side == self.names[0]
        dev = {n: np.zeros_like(v) for n, v in exact.items()}
        dev_buf = {n: np.zeros_like(v) for n, v in (exact_buf or {}).items()}
        dev_loss = 0.0
        if candidate:  # the candidate's own spread around its unperturbed result, the centre first
            with part("measured rounding (MLX's reruns)"):
                Xn, yn = X.detach().cpu().numpy(), y.detach().cpu().numpy()
                results = self._candidate_runs([(weights, None)] + self._draw(weights, X.shape[0], rel), Xn, yn)
                (base_loss, base, base_buf), results = results[0], results[1:]
        else:  # the reference's reruns (run with the float64 anchor) against float64
            results, base_loss, base, base_buf = reference_runs, exact_loss, exact, exact_buf
        for loss, grads, buf in results:
            dev_loss = max(dev_loss, abs(loss - base_loss))
            for n in dev_buf:
                dev_buf[n] = np.maximum(dev_buf[n], np.abs(buf[n] - base_buf[n]))
            for n in dev:
                dev[n] = np.maximum(dev[n], np.abs(np.asarray(grads[n], np.float64) - base[n]))
        m, floor = MEASURED.margin, MEASURED.floor * r.u
        grads = {n: m * dev[n] + floor * np.abs(exact[n]) + ties[n] + 16 * r.eta for n in dev}
        buffers = {n: m * dev_buf[n] + floor * np.abs(exact_buf[n]) + 16 * r.eta for n in dev_buf} if exact_buf else None
        return MeasuredBounds(grads, m * dev_loss + floor * abs(exact_loss), exact, exact_loss, ambiguous,
                              buffers=buffers, exact_buffers=exact_buf)

    def _candidate_runs(self, runs: list, Xn: np.ndarray, yn: np.ndarray) -> list:
        """The candidate's (loss, gradients, running statistics) for each ``(weights, permutation)``:
        one batched call (``batched.gradients``, every run at once) where the model allows it, else
        one call each. Either way the same function of the same inputs: the batched call's results
        are those of the calls one by one (``tests/test_pair_shortcuts.py``)."""
        from . import batched

        inputs = [(Xn, yn) if perm is None else (Xn[perm], yn[perm]) for _, perm in runs]
        if self.batched is not False:
            out = batched.gradients(self.candidate, [w for w, _ in runs], inputs, self.buffer_names)
            self.batched = out is not None
            if out is not None:
                return out
        return [(*self.candidate.gradients(w, *self.candidate.arrays(Xj, yj)), self._candidate_buffers())
                for (w, _), (Xj, yj) in zip(runs, inputs)]

    def _candidate_buffers(self) -> dict[str, np.ndarray] | None:
        """The running statistics the candidate's last training forward left, under torch's names."""
        if not self.buffer_names:
            return None
        w = self.candidate.weights()
        return {n: np.asarray(w[n], np.float64) for n in self.buffer_names}
