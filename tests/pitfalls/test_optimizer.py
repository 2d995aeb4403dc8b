"""The proofs of the registry's entries on the optimizer: one test per entry (see ``helpers``)."""

from __future__ import annotations

import importlib
import inspect
import math

import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten
import numpy as np
import pytest
import torch

from conformance.compare import assert_close, compare
from mlx_reference import optim as MO
from reference_torch import optim as TO
from .helpers import LR, RECORD, WEIGHTS, assert_trajectory, demonstrates, measured, mlx_model, mlx_run, run_seed, seed_line, torch_loss_at, torch_model, torch_run


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


