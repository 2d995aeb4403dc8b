"""The proofs of the registry's entries on validation and early stopping: one test per entry (see ``helpers``)."""

from __future__ import annotations

import ast
import re

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch
from torch import nn as tnn

from conformance.compare import assert_close, compare
from mlx_reference import loss as ML, optim as MO, train as MT, validate as MV
from reference_torch import loss as TL, optim as TO, train as TT, validate as TV
from .helpers import DOC, LR, SEED, assert_trajectory, code_names, demonstrates, m_, measured, mlx_model, run_seed, t_, torch_loss_at, torch_model, torch_run


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


