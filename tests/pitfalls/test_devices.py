"""The proofs of the registry's entries on the whole flow, devices, precision and names: one test per entry (see ``helpers``)."""

from __future__ import annotations

import builtins
import importlib
import inspect
import json
import math
import os
import subprocess
import sys
import textwrap

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
import torch
from torch import nn as tnn
import torch.nn.functional as F

from conformance import registry
from conformance.compare import assert_close, compare
from conformance.data import document_dataset
from conformance.runner import RunConfig, run_both
from mlx_reference import data as MD, device as MDEV, loss as ML, model as MM
from reference_torch import loss as TL, model as TM
from .helpers import DOC, HAS_CUDA, HAS_MLX_GPU, SEED, WEIGHTS, demonstrates, m_, measured, mlx_model, t_, torch_loss_at, torch_model


TORCH_NAMES = {"import mlx.core as mx": "import torch", "mx.array(": "torch.tensor(",
               "import mlx.nn as nn": "import torch.nn as nn", "import mlx.optim as optim": "import torch.optim as optim"}


def _run_in_order(translate: bool) -> dict[int, str]:
    ns, failures = {}, {}
    for n in range(1, 8):
        code = SEED[n].code
        if translate:
            for a, b in TORCH_NAMES.items():
                code = code.replace(a, b)
        try:
            exec(compile(code, f"<seed step {n}>", "exec"), ns)
        except Exception as e:  # noqa: BLE001 - recording what each snippet raises is the point
            failures[n] = f"{type(e).__name__}: {e}"
    return failures


@demonstrates("seed-code-runs-in-neither")
def test_seed_code_runs_in_neither():
    in_mlx = _run_in_order(translate=False)
    expected_mlx = {3: ("AttributeError", "BCELoss"), 4: ("ModuleNotFoundError", "mlx.optim"),
                    5: ("TypeError", "not callable"), 6: ("NameError", "'torch'"), 7: ("NameError", "'y_pred_test'")}
    in_torch = _run_in_order(translate=True)
    expected_torch = {4: ("NameError", "'model'"), 5: ("RuntimeError", "same dtype"), 6: ("RuntimeError", "same dtype"),
                      7: ("NameError", "'y_pred_test'")}
    for failures, expected, where in ((in_mlx, expected_mlx, "MLX"), (in_torch, expected_torch, "PyTorch")):
        assert sorted(failures) == sorted(expected), f"{where}: the snippets that fail are now {failures}"
        for n, (error, text) in expected.items():
            assert failures[n].startswith(error) and text in failures[n], f"{where}, step {n}: {failures[n]}"

    outcome = run_both(document_dataset(), RunConfig(epochs=20, compiled=False))
    assert outcome.passed, outcome.first_failure().message()


@demonstrates("random-streams")
def test_random_streams():
    with torch.random.fork_rng():
        mx.random.seed(0)
        a = MM.SimpleNN()
        mx.eval(a.parameters())
        torch.manual_seed(0)
        b = TM.SimpleNN()
    wa, wb = MM.export_weights(a), TM.export_weights(b)
    measured("random-streams", "weight_gap", max(np.abs(wa[k] - wb[k]).max() for k in wa))
    X, y = DOC["train"]
    la = ML.loss_fn(a, m_(X), m_(y)).item()
    with torch.no_grad():
        lb = TL.loss_fn(b, t_(X), t_(y)).item()
    measured("random-streams", "loss_gap", abs(la - lb))
    assert not compare(la, lb, path="initial loss, same seed", kind="loss").passed

    wa, wb = MM.export_weights(mlx_model()), TM.export_weights(torch_model())
    for key in WEIGHTS:
        np.testing.assert_array_equal(wa[key], wb[key])
    assert_close(ML.loss_fn(mlx_model(), m_(X), m_(y)).item(), torch_loss_at(WEIGHTS), path="initial loss", kind="loss")


