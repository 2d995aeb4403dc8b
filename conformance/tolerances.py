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
        "relative error of std lands as |z| times it (rtol); MLX's CPU sums in sequence, so its mean "
        "of n values errs ~sqrt(n) u in units of std: 4.5e-6 at n = 4096 where torch's errs 1.0e-6 "
        "(atol). Over the document and synthetic n <= 4096, d <= 8, |mean|/std up to 169: MLX-float64 "
        "6.8e-6 abs (share 0.20), MLX-torch 5.7e-6 (0.17), torch-float64 6.5e-6 (0.11), torch with "
        "its rows reordered 4.8e-7: margin 5.1x, for n <= 4096 (MLX's error grows with n). " + _SPREAD),
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
        "rounding and does not grow. " + _SPREAD),
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
        "derived budget. Budget: the measured 4.5u a step with a margin of 2, 9u lr = 4.4e-3 lr"),
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
