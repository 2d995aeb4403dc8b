"""Memory stays flat with run length: the verdict streams its checks (conformance.ledger), keeps one
step's state, and holds per step only a float or two. Each run is a fresh process (Python seldom
returns freed memory, so only separate processes measure honestly), reporting its peak resident
memory: 20 000 steps may use at most 20% more than 1 000."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = """
import json, resource, sys
from conformance.data import synthetic_dataset
from conformance.runner import RunConfig, run_both
steps = int(sys.argv[1])
cfg = RunConfig(epochs=steps // 10, batch_size=4, hidden=8, ensemble=0, compiled=False)  # 40 rows: 10 steps an epoch
out = run_both(synthetic_dataset(67, seed=1), cfg)
print(json.dumps({"steps": len(out.losses["torch"]), "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "status": out.status}))
"""


def _peak(steps: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN, str(steps)], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_memory_is_flat_from_1000_to_20000_steps():
    short, long = _peak(1_000), _peak(20_000)
    assert short["steps"] == 1_000 and long["steps"] == 20_000, (short, long)
    assert short["status"] == long["status"] == "conforms", (short, long)
    growth = long["peak_kb"] / short["peak_kb"]
    assert growth <= 1.2, (f"peak resident memory grew {growth:.2f}x from 1 000 to 20 000 steps "
                           f"({short['peak_kb'] / 1024:.0f} MB to {long['peak_kb'] / 1024:.0f} MB)")


PAIR = """
import json, resource
import numpy as np, torch, mlx.nn as nn
from torch import nn as tnn
from conformance import pair
from conformance.footprint import BASELINE
from conformance.pair.validate import PER_PARAMETER
h = 1024
imports_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
torch.manual_seed(0)
t = tnn.Sequential(tnn.Linear(64, h), tnn.ReLU(), tnn.Linear(h, h), tnn.ReLU(), tnn.Linear(h, 10))
m = nn.Sequential(nn.Linear(64, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10))
rng = np.random.default_rng(0)
X, y = rng.normal(size=(64, 64)).astype(np.float32), rng.integers(0, 10, 64)
r = pair.check(m, t, (X, y), steps=3, ensemble=2, names={"0": "layers.0", "2": "layers.2", "4": "layers.4"})
n = sum(p.numel() for p in t.parameters())
import mlx.core as mx
print(json.dumps({"status": r.status, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "after_imports_kb": imports_kb, "mlx_peak_kb": mx.get_peak_memory() // 1024,
                  "estimate": BASELINE + PER_PARAMETER * n + 8 * (X.nbytes + y.nbytes)}))
"""


@pytest.mark.slow
def test_pair_memory_estimate_bounds_a_check_from_above_within_2x():
    """``pair.check``'s memory estimate (``validate.PER_PARAMETER``) against a 1.1 M-parameter MLP's
    measured peak: at least the peak (a refusal errs on the safe side), at most 2.5 times it. The same
    check peaked at 1.11 GB on the development machine and 2.25 GB in CI on a machine of the same kind
    (cause not found; ``PER_PARAMETER``'s comment): 2.5 spans both, and a failure prints the process's
    memory after its imports and MLX's own peak, to tell the next such difference apart."""
    proc = subprocess.run([sys.executable, "-c", PAIR], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = out["peak_kb"] * 1024
    assert out["status"] == "conforms" and peak <= out["estimate"] <= 2.5 * peak, out
