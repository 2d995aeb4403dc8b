"""The proofs of the registry's entries on the optimizer: one test per entry (see ``helpers``)."""

from __future__ import annotations

import importlib
import inspect
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
import numpy as np
import pytest
import torch
from torch import nn as tnn

from conformance.compare import assert_close, compare
from mlx_reference import loss as ML, model as MM, optim as MO
from reference_torch import loss as TL, model as TM, optim as TO
from .helpers import (DOC, LR, RECORD, WEIGHTS, assert_trajectory, demonstrates, m_, measured, mlx_model, mlx_run, run_seed,
                      seed_line, t_, torch_loss_at, torch_model, torch_run)


@demonstrates("seed-import-mlx-optim")
def test_seed_import_mlx_optim():
    with pytest.raises(ModuleNotFoundError, match="No module named 'mlx.optim'"):
        run_seed(4)

    opt = MO.make_adam(mlx_model())
    assert isinstance(opt, importlib.import_module("mlx.optimizers").Adam)
    defaults = TO.make_adam(torch_model()).defaults
    assert list(opt.betas) == list(defaults["betas"]) and opt.eps == defaults["eps"]
    assert opt.learning_rate.item() == pytest.approx(defaults["lr"], rel=1e-7)


@demonstrates("seed-model-before-defined")
def test_seed_model_before_defined():
    line = seed_line(4, "optimizer = optim.Adam(model.parameters(), lr=0.001)")
    ns = run_seed(1, 2, ns={"optim": optim})
    with pytest.raises(NameError, match="name 'model' is not defined"):
        exec(line, ns)
    with pytest.raises(NameError, match="name 'model' is not defined"):
        exec(line, {"optim": torch.optim})

    model = mlx_model()
    opt = MO.make_adam(model)
    state = dict(tree_flatten(opt.state))
    assert {k[:-2] for k in state if k.endswith(".m")} == {n for n, _ in torch_model().named_parameters()}


@demonstrates("seed-adam-signature")
def test_seed_adam_signature():
    line = seed_line(4, "optimizer = optim.Adam(model.parameters(), lr=0.001)")
    ns = {"optim": optim, "model": mlx_model()}
    with pytest.raises(TypeError, match="unexpected keyword argument 'lr'"):
        exec(line, ns)
    with pytest.raises(ValueError, match="Invalid type dict"):
        optim.Adam(ns["model"].parameters())

    losses, weights = mlx_run(MO.make_adam(mlx_model(), learning_rate=1e-3), steps=1)
    t_losses, t_weights = torch_run()
    for key in WEIGHTS:
        assert_close(weights[1][key], t_weights[1][key], path=f"{key} after one Adam step", kind="trajectory", scale=LR, step=1)


@demonstrates("adam-bias-correction")
def test_adam_bias_correction():
    t_losses, t_weights = torch_run()
    _, naive = mlx_run(optim.Adam(learning_rate=1e-3))
    step_naive = np.abs(naive[1]["fc2.bias"] - WEIGHTS["fc2.bias"]).max()
    step_torch = np.abs(t_weights[1]["fc2.bias"] - WEIGHTS["fc2.bias"]).max()
    ratio = measured("adam-bias-correction", "first_step_ratio", step_naive / step_torch)
    assert ratio == pytest.approx((1 - 0.9) / math.sqrt(1 - 0.999), rel=1e-3)
    naive_10, torch_10 = torch_loss_at(naive[10]), torch_loss_at(t_weights[10])
    naive_100, torch_100 = torch_loss_at(naive[100]), torch_loss_at(t_weights[100])
    measured("adam-bias-correction", "loss_gap_10", abs(naive_10 - torch_10))
    measured("adam-bias-correction", "loss_gap_100", abs(naive_100 - torch_100))
    measured("adam-bias-correction", "naive_loss_100", naive_100)
    measured("adam-bias-correction", "torch_loss_100", torch_100)
    assert not compare(naive_10, torch_10, path="loss after 10 steps", kind="trajectory", scale=LR, step=10).passed

    losses, weights = mlx_run(MO.make_adam(mlx_model(), 1e-3))
    assert_trajectory(losses, t_losses, "make_adam")
    for k in RECORD:
        for key in WEIGHTS:
            assert_close(weights[k][key], t_weights[k][key], path=f"{key} after {k} steps", kind="trajectory", scale=LR, step=k)


