"""Step 4: Adam's k-step trajectories (parameters and state) against ``torch.optim.Adam`` and
against Adam's documented algorithm in float64, and ReduceLROnPlateau's decisions against
``torch.optim.lr_scheduler.ReduceLROnPlateau``.

Adam is fed the same gradients on every side, whose elements span 1e-8..1 in magnitude: eps then
matters for some elements and not for others, and bias correction for all of them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import references as ref
from conformance import steps
from conformance.weights import init_weights

pytestmark = pytest.mark.optimizer

K = 30  # steps per trajectory

ADAM = [  # (in, hidden, lr, betas, eps, consistent signs); None: the side's defaults (torch's: 0.9, 0.999, 1e-8)
    (2, 10, 1e-3, None, None, False),
    (2, 10, 1e-2, None, None, True),
    (4, 4, 1e-2, None, None, False),
    (2, 10, 1e-3, (0.8, 0.99), 1e-6, False),
    (8, 32, 3e-3, (0.9, 0.98), 1e-7, True),
]


def _split(state: dict) -> tuple[dict, float]:
    return {k: v for k, v in state.items() if k != "step"}, float(state["step"])


@pytest.mark.parametrize("d, h, lr, betas, eps, consistent", ADAM,
                         ids=[f"in{d}-h{h}-lr{lr:g}-betas{b}-eps{e}-{'fixed' if c else 'random'}"
                              for d, h, lr, b, e, c in ADAM])
def test_adam_trajectory(conf, d, h, lr, betas, eps, consistent):
    weights = init_weights(d, h, seed=1)
    grads = steps.adam_gradients(d, h, K, seed=d * h, consistent=consistent)
    exact = ref.adam(weights, grads, lr, betas or (0.9, 0.999), 1e-8 if eps is None else eps)
    runs = {name: steps.adam_steps(name, weights, grads, lr, betas, eps, device=conf.device) for name in ("mlx", "torch")}
    case = f"adam lr={lr:g} betas={betas or 'default'} eps={eps or 'default'}"
    lr_scale = {k: (lr, "lr") for k in weights}
    for k in range(K):  # in order: the first step out of budget is the one reported
        step = k + 1
        pairs = [(("mlx", "torch"), runs["mlx"][k], runs["torch"][k], exact[k]),
                 (("mlx", "float64"), runs["mlx"][k], exact[k], None), (("torch", "float64"), runs["torch"][k], exact[k], None)]
        for names, a, b, x in pairs:
            where = f"{case} / step {step}"
            conf.tree(a[0], b[0], path=f"{where} / weights", kind="trajectory", step=step, scales=lr_scale, names=names,
                      exact=None if x is None else x[0])
            state_a, step_a = _split(a[1])
            state_b, step_b = _split(b[1])
            conf.tree(state_a, state_b, path=f"{where} / state", kind="optimizer_state", step=step, names=names,
                      exact=None if x is None else _split(x[1])[0])
            conf.decision(step_a, step_b, path=f"{where} / state / step count", names=names)


def test_adam_first_step_size(conf):
    """The first update is -lr * sign(g) for every element with |g| >> eps (bias correction makes
    m_hat / sqrt(v_hat) = g / |g|): the textbook fact, checked on its own."""
    weights = init_weights(2, 10, seed=4)
    g = {k: np.where(np.arange(v.size).reshape(v.shape) % 2, 0.5, -2.0).astype(np.float32) for k, v in weights.items()}
    for name in ("mlx", "torch"):
        after = steps.adam_steps(name, weights, [g], 1e-3, device=conf.device)[0][0]
        for key in weights:
            conf.close(after[key], weights[key] - 1e-3 * np.sign(g[key]), path=f"{name} / first step / {key}",
                       kind="trajectory", step=1, scale=1e-3, scale_label="lr", names=(name, "textbook"))


# ---- ReduceLROnPlateau ----------------------------------------------------------------------

def _sequences(mode: str) -> dict[str, list[float]]:
    rng = np.random.default_rng(0)
    seqs = {
        "decreasing": [1.0 / (k + 1) for k in range(30)],
        "flat (ties)": [0.5] * 30,
        "drop, plateau, drop": [1.0 - 0.1 * k for k in range(5)] + [0.5] * 12 + [0.5 - 0.05 * k for k in range(13)],
        "noisy": list(np.cumsum(rng.normal(-0.01, 0.05, 40)) + 2.0),
        "increasing": [0.1 * k for k in range(25)],
        "tiny improvements (5e-5 relative)": [1.0 * (1 - 5e-5) ** k for k in range(30)],
        "improvements of 0.06": [3.0 - 0.06 * k for k in range(30)],
    }
    return seqs if mode == "min" else {k: [-v for v in s] for k, s in seqs.items()}


PLATEAU = [
    dict(),
    dict(patience=0),
    dict(patience=2),
    dict(patience=2, cooldown=3),
    dict(patience=1, threshold=0.05, threshold_mode="rel"),
    dict(patience=1, threshold=0.05, threshold_mode="abs"),
    dict(patience=2, threshold=1e-4, threshold_mode="abs"),
    dict(patience=1, factor=0.5, min_lr=2e-4),
    dict(patience=0, factor=0.5, min_lr=1.1e-4, cooldown=1),
    dict(mode="max", patience=2),
    dict(mode="max", patience=1, threshold_mode="abs", threshold=0.05, cooldown=2),
    dict(patience=0, factor=0.9, eps=1e-4),
]


@pytest.mark.parametrize("options", PLATEAU, ids=[",".join(f"{k}={v}" for k, v in o.items()) or "defaults" for o in PLATEAU])
def test_plateau_decisions_match_torch(conf_cpu, options):
    """The learning rate after every epoch, MLX's ReduceLROnPlateau against torch's own, on the
    same metric sequences (compared as float32: MLX keeps the rate in a float32 array)."""
    for name, seq in _sequences(options.get("mode", "min")).items():
        got = {side: steps.plateau_learning_rates(side, seq, 1e-3, **options) for side in ("mlx", "torch")}
        conf_cpu.decision(np.float32(got["mlx"]), np.float32(got["torch"]), path=f"plateau {options} / {name} / lr per epoch")


def test_plateau_by_hand(conf_cpu):
    """A case worked by hand: on a flat sequence epoch 1 improves on infinity, epochs 2, 3, 4 are
    bad, and the third bad epoch (> patience 2) reduces x0.1; again after epochs 7 and 10."""
    lrs = steps.plateau_learning_rates("mlx", [1.0] * 10, 1e-2, patience=2)
    expected = [1e-2, 1e-2, 1e-2, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-5]
    conf_cpu.decision(np.float32(lrs), np.float32(expected), path="plateau patience 2 on a flat sequence",
                      names=("mlx", "by hand"))
    assert all(math.isfinite(x) for x in lrs)


def test_learning_rate_read_back_follows_direct_assignment():
    """``get_learning_rate`` returns the Python float given to ``set_learning_rate`` (as torch
    keeps it), but not a stale one after the rate was assigned on the optimizer directly."""
    from mlx_reference.model import SimpleNN as MlxNN
    from mlx_reference.optim import get_learning_rate, make_adam, set_learning_rate

    optimizer = make_adam(MlxNN(), 1e-3)
    assert get_learning_rate(optimizer) == 1e-3  # the float itself, not float32(1e-3)
    optimizer.learning_rate = 0.25
    assert get_learning_rate(optimizer) == 0.25
    set_learning_rate(optimizer, 1e-4)
    assert get_learning_rate(optimizer) == 1e-4
