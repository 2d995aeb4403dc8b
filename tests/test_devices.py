"""The GPU against the CPU within MLX: at every step of a training run on ``mx.cpu``, MLX on
``mx.gpu`` (Metal or CUDA) restarts from the CPU's state and takes that step, judged by the local
checks (``conformance.local``) under each device's own float32 matmul mode.

``tests/test_training.py`` compares MLX with torch on each device; this closes the triangle, so a
backend difference inside MLX is named as such rather than blamed on the port.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.compare import assert_all
from conformance.data import synthetic_dataset
from conformance.ledger import Ledger
from conformance.local import LocalChecker, Shadow
from conformance.runner import RunConfig, prepare
from conformance.sides import side
from conformance import steps

pytestmark = pytest.mark.training


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "uncompiled"])
def test_mlx_gpu_matches_mlx_cpu(conf, device, compiled):
    if device != "gpu":
        pytest.skip("compares MLX on the GPU with MLX on the CPU: runs with --device gpu")
    cfg = RunConfig(epochs=12, batch_size=64, hidden=16, seed=3, compiled=compiled)
    splits, weights = prepare(synthetic_dataset(256, n_features=3, seed=3), cfg)
    X = steps.standardize("mlx", splits["train"][0], device="cpu")["train"].astype(np.float32)
    y = splits["train"][1].astype(np.float32)
    modes = {"mlx gpu": side("mlx").device.precision_mode("gpu"), "mlx cpu": "ieee"}
    ledger = Ledger(("mlx gpu", "mlx cpu"), modes["mlx gpu"], "gpu", conf.reproduce)
    gpu = Shadow("mlx", 3, cfg.hidden, cfg.learning_rate, compiled, "gpu")
    cpu = Shadow("mlx", 3, cfg.hidden, cfg.learning_rate, compiled, "cpu")
    checker = LocalChecker(gpu, X, y, ledger, modes, "cpu", names=("mlx gpu", "mlx cpu"))
    state = (weights, {**{f"{k}{s}": np.zeros_like(v, np.float32) for k, v in weights.items()
                          for s in (".exp_avg", ".exp_avg_sq")}, "step": np.float64(0)})
    rng = np.random.default_rng(0)
    for k in range(1, 41):
        idx = rng.permutation(len(y))[:cfg.batch_size]
        Xc, yc = cpu.arrays(X[idx], y[idx])
        _, grads = cpu.gradients(state[0], Xc, yc)
        cpu.load(*state, cfg.learning_rate)
        loss, w1, s1 = cpu.step(Xc, yc)
        checker.check_step(k, state, cfg.learning_rate, idx, loss, grads, (w1, s1))
        state = (w1, s1)
    checks = ledger.checks()
    # every step checked; the diagnostic checks at steps 1-10 and every tenth (LocalChecker.detail_every)
    diagnostic = ("/ gradients /", "same gradients")
    assert len(checks) > 20 and all(c.extra["steps"] == (13 if any(d in c.path for d in diagnostic) else 40)
                                    for c in checks if "local" in c.path), {c.path: c.extra["steps"] for c in checks}
    assert_all(checks)