@demonstrates("lr-float32-state")
def test_lr_float32_state():
    opt = optim.Adam(learning_rate=1e-3)
    assert isinstance(opt.learning_rate, mx.array) and opt.learning_rate.dtype == mx.float32
    assert "learning_rate" in opt.state
    t_opt = torch.optim.Adam(torch_model().parameters(), lr=1e-3)
    assert type(t_opt.param_groups[0]["lr"]) is float and t_opt.param_groups[0]["lr"] == 1e-3
    read_back = measured("lr-float32-state", "read_back_rel", (opt.learning_rate.item() - 1e-3) / 1e-3)
    assert read_back != 0
    lr = 1e-3
    for _ in range(3):
        opt.learning_rate = opt.learning_rate * 0.1
        lr *= 0.1
    measured("lr-float32-state", "drift_rel", abs(opt.learning_rate.item() - lr) / lr)

    # the fix: the schedule's arithmetic in Python floats, written into MLX's state; compared in float32
    mlx_opt = MO.make_adam(mlx_model())
    mlx_sched = MO.ReduceLROnPlateau(mlx_opt, patience=0)
    t_sched = TO.ReduceLROnPlateau(TO.make_adam(torch_model()), patience=0)
    m_lrs, t_lrs = [], []
    for _ in range(4):  # a metric that never improves: a reduction every epoch after the first
        mlx_sched.step(1.0)
        t_sched.step(1.0)
        m_lrs.append(mlx_sched.get_last_lr()[0])
        t_lrs.append(t_sched.get_last_lr()[0])
    assert_same_schedule(m_lrs, t_lrs, "ReduceLROnPlateau(patience=0)")
    assert t_lrs[-1] < 2e-6
    assert mlx_opt.learning_rate.item() == np.float32(t_lrs[-1])  # what the update reads: the float32 rounding


def assert_same_schedule(m_lrs: list[float], t_lrs: list[float], what: str) -> None:
    """The same learning rate at every epoch, exactly: the schedule's arithmetic is Python floats on
    both sides (MLX's float32 copy in ``optimizer.state`` is only what the update reads)."""
    assert_close(m_lrs, t_lrs, path=f"{what}: learning rate per epoch", kind="decision")


def _plateau_metric(n: int = 30) -> list[float]:
    rng = np.random.default_rng(0)
    falling = list(1.0 - 0.1 * np.arange(5))
    return falling + list(0.6 + 0.001 * rng.standard_normal(n - 5))


