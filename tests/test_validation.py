"""Step 6: the validation loss, and early stopping's decisions and restored weights.

Early stopping is checked against the rule stated in words (``references.early_stopping``) on
loss sequences chosen for their edges: ties, improvements of exactly ``min_delta``, NaN, a run
that never stops. Whole training runs that stop early: ``tests/test_training.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import references as ref
from conformance import steps
from conformance.runner import side
from conformance.weights import init_weights

pytestmark = pytest.mark.validation

SEQUENCES = {
    "decreasing (never stops)": [1.0 / k for k in range(1, 21)],
    "worse from epoch 1": [0.5 + 0.01 * k for k in range(20)],
    "ties count as no improvement": [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8],
    "improvement then plateau": [1.0, 0.8, 0.7, 0.72, 0.71, 0.70, 0.69, 0.75, 0.8, 0.9],
    "late improvement resets the count": [1.0, 1.1, 1.2, 0.9, 1.0, 1.1, 1.2, 1.3],
    "steps of exactly 0.125": [1.0, 0.875, 0.75, 0.625, 0.5, 0.5, 0.5, 0.5],
    "NaN counts as no improvement": [1.0, float("nan"), 0.9, float("nan"), float("nan"), float("nan"), 0.1],
    "single epoch": [0.3],
}
OPTIONS = [(1, 0.0), (2, 0.0), (3, 0.0), (2, 0.125), (3, 0.05), (None, 0.0)]


@pytest.mark.parametrize("patience, min_delta", OPTIONS, ids=[f"patience={p}-min_delta={d}" for p, d in OPTIONS])
def test_early_stopping_follows_the_rule(conf_cpu, patience, min_delta):
    """Stopping epoch, best epoch and the epoch whose weights come back, on both sides, against
    the rule: improve = loss < best - min_delta; stop after ``patience`` epochs in a row without."""
    for name, losses in SEQUENCES.items():
        rule = ref.early_stopping(losses, patience, min_delta)
        for side_name in ("mlx", "torch"):
            got = steps.early_stopping(side_name, losses, patience, min_delta)
            for key in ("stopped_epoch", "best_epoch", "restored_epoch"):
                conf_cpu.decision(_epoch(got[key]), _epoch(rule[key]), names=(side_name, "rule"),
                                  path=f"early stopping patience={patience} min_delta={min_delta} / {name} / {key}")


def _epoch(e) -> float:
    return float("nan") if e is None else float(e)


@pytest.mark.parametrize("name", ["mlx", "torch"])
def test_early_stopping_rejects_bad_settings(name):
    pkg = side(name)
    with pytest.raises(ValueError, match="patience must be at least 1"):
        pkg.validate.EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="min_delta must be >= 0"):
        pkg.validate.EarlyStopping(patience=3, min_delta=-1.0)


@pytest.mark.parametrize("n, d, h", [(5, 2, 10), (300, 4, 16)])
def test_validation_loss(conf, n, d, h):
    """``evaluate_loss`` in evaluation mode, a Python float on both sides, against float64."""
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.random(n) < 0.4).astype(np.float32)
    w = init_weights(d, h, seed=2)
    exact = ref.loss_and_gradients(w, X, y)[0]
    got = {}
    for name in ("mlx", "torch"):
        pkg = side(name)
        with pkg.device.use_device(conf.device):
            model = pkg.model.load_weights(pkg.model.SimpleNN(d, h), w)
            got[name] = pkg.validate.evaluate_loss(model, pkg.data.to_array(X), pkg.data.to_array(y))
        assert isinstance(got[name], float), f"{name}: evaluate_loss returned {type(got[name]).__name__}, not float"
        conf.close(got[name], exact, path=f"validation loss n={n} / {name}", kind="loss", names=(name, "float64"))
    conf.close(got["mlx"], got["torch"], path=f"validation loss n={n}", kind="loss", exact=exact)
