"""The proofs of the registry's entries on the training loop: one test per entry (see ``helpers``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
import numpy as np
import pytest
import torch
from torch import nn as tnn

from conformance.compare import assert_close, compare
from conformance.data import synthetic_dataset
from mlx_reference import data as MD, loss as ML, model as MM, optim as MO, train as MT
from reference_torch import data as TD, loss as TL, optim as TO
from .helpers import DOC, LR, WEIGHTS, assert_trajectory, demonstrates, leaves, m_, measured, mlx_model, mlx_run, pending_operations, run_seed, seed_line, t_, torch_loss_at, torch_model, torch_run


@demonstrates("seed-zero-grad-backward-step")
def test_seed_zero_grad_backward_step():
    ns = run_seed(1)
    ns.update(SimpleNN=MM.SimpleNN, optimizer=optim.Adam(learning_rate=1e-3),
              loss_fn=lambda p, y: ML.bce_with_logits(p, y.astype(mx.float32)))
    with pytest.raises(AttributeError, match="'Adam' object has no attribute 'zero_grad'"):
        run_seed(5, ns=ns)
    with pytest.raises(AttributeError, match="has no attribute 'backward'"):
        exec(seed_line(5, "loss.backward()        # 計算梯度"), ns)
    with pytest.raises(TypeError, match="not callable"):
        exec(seed_line(5, "optimizer.step()       # 更新參數"), ns)

    losses, _ = mlx_run(MO.make_adam(mlx_model()), steps=10)
    assert_trajectory(losses, torch_run()[0][:10], "make_train_step")


@demonstrates("gradient-accumulation")
def test_gradient_accumulation():
    _, accumulated = torch_run(zero_grad=False)
    _, correct = torch_run()
    measured("gradient-accumulation", "loss_gap_100", abs(torch_loss_at(accumulated[100]) - torch_loss_at(correct[100])))

    model = mlx_model()
    value_and_grad = nn.value_and_grad(model, ML.loss_fn)
    X, y = (m_(a) for a in DOC["train"])
    _, first = value_and_grad(model, X, y)
    _, second = value_and_grad(model, X, y)
    for (key, a), (_, b) in zip(tree_flatten(first), tree_flatten(second)):
        np.testing.assert_array_equal(np.array(a), np.array(b), err_msg=f"{key}: MLX gradients accumulated")

    losses, weights = mlx_run(MO.make_adam(mlx_model()))
    assert_trajectory(losses, torch_run()[0], "make_train_step")


@demonstrates("lazy-evaluation")
def test_lazy_evaluation(tmp_path):
    X, y = (m_(a) for a in DOC["train"])
    model = mlx_model()
    opt = MO.make_adam(model)
    step = MT.make_train_step(model, opt, compiled=False)
    step(X, y)
    after_1 = measured("lazy-evaluation", "graph_1", pending_operations(leaves(model.parameters()), tmp_path))
    for _ in range(99):
        step(X, y)
    after_100 = measured("lazy-evaluation", "graph_100", pending_operations(leaves(model.parameters()), tmp_path))
    assert after_100 > 50 * after_1
    mx.eval(model.parameters(), opt.state)
    assert pending_operations(leaves(model.parameters()), tmp_path) == 0

    a = mx.ones((4_000_000,))
    mx.eval(a)
    t0 = time.perf_counter()
    b = a
    for _ in range(50):  # 100 element-wise operations: memory-bound on any CPU, unlike a matmul
        b = b * 1.0001 + 1.0
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    mx.eval(b)
    run = time.perf_counter() - t0
    measured("lazy-evaluation", "build_us", build * 1e6)
    measured("lazy-evaluation", "eval_ms", run * 1e3)
    assert build * 20 < run

    model = mlx_model()
    opt = MO.make_adam(model)
    loss = MT.train_epoch(MT.make_train_step(model, opt, compiled=False), model, opt, X, y)
    assert pending_operations(leaves(model.parameters()) + leaves(opt.state), tmp_path) == 0
    assert_close(loss.item(), torch_run()[0][0], path="train_epoch loss", kind="trajectory", scale=LR, step=1)


@demonstrates("compiled-step-state")
def test_compiled_step_state():
    X, y = (m_(a) for a in DOC["train"])

    def fresh():
        model = mlx_model()
        opt = MO.make_adam(model)
        value_and_grad = nn.value_and_grad(model, ML.loss_fn)

        def step(X, y):
            loss, grads = value_and_grad(model, X, y)
            opt.update(model, grads)
            return loss

        return model, opt, step

    model, opt, step = fresh()
    stateless = mx.compile(step)
    with pytest.raises(RuntimeError, match="without a primitive"):
        mx.eval(stateless(X, y), model.parameters())
    with pytest.raises(RuntimeError, match="without a primitive"):
        mx.eval(model.parameters())  # the model is left holding placeholders

    model, opt, step = fresh()
    state = [model.state, opt.state]
    outputs_only = mx.compile(step, outputs=state)
    losses = []
    for _ in range(5):
        loss = outputs_only(X, y)
        mx.eval(loss, model.parameters(), opt.state)
        losses.append(loss.item())
    assert len(set(losses)) == 1, f"the outputs-only compiled step trained after all: {losses}"
    t_losses, t_weights = torch_run()
    for key in WEIGHTS:  # every call redid the first step from the captured initial weights
        assert_close(MM.export_weights(model)[key], t_weights[1][key], path=f"{key} after 5 calls",
                     kind="trajectory", scale=LR, step=1)
    measured("compiled-step-state", "frozen_loss", losses[-1])
    measured("compiled-step-state", "torch_loss_5", t_losses[4])
    assert not compare(losses[-1], t_losses[4], path="loss at step 5", kind="trajectory", scale=LR, step=5).passed

    compiled, weights = mlx_run(MO.make_adam(mlx_model()), steps=10, compiled=True)
    assert_trajectory(compiled, t_losses[:10], "compiled make_train_step")
    for key in WEIGHTS:
        assert_close(weights[10][key], torch_run()[1][10][key], path=f"{key} after 10 compiled steps",
                     kind="trajectory", scale=LR, step=10)


_JIT_SCRIPT = textwrap.dedent("""
    import time
    import mlx.core as mx
    mx.set_default_device(mx.cpu)
    f = mx.compile(lambda x: mx.tanh(x * 2 + 1) * 3 - x)
    x = mx.ones((8, 3))
    y = x + 1
    mx.eval(x, y)
    t = time.perf_counter(); mx.eval(f(x)); first = time.perf_counter() - t
    t = time.perf_counter(); mx.eval(f(y)); second = time.perf_counter() - t
    print(first, second)