@demonstrates("reduce-lr-on-plateau-missing")
def test_reduce_lr_on_plateau_missing():
    assert not hasattr(optim, "ReduceLROnPlateau")
    schedule = optim.step_decay(1e-3, 0.1, 10)  # what MLX has: a function of the step count
    assert abs(schedule(mx.array(10)).item() - 1e-4) < 1e-9 and "step" in inspect.signature(optim.step_decay(1e-3, 0.1, 10)).parameters

    metric = _plateau_metric()
    t_opt = TO.make_adam(torch_model())
    t_sched = TO.ReduceLROnPlateau(t_opt, patience=2)
    naive_opt = MO.make_adam(mlx_model())
    for v in metric:
        t_sched.step(v)
    measured("reduce-lr-on-plateau-missing", "torch_final_lr", t_sched.get_last_lr()[0])
    measured("reduce-lr-on-plateau-missing", "naive_final_lr", naive_opt.learning_rate.item())

    configs = [dict(patience=2), dict(mode="max", patience=1), dict(threshold_mode="abs", threshold=0.05, patience=1),
               dict(cooldown=2, patience=1), dict(min_lr=1e-5, patience=1), dict(factor=0.5, patience=0),
               dict(threshold=0.2, patience=3, eps=1e-4)]
    for cfg in configs:
        series = [-v for v in metric] if cfg.get("mode") == "max" else metric
        m_sched = MO.ReduceLROnPlateau(MO.make_adam(mlx_model()), **cfg)
        t_sched = TO.ReduceLROnPlateau(TO.make_adam(torch_model()), **cfg)
        m_lrs, t_lrs = [], []
        for v in series:
            m_sched.step(v)
            t_sched.step(v)
            m_lrs.append(m_sched.get_last_lr()[0])
            t_lrs.append(t_sched.get_last_lr()[0])
        assert_same_schedule(m_lrs, t_lrs, f"ReduceLROnPlateau({cfg})")
        assert len(set(t_lrs)) > 1, f"ReduceLROnPlateau({cfg}) never reduced: the case shows nothing"




# --------------------------------------------------------------------------------------------
# Optimizers other than the document's Adam: both sides fed the document's full batch


def _mlx_steps(optimizer, steps: int, transform=None):
    """``steps`` full-batch updates of SimpleNN by ``optimizer``; ``transform(grads, model)`` edits the
    gradients before the update. Returns the losses and the weights at RECORD."""
    model = mlx_model()
    value_and_grad = nn.value_and_grad(model, ML.loss_fn)
    X, y = (m_(a) for a in DOC["train"])
    losses, weights = [], {}
    for s in range(1, steps + 1):
        loss, grads = value_and_grad(model, X, y)
        if transform is not None:
            grads = transform(grads, model)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        losses.append(loss.item())
        if s in RECORD:
            weights[s] = MM.export_weights(model)
    return losses, weights


def _torch_steps(make_optimizer, steps: int, before_step=None):
    """The same in torch: ``make_optimizer(parameters)``; ``before_step(model)`` runs after backward."""
    model = torch_model()
    opt = make_optimizer(model.parameters())
    X, y = (t_(a) for a in DOC["train"])
    losses, weights = [], {}
    for s in range(1, steps + 1):
        opt.zero_grad()
        loss = TL.loss_fn(model, X, y)
        loss.backward()
        if before_step is not None:
            before_step(model)
        opt.step()
        losses.append(loss.item())
        if s in RECORD:
            weights[s] = TM.export_weights(model)
    return losses, weights


def _assert_same_run(mlx_result, torch_result, lr: float, what: str, steps: int) -> None:
    (m_losses, m_weights), (t_losses, t_weights) = mlx_result, torch_result
    for k in range(1, steps + 1):
        assert_close(m_losses[k - 1], t_losses[k - 1], path=f"{what}: loss at step {k}", kind="trajectory",
                     scale=lr, step=k)
    for k in (r for r in RECORD if r <= steps):
        for key in WEIGHTS:
            assert_close(m_weights[k][key], t_weights[k][key], path=f"{what}: {key} after {k} steps",
                         kind="trajectory", scale=lr, step=k)


def _step_size(weights: dict, key: str = "fc2.bias") -> float:
    return float(np.abs(weights[1][key] - WEIGHTS[key]).max())


