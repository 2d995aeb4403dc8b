"""How much of a difference between the two sides' first-step results their inputs explain.

Each side standardizes the data itself, so the two pipelines start from inputs that differ within
the data budget; the static first-step checks (initial logits, loss and gradients) allow, on top
of their own budget, the float64 effect of that difference.
"""

from __future__ import annotations

import numpy as np


class InputEffect:
    """How much of a first-step difference the inputs explain. Each side standardizes the data
    itself, so the two start from inputs that differ (within the data budget); float64 at each
    side's own inputs gives the part of the logits', loss's and gradients' difference that comes
    from there, allowed on top of the comparison's own budget."""

    def __init__(self, weights: dict, X_mlx, X_torch, y):
        self.weights, self.X = weights, (np.asarray(X_mlx, np.float64), np.asarray(X_torch, np.float64))
        self.y, self._effect = np.asarray(y, np.float64), None

    def _compute(self) -> dict:
        if self._effect is None:
            if np.array_equal(*self.X):
                self._effect = {}
            else:
                from . import steps

                at = [(steps.forward("torch", self.weights, X, "float64", "cpu"),
                       *steps.loss_and_gradients("torch", self.weights, X, self.y, "float64", "cpu")) for X in self.X]
                (lm, sm, gm), (lt, st, gt) = at
                self._effect = {"logits": np.abs(lm - lt), "loss": abs(sm - st),
                                "grads": {k: np.abs(gm[k] - gt[k]) for k in gt}}
        return self._effect

    def of(self, what: str):
        """``extra`` for ``compare`` (``extras`` for ``compare_tree``), or None when the inputs agree."""
        effect = self._compute().get(what)
        if effect is None:
            return None
        label = "float64 effect of the inputs' difference"
        return {k: (v, label) for k, v in effect.items()} if isinstance(effect, dict) else (effect, label)
