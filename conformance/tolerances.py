"""The one tolerance table: how far MLX may be from PyTorch, per quantity, dtype and precision mode.

Every comparison in this project takes its tolerance from ``tolerance()``. An element passes when
``|actual - expected| <= atol + rtol * |expected|`` (the rule of ``torch.testing`` and
``numpy.isclose``). Each entry states why it has its value: the spread measured between two
correct computations (MLX CPU against torch CPU, and torch float32 against float64), times a
stated margin. Regenerate the measurements with ``python -m conformance.spread``.

Keys:
- ``kind``: what is compared (see ``KINDS``);
- ``dtype``: "float32", "bfloat16", "float16";
- ``mode``: "ieee" (float32 matmuls in float32) or "tf32" (float32 matmuls on TF32 tensor cores:
  MLX's CUDA default, torch's with ``allow_tf32``).

Trajectory budgets grow with the step number ``k``: ``tol(k) = tol(1) * (1 + growth * (k - 1))``.
Rounding differences add up step by step (a random walk would grow like sqrt(k); Adam's
normalised update can also flip the sign of a step on elements whose gradient is at rounding
level, which grows linearly), so growth is linear: the conservative of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("data", "forward", "loss", "gradient", "optimizer_state", "trajectory", "metric", "decision")
DTYPES = ("float32", "bfloat16", "float16")
MODES = ("ieee", "tf32")


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str
    growth: float = 0.0  # per-step growth for trajectories

    def at_step(self, step: int | None) -> "Tolerance":
        """This tolerance widened for the ``step``-th step of a trajectory (step 1 = as is)."""
        if not step or self.growth == 0.0:
            return self
        f = 1.0 + self.growth * (step - 1)
        return Tolerance(self.rtol * f, self.atol * f, self.reason, self.growth)


EXACT = Tolerance(0.0, 0.0, "integer counts and decisions (confusion matrix, stopping epoch, learning-rate "
                  "reductions) come from identical comparisons and must be identical")

_TABLE: dict[tuple[str, str, str], Tolerance] = {
    # ---- float32, IEEE matmuls -------------------------------------------------------------
    ("data", "float32", "ieee"): Tolerance(
        1e-5, 1e-6,
        "standardized features are O(1); float32 mean and variance of n samples round differently "
        "in MLX and torch (reduction order): measured <= 6e-7 abs up to n = 4096; margin ~2x"),
    ("forward", "float32", "ieee"): Tolerance(
        1e-5, 1e-6,
        "logits of SimpleNN: measured MLX-torch <= 5.8e-7 of max|logit| (torch-float64: 2.4e-7) "
        "for hidden <= 256; margin ~2x on atol, rtol covers large logits"),
    ("loss", "float32", "ieee"): Tolerance(
        1e-5, 1e-7,
        "mean BCE: MLX's float32 sum over n samples is less accurate than torch's (measured "
        "MLX-float64 1.8e-6 rel, torch-float64 9.6e-8 rel at n = 4096); margin ~5x"),
    ("gradient", "float32", "ieee"): Tolerance(
        1e-4, 1e-6,
        "parameter gradients are means over n samples with cancellation (e.g. fc2.bias = mean of "
        "sigmoid - y): measured max |MLX-torch| <= 1.4e-4 of the tensor's max in the worst case, "
        "and torch-float64 shows the same 1.4e-4, so this is float32 rounding, not a disagreement"),
    ("optimizer_state", "float32", "ieee"): Tolerance(
        1e-4, 1e-7,
        "Adam moments after one step are (1-beta) * grad and (1-beta2) * grad^2: they inherit the "
        "gradient budget (1e-4 rel) with atol scaled by 1-beta1 = 0.1"),
    ("trajectory", "float32", "ieee"): Tolerance(
        1e-4, 1e-6,
        "loss, parameters and moments after k Adam steps: at k = 1 as gradients; MLX-torch measured "
        "2.4e-6 abs in the loss after 100 steps (document data, lr 1e-3: 2.4e-7). Growth 0.05/step: "
        "the budget at k = 100 is ~6x the first step's",
        growth=0.05),
    ("metric", "float32", "ieee"): Tolerance(
        0.0, 1e-12,
        "metrics are ratios of integer counts computed the same way on both sides: identical up "
        "to float64 rounding"),
}


def tolerance(kind: str, dtype: str = "float32", mode: str = "ieee", step: int | None = None) -> Tolerance:
    """The tolerance for comparing ``kind`` in ``dtype`` under precision ``mode`` (at ``step``)."""
    if kind not in KINDS:
        raise KeyError(f"unknown kind {kind!r}; the table knows {', '.join(KINDS)}")
    if kind == "decision":
        return EXACT
    key = (kind, dtype, mode)
    if key not in _TABLE:
        raise KeyError(f"no tolerance for {kind} in {dtype} under {mode} matmuls: add a measured entry to conformance/tolerances.py")
    return _TABLE[key].at_step(step)


def table() -> dict[tuple[str, str, str], Tolerance]:
    """A copy of the whole table, for reports and the porting guide."""
    return dict(_TABLE)
