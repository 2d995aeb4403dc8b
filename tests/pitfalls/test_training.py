"""The proofs of the registry's entries on the training loop: one test per entry (see ``helpers``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
import numpy as np
import pytest

from conformance.compare import assert_close, compare
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


