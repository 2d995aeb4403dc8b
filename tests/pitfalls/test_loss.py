"""The proofs of the registry's entries on the loss: one test per entry (see ``helpers``)."""

from __future__ import annotations

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


