"""One test per entry of ``conformance.registry``: the naive port's failure, and the fix matching PyTorch.

Each test is named ``test_<entry id>`` and decorated with ``@demonstrates(<entry id>)``. It first
shows the failure (for the seed document's errors, by executing the document's own code, taken from
``docs/seed/`` at run time, under MLX and asserting the exception), re-measures every number the
entry quotes (``measured``: the registry's value must still hold, so a new release that changes a
default is noticed), and then shows that the fix in ``mlx_reference`` agrees with PyTorch under the
tolerance table (``conformance.tolerances``). ``PITFALLS_MEASURE=<file>`` switches to measuring:
every measurement is appended to that JSON-lines file instead of being checked against the registry.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
from functools import lru_cache

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mlx.utils import tree_flatten
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn as tnn

from conformance import registry
from conformance.compare import assert_close, compare
from conformance.data import apply_split, document_dataset, split_indices, synthetic_dataset
from conformance.guide import seed_steps
from conformance.runner import RunConfig, run_both
from conformance.tolerances import data_scale
from conformance.weights import init_weights
from mlx_reference import data as MD, device as MDEV, loss as ML, metrics as MMET, model as MM
from mlx_reference import optim as MO, train as MT, validate as MV
from reference_torch import data as TD, loss as TL, metrics as TMET, model as TM
from reference_torch import optim as TO, train as TT, validate as TV

SEED = seed_steps()
WEIGHTS = init_weights(2, 10, seed=0)
STEP_MARKS = {1: "data", 2: "model", 3: "loss", 4: "optimizer", 5: "training", 6: "validation", 7: "metrics"}


# --------------------------------------------------------------------------------------------
# Helpers


def demonstrates(entry_id: str):
    """Tie a test to its registry entry (and give it its step's marker)."""
    entry = registry.get(entry_id)

    def decorate(fn):
        fn.entry_id = entry_id
        if entry.step in STEP_MARKS:
            fn = getattr(pytest.mark, STEP_MARKS[entry.step])(fn)
        return fn

    return decorate


def measured(entry_id: str, key: str, observed) -> float:
    """Check a re-measured number against the one the registry quotes (and optionally record it)."""
    m = registry.measurement(entry_id, key)
    value = float(observed)
    record = os.environ.get("PITFALLS_MEASURE")
    if record:
        with open(record, "a", encoding="utf-8") as f:
            f.write(json.dumps({"entry": entry_id, "key": key, "observed": value, "registered": m.value}) + "\n")
        return value  # measuring mode: record, do not judge
    assert m.agrees(value), (
        f"{entry_id}: {key} measures {value:.6g} now, but conformance/registry.py says {m.allowed()} "
        f"({m.how}); if the change is real, update the registry and re-render the guide")
    return value


def run_seed(*steps: int, ns: dict | None = None, code: dict | None = None) -> dict:
    """Execute the seed document's code of ``steps`` in order, in one namespace (under MLX)."""
    ns = {} if ns is None else ns
    for n in steps:
        exec(compile((code or {}).get(n, SEED[n].code), f"<seed step {n}>", "exec"), ns)
    return ns


def seed_line(step: int, text: str) -> str:
    """A line of the seed's code (checked to be there), stripped, ready to ``exec``."""
    SEED[step].line_number(text)
    return text.strip()


def doc_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The document's rows split 3/1/1 (seed 0), standardized with the training rows' statistics."""
    ds = document_dataset()
    splits = apply_split(ds, split_indices(ds.y))
    X, _ = splits["train"]
    mean, scale = X.mean(0), X.std(0)
    return {k: (((v[0] - mean) / scale).astype(np.float32), v[1].astype(np.float32)) for k, v in splits.items()}


DOC = doc_splits()


def seed_rows():
    """The seed's own split of its raw rows: (X_train, X_test, y_train, y_test), float64 / int64."""
    ns = run_seed(1)
    return train_test_split(ns["X"].astype(np.float64), ns["y"], test_size=0.2, random_state=42)


def m_(a) -> mx.array:
    return mx.array(np.asarray(a, dtype=np.float32))


def t_(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float32))


