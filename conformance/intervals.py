"""Where one optimizer step may land, per element, when its inputs are known only to within
rounding: the budget of the local step checks for the optimizer (``conformance.local``).

``adam_interval`` takes the state both frameworks start from (parameter ``p``, moments ``m`` and
``v``, step count ``t`` before the step, learning rate) and a gradient known to lie in
``[g_lo, g_hi]`` (a gradient and both sides' rounding bounds, ``conformance.bounds``; or the same
gradient twice when both sides are fed identical gradients). It returns the interval of each
result that exact arithmetic reaches from inside those intervals, widened by the rounding of
evaluating the update once on each side (``tolerances.step_rounding``):

    m' = b1 m + (1 - b1) g                       monotone in g
    v' = b2 v + (1 - b2) g^2                     monotone in |g|
    step = lr (m' / c1) / (sqrt(v' / c2) + eps)  c1 = 1 - b1^t, c2 = 1 - b2^t (t counted after the step)
    p' = p - step

Each side rounds m' and v' before the update uses them, so the corners are taken of the moments'
intervals widened by that rounding: a moment that cancels (m' near 0) may carry a large relative
error into the step. ``step`` increases with m' and, for m' > 0, decreases with v' (increases for m' < 0), so its range
over the box of (m', v') is spanned by the box's corners: an enclosure of the range over the
gradient interval (m' and v' move together with g, so the box is a little wider than needed).
Where v' is tiny, an interval of g that contains 0 gives a step anywhere in about [-lr, lr]:
Adam's first step is lr sign(g), and a gradient within rounding of 0 may take either sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tolerances import StepRounding


@dataclass
class Interval:
    lo: np.ndarray
    hi: np.ndarray


def adam_interval(p, m, v, t: int, lr: float, g_lo, g_hi, rounding: StepRounding, betas=(0.9, 0.999),
                  eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False) -> dict[str, Interval]:
    """Intervals of ``param``, ``exp_avg`` and ``exp_avg_sq`` after one Adam step (PyTorch's form,
    bias-corrected) from ``(p, m, v)`` at step count ``t`` (before the step) with a gradient in
    ``[g_lo, g_hi]``, including each side's rounding of the update. All arrays float64.

    ``weight_decay``: torch's ``Adam`` adds ``weight_decay * p`` to the gradient (coupled, L2);
    with ``decoupled`` (``AdamW``, both frameworks) the parameter is first scaled by
    ``1 - lr * weight_decay``."""
    p, m, v, g_lo, g_hi = (np.asarray(a, dtype=np.float64) for a in (p, m, v, g_lo, g_hi))
    if weight_decay and not decoupled:
        g_lo, g_hi = g_lo + weight_decay * p, g_hi + weight_decay * p
    p_start = p * (1 - lr * weight_decay) if weight_decay and decoupled else p
    b1, b2 = betas
    u = rounding.u
    t1 = t + 1
    c1, c2 = 1.0 - b1 ** t1, 1.0 - b2 ** t1
    m_lo, m_hi = b1 * m + (1 - b1) * g_lo, b1 * m + (1 - b1) * g_hi
    sq_lo = np.where((g_lo <= 0) & (g_hi >= 0), 0.0, np.minimum(g_lo ** 2, g_hi ** 2))
    sq_hi = np.maximum(g_lo ** 2, g_hi ** 2)
    v_lo, v_hi = b2 * v + (1 - b2) * sq_lo, b2 * v + (1 - b2) * sq_hi
    g_abs = np.maximum(np.abs(g_lo), np.abs(g_hi))
    # each side rounds b m + (1 - b) g three times: state u for both sides together (tolerances)
    eta = rounding.eta  # a subnormal's rounding is absolute
    m_slack = rounding.state * (u * (np.abs(b1 * m) + (1 - b1) * g_abs) + eta)
    v_slack = rounding.state * (u * (np.abs(b2 * v) + (1 - b2) * g_abs ** 2) + eta)

    def step(mm, vv):
        return lr * (mm / c1) / (np.sqrt(np.maximum(vv, 0.0) / c2) + eps)

    # the update is computed from moments that each side has rounded: its corners are those of
    # the moments' intervals widened by that rounding
    corners = np.stack([step(mm, vv) for mm in (m_lo - m_slack, m_hi + m_slack)
                        for vv in (v_lo - v_slack, v_hi + v_slack)])
    s_lo, s_hi = corners.min(axis=0), corners.max(axis=0)
    s_abs = np.maximum(np.abs(s_lo), np.abs(s_hi))
    p_lo, p_hi = p_start - s_hi, p_start - s_lo
    # the update's own evaluation (update_rtol, MLX's float32 bias corrections included) and the
    # rounding of p - step on each side
    p_slack = rounding.update_rtol * s_abs + 2 * u * np.maximum(np.abs(p_lo), np.abs(p_hi)) + rounding.state * eta
    if weight_decay and decoupled:  # each side rounds the factor 1 - lr wd and the product p (1 - lr wd)
        p_slack = p_slack + 4 * u * np.abs(p)
    return {
        "param": Interval(p_lo - p_slack, p_hi + p_slack),
        "exp_avg": Interval(m_lo - m_slack, m_hi + m_slack),
        "exp_avg_sq": Interval(v_lo - v_slack, v_hi + v_slack),
    }


def sgd_interval(p, buf, t: int, lr: float, g_lo, g_hi, rounding: StepRounding, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> dict[str, Interval]:
    """Intervals of ``param`` and ``momentum_buffer`` after one step of torch's ``SGD`` (the
    reference's semantics: the buffer starts as the first gradient, undamped) from ``(p, buf)`` at
    step count ``t``. Every quantity is linear in the gradient, so the interval's ends map to the
    results' ends; each side rounds the buffer and the update a few times (``update_rtol`` of the
    step, ``state`` u of the buffer's terms)."""
    p, buf, g_lo, g_hi = (np.asarray(a, dtype=np.float64) for a in (p, buf, g_lo, g_hi))
    u, eta = rounding.u, rounding.eta
    if weight_decay:
        g_lo, g_hi = g_lo + weight_decay * p, g_hi + weight_decay * p
    g_abs = np.maximum(np.abs(g_lo), np.abs(g_hi))
    if momentum:
        if t == 0:
            b_lo, b_hi = g_lo, g_hi
        else:
            b_lo, b_hi = momentum * buf + (1 - dampening) * g_lo, momentum * buf + (1 - dampening) * g_hi
        b_slack = rounding.state * (u * (np.abs(momentum * buf) + g_abs) + eta)
        b_lo, b_hi = b_lo - b_slack, b_hi + b_slack
        d_lo, d_hi = (g_lo + momentum * b_lo, g_hi + momentum * b_hi) if nesterov else (b_lo, b_hi)
    else:
        b_lo = b_hi = np.zeros_like(p)
        d_lo, d_hi = g_lo, g_hi
    p_lo, p_hi = p - lr * d_hi, p - lr * d_lo
    s_abs = lr * np.maximum(np.abs(d_lo), np.abs(d_hi))
    p_slack = rounding.update_rtol * s_abs + 2 * u * np.maximum(np.abs(p_lo), np.abs(p_hi)) + rounding.state * eta
    return {"param": Interval(p_lo - p_slack, p_hi + p_slack), "momentum_buffer": Interval(b_lo, b_hi)}