""")


@demonstrates("compile-jit-cpu")
def test_compile_jit_cpu(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))

    def run():
        out = subprocess.run([sys.executable, "-c", _JIT_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return [float(v) for v in out.stdout.split()]

    first, second = run()
    measured("compile-jit-cpu", "first_call_s", first)
    measured("compile-jit-cpu", "second_call_us", second * 1e6)
    assert first > 20 * second

    warm_first, _ = run()  # a new process, the same cache directory
    assert warm_first * 5 < first


@demonstrates("torch-numpy-shares-memory")
def test_torch_numpy_shares_memory():
    model = torch_model()
    opt = TO.make_adam(model)
    X, y = (t_(a) for a in DOC["train"])
    view = model.fc1.weight.detach().numpy()
    taken = view.copy()
    copy = TD.to_numpy(model.fc1.weight)
    for _ in range(10):
        opt.zero_grad()
        TL.loss_fn(model, X, y).backward()
        opt.step()
    measured("torch-numpy-shares-memory", "snapshot_drift", np.abs(view - taken).max())
    np.testing.assert_array_equal(view, model.fc1.weight.detach().numpy())
    np.testing.assert_array_equal(copy, taken)

    mmodel = mlx_model()
    snapshot = MD.to_numpy(mmodel.fc1.weight)
    reference = mmodel.fc1.weight
    _, weights = mlx_run(MO.make_adam(mlx_model()), steps=10, model=mmodel)
    np.testing.assert_array_equal(snapshot, WEIGHTS["fc1.weight"])
    np.testing.assert_array_equal(np.array(reference), WEIGHTS["fc1.weight"])
    assert_close(weights[10]["fc1.weight"], TD.to_numpy(model.fc1.weight), path="fc1.weight after 10 steps",
                 kind="trajectory", scale=LR, step=10)




# --------------------------------------------------------------------------------------------
# mx.compile beyond the document's full batch: random state, and batches of changing shape


@demonstrates("compile-dropout-random-state")
def test_compile_dropout_random_state():
    model = nn.Sequential(nn.Linear(4, 64), nn.Dropout(0.5))
    mx.eval(model.parameters())
    x = mx.ones((1, 4))
    h = model.layers[0](x)

    def masks(fn, calls=10):
        return [np.array(fn(x)) != 0 for _ in range(calls)]

    state = [model.state]
    naive = masks(partial(mx.compile, inputs=state, outputs=state)(lambda v: model(v)))
    same = measured("compile-dropout-random-state", "same_mask_share",
                    np.mean([(m == naive[0]).all() for m in naive[1:]]))
    assert same == 1.0
    eager = masks(lambda v: model(v))
    assert not all((m == eager[0]).all() for m in eager[1:])

    state = [model.state, mx.random.state]
    fixed = masks(partial(mx.compile, inputs=state, outputs=state)(lambda v: model(v)))
    assert not any((m == fixed[0]).all() for m in fixed[1:])
    kept = np.mean(fixed)
    assert 0.4 < kept < 0.6, f"kept {kept:.2f} of the units, expected about 0.5"
    # what the kept units hold: x / (1 - p), as torch's Dropout scales them
    out = np.array(partial(mx.compile, inputs=state, outputs=state)(lambda v: model(v))(x))
    t_out = tnn.Dropout(0.5).train()(torch.tensor(np.array(h)))
    t_kept = t_out.numpy() != 0
    assert_close(out[out != 0] / np.array(h)[out != 0], np.full((out != 0).sum(), 2.0, np.float32),
                 path="MLX Dropout: kept / input", kind="decision", names=("mlx", "1/(1-p)"))
    assert_close(t_out.numpy()[t_kept] / np.array(h)[t_kept], np.full(t_kept.sum(), 2.0, np.float32),
                 path="torch Dropout: kept / input", kind="decision", names=("torch", "1/(1-p)"))


def _batches(n_rows: int = 10, batch: int = 4):
    """The rows of synthetic_dataset(n_rows) in batches of ``batch`` (the last one partial)."""
    ds = synthetic_dataset(n_rows, seed=3)
    X = ((ds.X - ds.X.mean(0)) / ds.X.std(0)).astype(np.float32)
    y = ds.y.astype(np.float32)
    return [(X[i:i + batch], y[i:i + batch]) for i in range(0, n_rows, batch)]


def _torch_epochs(batches, epochs: int) -> list[float]:
    model = torch_model()
    opt = TO.make_adam(model, LR)
    losses = []
    for _ in range(epochs):
        for X, y in batches:
            opt.zero_grad()
            loss = TL.loss_fn(model, t_(X), t_(y))
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


def _masked_loss(model, X, y, keep):
    """Mean BCE over the rows ``keep`` marks: padding rows count for nothing."""
    per_row = nn.losses.binary_cross_entropy(model(X), y, reduction="none")
    return mx.sum(per_row * keep) / mx.sum(keep)


@demonstrates("compile-retrace-per-shape")
def test_compile_retrace_per_shape():
    batches, epochs, size = _batches(), 3, 4
    traced = []

    def run(pad: bool) -> list[float]:
        model = mlx_model()
        opt = MO.make_adam(model, LR)
        value_and_grad = nn.value_and_grad(model, _masked_loss)
        state = [model.state, opt.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def step(X, y, keep):
            traced.append(X.shape)  # runs only while tracing
            loss, grads = value_and_grad(model, X, y, keep)
            opt.update(model, grads)
            return loss

        losses = []
        for _ in range(epochs):
            for X, y in batches:
                keep = np.ones(len(y), np.float32)
                if pad and len(y) < size:
                    fill = size - len(y)
                    X, y, keep = (np.concatenate([a, np.zeros((fill, *a.shape[1:]), np.float32)]) for a in (X, y, keep))
                loss = step(m_(X), m_(y), m_(keep))
                mx.eval(loss, model.parameters(), opt.state)
                losses.append(loss.item())
        return losses

    unpadded = run(pad=False)
    measured("compile-retrace-per-shape", "traces", len(traced))
    measured("compile-retrace-per-shape", "shapes", len({len(y) for _, y in batches}))
    torch_losses = _torch_epochs(batches, epochs)
    assert_trajectory(unpadded, torch_losses, "compiled step, partial last batch")  # right, but traced twice

    traced.clear()
    padded = run(pad=True)
    assert len(traced) == 1
    assert_trajectory(padded, torch_losses, "compiled step, last batch padded and masked")


_SHAPELESS_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np, mlx.core as mx, mlx.nn as nn
    mx.set_default_device(mx.cpu)
    rng = np.random.default_rng(0)
    layer = nn.Linear(3, 2)
    mx.eval(layer.parameters())
    grad = lambda x: nn.value_and_grad(layer, lambda m, v: mx.sum(m(v) ** 2))(layer, x)[1]["weight"]
    out = {}
    for name, fn in (("forward", layer), ("gradient", grad)):
        compiled = mx.compile(fn, shapeless=True)
        gaps = []
        for n in (4, 8):  # traced with a batch of 4, then called with 8
            x = mx.array(rng.standard_normal((n, 3)).astype(np.float32))
            try:
                gaps.append(float(np.abs(np.array(fn(x)) - np.array(compiled(x))).max()))
            except ValueError as e:
                gaps.append(str(e))
        out[name] = gaps
    print(json.dumps(out))
""")


