"""How far one float32 evaluation of SimpleNN's training step may be from exact arithmetic, per
element: the budgets of the local step checks (``conformance.local``).

Given the state both frameworks start from (the weights) and the batch, ``step_bounds`` walks the
step's arithmetic once in float64 and bounds, for ONE side's float32 evaluation, the error of the
loss and of every gradient element. Two sides computing from the same inputs may then differ by
their two bounds added. The derivation, with the constants of ``tolerances.step_rounding``
(``u`` the float32 unit roundoff, ``a = 2 x operand rounding`` the relative error of a matmul
product's operands, 0 in IEEE mode and 2 x 2^-10 in TF32, ``g(k) = u min(k, lam sqrt(k))`` the
error of a sum of k terms against the sum of their magnitudes):

    z1 = X W1^T + b1        e1 = (a + g(d+1)) (|X| |W1|^T + |b1|)
    h  = relu(z1)           a unit is *ambiguous* where |z1| <= e1 (exact z1, in float64): either
                            side may put it on either side of the kink; e_h = e1 where active or ambiguous
    z  = h W2^T + b2        e_z = e_h |W2|^T + (a + g(H+1)) (|h| |W2|^T + |b2|)
    r  = sigmoid(z) - y     e_r = sigmoid'(z) e_z + sigmoid u     (absolute: r cancels when the model is right)
    delta = r / n           e_delta = (e_r + u |r|) / n
    dW2 = delta^T h         e = e_delta^T |h| + |delta|^T e_h + (a + g(n)) |delta|^T |h|
    db2 = sum delta         e = sum e_delta + g(n) sum |delta|
    dz1 = delta W2 [z1 > 0] e = (e_delta |W2| + (a + u) |delta W2|) on active units
                                + |delta W2| on ambiguous ones (the whole term may be there or not)
    dW1 = dz1^T X           e = e_dz1^T |X| + (a + g(n)) |dz1|^T |X|
    db1 = sum dz1           e = sum e_dz1 + g(n) sum |dz1|
    loss = mean(softplus(z) - z y)   e = mean(|r| e_z + loss_term u (|z| + 1)) + g(n) mean|l| + u |loss|

First-order in u; every bound also adds eta = 2^-149 per rounding, the absolute error of a
subnormal float32. Computed with numpy when the reference runs on the CPU, else with torch on its device (in float64
where the device has it), so that bounding a step costs about one more forward and backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tolerances import step_rounding


@dataclass
class StepBounds:
    """One side's error bounds for a step: ``grads`` (per element, PyTorch names), ``loss``,
    ``logits`` (per sample), and ``ambiguous``, how many (sample, hidden unit) pairs lie within
    rounding of ReLU's kink; with the exact values (float64 from the same float32 inputs) they
    bound the distance from: ``exact_grads``, ``exact_loss``, ``exact_logits``."""

    grads: dict[str, np.ndarray]
    loss: float
    logits: np.ndarray
    ambiguous: int
    exact_grads: dict[str, np.ndarray]
    exact_loss: float
    exact_logits: np.ndarray


class _NumpyOps:
    """The few operations the bounds need, on numpy arrays (the CPU: no dispatch overhead)."""

    float = staticmethod(lambda m: m.astype(np.float64))
    relu = staticmethod(lambda z: np.maximum(z, 0.0))
    sigmoid = staticmethod(lambda z: np.exp(-np.logaddexp(0.0, -z)))
    softplus = staticmethod(lambda z: np.logaddexp(0.0, z))
    host = staticmethod(lambda a: np.asarray(a, dtype=np.float64))

    @staticmethod
    def arrays(X, y, weights):
        f = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        return (f(X), f(y), *(f(weights[k]) for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")))


class _TorchOps:
    """The same on torch tensors, on the reference's device (float64 where the device has it)."""

    def __init__(self, device, wide):
        import torch

        self.torch, self.device, self.wide = torch, device, wide
        self.float = lambda m: m.to(wide)
        self.relu = lambda z: z.clamp_min(0)
        self.sigmoid = torch.sigmoid
        self.softplus = torch.nn.functional.softplus
        self.host = lambda a: a.detach().cpu().numpy().astype(np.float64)

    def arrays(self, X, y, weights):
        torch = self.torch
        f = lambda a: torch.as_tensor(a if torch.is_tensor(a) else np.asarray(a), device=self.device).to(self.wide)  # noqa: E731
        return (f(X), f(y), *(f(weights[k]) for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")))


def step_bounds(weights: dict, X, y, mode: str) -> StepBounds:
    """Bounds of one float32 evaluation of SimpleNN's loss and gradients at ``weights`` on the
    batch ``(X, y)``. ``X`` and ``y`` are numpy arrays (computed with numpy) or torch tensors on the
    reference's device (computed there with torch, in float64 where the device has it)."""
    if isinstance(X, np.ndarray):
        ops = _NumpyOps
    else:
        wide_is_64 = X.device.type != "mps"
        import torch

        ops = _TorchOps(X.device, torch.float64 if wide_is_64 else torch.float32)
    X, y, W1, b1, W2, b2 = ops.arrays(X, y, weights)
    r = step_rounding(mode)
    n, d = X.shape
    H = W1.shape[0]
    u, a = r.u, 2.0 * r.operand
    g = lambda k: float(r.gamma(k))  # noqa: E731
    absX = abs(X)
    e1 = (a + g(d + 1)) * (absX @ abs(W1).T + abs(b1))
    z1 = X @ W1.T + b1
    ambiguous = abs(z1) <= e1
    positive = z1 > 0
    active = ops.float(positive | ambiguous)
    h = ops.relu(z1)
    e_h = e1 * active
    w2 = W2[0]
    aw2 = abs(w2)
    e_z = e_h @ aw2 + (a + g(H + 1)) * (h @ aw2 + abs(b2))
    z = h @ w2 + b2
    p = ops.sigmoid(z)
    res = p - y
    delta = res / n
    e_delta = (p * (1 - p) * e_z + r.sigmoid * u + u * abs(res)) / n
    ad = abs(delta)
    # dz1 = delta_s W2_j [unit j active for sample s]: every (n, H) product below factors into a
    # per-sample vector, a per-unit vector and a 0/1 mask, so the masks enter matrix products
    amb = ops.float(ambiguous)
    c_act = e_delta + (a + u) * ad  # e_dz1 = |W2_j| (c_act_s active_sj + |delta_s| ambiguous_sj)
    grads = {
        "fc1.weight": aw2[:, None] * (active.T @ (c_act[:, None] * absX) + amb.T @ (ad[:, None] * absX)
                                      + (a + g(n)) * (active.T @ (ad[:, None] * absX))),
        "fc1.bias": aw2 * (active.T @ c_act + amb.T @ ad + g(n) * (active.T @ ad)),
        "fc2.weight": (e_delta @ h + ad @ e_h + (a + g(n)) * (ad @ h))[None, :],
        "fc2.bias": (e_delta.sum() + g(n) * ad.sum()).reshape(1),
    }
    pos = ops.float(positive)
    exact = {"fc1.weight": w2[:, None] * (pos.T @ (delta[:, None] * X)), "fc1.bias": w2 * (pos.T @ delta),
             "fc2.weight": (delta @ h)[None, :], "fc2.bias": delta.sum().reshape(1)}
    terms = ops.softplus(z) - z * y
    e_terms = abs(res) * e_z + r.loss_term * u * (abs(z) + 1)
    loss = float(e_terms.mean() + g(n) * abs(terms).mean() + u * abs(terms.mean()))
    # each of the roundings behind an element may be a subnormal's, absolute: eta per term summed
    floor = (n + H + d + 8) * r.eta
    host = ops.host
    return StepBounds({k: host(v) + floor for k, v in grads.items()}, loss + floor, host(e_z) + (H + d + 4) * r.eta,
                      int(ambiguous.sum()), {k: host(v) for k, v in exact.items()}, float(terms.mean()), host(z))