def mlx_model(weights=WEIGHTS) -> MM.SimpleNN:
    return MM.load_weights(MM.SimpleNN(), weights)


def torch_model(weights=WEIGHTS) -> TM.SimpleNN:
    return TM.load_weights(TM.SimpleNN(), weights)


def torch_logits(X) -> np.ndarray:
    with torch.no_grad():
        return torch_model()(t_(X)).numpy().copy()


def torch_loss_at(weights, split: str = "train") -> float:
    X, y = DOC[split]
    with torch.no_grad():
        return TL.loss_fn(torch_model(weights), t_(X), t_(y)).item()


RECORD = (1, 5, 10, 100)
LR = 1e-3  # the document's learning rate: the magnitude trajectory budgets scale with


@lru_cache(maxsize=None)
def torch_run(steps: int = 100, zero_grad: bool = True):
    """torch's reference run on the document's training rows: per-step losses, weights at RECORD."""
    model = torch_model()
    opt = TO.make_adam(model, 1e-3)
    X, y = (t_(a) for a in DOC["train"])
    losses, weights = [], {}
    for s in range(1, steps + 1):
        if zero_grad:
            opt.zero_grad()
        loss = TL.loss_fn(model, X, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if s in RECORD:
            weights[s] = TM.export_weights(model)
    return losses, weights


def mlx_run(optimizer, steps: int = 100, compiled: bool = False, model=None):
    """The same run in MLX with ``optimizer``, through ``mlx_reference.train.make_train_step``."""
    model = model or mlx_model()
    step = MT.make_train_step(model, optimizer, compiled=compiled)
    X, y = (m_(a) for a in DOC["train"])
    losses, weights = [], {}
    for s in range(1, steps + 1):
        loss = step(X, y)
        mx.eval(loss, model.parameters(), optimizer.state)
        losses.append(loss.item())
        if s in RECORD:
            weights[s] = MM.export_weights(model)
    return losses, weights


def assert_trajectory(mlx_losses, torch_losses, what: str) -> None:
    for k, (a, b) in enumerate(zip(mlx_losses, torch_losses), start=1):
        assert_close(a, b, path=f"{what}: loss at step {k}", kind="trajectory", scale=LR, step=k)


def pending_operations(arrays, tmp_path) -> int:
    """How many operations MLX has yet to run to produce ``arrays`` (the primitives of their graph)."""
    path = tmp_path / "graph.dot"
    mx.export_to_dot(str(path), *arrays)
    return path.read_text().count("shape=rectangle")


def leaves(tree) -> list:
    return [v for _, v in tree_flatten(tree) if isinstance(v, mx.array)]


def code_names(code: str) -> set[str]:
    """Every name and attribute the code uses (for 'the document never does X')."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.split(".")[-1])
    return names


def seed_model_called_properly():
    """The seed's SimpleNN with only its ``forward`` renamed ``__call__``, loaded with WEIGHTS."""
    code = SEED[2].code.replace("def forward(self, x):", "def __call__(self, x):")
    ns = run_seed(2, code={2: code})
    return MM.load_weights(ns["SimpleNN"](), WEIGHTS)


HAS_CUDA = MDEV.gpu_backend() == "cuda" and torch.cuda.is_available()
HAS_MLX_GPU = MDEV.gpu_backend() is not None


@pytest.fixture(autouse=True)
def _mlx_on_the_cpu(request):
    """The registry's numbers are CPU numbers: run MLX on the CPU (as torch's default device is),
    except in the tests that are about the GPU."""
    if request.node.get_closest_marker("gpu"):
        yield
    else:
        with MDEV.use_device("cpu"):
            yield


# --------------------------------------------------------------------------------------------
# Step 1: data preparation


@demonstrates("seed-scaler-before-split")
def test_seed_scaler_before_split():
    ns = run_seed(1)
    X_train, X_test, y_train, _ = seed_rows()
    np.testing.assert_array_equal(np.array(ns["y_train"]), y_train)  # the same rows as the seed's split
    fair = StandardScaler().fit(X_train)
    test_shift = np.abs(np.array(ns["X_test"]) - fair.transform(X_test)).max()
    train_shift = np.abs(np.array(ns["X_train"]) - fair.transform(X_train)).max()
    measured("seed-scaler-before-split", "test_shift", test_shift)
    measured("seed-scaler-before-split", "train_shift", train_shift)
    scale = data_scale(X_train)
    assert not compare(np.array(ns["X_test"]), fair.transform(X_test), path="seed X_test", kind="data",
                       scale=scale).passed

    for pkg, name in ((MD, "mlx"), (TD, "torch")):
        scaler = pkg.StandardScaler().fit(pkg.to_array(X_train))
        assert_close(pkg.to_numpy(scaler.transform(pkg.to_array(X_test))), fair.transform(X_test),
                     path=f"{name} StandardScaler fit on train: X_test", kind="data", scale=scale,
                     names=(name, "sklearn"))


@demonstrates("seed-five-samples-one-test")
def test_seed_five_samples_one_test():
    ns = run_seed(1)
    assert (ns["X_train"].shape[0], ns["X_test"].shape[0]) == (4, 1)
    assert not [k for k in ns if re.search(r"(^|_)val", k, re.IGNORECASE)], "the seed has no validation set"
    y_test = np.array(ns["y_test"])
    assert {accuracy_score(y_test, [p]) for p in (0, 1)} == {0.0, 1.0}
    with pytest.raises(ValueError, match="number of classes"):
        train_test_split(ns["X_scaled"], ns["y"], test_size=0.2, random_state=42, stratify=ns["y"])

    idx = split_indices(ns["y"].astype(np.float64))
    assert (len(idx.train), len(idx.val), len(idx.test)) == (3, 1, 1)
    assert sorted(np.concatenate([idx.train, idx.val, idx.test]).tolist()) == list(range(5))
    syn = synthetic_dataset(200)
    strat = split_indices(syn.y, stratify=True)
    for rows in (strat.train, strat.val, strat.test):
        assert set(syn.y[rows].tolist()) == {0.0, 1.0}


@demonstrates("float64-silently-float32")
def test_float64_silently_float32():
    ns = run_seed(1)
    X_train64 = train_test_split(ns["X_scaled"], ns["y"], test_size=0.2, random_state=42)[0]
    assert X_train64.dtype == np.float64 and ns["X_train"].dtype == mx.float32
    rounding = np.abs(np.array(ns["X_train"]).astype(np.float64) - X_train64).max()
    measured("float64-silently-float32", "rounding", rounding)
    assert rounding > 0
    widened = mx.array(X_train64).astype(mx.float64)  # casting afterwards does not bring the digits back
    assert np.abs(np.array(widened) - X_train64).max() == rounding
    t = torch.tensor(X_train64)
    assert t.dtype == torch.float64
    with pytest.raises(RuntimeError, match="same dtype"):
        torch_model()(t)

    a, b = MD.to_array(X_train64, "float32"), TD.to_array(X_train64, "float32")
    assert a.dtype == mx.float32 and b.dtype == torch.float32
    np.testing.assert_array_equal(MD.to_numpy(a), TD.to_numpy(b))
    with MDEV.use_device("cpu"):
        exact = mx.array(X_train64, dtype=mx.float64)
        assert exact.dtype == mx.float64
        np.testing.assert_array_equal(np.array(exact), X_train64)


@demonstrates("std-convention")
def test_std_convention():
    X_train = seed_rows()[0]
    sk = StandardScaler().fit(X_train)
    t = torch.tensor(X_train)
    ratio = (t.std(0) / torch.tensor(sk.scale_)).max().item()
    measured("std-convention", "scale_ratio", ratio)
    n = X_train.shape[0]
    assert ratio == pytest.approx(math.sqrt(n / (n - 1)), rel=1e-12)
    naive = ((t - t.mean(0)) / t.std(0)).numpy()
    measured("std-convention", "standardized_gap", np.abs(naive - sk.transform(X_train)).max())
    scale = data_scale(X_train)
    assert_close(np.array(mx.std(m_(X_train), axis=0)), sk.scale_, path="mx.std default", kind="data", scale=scale,
                 names=("mlx", "sklearn"))

    for pkg, name in ((MD, "mlx"), (TD, "torch")):
        scaler = pkg.StandardScaler().fit(pkg.to_array(X_train))
        assert_close(pkg.to_numpy(scaler.scale_), sk.scale_, path=f"{name} scale_", kind="data", scale=scale,
                     names=(name, "sklearn"))
        assert_close(pkg.to_numpy(scaler.transform(pkg.to_array(X_train))), sk.transform(X_train),
                     path=f"{name} standardized", kind="data", scale=scale, names=(name, "sklearn"))


# --------------------------------------------------------------------------------------------
# Step 2: the model


@demonstrates("seed-forward-not-called")
def test_seed_forward_not_called():
    ns = run_seed(1, 2)
    model = ns["SimpleNN"]()
    with pytest.raises(TypeError, match="'SimpleNN' object is not callable"):
        model(ns["X_train"])

    X = DOC["train"][0]
    assert_close(MD.to_numpy(mlx_model()(m_(X))), torch_logits(X), path="SimpleNN logits", kind="forward")


@demonstrates("seed-relu-module-per-call")
def test_seed_relu_module_per_call():
    seed_model = seed_model_called_properly()
    X = m_(DOC["train"][0])
    np.testing.assert_array_equal(np.array(seed_model(X))[:, 0], np.array(mlx_model()(X)))

    x = mx.zeros((4, 10))
    mx.eval(x)

    def per_call(fn, n=2000):
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                fn(x)
            best = min(best, (time.perf_counter() - t0) / n)
        return best

    overhead = per_call(lambda v: nn.ReLU()(v)) - per_call(nn.relu)
    measured("seed-relu-module-per-call", "overhead_us", overhead * 1e6)
    assert overhead > 0
    assert_close(MD.to_numpy(mlx_model()(X)), torch_logits(DOC["train"][0]), path="SimpleNN logits", kind="forward")


# --------------------------------------------------------------------------------------------
# Step 3: the loss


@demonstrates("seed-bceloss-missing")
def test_seed_bceloss_missing():
    with pytest.raises(AttributeError, match="has no attribute 'BCELoss'"):
        run_seed(3)

    X, y = DOC["train"]
    z = torch_logits(X)
    p = torch.sigmoid(t_(z)).numpy()
    assert_close(ML.bce_with_logits(m_(z), m_(y)).item(), tnn.BCEWithLogitsLoss()(t_(z), t_(y)).item(),
                 path="bce_with_logits", kind="loss")
    assert_close(ML.bce(m_(p), m_(y)).item(), tnn.BCELoss()(t_(p), t_(y)).item(), path="bce", kind="loss")


@demonstrates("seed-bceloss-on-logits")
def test_seed_bceloss_on_logits():
    X, y = (t_(a) for a in DOC["train"])
    with torch.no_grad():
        z = torch_model()(X)
    torch_first = measured("seed-bceloss-on-logits", "torch_first_loss", tnn.BCELoss()(z, y).item())
    true_first = measured("seed-bceloss-on-logits", "true_first_loss", tnn.BCEWithLogitsLoss()(z, y).item())
    assert not compare(torch_first, true_first, path="BCELoss(logits)", kind="loss").passed

    model = torch_model()
    opt = TO.make_adam(model, 1e-3)
    crash = None
    for epoch in range(1, 101):
        opt.zero_grad()
        try:
            loss = tnn.BCELoss()(model(X), y)
        except RuntimeError as e:
            assert "between 0 and 1" in str(e)
            crash = epoch
            break
        loss.backward()
        opt.step()
    assert crash is not None, "torch's BCELoss on logits no longer raises within 100 epochs"
    measured("seed-bceloss-on-logits", "torch_crash_epoch", crash)

    mmodel = mlx_model()
    mopt = MO.make_adam(mmodel, 1e-3)
    probability_loss = nn.value_and_grad(
        mmodel, lambda m, X, y: nn.losses.binary_cross_entropy(m(X), y, with_logits=False))
    Xm, ym = (m_(a) for a in DOC["train"])
    nan_epoch = None
    for epoch in range(1, 101):
        loss, grads = probability_loss(mmodel, Xm, ym)
        if math.isnan(loss.item()):
            nan_epoch = epoch
            break
        mopt.update(mmodel, grads)
        mx.eval(mmodel.parameters(), mopt.state)
    assert nan_epoch is not None
    measured("seed-bceloss-on-logits", "mlx_nan_epoch", nan_epoch)

    assert_close(ML.loss_fn(mlx_model(), Xm, ym).item(), true_first, path="loss_fn", kind="loss")
    assert_close(tnn.BCELoss()(torch.sigmoid(z), y).item(), true_first, path="BCE(sigmoid(z))", kind="loss",
                 names=("torch BCELoss(sigmoid)", "torch BCEWithLogits"))


@demonstrates("bce-with-logits-default")
def test_bce_with_logits_default():
    X, y = DOC["train"]
    p = torch.sigmoid(t_(torch_logits(X))).numpy()
    naive = measured("bce-with-logits-default", "naive_loss", nn.losses.binary_cross_entropy(m_(p), m_(y)).item())
    tp = t_(p).requires_grad_()
    true_loss = tnn.BCELoss()(tp, t_(y))
    true_loss.backward()
    true = measured("bce-with-logits-default", "true_loss", true_loss.item())
    assert not compare(naive, true, path="binary_cross_entropy(probabilities)", kind="loss").passed
    naive_grad = mx.grad(lambda q: nn.losses.binary_cross_entropy(q, m_(y)))(m_(p))
    ratio = np.abs(np.array(naive_grad)).max() / tp.grad.abs().max().item()
    measured("bce-with-logits-default", "grad_ratio", ratio)

    assert_close(ML.bce(m_(p), m_(y)).item(), true, path="mlx_reference bce", kind="loss")
    z = torch_logits(X)
    assert_close(ML.bce_with_logits(m_(z), m_(y)).item(), tnn.BCEWithLogitsLoss()(t_(z), t_(y)).item(),
                 path="mlx_reference bce_with_logits", kind="loss")


@demonstrates("shape-n1-vs-n")
def test_shape_n1_vs_n():
    X, y = DOC["train"]
    z = seed_model_called_properly()(m_(X))
    assert z.shape == (3, 1)
    with pytest.raises(ValueError, match="does not match targets shape"):
        nn.losses.binary_cross_entropy(z, m_(y))
    tz = t_(np.array(z))
    with pytest.raises(ValueError, match="must be the same as input size"):
        tnn.BCEWithLogitsLoss()(tz, t_(y))
    with pytest.warns(UserWarning, match="broadcasting"):
        F.mse_loss(tz, t_(y))
    per_element = mx.logaddexp(0.0, z) - m_(y) * z
    assert per_element.shape == (3, 3)
    broadcast = measured("shape-n1-vs-n", "broadcast_loss", mx.mean(per_element).item())
    true = measured("shape-n1-vs-n", "true_loss", tnn.BCEWithLogitsLoss()(tz[:, 0], t_(y)).item())
    assert not compare(broadcast, true, path="hand-written BCE", kind="loss").passed

    assert mlx_model()(m_(X)).shape == (3,) and torch_model()(t_(X)).shape == (3,)
    with pytest.raises(ValueError, match="give both shape"):
        ML.bce_with_logits(z, m_(y))
    assert_close(ML.loss_fn(mlx_model(), m_(X), m_(y)).item(), true, path="loss_fn", kind="loss")


@demonstrates("integer-targets")
def test_integer_targets():
    ns = run_seed(1)
    assert ns["y_train"].dtype == mx.int64
    z = mlx_model()(ns["X_train"])
    assert nn.losses.binary_cross_entropy(z, ns["y_train"]).item() == \
        nn.losses.binary_cross_entropy(z, ns["y_train"].astype(mx.float32)).item()
    y = np.array(ns["y_train"])
    tz = torch_model()(torch.tensor(np.array(ns["X_train"])))
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type Long"):
        tnn.BCEWithLogitsLoss()(tz, torch.tensor(y))
    with pytest.raises(RuntimeError, match="Found dtype Long but expected Float"):
        tnn.BCELoss()(torch.sigmoid(tz), torch.tensor(y))

    assert_close(ML.bce_with_logits(z, MD.to_array(y)).item(), TL.bce_with_logits(tz, TD.to_array(y)).item(),
                 path="BCE with float32 labels", kind="loss")


# --------------------------------------------------------------------------------------------
# Step 4: the optimizer


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
# Step 5: training


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
# Step 6: validation


def _mlx_evaluation_namespace() -> dict:
    ns = run_seed(1)
    ns.update(model=mlx_model(), loss_fn=lambda p, y: ML.bce_with_logits(p, y.astype(mx.float32)))
    return ns


@demonstrates("seed-torch-no-grad")
def test_seed_torch_no_grad(capsys):
    ns = _mlx_evaluation_namespace()
    with pytest.raises(NameError, match="name 'torch' is not defined"):
        run_seed(6, ns=ns)
    assert not hasattr(mx, "no_grad")

    code = SEED[6].code.replace("with torch.no_grad():\n", "")
    lines = [line[4:] if line.startswith("    ") else line for line in code.splitlines()]
    run_seed(6, ns=ns, code={6: "\n".join(lines)})
    assert "Test Loss:" in capsys.readouterr().out
    with torch.no_grad():
        expected = TL.loss_fn(torch_model(), torch.tensor(np.array(ns["X_test"])),
                              torch.tensor(np.array(ns["y_test"]), dtype=torch.float32)).item()
    assert_close(ns["test_loss"].item(), expected, path="the seed's test loss without no_grad", kind="loss")


@demonstrates("eval-mode-and-no-grad")
def test_eval_mode_and_no_grad():
    X, y = (t_(a) for a in DOC["val"])
    tmodel = torch_model().eval()
    recorded = TL.loss_fn(tmodel, X, y)
    assert recorded.requires_grad and recorded.grad_fn is not None
    with torch.no_grad():
        assert not TL.loss_fn(tmodel, X, y).requires_grad
    with pytest.raises(AttributeError):
        mx.no_grad  # noqa: B018

    model = mlx_model()
    model.eval()
    assert model.training is False
    model.train()
    assert model.training is True
    a = mx.ones((2, 8))
    dropout, tdropout = nn.Dropout(0.5), tnn.Dropout(0.5)
    dropout.eval()
    tdropout.eval()
    np.testing.assert_array_equal(np.array(dropout(a)), tdropout(torch.ones(2, 8)).numpy())

    Xm, ym = (m_(a) for a in DOC["val"])
    assert_close(MV.evaluate_loss(model, Xm, ym), TV.evaluate_loss(torch_model(), X, y),
                 path="evaluate_loss", kind="loss")
    assert model.training is False
    opt = MO.make_adam(model)
    MT.train_epoch(MT.make_train_step(model, opt, compiled=False), model, opt, *(m_(a) for a in DOC["train"]))
    assert model.training is True, "train_epoch must put the model back into training mode"


@demonstrates("seed-validates-on-test-set")
def test_seed_validates_on_test_set():
    ns = run_seed(1)
    validation = re.compile(r"(^|_)val", re.IGNORECASE)
    assert {"X_train", "X_test"} <= set(ns) and not [k for k in ns if validation.search(k)]
    assert "X_test" in code_names(SEED[6].code) and not [n for n in code_names(SEED[6].code) if validation.search(n)]

    Xtr, ytr = (m_(a) for a in DOC["train"])
    Xv, yv = (m_(a) for a in DOC["val"])
    model = mlx_model()
    history = MT.fit(model, MO.make_adam(model), Xtr, ytr, Xv, yv, epochs=1, compiled=False)
    after_one = torch_run()[1][1]
    assert_close(history["val_loss"][0], torch_loss_at(after_one, "val"), path="validation loss, epoch 1",
                 kind="trajectory", scale=LR, step=1)
    assert not compare(history["val_loss"][0], torch_loss_at(after_one, "test"), path="val vs test", kind="loss").passed


@demonstrates("seed-no-early-stopping")
def test_seed_no_early_stopping():
    tree = ast.parse(SEED[5].code + SEED[6].code)
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Break)]
    assert not {"patience", "ReduceLROnPlateau", "scheduler"} & code_names(SEED[5].code + SEED[6].code)
    assert "早停" in SEED[6].text and "學習率" in SEED[6].text  # "early stopping", "learning rate"

    Xtr, ytr = DOC["train"]
    Xv, yv = DOC["val"]
    model = mlx_model()
    mh = MT.fit(model, MO.make_adam(model), m_(Xtr), m_(ytr), m_(Xv), m_(yv), epochs=100, patience=10, compiled=False)
    tmodel = torch_model()
    th = TT.fit(tmodel, TO.make_adam(tmodel), t_(Xtr), t_(ytr), t_(Xv), t_(yv), epochs=100, patience=10)
    measured("seed-no-early-stopping", "best_epoch", mh["best_epoch"])
    measured("seed-no-early-stopping", "stopped_epoch", mh["stopped_epoch"])
    assert (mh["best_epoch"], mh["stopped_epoch"]) == (th["best_epoch"], th["stopped_epoch"])
    assert_trajectory(mh["val_loss"], th["val_loss"], "validation loss")