@demonstrates("adam-weight-decay")
def test_adam_weight_decay():
    wd = 0.1
    with pytest.raises(TypeError, match="weight_decay"):
        optim.Adam(learning_rate=1e-3, weight_decay=wd)
    t_run = _torch_steps(lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=wd), 10)
    naive = _mlx_steps(optim.AdamW(learning_rate=1e-3, weight_decay=wd, bias_correction=True), 10)
    gap = max(np.abs(naive[1][10][k] - t_run[1][10][k]).max() for k in WEIGHTS)
    measured("adam-weight-decay", "weight_gap_10", gap)
    measured("adam-weight-decay", "update_gap_share", gap / (10 * 1e-3))
    assert not compare(naive[1][10]["fc1.weight"], t_run[1][10]["fc1.weight"], path="AdamW for Adam(weight_decay)",
                       kind="trajectory", scale=1e-3, step=10).passed
    assert optim.AdamW(learning_rate=1e-3).weight_decay == torch.optim.AdamW([torch.zeros(1)]).defaults["weight_decay"]

    def l2(grads, model):  # torch's coupled decay: the penalty's gradient added before Adam sees it
        return tree_map(lambda g, p: g + wd * p, grads, model.trainable_parameters())

    fixed = _mlx_steps(optim.Adam(learning_rate=1e-3, bias_correction=True), 10, transform=l2)
    _assert_same_run(fixed, t_run, 1e-3, "Adam + wd * p in the gradient", 10)


@demonstrates("sgd-dampening-first-step")
def test_sgd_dampening_first_step():
    lr, momentum, dampening = 0.1, 0.9, 0.5
    t_run = _torch_steps(lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum, dampening=dampening), 10)
    naive = _mlx_steps(optim.SGD(learning_rate=lr, momentum=momentum, dampening=dampening), 10)
    measured("sgd-dampening-first-step", "first_step_ratio", _step_size(naive[1]) / _step_size(t_run[1]))
    measured("sgd-dampening-first-step", "loss_gap_10", abs(naive[0][-1] - t_run[0][-1]))
    assert not compare(naive[0][-1], t_run[0][-1], path="loss after 10 SGD steps", kind="trajectory", scale=lr,
                       step=10).passed

    opt = optim.SGD(learning_rate=lr, momentum=momentum, dampening=0.0)

    def undamped_first(grads, model):  # torch's buffer starts as the first gradient itself
        if int(opt.step.item()) >= 1:  # from the second update on (the step count is read before it)
            opt.dampening = dampening
        return grads

    _assert_same_run(_mlx_steps(opt, 10, transform=undamped_first), t_run, lr, "SGD, first step undamped", 10)


@demonstrates("adagrad-eps")
def test_adagrad_eps():
    assert inspect.signature(optim.Adagrad).parameters["eps"].default == 1e-8
    assert torch.optim.Adagrad([torch.zeros(1)]).defaults["eps"] == 1e-10
    g = np.array([1e-10, 1e-9, 1e-8, 1e-7, 1e-3, 1.0], dtype=np.float32)  # gradients of rarely used weights
    p = np.zeros_like(g)

    def mlx_step(opt):
        return np.array(opt.apply_gradients({"w": m_(g)}, {"w": m_(p)})["w"])

    tp = t_(p).requires_grad_()
    t_opt = torch.optim.Adagrad([tp], lr=0.01)
    tp.grad = t_(g)
    t_opt.step()
    torch_step = tp.detach().numpy()
    naive = mlx_step(optim.Adagrad(learning_rate=0.01))
    measured("adagrad-eps", "step_ratio_1e8", naive[2] / torch_step[2])
    measured("adagrad-eps", "step_ratio_1e9", naive[1] / torch_step[1])
    assert_close(naive[4:], torch_step[4:], path="Adagrad's first step, large gradients", kind="trajectory",
                 scale=0.01, step=1)

    assert_close(mlx_step(optim.Adagrad(learning_rate=0.01, eps=1e-10)), torch_step, path="Adagrad(eps=1e-10)",
                 kind="trajectory", scale=0.01, step=1)
    t_run = _torch_steps(lambda ps: torch.optim.Adagrad(ps, lr=0.01), 10)
    _assert_same_run(_mlx_steps(optim.Adagrad(learning_rate=0.01, eps=1e-10), 10), t_run, 0.01, "Adagrad", 10)