_TF32_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np, torch, mlx.core as mx
    from conformance.data import document_dataset
    from conformance.runner import RunConfig, run_both
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 256)).astype(np.float32), rng.standard_normal((256, 256)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    rel = lambda c: float(np.abs(c - exact).max() / np.abs(exact).max())
    mx.set_default_device(mx.gpu)
    mlx_rel = rel(np.array(mx.array(a) @ mx.array(b)))
    torch_rel = rel((torch.tensor(a, device="cuda") @ torch.tensor(b, device="cuda")).cpu().numpy())
    out = run_both(document_dataset(), RunConfig(device="gpu", epochs=100), mode="tf32")
    h = [out.results[s]["history"]["train_loss"] for s in ("mlx", "torch")]
    print(json.dumps({"mlx_rel": mlx_rel, "torch_rel": torch_rel, "traj": float(np.abs(np.subtract(*h)).max())}))
""")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="TF32 is a property of MLX's CUDA backend: needs MLX's CUDA backend and torch with CUDA")
@demonstrates("tf32-cuda")
def test_tf32_cuda():
    def run(flag: str) -> dict:
        env = dict(os.environ, MLX_ENABLE_TF32=flag)
        out = subprocess.run([sys.executable, "-c", _TF32_SCRIPT], env=env, capture_output=True, text=True,
                             timeout=600, cwd=registry.__file__.rsplit("/conformance/", 1)[0])
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    tf32, ieee = run("1"), run("0")
    measured("tf32-cuda", "tf32_matmul_rel", tf32["mlx_rel"])
    measured("tf32-cuda", "ieee_matmul_rel", tf32["torch_rel"])
    measured("tf32-cuda", "tf32_traj", tf32["traj"])
    measured("tf32-cuda", "ieee_traj", ieee["traj"])
    assert tf32["mlx_rel"] > 100 * tf32["torch_rel"]
    assert ieee["mlx_rel"] < 10 * ieee["torch_rel"]
    assert ieee["traj"] * 5 < tf32["traj"]


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_MLX_GPU, reason="float64 on the GPU: needs MLX's GPU backend (Metal or CUDA)")
@demonstrates("float64-gpu")
def test_float64_gpu():
    x = np.array([0.1, 1 / 3, math.pi])
    with MDEV.use_device("gpu"):
        with pytest.raises(ValueError, match="float64 is not supported"):
            mx.eval(mx.array(x, dtype=mx.float64) * 2)
        on_gpu = np.array(MD.to_array(x, "float32") * 2)
    with MDEV.use_device("cpu"):
        on_cpu = np.array(mx.array(x, dtype=mx.float64) * 2)
    np.testing.assert_array_equal(on_cpu, x * 2)
    np.testing.assert_array_equal(on_gpu, x.astype(np.float32) * 2)  # doubling is exact in float32


@demonstrates("api-names")
def test_api_names():
    env = dict(torch=torch, F=F, tnn=tnn, mx=mx, nn=nn, optim=optim, np=np, importlib=importlib, inspect=inspect,
               a=mx.zeros((2, 3)), t=torch.zeros(2, 3), model=mlx_model(), tmodel=torch_model())
    problems = []
    for row in registry.API_NAMES:
        for side, expr in (("torch", row.torch_check), ("mlx", row.mlx_check)):
            try:
                if eval(expr, dict(env)) is False:
                    problems.append(f"{row.torch} -> {row.mlx}: {side} check {expr!r} is False")
            except Exception as e:  # noqa: BLE001
                problems.append(f"{row.torch} -> {row.mlx}: {side} check {expr!r} raised {type(e).__name__}: {e}")
        if row.naive:
            expected = getattr(builtins, row.naive_error)
            try:
                eval(row.naive, dict(env))
            except expected:
                pass
            except Exception as e:  # noqa: BLE001
                problems.append(f"{row.naive!r} raised {type(e).__name__}, the table says {row.naive_error}")
            else:
                problems.append(f"{row.naive!r} works in MLX now; the table says it raises {row.naive_error}")
    assert not problems, "\n".join(problems)