@demonstrates("compile-shapeless-linear")
def test_compile_shapeless_linear():
    # in a process of its own: the wrong shapes corrupt memory, and the process may crash
    run = subprocess.run([sys.executable, "-c", _SHAPELESS_SCRIPT], capture_output=True, text=True, timeout=120)
    if run.returncode == 0:
        gaps = json.loads(run.stdout.strip().splitlines()[-1])
        assert gaps["forward"][0] == 0.0 and gaps["gradient"][0] == 0.0, gaps  # right at the traced shape
        assert gaps["forward"][1] > 1e-3 and gaps["gradient"][1] > 1e-3, f"shapeless Linear is right now: {gaps}"
    else:
        assert run.returncode < 0 or "free()" in run.stderr, run.stderr  # killed by a signal: the crash

    batches, epochs = _batches(), 3
    model = mlx_model()
    opt = MO.make_adam(model, LR)
    step = MT.make_train_step(model, opt, compiled=True)  # shape-specialised: one trace per batch shape
    losses = []
    for _ in range(epochs):
        for X, y in batches:
            loss = step(m_(X), m_(y))
            mx.eval(loss, model.parameters(), opt.state)
            losses.append(loss.item())
    assert_trajectory(losses, _torch_epochs(batches, epochs), "shape-specialised compiled step")
