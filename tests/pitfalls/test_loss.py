"""The proofs of the registry's entries on the loss: one test per entry (see ``helpers``)."""

from __future__ import annotations

import inspect
import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch
from torch import nn as tnn
import torch.nn.functional as F

from conformance.compare import assert_close, compare
from mlx_reference import data as MD, loss as ML, optim as MO
from reference_torch import data as TD, loss as TL, optim as TO
from .helpers import DOC, demonstrates, m_, measured, mlx_model, run_seed, seed_model_called_properly, t_, torch_logits, torch_model


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
# Multi-class losses: 6 samples, 4 classes


def _classes() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(13)
    return rng.normal(0, 2, (6, 4)).astype(np.float32), np.array([0, 3, 1, 1, 2, 3])


REDUCTION_NONE = {"cross_entropy", "nll_loss", "kl_div_loss", "huber_loss", "hinge_loss", "log_cosh_loss",
                  "cosine_similarity_loss", "margin_ranking_loss", "triplet_loss"}


@demonstrates("loss-reduction-none-default")
def test_loss_reduction_none_default():
    defaults = {name: inspect.signature(fn).parameters["reduction"].default
                for name, fn in vars(nn.losses).items()
                if inspect.isfunction(fn) and "reduction" in inspect.signature(fn).parameters and not name.startswith("_")}
    assert {name for name, d in defaults.items() if d == "none"} == REDUCTION_NONE
    assert all(tnn.CrossEntropyLoss().reduction == "mean" for _ in (0,))
    for name in ("nll_loss", "kl_div", "huber_loss", "hinge_embedding_loss", "cosine_embedding_loss",
                 "margin_ranking_loss", "triplet_margin_loss", "cross_entropy"):
        assert inspect.signature(getattr(F, name)).parameters["reduction"].default == "mean", name

    z, y = _classes()
    model = nn.Linear(4, 4)
    model.update({"weight": mx.eye(4), "bias": mx.zeros(4)})
    naive = nn.value_and_grad(model, lambda m, x, t: nn.losses.cross_entropy(m(x), t))
    with pytest.raises(ValueError, match="does not match cotangent shape"):
        naive(model, m_(z), mx.array(y))
    expected = F.cross_entropy(t_(z), torch.tensor(y)).item()
    measured("loss-reduction-none-default", "sum_ratio", mx.sum(nn.losses.cross_entropy(m_(z), mx.array(y))).item() / expected)

    fixed = nn.value_and_grad(model, lambda m, x, t: nn.losses.cross_entropy(m(x), t, reduction="mean"))
    loss, grads = fixed(model, m_(z), mx.array(y))
    tz = t_(z).requires_grad_()
    F.cross_entropy(tz, torch.tensor(y)).backward()
    assert_close(loss.item(), expected, path="cross_entropy(reduction='mean')", kind="loss")
    assert_close(np.array(grads["bias"]), tz.grad.sum(0).numpy(), path="d loss / d bias", kind="gradient",
                 scale=1 / len(y))


@demonstrates("cross-entropy-class-weights")
def test_cross_entropy_class_weights():
    z, y = _classes()
    w = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)  # normalised to sum 1
    with pytest.raises(ValueError, match="Weights with shape"):
        nn.losses.cross_entropy(m_(z), mx.array(y), weights=m_(w))  # torch's per-class vector, as is
    naive = measured("cross-entropy-class-weights", "naive_loss",
                     nn.losses.cross_entropy(m_(z), mx.array(y), weights=m_(w[y]), reduction="mean").item())
    expected = measured("cross-entropy-class-weights", "torch_loss",
                        F.cross_entropy(t_(z), torch.tensor(y), weight=t_(w)).item())
    assert not compare(naive, expected, path="cross_entropy(weights=w[y], 'mean')", kind="loss").passed

    per_sample = nn.losses.cross_entropy(m_(z), mx.array(y))
    fixed = mx.sum(m_(w[y]) * per_sample) / mx.sum(m_(w[y]))
    assert_close(fixed.item(), expected, path="sum(w[y] l) / sum(w[y])", kind="loss")


@demonstrates("cross-entropy-ignore-index")
def test_cross_entropy_ignore_index():
    z, y = _classes()
    y = y.copy()
    y[[2, 5]] = -100
    assert "ignore_index" not in inspect.signature(nn.losses.cross_entropy).parameters
    # y as is would read the logits out of bounds (undefined values): the padding mapped to class 0 runs
    naive = measured("cross-entropy-ignore-index", "naive_loss",
                     nn.losses.cross_entropy(m_(z), mx.array(np.where(y == -100, 0, y)), reduction="mean").item())
    expected = measured("cross-entropy-ignore-index", "torch_loss", F.cross_entropy(t_(z), torch.tensor(y)).item())
    assert not compare(naive, expected, path="cross_entropy with -100 targets", kind="loss").passed

    t = mx.array(y)
    keep = t != -100
    per_sample = nn.losses.cross_entropy(m_(z), mx.where(keep, t, 0))
    fixed = mx.sum(mx.where(keep, per_sample, 0.0)) / mx.sum(keep)
    assert_close(fixed.item(), expected, path="masked cross_entropy", kind="loss")


@demonstrates("kl-div-log-targets")
def test_kl_div_log_targets():
    z, _ = _classes()
    rng = np.random.default_rng(14)
    p = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    log_q = torch.log_softmax(t_(z), -1)
    mlog_q = m_(log_q.numpy())
    naive = measured("kl-div-log-targets", "naive_loss", nn.losses.kl_div_loss(mlog_q, m_(p), reduction="mean").item())
    expected = measured("kl-div-log-targets", "torch_loss", F.kl_div(log_q, t_(p), reduction="batchmean").item())
    with pytest.warns(UserWarning, match="batchmean"):  # torch itself warns that its 'mean' is not the divergence
        elementwise = measured("kl-div-log-targets", "torch_elementwise", F.kl_div(log_q, t_(p)).item())
    assert elementwise == pytest.approx(expected / 4, rel=1e-6)
    assert not compare(naive, expected, path="kl_div_loss(log_q, p)", kind="loss").passed
    exact = float(np.mean(np.sum(p * (np.log(p.astype(np.float64)) - log_q.double().numpy()), axis=1)))

    fixed = nn.losses.kl_div_loss(mlog_q, mx.log(m_(p)), reduction="mean").item()
    assert_close(fixed, expected, path="kl_div_loss(log_q, log p, 'mean')", kind="loss", exact=exact)
