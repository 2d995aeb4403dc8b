"""The GPU against the CPU within MLX: the whole pipeline on ``mx.gpu`` (Metal or CUDA) against the
same pipeline on ``mx.cpu``, step by step, under the tolerance of the GPU's float32 matmul mode.

``tests/test_training.py`` compares MLX with torch on each device; this closes the triangle, so a
backend difference inside MLX is named as such rather than blamed on the port.
"""

from __future__ import annotations

import pytest

from conformance.compare import assert_all
from conformance.data import synthetic_dataset
from conformance.runner import Outcome, RunConfig, build_checks, prepare, run_side

pytestmark = pytest.mark.training


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "uncompiled"])
def test_mlx_gpu_matches_mlx_cpu(conf, device, compiled):
    if device != "gpu":
        pytest.skip("compares MLX on the GPU with MLX on the CPU: runs with --device gpu")
    dataset = synthetic_dataset(256, n_features=3, seed=3)
    cfg = RunConfig(epochs=12, batch_size=64, hidden=16, patience=4, plateau={"patience": 2}, seed=3,
                    compiled=compiled, device="gpu")
    splits, weights = prepare(dataset, cfg)
    on_gpu, rec_gpu = run_side("mlx", splits, weights, cfg, device="gpu")
    on_cpu, rec_cpu = run_side("mlx", splits, weights, cfg, device="cpu")
    outcome = Outcome(cfg, dataset, {k: len(v[1]) for k, v in splits.items()},
                      {"mlx": on_gpu, "torch": on_cpu}, {"mlx": rec_gpu, "torch": rec_cpu})
    checks = build_checks(outcome, conf.mode, splits, weights, conf.reproduce, names=("mlx gpu", "mlx cpu"))
    assert_all(checks)
