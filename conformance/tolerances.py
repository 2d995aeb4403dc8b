"""The one tolerance table: how far MLX may be from PyTorch, per quantity, dtype and precision mode.

Every comparison in this project takes its tolerance from ``tolerance()``. An element passes when

    |actual - expected| <= atol + rtol * |expected|,   atol = table atol + atol_scale * scale

(the rule of ``torch.testing`` and ``numpy.isclose``, with an absolute part that may follow a
magnitude). ``scale`` is the tensor's largest ``|expected|`` unless the comparison names another
(see each entry): rounding errors of sums follow the size of what was summed, not of the result,
which can be near zero by cancellation. Each entry states why it has its value: the spread
measured between correct computations (MLX CPU against torch CPU; each against float64 from the
same rounded inputs; torch against itself with the sums in another order) and the margin kept
over the worst of them. ``python -m conformance.spread`` measures every number cited here (on
two CPU cores in about half a minute) and fails if any exceeds its entry.

Keys:
- ``kind``: what is compared (see ``KINDS``);
- ``dtype``: "float32", "bfloat16", "float16" ("float64": standardization on the CPU only);
- ``mode``: "ieee" (float32 matmuls in float32) or "tf32" (float32 matmuls on TF32 tensor cores:
  MLX's CUDA default, torch's with ``allow_tf32``). TF32 changes float32 matmuls only: other
  dtypes use their "ieee" entry in either mode.

Unit roundoffs: float32 u = 2^-24 = 6.0e-8; bfloat16 2^-8 = 3.9e-3; float16 and TF32 (10
explicit mantissa bits) 2^-11 = 4.9e-4.

Trajectory budgets grow with the step number ``k``: the absolute parts (``atol`` and
``atol_scale``) are multiplied by ``1 + growth * (k - 1)``; ``rtol`` covers the rounding of the
value itself and does not grow. Differences of the updates add up step by step: as a random walk
they would grow like sqrt(k), and a systematic difference (MLX's float32 bias correction, below)
grows like k; the measured growth lies between the two, so growth is linear. A loss or logits
computed after k steps (``tolerance(kind, step=k, lr=lr)``) get their own entry plus the
trajectory entry's drift at step k. The scales the comparisons name: ``data_scale`` (standardized
data), ``gradient_scales`` (gradients), ``adam_state_scales`` (Adam's moments), the learning rate
(trajectories).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

KINDS = ("data", "forward", "loss", "gradient", "optimizer_state", "trajectory", "metric", "decision", "exchange")
EXACT_KINDS = ("decision", "exchange")
DTYPES = ("float32", "bfloat16", "float16", "float64")  # float64: the scaler's entry only (CPU)
MODES = ("ieee", "tf32")


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str
    growth: float = 0.0  # per-step growth for trajectories
    atol_scale: float = 0.0  # more absolute allowance: this times a scale (the tensor's largest |expected| by default)
    scale_of: str | None = None  # the magnitude atol_scale multiplies, when the comparison must name it

    def at_step(self, step: int | None) -> "Tolerance":
        """This tolerance at the ``step``-th step of a trajectory (step 1 = as is): the absolute
        parts grow by ``1 + growth * (step - 1)``; rtol, the rounding of the value itself, does not."""
        if not step or self.growth == 0.0:
            return self
        f = 1.0 + self.growth * (step - 1)
        return Tolerance(self.rtol, self.atol * f, self.reason, self.growth, self.atol_scale * f, self.scale_of)


EXACT = Tolerance(0.0, 0.0, "decisions (confusion matrix, predicted labels, stopping and best epoch, learning-rate "
                  "reductions) come from identical comparisons, and exchanged values (weights copied between the "
                  "frameworks) from copies: identical")

GRADIENT_SCALE = "mean|d logit/d theta| (gradient_scales); 1/n for dBCE/dlogits"
_SPREAD = "measured by python -m conformance.spread (mlx 0.32.4, torch 2.13 CPU, 2 cores)"

_TABLE: dict[tuple[str, str, str], Tolerance] = {
    # ---- float32, IEEE matmuls: measured -----------------------------------------------------
    ("data", "float32", "ieee"): Tolerance(
        1e-5, 2e-5, atol_scale=2.4e-7, scale_of="|mean|/std", reason=
        "standardized features z = (x - mean) / std; scale: |mean|/std of each training column "
        "(data_scale). Rounding the mean costs u |mean| / std whoever sums (atol_scale 4u); the "
        "relative error of std lands as |z| times it (rtol); a sum of n values errs ~sqrt(n) u in "
        "units of std where it is sequential (atol). Both scalers now sum in blocks (MLX's column_sum: "
        "a tree of log_16 n levels; torch's cascade), shift by the first row and take a two-pass "
        "variance, so their error no longer grows with n (6.1e-7 at a million rows, registry entry "
        "mlx-cpu-sequential-sum; scikit-learn anchors in tests/test_anchor_scaler.py, -m slow to "
        "millions of rows). Over the document and synthetic n <= 4096, d <= 8, |mean|/std up to 169: "
        "MLX-float64 6.1e-7 abs (share 0.010), MLX-torch 7.2e-7 (0.015), torch-float64 6.7e-7 (0.013), "
        "torch with its rows reordered 7.2e-7 (0.016): margin 62x. The entry keeps the values it was "
        "set to for MLX's earlier sequential sums (share 0.20 then); tightening it would need its own "
        "derivation. " + _SPREAD),
    ("forward", "float32", "ieee"): Tolerance(
        1e-5, 1e-7, atol_scale=1e-6, reason=
        "logits of SimpleNN: each sums in*hidden products whose rounding follows the batch's largest "
        "logit, not its own size (a logit near 0 is a cancellation): atol_scale x max|logit|. From "
        "the same inputs, (n, in, hidden) up to (4096, 16, 256): MLX-torch 5.5e-7 of max|logit| "
        "(share 0.24), MLX-float64 5.1e-7 (0.21), torch-float64 2.4e-7, torch with the hidden units "
        "permuted 3.2e-7: margin 4.3x. In the lockstep each side starts from its own standardized "
        "data; the runner allows the float64 effect of that difference on top, and what remains is "
        "share 0.16 over 42 runs. rtol and atol are floors for lone large logits and all-zero "
        "outputs. " + _SPREAD),
    ("loss", "float32", "ieee"): Tolerance(
        1e-5, 2e-6, reason=
        "mean BCE. rtol: MLX's CPU sums the n per-sample terms in sequence, so its mean errs 1.8e-6 "
        "relative at n = 4096 (logits N(0, 10); MLX-torch share 0.18), torch's 5.9e-7, torch with the "
        "samples reordered 1.8e-7. atol: a confidently right sample's tiny term is computed with an "
        "absolute error of up to 4.8e-7 however small it is, on each side in its own case: MLX's "
        "logaddexp(0, x) - x y cancels for y = 1, x >> 0; torch's log(1 + e^x) without log1p for "
        "y = 0, x << 0 (over logits in [-40, 40]; on 16 such samples MLX-torch 9.4e-8, 4.8e-5 "
        "relative, share 0.05). Margin 5.7x, for n <= 4096. " + _SPREAD),
    ("gradient", "float32", "ieee"): Tolerance(
        1e-5, 1e-9, atol_scale=1e-6, scale_of=GRADIENT_SCALE, reason=
        "parameter gradients and dBCE/dlogits sum per-sample terms (sigmoid(z) - y) / n x dz/dtheta "
        "whose parts are of size 1 even where their difference is tiny, so an element's rounding "
        "follows the size of its terms (gradient_scales; 1/n for dBCE/dlogits; 0 for "
        "dBCE/dprobabilities, which does not cancel and is judged by rtol). From the same inputs "
        "(model shapes up to (4096, 16, 256); BCE on logits N(0, 10), +-100, confidently right "
        "batches, probabilities 0 and 1): MLX-torch 1.7e-6 of the terms (share 0.18), MLX-float64 "
        "0.18, torch-float64 0.12 (torch's sigmoid(x) - 1 is 0 above x = 17 where the gradient is "
        "-e^-x), torch with the samples reordered 0.12: margin 5.5x. In the lockstep each side "
        "differentiates at its own standardized data; the runner allows the float64 effect of that "
        "difference on top (a feature standardized to 1e-3 carries its 2e-7 absolute difference into "
        "the gradient at 2e-4 relative: hypothesis found it), and what remains is share 0.05 over "
        "42 runs. " + _SPREAD),
    ("optimizer_state", "float32", "ieee"): Tolerance(
        1e-5, 1e-12, atol_scale=4e-6, growth=0.1, reason=
        "Adam's moments after k steps (adam_state_scales): exp_avg averages gradients that can cross "
        "zero, so its scale is the size of those gradients (sqrt(max exp_avg_sq)) and, in training, "
        "of the terms they sum (gradient_scales); exp_avg_sq averages squares and is judged against "
        "its largest value, or the gradients' rounding entering it. Fed identical gradients (100 "
        "steps, lr 1e-3 and 1e-2, elements 1e-8..1): MLX-torch share 0.05. In training (lr 1e-3, "
        "<= 120 steps: document; synthetic n <= 256, hidden <= 32, full batch and minibatch): "
        "MLX-torch share 0.18 (fc1.bias.exp_avg at step 11), torch-float64 0.15: margin 5.7x, with "
        "growth 0.1/step as the parameters behind the gradients drift apart. " + _SPREAD),
    ("trajectory", "float32", "ieee"): Tolerance(
        1e-5, 1e-8, atol_scale=4e-5, growth=1.0, scale_of="lr", reason=
        "parameters after k Adam steps (and the drift added to a loss or logits after k steps); "
        "scale: the learning rate (Adam moves a parameter by about lr a step, so differences of the "
        "updates add up to k lr times their relative size). MLX computes the bias correction "
        "1 - beta2^k in float32 from beta2 rounded to float32 (0.99900001), a systematic 6e-6 "
        "relative difference of every update from torch's float64 one. Adam fed identical gradients, "
        "100 steps at lr 1e-2: MLX-torch 3.9e-6 (9e-6 lr k; torch-float64 7e-7), share 0.18. "
        "Training at lr 1e-3 (document, 100 epochs; synthetic n <= 256, hidden <= 32, <= 120 steps, "
        "full batch and minibatch): MLX-torch 1.0-1.4e-6 at step 100, growing between sqrt(k) and "
        "k, share 0.15: margin 5.6x, growth linear (step k's drift budget is k times step 1's). Not "
        "covered: a sample closer to a ReLU kink than the two runs' parameters are to each other "
        "lands on different sides and the gradient jumps (synthetic n = 256, lr 1e-2, step 98: MLX "
        "and torch part by 5e-4 while torch stays within 3e-6 of float64); rtol is the value's own "
        "rounding and does not grow. Read by the suite's trajectory checks (tests/test_optimizer.py, "
        "test_properties.py, the guide's proofs), not by the verdict, whose local checks derive their "
        "budgets; bounded from above (tests/test_compare.py): every update 1.01 x 5.1e-5 relative larger "
        "(atol / lr + atol_scale + rtol at lr 1e-2) fails after 50 steps, 0.99 x passes. " + _SPREAD),
    ("metric", "float32", "ieee"): Tolerance(
        0.0, 1e-12, reason=
        "accuracy, precision, recall and F1 are ratios of integer counts, computed by the same "
        "Python arithmetic on both sides: identical up to float64 rounding"),
    # ---- float64 standardization (CPU): derived, against scikit-learn ----------------------------
    ("data", "float64", "ieee"): Tolerance(
        2e-14, 1e-13, atol_scale=4.4e-16, scale_of="|mean|/std", reason=
        "standardized features computed in float64 (MLX and torch on the CPU; tests/test_anchor_scaler.py "
        "against scikit-learn's float64 StandardScaler). Derived from the scaler's algorithm, u = "
        "2^-53 = 1.1e-16: column_sum's tree sums 16 values a level, so a sum errs at most 15u per "
        "level relative to the sum of |terms| (6 levels up to 16.7 million rows: 90u); the variance "
        "then errs <= 90u, the std <= 45u, which lands as |z| times it, plus 2u for the subtraction "
        "and the division: rtol 47u = 5.2e-15, kept with a margin of 4; the mean of the shifted "
        "column errs <= 90u times the mean |z - z_first row| (<= 5 for the columns tested): atol "
        "450u = 5e-14, margin 2; a mean rounded to float64 (mean_ = shift_ + centre_, or a "
        "reference's) costs u |mean| / std: atol_scale 4u. The reference's own summation error "
        "(scikit-learn's sequential float64 sum) is allowed on top by the test, with its bound. "
        "Measured (300 hypothesis examples, n <= 200, offsets up to 1e6 spreads; 6 at 1e5..3e6 "
        "rows): worst share 0.022 (2.9e-15), MLX and torch alike"),
    # ---- bfloat16 and float16: measured, forward / loss / gradients only ------------------------
    ("forward", "bfloat16", "ieee"): Tolerance(
        1e-2, 1e-2, reason=
        "2.5u of bfloat16: both frameworks accumulate bfloat16 matmuls in float32 and round once "
        "(MLX and torch CPU bitwise identical on every case); against float64 from the same "
        "bfloat16 inputs both err 3.5e-3 of max|logit| (0.9u; share 0.22): margin 4.7x. " + _SPREAD),
    ("loss", "bfloat16", "ieee"): Tolerance(
        2e-2, 2e-2, reason=
        "5u of bfloat16: MLX rounds every operation of the loss to bfloat16, torch's kernel computes "
        "in float32 and rounds once (logits +-100: MLX 22.375, torch 22.25, one ulp; share 0.27); "
        "MLX-float64 share 0.24 (confidently right logits cancel to u |x| in logaddexp(0, x) - x y): "
        "margin 3.7x. " + _SPREAD),
    ("gradient", "bfloat16", "ieee"): Tolerance(
        2e-2, 2e-2, reason=
        "5u of bfloat16, as the loss: MLX-torch share 0.13 (dBCE/dprobabilities, n = 5), MLX-float64 "
        "0.07, torch-float64 0.09: margin 7.7x. " + _SPREAD),
    ("forward", "float16", "ieee"): Tolerance(
        1.25e-3, 1.25e-3, reason=
        "2.5u of float16: MLX and torch CPU bitwise identical; against float64 both err 4.1e-4 of "
        "max|logit| (0.8u; share 0.22): margin 4.6x. " + _SPREAD),
    ("loss", "float16", "ieee"): Tolerance(
        2.5e-3, 2.5e-3, reason=
        "5u of float16, as bfloat16's: MLX-float64 share 0.25 (n = 5, logits N(0, 10), all targets "
        "one: the cancellation above), MLX-torch 0.19, torch-float64 0.12: margin 4.1x. " + _SPREAD),
    ("gradient", "float16", "ieee"): Tolerance(
        2.5e-3, 2.5e-3, reason=
        "5u of float16: MLX-torch share 0.29 (dBCE/dprobabilities, n = 5), MLX-float64 0.17, "
        "torch-float64 0.17: margin 3.5x. Probabilities that round to 0 or 1 are left out: their "
        "+-1e12/n gradients overflow float16 on both sides. " + _SPREAD),
    # ---- float32 with TF32 matmuls: derived, to be checked on a GPU -----------------------------
    ("data", "float32", "tf32"): Tolerance(
        1e-5, 2e-5, atol_scale=2.4e-7, scale_of="|mean|/std", reason=
        "no matmul: as in IEEE mode (GPU reductions are tree-shaped, at least as accurate as the "
        "CPU's sequential sums the IEEE entry covers)"),
    ("forward", "float32", "tf32"): Tolerance(
        2e-3, 1e-6, atol_scale=4e-3, reason=
        "derived, not measured here: TF32 rounds each matmul's inputs to 10 mantissa bits "
        "(u = 4.9e-4) and accumulates in float32, so each product errs up to 2u and a logit, after "
        "two matmuls, up to ~4u of the sum of |terms| (max|logit| standing for it): atol_scale 8u, "
        "2x over that bound; rtol 4u for lone large logits. To be checked on an H200 "
        "(python -m conformance.spread --device gpu)"),
    ("loss", "float32", "tf32"): Tolerance(
        2e-3, 2e-3, reason=
        "derived: |d loss| <= mean|sigmoid - y| x max|d logit| <= 4u max|logit|, about 4u = 2e-3 for "
        "logits O(1). DESIGN.md's H200 measurement: MLX TF32 against torch, document data, 100 "
        "steps: 1.2e-5 in the loss, 160x inside. To be checked on an H200"),
    ("gradient", "float32", "tf32"): Tolerance(
        4e-3, 1e-9, atol_scale=8e-3, scale_of=GRADIENT_SCALE, reason=
        "derived: the backward pass adds two TF32 matmuls (X^T delta, delta W^T) to the forward's "
        "4u error in the logits: ~16u = 8e-3 of the size of the summed terms (gradient_scales); rtol "
        "8u. To be checked on an H200"),
    ("optimizer_state", "float32", "tf32"): Tolerance(
        4e-3, 1e-12, atol_scale=8e-3, growth=0.1, reason=
        "derived: Adam's moments inherit the gradients' TF32 error (8e-3 of the scale, as the "
        "gradient entry), growing as in IEEE mode. To be checked on an H200"),
    ("trajectory", "float32", "tf32"): Tolerance(
        1e-5, 1e-8, atol_scale=4.4e-3, growth=1.0, scale_of="lr", reason=
        "Adam's normalized update m / sqrt(v) carries the gradients' relative error, a few u of TF32 "
        "(u = 2^-11) per step, so parameters drift apart linearly in the step (scale: the learning "
        "rate, as in IEEE mode). Derived first as 4u lr = 2e-3 lr a step; measured on the H200 "
        "(mlx 0.32.4, CUDA): MLX's TF32 GPU run against its IEEE CPU run drifted 7.9e-5 in fc1.bias "
        "by step 36 at lr 1e-3 (2.2e-3 lr a step, 4.5u; the float64 rerun put the whole error on "
        "the TF32 side: 7.9e-5 against 4.5e-8), MLX TF32 against torch TF32 used at most 0.21 of the "
        "derived budget. Budget: the measured 4.5u a step with a margin of 2, 9u lr = 4.4e-3 lr. Bounded "
        "from above as the IEEE entry (tests/test_compare.py: updates 1.01 x 4.41e-3 relative larger fail)"),
    ("metric", "float32", "tf32"): Tolerance(
        0.0, 1e-12, reason="as in IEEE mode: ratios of identical integer counts"),
}


DRIFTING = ("loss", "forward")  # values recomputed after training: their own budget plus the drift of k steps


def tolerance(kind: str, dtype: str = "float32", mode: str = "ieee", step: int | None = None,
              lr: float | None = None) -> Tolerance:
    """The tolerance for comparing ``kind`` in ``dtype`` under precision ``mode`` (at ``step``).

    A loss or logits after ``step`` training steps at learning rate ``lr`` (both given) get their
    own entry plus the trajectory entry's drift at that step, ``atol + atol_scale * lr``: the
    parameters they are computed from have drifted that far apart."""
    if kind not in KINDS:
        raise KeyError(f"unknown kind {kind!r}; the table knows {', '.join(KINDS)}")
    if kind in EXACT_KINDS:
        return EXACT
    if mode not in MODES:
        raise KeyError(f"unknown precision mode {mode!r}; the table knows {', '.join(MODES)}")
    if dtype != "float32":
        mode = "ieee"  # TF32 changes float32 matmuls only
    key = (kind, dtype, mode)
    if key not in _TABLE:
        raise KeyError(f"no tolerance for {kind} in {dtype} under {mode} matmuls: add a measured entry to conformance/tolerances.py")
    entry = _TABLE[key]
    if kind in DRIFTING and step is not None:
        if lr is None:
            raise ValueError(f"a {kind} after {step} training steps needs the learning rate (lr=) for its drift")
        drift = tolerance("trajectory", dtype, mode, step)
        return replace(entry, atol=entry.atol + drift.atol + drift.atol_scale * lr,
                       reason=f"{entry.reason} After {step} steps at lr {lr:g}, plus the trajectory entry's drift "
                              f"{drift.atol + drift.atol_scale * lr:.2g}: {drift.reason}")
    return entry.at_step(step)


def table() -> dict[tuple[str, str, str], Tolerance]:
    """A copy of the whole table, for reports and the porting guide."""
    return dict(_TABLE)


def data_scale(X_train):
    """The magnitudes the "data" entry's ``atol_scale`` multiplies, one per column (broadcast over
    the rows): ``|mean_j| / std_j`` of the training columns in float64; a constant column counts
    with std 1, as the scaler leaves it unscaled.

    Standardizing ``x`` to ``(x - mean) / std`` in a float format rounds the mean to ``u |mean|``
    (``u`` the unit roundoff), which lands in the result divided by ``std``: the error of a
    standardized value is about ``u (|mean| / std + 2 |z|)`` plus ``|z|`` times the relative
    error of ``std``, however the sums are ordered."""
    import numpy as np

    X = np.asarray(X_train, dtype=np.float64)
    if X.size == 0:
        return np.zeros(X.shape[1:] or (0,))
    std = X.std(axis=0)
    return np.abs(X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def adam_state_scales(state: dict, gradient_scales: dict | None = None, beta2: float = 0.999) -> dict:
    """``compare_tree``'s ``scales`` for Adam's state (PyTorch names).

    ``<p>.exp_avg`` averages gradients that can cross zero, so its rounding follows the size of
    the gradients it averages, not its own: ``sqrt(max exp_avg_sq)`` of the same parameter (a
    root mean square of them) and, in training, the size of the terms those gradients sum
    (``gradient_scales`` of the step, elementwise), whichever is larger. ``<p>.exp_avg_sq``
    averages squares and never cancels, but a gradient's own rounding ``d g`` enters it as
    ``2 (1 - beta2) |g| d g``: its scale is its largest value or, in training,
    ``2 sqrt(1 - beta2) sqrt(exp_avg_sq)`` times that size of terms."""
    import numpy as np

    out = {}
    for key in state:
        if not key.endswith(".exp_avg") or key + "_sq" not in state:
            continue
        v = np.abs(np.asarray(state[key + "_sq"], dtype=np.float64))
        rms = float(np.sqrt(v.max(initial=0.0)))
        terms = None if gradient_scales is None else gradient_scales.get(key[:-len(".exp_avg")])
        if terms is None:
            out[key] = (rms, "sqrt(max exp_avg_sq)")
            continue
        terms = np.asarray(terms[0] if isinstance(terms, tuple) else terms, dtype=np.float64)
        out[key] = (np.maximum(rms, terms), "max(sqrt(max exp_avg_sq), size of the gradients' terms)")
        out[key + "_sq"] = (np.maximum(v.max(initial=0.0), 2 * np.sqrt((1 - beta2) * v) * terms),
                            "max(max exp_avg_sq, 2 sqrt((1 - beta2) exp_avg_sq) x size of the gradients' terms)")
    return out


def gradient_scales(weights: dict, X) -> dict:
    """``compare_tree``'s ``scales`` for the gradients of SimpleNN's mean BCE on ``X``: per
    element, the size of the terms that element sums, ``mean_i |d logit_i / d theta|`` (the
    gradient with every ``sigmoid(z_i) - y_i`` replaced by its bound 1, in absolute values, and
    each hidden activation by the size of the terms it sums, ``|x| |W1|^T + |b1|``).

    Each sample adds ``(sigmoid(z_i) - y_i) / n * d logit_i / d theta``; ``sigmoid(z_i)`` and ``y_i``
    are of size 1, so their difference carries a rounding error of size u even where it is tiny
    (a confidently right prediction), and so does the sum. Judging against the gradient's own
    largest element would fail every batch the model already gets right."""
    import numpy as np

    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    X = np.asarray(X, dtype=np.float64)
    z1 = X @ w["fc1.weight"].T + w["fc1.bias"]
    active = (z1 > 0).astype(np.float64)
    w2 = np.abs(w["fc2.weight"][0])
    n = max(X.shape[0], 1)
    label = "mean|d logit/d theta|"
    return {"fc1.weight": (w2[:, None] * (active.T @ np.abs(X)) / n, label),
            "fc1.bias": (w2 * active.mean(axis=0), label),
            # h = relu(X W1^T + b1) can itself be a cancellation: the size of its terms, not h
            "fc2.weight": ((np.abs(X) @ np.abs(w["fc1.weight"]).T + np.abs(w["fc1.bias"])).mean(axis=0)[None, :], label),
            "fc2.bias": (np.ones(1), label)}


# ---- local step checks: the constants of the derived per-element bounds ----------------------------
#
# A local (teacher-forced) check starts both frameworks from the same state (weights, Adam's
# moments, step count, learning rate, batch) and compares one step. Its budget is not a number in
# this table but a bound computed per element from the math of the step (conformance.bounds for
# SimpleNN's gradient and loss; conformance.intervals for Adam's update): these are the constants
# that derivation uses. They do not depend on run length, width, learning rate or device.

U32 = 2.0 ** -24  # float32 unit roundoff


@dataclass(frozen=True)
class StepRounding:
    """How far one float32 evaluation of a training step may be from exact arithmetic."""

    u: float  # unit roundoff of the accumulation (float32)
    operand: float  # relative rounding of each matmul operand before multiplying (TF32: 2^-10)
    lam: float  # the confidence of the probabilistic bound on a sum of k terms
    sigmoid: float  # absolute error of sigmoid(z) - y, in units of u
    loss_term: float  # absolute error of one BCE term, in units of u (|z| + 1)
    update_rtol: float  # relative difference of Adam's update from the same inputs
    state: float  # rounding of Adam's moments, in units of u times the size of their terms
    reason: str
    eta: float = 2.0 ** -149  # below 2^-126 float32 is subnormal: a rounding errs by up to this, absolutely

    def gamma(self, k):
        """The relative error of a sum of ``k`` terms, against the sum of their magnitudes:
        ``u min(k, lam sqrt(k))`` (Higham and Mary's probabilistic bound; exact for small k)."""
        import numpy as np

        k = np.asarray(k, dtype=np.float64)
        return self.u * np.minimum(k, self.lam * np.sqrt(k))


_STEP_REASON = (
    "One float32 evaluation of a step, from the same float32 inputs. A sum of k terms errs by at most "
    "u min(k, lam sqrt(k)) times the sum of their magnitudes: k u is the worst case of any order, and "
    "lam sqrt(k) u holds with probability >= 1 - 2k exp(-lam^2/2) when rounding errors are independent "
    "(Higham and Mary, SIAM J. Sci. Comput. 2019), which MLX's sequential CPU sums and both "
    "frameworks' blocked BLAS and GPU reductions meet; lam = 4. sigmoid(z) - y: sigmoid rounds to "
    "within 2u of a value <= 1, and the difference with a 0/1 target once more: 4u absolute, however "
    "small the difference (a confidently right sample; measured over z in [-60, 60] and 200 000 draws "
    "of N(0, 20): MLX 1.42u, torch 1.49u). A BCE term, softplus(z) - z y, cancels to "
    "u (|z| + 1) absolute on each side in its own case (MLX's logaddexp for y = 1, z >> 0; torch's "
    "stable form for y = 0): 4u (|z| + 1) (measured: MLX 1.48, torch 1.51). Adam's update from the same moments: MLX computes the bias "
    "corrections in float32 from beta2 rounded to float32 (0.99900001), so 1 - beta2^t is 1.29e-5 "
    "relative off at t = 1 (and less later: 7.5e-6 at t = 1000) and the update 6.4e-6; the formula's "
    "own roundings (MLX about 8, torch about 5, each u of the update) add 7.7e-7: 7.2e-6 < update_rtol "
    "= 1e-5. Each side then rounds p - step to nearest, so the two may differ by a further 2u |p|: "
    "added exactly, which is why two sides one ulp apart use up to 0.96 of this budget (corpus). "
    "Moments: b m + (1 - b) g rounds three times on each side (MLX: b m, (1 - b) g and the sum; "
    "torch's lerp: g - m, the product and the sum), each within u of |b m| + (1 - b)|g|, and MLX's "
    "float32 coefficients 0.89999998 and 0.100000001 sum to 1 - 2.3e-8 (0.4u): 3.5u a side, state = 8u "
    "for both. AdamW's decoupled decay p (1 - lr wd) rounds the factor and the product on each side: "
    "4u |p| more. Subnormal values (below 2^-126) round to a fixed grid: each rounding may err by "
    "eta = 2^-149 absolutely however small the value, so every bound adds eta per rounding (an Adam "
    "moment of -2.69e-39 in the moons corpus run erred 7.0e-46 on torch's side, 1.09x the relative "
    "bound alone). ")
_STEP = {
    "ieee": StepRounding(U32, 0.0, 4.0, 4.0, 4.0, 1e-5, 8.0, reason=_STEP_REASON + "IEEE float32 matmuls: operands exact."),
    "tf32": StepRounding(U32, 2.0 ** -10, 4.0, 4.0, 4.0, 1e-5, 8.0, reason=_STEP_REASON + (
        "TF32 matmuls round each float32 operand to 10 mantissa bits before multiplying (relative error "
        "<= 2^-11 rounding to nearest, <= 2^-10 truncating: 2^-10 is taken, as hardware may truncate) "
        "and accumulate in float32: each product errs by 2 x 2^-10 relative, however the sum is ordered.")),
}


def step_rounding(mode: str) -> StepRounding:
    """The constants of the local step checks' bounds under float32 matmul ``mode``."""
    if mode not in _STEP:
        raise KeyError(f"unknown precision mode {mode!r}; the table knows {', '.join(_STEP)}")
    return _STEP[mode]


# ---- free-running runs: judged against an ensemble of perturbed reference runs ---------------------


@dataclass(frozen=True)
class FreeRunning:
    """How the candidate's free-running run is judged: against ``members`` reference runs perturbed
    at the scale the local rules allow, with a ``margin`` on the largest deviation among them."""

    members: int
    margin: float
    jitter: float  # relative perturbation of the initial weights, in units of the mode's rounding
    reason: str

    def jitter_of(self, mode: str) -> float:
        r = step_rounding(mode)
        return self.jitter * (r.u + r.operand)


FREE_RUNNING = FreeRunning(members=6, margin=10.0, jitter=4.0, reason=(
    "A free-running float32 run cannot be judged by a fixed budget: where training amplifies rounding "
    "(a ReLU kink crossed, Adam's tiny sqrt(v), minibatch chaos) two correct runs part by far more "
    "than any step's rounding. The reference is therefore run again, perturbed at the scale the local "
    "checks allow: twice with the learning rate scaled by 1 +- update_rtol (the largest systematic "
    "difference of an update the local rules accept, such as MLX's float32 bias correction, applied "
    "coherently at every step) and four times from initial weights moved by 4 (u + operand rounding) "
    "relative in random directions (4u in IEEE mode, 2^-10 in TF32). The candidate behaves like one "
    "more member: its deviation from the reference may be margin = 10 times the largest deviation any "
    "member has had up to that step (a running maximum: members' deviations cross zero now and then), "
    "plus the quantity's own rounding. "
    "Were the seven runs exchangeable, the chance that the candidate's deviation exceeds 10 times the "
    "largest of six others is 2.6e-6 for Gaussian deviations and 5.8e-4 for Student-t (3) tails "
    "(Monte Carlo, 1e7 draws; 4 members and margin 4 would give 3.9e-3). A loop-level bug (batches, "
    "schedule, restored weights) moves a run far beyond that. Decisions (stopping and best epoch) must "
    "lie within the members' range or be a tie the rule cannot decide; metrics within the members' "
    "range, or differ only at test samples whose logits the envelope puts within reach of 0."))


# ---- local step checks of an arbitrary model pair: measured noise ---------------------------------


@dataclass(frozen=True)
class MeasuredNoise:
    """How a model pair's local checks bound one side's rounding where no derivation exists: the
    reference's step recomputed ``reruns`` times in float32 from rounding-level perturbations, its
    spread around float64, times ``margin``, plus ``floor`` u of the value."""

    reruns: int
    margin: float
    floor: float
    reason: str


MEASURED = MeasuredNoise(reruns=8, margin=10.0, floor=8.0, reason=(
    "For SimpleNN the step's rounding is derived per element (conformance.bounds); for a model the "
    "harness does not know, it is measured, on each side. Each side's step is recomputed reruns = 8 "
    "times in float32, each with every weight moved by 4 (u + operand rounding) relative in a random "
    "direction, every other one with the batch's samples in another order as well, so that every sum "
    "over the batch is ordered differently and every matmul operand rounds differently. The reference's noise "
    "at an element is the largest deviation of its reruns from float64 (the anchor, from the same "
    "float32 state); the candidate's is the largest deviation of its reruns from its own unperturbed "
    "result (a systematic difference moves every rerun alike and so does not widen it). A side may "
    "be margin = 10 times its noise plus 8u of the value (and eta per rounding) away. Measured on each "
    "side because algorithms differ: MLX's LSTM gradient (weight_ih, 384 cancelling terms) erred 20x "
    "more than torch's reruns at one element (1.4e-9, examples/rnn.py). Adam's amplification of a tiny sqrt(v) is not measured but "
    "propagated (conformance.intervals) from these gradient bounds, as for SimpleNN. Limits: a "
    "candidate whose sums are much less accurate than the reference's (MLX's sequential CPU sums over "
    "very large batches) can exceed ten times torch's noise; a ReLU tie that no rerun happens to flip "
    "is not covered (SimpleNN's derived bounds cover both). Bounded from above (tests/test_examples.py): "
    "a port's gradients scaled by 1 + 1e-5 fail at step 1 in all four examples; by 1 + 1e-6 they pass."))
