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
from mlx.utils import tree_flatten, tree_map
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


_CONV_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np, torch, mlx.core as mx
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 32, 32, 64)).astype(np.float32)  # NHWC
    w = rng.standard_normal((64, 3, 3, 64)).astype(np.float32)  # (out, kH, kW, in)
    exact = torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2).double(),
                                       torch.tensor(w).permute(0, 3, 1, 2).double(), padding=1).permute(0, 2, 3, 1)
    exact = exact.numpy()
    rel = lambda c: float(np.abs(c - exact).max() / np.abs(exact).max())
    mx.set_default_device(mx.gpu)
    mlx_rel = rel(np.array(mx.conv2d(mx.array(x), mx.array(w), padding=1)))
    out = {"mlx_rel": mlx_rel}
    for allow in (True, False):
        torch.backends.cudnn.allow_tf32 = allow
        t = torch.nn.functional.conv2d(torch.tensor(x, device="cuda").permute(0, 3, 1, 2),
                                       torch.tensor(w, device="cuda").permute(0, 3, 1, 2), padding=1)
        out[f"torch_rel_tf32_{allow}"] = rel(t.permute(0, 2, 3, 1).cpu().numpy())
    print(json.dumps(out))
""")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="convolutions in TF32 on MLX's CUDA backend: needs MLX's CUDA backend and "
                    "torch with CUDA")
@demonstrates("reduced-precision-convolutions")
def test_reduced_precision_convolutions():
    def run(flag: str) -> dict:
        env = dict(os.environ, MLX_ENABLE_TF32=flag)
        out = subprocess.run([sys.executable, "-c", _CONV_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    default, ieee = run("1"), run("0")
    assert default["mlx_rel"] > 10 * ieee["mlx_rel"], (default, ieee)  # MLX's default convolution is TF32
    assert default["torch_rel_tf32_False"] * 10 < default["torch_rel_tf32_True"], default  # so is torch's
    assert ieee["mlx_rel"] < 10 * default["torch_rel_tf32_False"], (ieee, default)  # IEEE in both when asked


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


# --------------------------------------------------------------------------------------------
# Precision: float64 on MLX's CPU, half precision, and no automatic mixed precision

# MLX's float64 on the CPU, op by op: which keep float64's accuracy and which compute in float32
# (measured below over 100 000 points; the entry float64-cpu-float32-accurate lists the same names)
FLOAT32_ACCURATE = ("exp", "sigmoid", "logaddexp", "softmax", "sin", "cos", "erf", "erfinv")
FLOAT64_ACCURATE = ("log", "log1p", "expm1", "tanh", "sqrt", "rsqrt", "power", "arctan", "sinh", "matmul")
IN_BETWEEN = ("logsumexp",)  # its float32 exp is damped by the log: errors of about 1e-9


def _float64_cases():
    from scipy import special

    rng = np.random.default_rng(0)
    x, pos = rng.uniform(-10, 10, 100_000), rng.uniform(1e-3, 100, 100_000)
    rows = lambda f: lambda a: f(a.reshape(100, -1))  # noqa: E731 - row-wise ops, on 100 rows
    return {
        "exp": (mx.exp, np.exp, x), "sigmoid": (mx.sigmoid, special.expit, x),
        "logaddexp": (lambda a: mx.logaddexp(a, 0.0), lambda a: np.logaddexp(a, 0.0), x),
        "softmax": (rows(lambda a: mx.softmax(a, axis=-1)), rows(lambda a: special.softmax(a, axis=-1)), x),
        "sin": (mx.sin, np.sin, x), "cos": (mx.cos, np.cos, x), "erf": (mx.erf, special.erf, x / 3),
        "erfinv": (mx.erfinv, special.erfinv, x / 11), "log": (mx.log, np.log, pos), "log1p": (mx.log1p, np.log1p, pos),
        "expm1": (mx.expm1, np.expm1, x), "tanh": (mx.tanh, np.tanh, x), "sqrt": (mx.sqrt, np.sqrt, pos),
        "rsqrt": (mx.rsqrt, lambda a: 1 / np.sqrt(a), pos), "power": (lambda a: a ** 2.5, lambda a: a ** 2.5, pos),
        "arctan": (mx.arctan, np.arctan, x), "sinh": (mx.sinh, np.sinh, x / 2),
        "logsumexp": (rows(lambda a: mx.logsumexp(a, axis=-1)), rows(lambda a: special.logsumexp(a, axis=-1)), x),
        "matmul": (rows(lambda a: a @ a.T), rows(lambda a: a @ a.T), pos),
    }


def _relative_error(got: np.ndarray, exact: np.ndarray) -> float:
    """Largest relative error where the exact value is not near zero (|exact| > 1e-3)."""
    where = np.abs(exact) > 1e-3
    return float(np.max(np.abs(got[where] - exact[where]) / np.abs(exact[where])))


@demonstrates("float64-cpu-float32-accurate")
def test_float64_cpu_float32_accurate():
    from scipy import special

    errors = {}
    for name, (mlx_fn, exact_fn, x) in _float64_cases().items():
        got = mlx_fn(mx.array(x, dtype=mx.float64))
        assert got.dtype == mx.float64, name
        errors[name] = _relative_error(np.array(got), exact_fn(x))
    assert {n for n, e in errors.items() if e > 5e-8} == set(FLOAT32_ACCURATE), errors  # float32: u = 6e-8
    assert {n for n, e in errors.items() if e < 1e-13} == set(FLOAT64_ACCURATE), errors
    assert all(1e-13 < errors[n] < 5e-8 for n in IN_BETWEEN), errors
    text = registry.get("float64-cpu-float32-accurate").mlx
    assert all(f"`{n}`" in text for n in FLOAT32_ACCURATE + FLOAT64_ACCURATE + IN_BETWEEN), "the entry must name them all"
    measured("float64-cpu-float32-accurate", "exp_rel", errors["exp"])
    measured("float64-cpu-float32-accurate", "sigmoid_rel", errors["sigmoid"])

    # a float64 reference of the document's loss: BCE with logits
    rng = np.random.default_rng(1)
    z, y = rng.normal(0, 4, 4096), (rng.random(4096) < 0.5).astype(np.float64)
    exact = math.fsum(max(v, 0.0) - v * t + math.log1p(math.exp(-abs(v))) for v, t in zip(z, y)) / len(z)
    mlx64 = nn.losses.binary_cross_entropy(mx.array(z, dtype=mx.float64), mx.array(y, dtype=mx.float64),
                                           reduction="mean").item()
    mlx_err = measured("float64-cpu-float32-accurate", "bce_rel", abs(mlx64 - exact) / exact)
    grad = np.array(mx.grad(lambda v: nn.losses.binary_cross_entropy(v, mx.array(y, dtype=mx.float64), reduction="sum"))(
        mx.array(z, dtype=mx.float64)))
    exact_grad = special.expit(z) - y  # dBCE/dz per sample, in numpy float64
    measured("float64-cpu-float32-accurate", "grad_rel", _relative_error(grad, exact_grad))
    torch64 = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y)).item()
    numpy64 = float(np.mean(np.logaddexp(0.0, z) - z * y))
    for name, value in (("torch", torch64), ("numpy", numpy64)):
        assert abs(value - exact) / exact * 1e6 < mlx_err, f"{name} float64 is not a million times closer than MLX's"


@demonstrates("softmax-precise")
def test_softmax_precise():
    rng = np.random.default_rng(2)
    z = (rng.standard_normal((64, 4096)) * 3).astype(np.float16)
    exact = torch.tensor(z).double().softmax(-1).numpy()
    naive = np.array(mx.softmax(mx.array(z), axis=-1)).astype(np.float64)
    measured("softmax-precise", "naive_rel", np.abs(naive - exact).max() / np.abs(exact).max())
    measured("softmax-precise", "naive_row_sum", np.abs(naive.sum(-1) - 1).max())
    t_out = torch.tensor(z).softmax(-1)
    assert t_out.dtype == torch.float16
    measured("softmax-precise", "torch_row_sum", np.abs(t_out.double().numpy().sum(-1) - 1).max())

    fixed = mx.softmax(mx.array(z), axis=-1, precise=True)
    assert fixed.dtype == mx.float16
    assert_close(np.array(fixed), t_out.numpy(), path="softmax(precise=True), float16", kind="forward", dtype="float16",
                 exact=exact)


def _mixed_precision_forward(params: dict, X):
    """SimpleNN's logits in float16 from float32 parameters: what torch's autocast does for Linear."""
    h = nn.relu(X.astype(mx.float16) @ params["fc1"]["weight"].astype(mx.float16).T
                + params["fc1"]["bias"].astype(mx.float16))
    return (h @ params["fc2"]["weight"].astype(mx.float16).T + params["fc2"]["bias"].astype(mx.float16)).squeeze(-1)


@demonstrates("no-autocast-gradscaler")
def test_no_autocast_gradscaler():
    assert not hasattr(mx, "autocast") and not hasattr(optim, "GradScaler")
    lr, scale = 1e-4, 2.0 ** 16
    X, y = DOC["train"]
    naive = mlx_model()
    naive.set_dtype(mx.float16)  # the whole model in float16, weights included
    opt = optim.Adam(learning_rate=lr, bias_correction=True)
    loss_fn = lambda m, X, y: nn.losses.binary_cross_entropy(m(X), y, reduction="mean")  # noqa: E731
    _, grads = nn.value_and_grad(naive, loss_fn)(naive, m_(X).astype(mx.float16), m_(y).astype(mx.float16))
    opt.update(naive, grads)
    after = MM.export_weights(naive)
    unchanged = np.mean(np.concatenate([(after[k].astype(np.float32) == WEIGHTS[k].astype(np.float16)).ravel()
                                        for k in WEIGHTS]))
    measured("no-autocast-gradscaler", "unchanged_share", unchanged)

    tmodel = torch_model()
    t_opt = torch.optim.Adam(tmodel.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cpu", init_scale=scale)
    with torch.autocast("cpu", dtype=torch.float16):
        t_loss = F.binary_cross_entropy_with_logits(tmodel(t_(X)).float(), t_(y))
    scaler.scale(t_loss).backward()
    scaler.step(t_opt)
    scaler.update()
    t_after = TM.export_weights(tmodel)
    still = np.mean(np.concatenate([(t_after[k] == WEIGHTS[k]).ravel() for k in WEIGHTS]))
    measured("no-autocast-gradscaler", "torch_unchanged_share", still)  # the weights whose gradient is zero

    model = mlx_model()  # float32 weights; float16 compute in the loss; the loss scaled, the gradients unscaled
    opt = optim.Adam(learning_rate=lr, bias_correction=True)
    scaled = lambda m, X, y: scale * nn.losses.binary_cross_entropy(  # noqa: E731
        _mixed_precision_forward(m.parameters(), X).astype(mx.float32), y, reduction="mean")
    loss, grads = nn.value_and_grad(model, scaled)(model, m_(X), m_(y))
    grads = tree_map(lambda g: g / scale, grads)
    assert all(bool(mx.isfinite(g).all()) for _, g in tree_flatten(grads))  # what GradScaler checks before stepping
    opt.update(model, grads)
    assert_close(loss.item() / scale, t_loss.item(), path="loss, float16 compute", kind="loss", dtype="float16")
    mine = MM.export_weights(model)
    for key in WEIGHTS:
        assert_close(mine[key], t_after[key], path=f"{key} after one mixed-precision Adam step", kind="trajectory",
                     scale=lr, step=1)


# --------------------------------------------------------------------------------------------
# Memory


@demonstrates("memory-api-and-cache")
def test_memory_api_and_cache():
    assert hasattr(mx, "get_peak_memory") and hasattr(mx.metal, "get_peak_memory")  # the old names still answer
    limit = mx.set_cache_limit(1 << 40)  # as good as none (it returns the limit in force)
    try:
        mx.clear_cache()
        base = mx.get_active_memory()  # other tests' arrays may be alive: count from here
        mx.reset_peak_memory()
        for i in range(1, 6):  # five arrays of 4, 8, ..., 20 MiB, each freed after use
            a = mx.ones((1024, 1024 * i))
            mx.eval(a)
            del a
        measured("memory-api-and-cache", "active_mib", (mx.get_active_memory() - base) / 2 ** 20)
        measured("memory-api-and-cache", "cache_mib", mx.get_cache_memory() / 2 ** 20)
        measured("memory-api-and-cache", "peak_mib", (mx.get_peak_memory() - base) / 2 ** 20)

        mx.set_cache_limit(0)  # the fix: a limit (0: no cache at all), or mx.clear_cache() when it matters
        mx.clear_cache()
        for i in range(1, 6):
            a = mx.ones((1024, 1024 * i))
            mx.eval(a)
            del a
        assert mx.get_cache_memory() == 0
    finally:
        mx.set_cache_limit(limit)
        mx.clear_cache()