class _UnclonedEarlyStopping(TV.EarlyStopping):
    """The MLX idiom (keep references) ported to torch as is."""

    def step(self, val_loss, model, epoch):
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            self.best_weights = model.state_dict()
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience


@demonstrates("early-stopping-best-weights")
def test_early_stopping_best_weights(monkeypatch):
    Xtr, ytr = DOC["train"]
    Xv, yv = DOC["val"]
    monkeypatch.setattr(TT, "EarlyStopping", _UnclonedEarlyStopping)
    tmodel = torch_model()
    th = TT.fit(tmodel, TO.make_adam(tmodel), t_(Xtr), t_(ytr), t_(Xv), t_(yv), epochs=100, patience=10,
                restore_best=True)
    restored = measured("early-stopping-best-weights", "naive_restored_loss", TV.evaluate_loss(tmodel, t_(Xv), t_(yv)))
    best = measured("early-stopping-best-weights", "best_loss", th["best_val_loss"])
    assert not compare(restored, best, path="restored validation loss", kind="loss").passed
    monkeypatch.undo()

    model = mlx_model()
    mh = MT.fit(model, MO.make_adam(model), m_(Xtr), m_(ytr), m_(Xv), m_(yv), epochs=100, patience=10, compiled=False,
                restore_best=True)
    tmodel = torch_model()
    th = TT.fit(tmodel, TO.make_adam(tmodel), t_(Xtr), t_(ytr), t_(Xv), t_(yv), epochs=100, patience=10,
                restore_best=True)
    assert mh["best_epoch"] == th["best_epoch"]
    assert_close(MV.evaluate_loss(model, m_(Xv), m_(yv)), TV.evaluate_loss(tmodel, t_(Xv), t_(yv)),
                 path="restored best validation loss", kind="trajectory", scale=LR, step=th["best_epoch"])
    assert_close(MV.evaluate_loss(model, m_(Xv), m_(yv)), mh["best_val_loss"], path="MLX restores its best",
                 kind="loss", names=("restored", "best"))