@demonstrates("adamax-bias-correction")
def test_adamax_bias_correction():
    lr, b1 = 2e-3, 0.9
    assert "bias_correction" not in inspect.signature(optim.Adamax).parameters
    t_run = _torch_steps(lambda p: torch.optim.Adamax(p, lr=lr), 10)
    naive = _mlx_steps(optim.Adamax(learning_rate=lr), 10)
    measured("adamax-bias-correction", "first_step_ratio", _step_size(naive[1]) / _step_size(t_run[1]))
    measured("adamax-bias-correction", "weight_gap_10", max(np.abs(naive[1][10][k] - t_run[1][10][k]).max() for k in WEIGHTS))

    # MLX evaluates a schedule at the step count before the update: step 0 for the first one
    corrected = optim.Adamax(learning_rate=lambda step: lr / (1 - b1 ** (step + 1)))
    _assert_same_run(_mlx_steps(corrected, 10), t_run, lr, "Adamax, bias-corrected by its schedule", 10)


@demonstrates("clip-grad-norm-returns")
def test_clip_grad_norm_returns():
    lr, max_norm = 0.5, 0.05

    def clip_in_place(grads, model):  # torch's clip_grad_norm_ habit: call it, keep the gradients
        optim.clip_grad_norm(grads, max_norm)
        return grads

    def clip(grads, model):
        return optim.clip_grad_norm(grads, max_norm)[0]

    norms = []
    t_run = _torch_steps(lambda p: torch.optim.SGD(p, lr=lr), 10,
                         before_step=lambda m: norms.append(tnn.utils.clip_grad_norm_(m.parameters(), max_norm).item()))
    naive = _mlx_steps(optim.SGD(learning_rate=lr), 10, transform=clip_in_place)
    measured("clip-grad-norm-returns", "first_norm", norms[0])
    measured("clip-grad-norm-returns", "first_step_ratio", _step_size(naive[1]) / _step_size(t_run[1]))
    model = mlx_model()
    _, norm = optim.clip_grad_norm(nn.value_and_grad(model, ML.loss_fn)(model, *(m_(a) for a in DOC["train"]))[1],
                                   max_norm)
    assert_close(norm.item(), norms[0], path="gradient norm before clipping", kind="gradient", scale=norms[0])

    _assert_same_run(_mlx_steps(optim.SGD(learning_rate=lr), 10, transform=clip), t_run, lr,
                     "SGD on clip_grad_norm's returned gradients", 10)


@demonstrates("schedule-per-update")
def test_schedule_per_update():
    lr, epochs, batches = 0.1, 10, 8
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    t_sched = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=epochs)
    naive = optim.SGD(learning_rate=optim.cosine_decay(lr, decay_steps=epochs))
    per_epoch = optim.cosine_decay(lr, decay_steps=epochs)
    fixed = optim.SGD(learning_rate=lr)
    params, grads = {"w": mx.zeros(1)}, {"w": mx.zeros(1)}
    torch_lrs, naive_lrs, fixed_lrs = [], [], []
    for epoch in range(epochs):
        fixed.learning_rate = per_epoch(epoch)  # the schedule read once an epoch, as torch steps it
        for _ in range(batches):
            torch_lrs.append(t_opt.param_groups[0]["lr"])
            naive.apply_gradients(grads, params)
            fixed.apply_gradients(grads, params)
            naive_lrs.append(naive.learning_rate.item())
            fixed_lrs.append(fixed.learning_rate.item())
            t_opt.step()
        t_sched.step()
    measured("schedule-per-update", "naive_lr_epoch_2", naive_lrs[batches])
    measured("schedule-per-update", "torch_lr_epoch_2", torch_lrs[batches])
    assert naive_lrs[epochs] == 0.0  # decayed to zero by the eleventh update
    assert_close(fixed_lrs, torch_lrs, path="learning rate at every update", kind="optimizer_state")
