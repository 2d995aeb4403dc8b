"""The derived budgets, term by term, against the mathematics written out as plain loops.

A budget of the local checks (``conformance.bounds``, ``conformance.intervals``) is a sum of
terms, each the rounding of one operation of the step. The just-outside tests of
``test_harness.py`` perturb whole steps on the cases they run; a single term made looser by a
problem-size factor (summed over the samples where it is averaged, multiplied by the width or by
the step count) can hide under the others there. So here every term is recomputed from the
derivation in ``conformance/bounds.py``'s docstring, one sample and one unit at a time, at sizes
where such a factor is large (n = 257 samples, H = 19 hidden units, d = 6 features, Adam at step
2 000), with ReLU units placed within rounding of their kink so that the ambiguous terms are
present; the vectorized bounds must agree with the loops to 1e-9 relative, element by element.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conformance.bounds import step_bounds
from conformance.intervals import adam_interval
from conformance.tolerances import step_rounding

N, H, D = 257, 19, 6


def _problem(zero: bool = False):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = (rng.random(N) < 0.5).astype(np.float64)
    w = {"fc1.weight": rng.normal(size=(H, D)) / np.sqrt(D), "fc1.bias": rng.normal(size=H) * 0.1,
         "fc2.weight": rng.normal(size=(1, H)) / np.sqrt(H), "fc2.bias": np.array([0.2])}
    # ReLU ties: unit j of sample 3j sits on its kink (within rounding of 0), for the first 8 units
    for j in range(8):
        w["fc1.bias"][j] = 0.0
        X[3 * j, :] -= X[3 * j] @ w["fc1.weight"][j] / (w["fc1.weight"][j] @ w["fc1.weight"][j]) * w["fc1.weight"][j]
    if zero:  # every bound but the loss's is its subnormal floor alone: eta per rounding
        w = {k: np.zeros_like(v) for k, v in w.items()}
    X = X.astype(np.float32).astype(np.float64)  # the float32 values both sides start from
    w = {k: v.astype(np.float32).astype(np.float64) for k, v in w.items()}
    return X, y, w


def _plain_bounds(X, y, w, mode: str) -> dict:
    """The bounds of ``conformance.bounds``'s docstring, one sample at a time."""
    r = step_rounding(mode)
    u, a = r.u, 2.0 * r.operand
    g = lambda k: u * min(k, r.lam * math.sqrt(k))  # noqa: E731
    n, d = X.shape
    W1, b1, w2, b2 = w["fc1.weight"], w["fc1.bias"], w["fc2.weight"][0], float(w["fc2.bias"][0])
    H = W1.shape[0]
    out = {"fc1.weight": np.zeros((H, d)), "fc1.bias": np.zeros(H), "fc2.weight": np.zeros(H), "fc2.bias": 0.0}
    loss_err, terms, ambiguous, logits_err = 0.0, [], 0, []
    for s in range(n):
        x = X[s]
        z1 = np.array([sum(x[i] * W1[j, i] for i in range(d)) + b1[j] for j in range(H)])
        e1 = np.array([(a + g(d + 1)) * (sum(abs(x[i]) * abs(W1[j, i]) for i in range(d)) + abs(b1[j]))
                       for j in range(H)])
        amb = np.abs(z1) <= e1
        act = (z1 > 0) | amb
        ambiguous += int(amb.sum())
        h = np.maximum(z1, 0.0)
        e_h = np.where(act, e1, 0.0)
        e_z = sum(e_h[j] * abs(w2[j]) for j in range(H)) + (a + g(H + 1)) * (
            sum(h[j] * abs(w2[j]) for j in range(H)) + abs(b2))
        logits_err.append(e_z)
        z = sum(h[j] * w2[j] for j in range(H)) + b2
        p = 1.0 / (1.0 + math.exp(-z))
        res = p - y[s]
        delta = res / n  # the mean's 1/n: every per-sample term below is averaged, not summed
        e_delta = (p * (1 - p) * e_z + r.sigmoid * u + u * abs(res)) / n
        ad = abs(delta)
        for j in range(H):
            if act[j] or amb[j]:
                # dz1 = delta W2_j on active units (its rounding), the whole term on ambiguous ones
                e_dz1 = abs(w2[j]) * ((e_delta + (a + u) * ad) * act[j] + ad * amb[j])
                size = abs(w2[j]) * ad * act[j]
                out["fc1.weight"][j] += e_dz1 * np.abs(x) + (a + g(n)) * size * np.abs(x)
                out["fc1.bias"][j] += e_dz1 + g(n) * size
            out["fc2.weight"][j] += e_delta * h[j] + ad * e_h[j] + (a + g(n)) * ad * h[j]
        out["fc2.bias"] += e_delta + g(n) * ad
        term = math.log1p(math.exp(z)) - z * y[s] if z < 30 else z * (1 - y[s]) + math.log1p(math.exp(-z))
        terms.append(term)
        loss_err += (abs(res) * e_z + r.loss_term * u * (abs(z) + 1)) / n
    loss_err += g(n) * sum(abs(t) for t in terms) / n + u * abs(sum(terms) / n)
    floor = (n + H + d + 8) * r.eta
    grads = {"fc1.weight": out["fc1.weight"] + floor, "fc1.bias": out["fc1.bias"] + floor,
             "fc2.weight": out["fc2.weight"][None, :] + floor, "fc2.bias": np.array([out["fc2.bias"]]) + floor}
    return {"grads": grads, "loss": loss_err + floor, "logits": np.array(logits_err) + (H + d + 4) * r.eta,
            "ambiguous": ambiguous}