# --------------------------------------------------------------------------------------------
# Step 7: evaluation


def _logits(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(0, 1.5, n).astype(np.float32), (rng.random(n) < 0.5).astype(np.float32)


@demonstrates("seed-astype-int")
def test_seed_astype_int():
    line = seed_line(7, "y_pred_test_binary = (y_pred_test > 0.5).astype(int)")
    with pytest.raises(TypeError, match="astype"):
        exec(line, {"y_pred_test": mx.array([[0.3]])})
    with pytest.raises(AttributeError, match="'Tensor' object has no attribute 'astype'"):
        exec(line, {"y_pred_test": torch.tensor([[0.3]])})

    z, _ = _logits()
    mp, tp = MMET.predict(m_(z)), TMET.predict(t_(z))
    assert mp.dtype == mx.int32 and tp.dtype == torch.int32
    np.testing.assert_array_equal(np.array(mp), tp.numpy())
    np.testing.assert_array_equal(np.array(mp), (z > 0).astype(np.int32))


@demonstrates("seed-numpy-method")
def test_seed_numpy_method():
    line = seed_line(7, "accuracy = accuracy_score(y_test.numpy(), y_pred_test_binary.numpy())")
    ns = {"accuracy_score": accuracy_score, "y_test": mx.array([1]), "y_pred_test_binary": mx.array([[0]])}
    with pytest.raises(AttributeError, match="has no attribute 'numpy'"):
        exec(line, ns)

    z, y = _logits()
    np.testing.assert_array_equal(MD.to_numpy(m_(z)), TD.to_numpy(t_(z)))
    ns.update(y_test=MD.to_numpy(m_(y)), y_pred_test_binary=MD.to_numpy(MMET.predict(m_(z))))
    exec(line.replace(".numpy()", ""), ns)
    assert ns["accuracy"] == TMET.classification_metrics(t_(z), t_(y))["accuracy"]


@demonstrates("seed-logit-threshold")
def test_seed_logit_threshold():
    ds = synthetic_dataset(200)
    splits = apply_split(ds, split_indices(ds.y))
    X, _ = splits["train"]
    mean, scale = X.mean(0), X.std(0)
    S = {k: (m_((v[0] - mean) / scale), m_(v[1])) for k, v in splits.items()}
    model = mlx_model()
    MT.fit(model, MO.make_adam(model, 1e-3), *S["train"], epochs=100, compiled=False)
    model.eval()
    z = np.array(model(S["test"][0]))
    y = np.array(S["test"][1])
    flipped = measured("seed-logit-threshold", "flipped", np.mean((z > 0) != (z > 0.5)))
    naive = measured("seed-logit-threshold", "naive_accuracy", np.mean((z > 0.5) == y))
    true = measured("seed-logit-threshold", "true_accuracy", accuracy_score(y, 1 / (1 + np.exp(-z.astype(np.float64))) > 0.5))
    assert flipped > 0 and naive < true

    mlx_metrics = MMET.classification_metrics(m_(z), m_(y))
    assert mlx_metrics == TMET.classification_metrics(t_(z), t_(y))
    assert mlx_metrics["accuracy"] == true


@demonstrates("seed-precision-recall-missing")
def test_seed_precision_recall_missing():
    assert "精度" in SEED[7].text and "召回率" in SEED[7].text  # precision, recall
    names = {n.lower() for n in code_names(SEED[7].code)}
    assert "accuracy_score" in names and not [n for n in names if "precision" in n or "recall" in n]

    z, y = _logits()
    pred = (z > 0).astype(int)
    metrics = MMET.classification_metrics(m_(z), m_(y))
    expected = {"accuracy": accuracy_score(y, pred), "precision": precision_score(y, pred, zero_division=0),
                "recall": recall_score(y, pred, zero_division=0), "f1": f1_score(y, pred, zero_division=0)}
    for key, value in expected.items():
        assert_close(metrics[key], value, path=key, kind="metric", names=("mlx", "sklearn"))
    assert metrics["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    assert metrics == TMET.classification_metrics(t_(z), t_(y))


# --------------------------------------------------------------------------------------------
# Step 8: the whole flow, devices and APIs

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