@pytest.mark.parametrize("mode, zero", [("ieee", False), ("tf32", False), ("ieee", True)])
def test_step_bounds_follow_the_derivation_term_by_term(mode, zero):
    """``step_bounds`` against its derivation, per sample: the gradient bound of every element,
    the loss's and every logit's, and the number of ReLU ties. A term summed over the samples
    where it is averaged, or multiplied by the width, is 257x or 19x off here. At zero weights
    every unit is a tie and the weights' bounds are the subnormal floor alone, (n + H + d + 8)
    eta, so that term is judged too."""
    X, y, w = _problem(zero)
    got = step_bounds(w, X, y, mode)
    want = _plain_bounds(X, y, w, mode)
    assert got.ambiguous == want["ambiguous"] >= (N * H if zero else 8), (got.ambiguous, want["ambiguous"])
    if zero:
        assert got.grads["fc1.weight"].max() == (N + H + D + 8) * step_rounding(mode).eta
    for name, bound in want["grads"].items():
        np.testing.assert_allclose(got.grads[name], bound, rtol=1e-9, atol=0, err_msg=f"{mode}: {name}")
    np.testing.assert_allclose(got.loss, want["loss"], rtol=1e-9, atol=0, err_msg=f"{mode}: loss")
    np.testing.assert_allclose(got.logits, want["logits"], rtol=1e-9, atol=0, err_msg=f"{mode}: logits")


def _plain_adam(p, m, v, t, lr, g_lo, g_hi, r, b1=0.9, b2=0.999, eps=1e-8):
    """One element's interval after Adam's step ``t + 1`` from a gradient in [g_lo, g_hi], as
    ``conformance.intervals``'s docstring derives it: the corners of the rounded moments' box,
    then the update's own rounding (update_rtol of the step) and p - step's (2u |p|)."""
    u, eta = r.u, r.eta
    c1, c2 = 1 - b1 ** (t + 1), 1 - b2 ** (t + 1)
    g_abs = max(abs(g_lo), abs(g_hi))
    sq_lo = 0.0 if g_lo <= 0 <= g_hi else min(g_lo ** 2, g_hi ** 2)
    m_slack = r.state * (u * (abs(b1 * m) + (1 - b1) * g_abs) + eta)
    v_slack = r.state * (u * (abs(b2 * v) + (1 - b2) * g_abs ** 2) + eta)
    m_lo, m_hi = b1 * m + (1 - b1) * g_lo - m_slack, b1 * m + (1 - b1) * g_hi + m_slack
    v_lo, v_hi = b2 * v + (1 - b2) * sq_lo - v_slack, b2 * v + (1 - b2) * max(g_lo ** 2, g_hi ** 2) + v_slack
    steps = [lr * (mm / c1) / (math.sqrt(max(vv, 0.0) / c2) + eps) for mm in (m_lo, m_hi) for vv in (v_lo, v_hi)]
    p_lo, p_hi = p - max(steps), p - min(steps)
    slack = r.update_rtol * max(abs(min(steps)), abs(max(steps))) + 2 * u * max(abs(p_lo), abs(p_hi)) + r.state * eta
    return {"param": (p_lo - slack, p_hi + slack), "exp_avg": (m_lo, m_hi), "exp_avg_sq": (v_lo, v_hi)}


def test_adam_interval_follows_its_formula_at_a_late_step():
    """``adam_interval`` against its formula, element by element, at step count 2 000 (a term
    multiplied by the step count is 2 000x off) and at the first step; gradients known exactly
    and within rounding, some intervals containing 0."""
    rng = np.random.default_rng(5)
    k = 40
    p = rng.normal(size=k)
    g = rng.normal(size=k) * 10.0 ** rng.uniform(-6, 0, size=k)
    half = np.abs(g) * np.where(np.arange(k) % 3 == 0, 0.0, 10.0 ** rng.uniform(-6, 1, size=k))
    r = step_rounding("ieee")
    for t, m, v in ((0, np.zeros(k), np.zeros(k)), (2000, 0.1 * rng.normal(size=k) * np.abs(g), 0.02 * g ** 2)):
        got = adam_interval(p, m, v, t, 1e-2, g - half, g + half, r)
        for i in range(k):
            want = _plain_adam(p[i], m[i], v[i], t, 1e-2, g[i] - half[i], g[i] + half[i], r)
            for key, (lo, hi) in want.items():
                assert got[key].lo[i] == pytest.approx(lo, rel=1e-12, abs=0), (t, i, key, "lo")
                assert got[key].hi[i] == pytest.approx(hi, rel=1e-12, abs=0), (t, i, key, "hi")
                # and the slack itself, which the ends above carry at 1e-7 of their size
                mid = (lo + hi) / 2
                assert got[key].hi[i] - mid == pytest.approx(hi - mid, rel=1e-9, abs=1e-300), (t, i, key, "slack")
