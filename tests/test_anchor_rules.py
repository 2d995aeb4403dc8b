"""Rules both frameworks share, each against its own anchor (comparing MLX with torch cannot see a
rule both sides get wrong the same way):

- the plateau schedule: MLX's ``ReduceLROnPlateau`` against torch's own scheduler, its whole
  state (learning rate, best, bad epochs, cooldown) after every step, on hypothesis-drawn
  settings and metric sequences that land exactly on the improvement threshold, one ulp either
  side, on NaN and infinities;
- early stopping and restoring the best weights: each side's ``fit`` against a plain loop
  written here (the side's own epoch and validation loss, the stopping rule spelled out), which
  must stop at the same epoch and leave the same weights, restored or not;
- the pipeline says which weights its test metrics come from, and its defaults are the CLI's.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import strategies as S
from conformance.data import synthetic_dataset
from conformance.runner import RunConfig, run_side, side
from conformance.weights import init_weights
from mlx_reference.model import SimpleNN as MlxNN
from mlx_reference.optim import ReduceLROnPlateau as MlxPlateau, get_learning_rate, make_adam

pytestmark = pytest.mark.validation


# ---- ReduceLROnPlateau against torch's ------------------------------------------------------

def _next_metric(move, scheduler, last: float) -> float:
    """The metric a move asks for, from the torch scheduler's own state (the anchor's)."""
    kind, arg = move
    if kind == "fresh":
        return arg
    if kind == "repeat":
        return last
    if kind == "nan":
        return math.nan
    if kind == "inf":
        return arg * math.inf
    best = scheduler.best
    if not math.isfinite(best):
        return 1.0
    if scheduler.threshold_mode == "rel":
        edge = best * (1 - scheduler.threshold) if scheduler.mode == "min" else best * (1 + scheduler.threshold)
    else:
        edge = best - scheduler.threshold if scheduler.mode == "min" else best + scheduler.threshold
    better = -math.inf if scheduler.mode == "min" else math.inf
    return edge if arg == 0 else math.nextafter(edge, better if arg < 0 else -better)


@pytest.mark.optimizer
@given(settings=S.plateau_settings, moves=st.lists(S.PLATEAU_MOVES, min_size=1, max_size=30),
       lr=st.sampled_from([1e-3, 0.1]))
def test_plateau_state_matches_torch(conf_cpu, settings, moves, lr):
    t_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **settings)
    m_opt = make_adam(MlxNN(1, 1), lr)
    m_sched = MlxPlateau(m_opt, **settings)
    metric, seen = 1.0, []
    for move in moves:
        metric = _next_metric(move, t_sched, metric)
        seen.append(metric)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_sched.step(metric)
        m_sched.step(metric)
        got = [get_learning_rate(m_opt), m_sched.best, m_sched.num_bad_epochs, m_sched.cooldown_counter]
        want = [t_opt.param_groups[0]["lr"], t_sched.best, t_sched.num_bad_epochs, t_sched.cooldown_counter]
        conf_cpu.decision(np.array(got, dtype=np.float64), np.array(want, dtype=np.float64),
                          path=f"ReduceLROnPlateau({settings}) after {seen} / [lr, best, num_bad_epochs, cooldown_counter]",
                          names=("mlx", "torch"))


# ---- early stopping and restoring the best weights: fit against a plain loop ----------------

def _data(n: int, seed: int) -> dict:
    ds = synthetic_dataset(n, 2, seed=seed)
    X = ds.X - ds.X[: n // 2].mean(axis=0)
    X = (X / ds.X[: n // 2].std(axis=0)).astype(np.float32)
    y = ds.y.astype(np.float32)
    return {"train": (X[: n // 2], y[: n // 2]), "val": (X[n // 2:], y[n // 2:])}


def plain_fit(pkg, model, optimizer, train, val, epochs, batch_size, seed, patience, min_delta, restore_best) -> dict:
    """Early stopping as a plain loop: the side's own epoch and validation loss, the rule here."""
    step = pkg.train.make_train_step(model, optimizer, compiled=False)
    rng = np.random.default_rng(seed)  # fit's documented minibatch orders
    n = train[0].shape[0]
    best, best_epoch, bad, snapshot, losses, stopped = math.inf, None, 0, None, [], None
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n) if batch_size is not None and batch_size < n else None
        pkg.train.train_epoch(step, model, optimizer, *train, batch_size, order)
        loss = pkg.validate.evaluate_loss(model, *val)
        losses.append(loss)
        if loss < best - min_delta:  # an improvement: by more than min_delta
            best, best_epoch, bad, snapshot = loss, epoch, 0, pkg.model.export_weights(model)
        else:
            bad += 1
        if patience is not None and bad >= patience:  # patience epochs in a row without one
            stopped = epoch
            break
    evaluated = len(losses)
    if restore_best and snapshot is not None:
        pkg.model.load_weights(model, snapshot)
        evaluated = best_epoch
    return {"val_loss": losses, "stopped_epoch": stopped, "best_epoch": best_epoch, "evaluated_epoch": evaluated,
            "weights": pkg.model.export_weights(model)}


@given(run=S.early_stopping_run())
def test_fit_stops_and_restores_like_a_plain_loop(conf, run):
    data = _data(run["n"], run["seed"])
    weights = init_weights(2, run["hidden"], run["seed"])
    options = dict(epochs=run["epochs"], batch_size=run["batch_size"], seed=run["seed"], patience=run["patience"],
                   min_delta=run["min_delta"])
    for name in ("mlx", "torch"):
        pkg = side(name)
        with pkg.device.use_device(conf.device):
            arrays = {k: (pkg.data.to_array(X), pkg.data.to_array(y)) for k, (X, y) in data.items()}
            runs = {}
            for how in ("fit", "plain"):
                model = pkg.model.load_weights(pkg.model.SimpleNN(2, run["hidden"]), weights)
                optimizer = pkg.optim.make_adam(model, run["lr"])
                if how == "fit":
                    h = pkg.train.fit(model, optimizer, *arrays["train"], *arrays["val"], compiled=False,
                                      restore_best=run["restore_best"], **options)
                    h["weights"] = pkg.model.export_weights(model)
                else:
                    h = plain_fit(pkg, model, optimizer, arrays["train"], arrays["val"], restore_best=run["restore_best"],
                                  **options)
                runs[how] = h
        fit, plain = runs["fit"], runs["plain"]
        where = f"{name} fit {run}"
        assert np.array_equal(fit["val_loss"], plain["val_loss"], equal_nan=True), f"{where}: validation losses differ"
        for key in ("stopped_epoch", "best_epoch", "evaluated_epoch"):
            assert fit[key] == plain[key], f"{where}: {key} {fit[key]}, the plain loop's {plain[key]}"
        restored = run["restore_best"] and plain["best_epoch"] is not None
        assert fit["evaluated_weights"] == ("best" if restored else "final"), f"{where}: {fit['evaluated_weights']}"
        conf.tree(fit["weights"], plain["weights"], path=f"{where} / the weights fit leaves", kind="decision",
                  names=("fit", "plain loop"))


def test_fit_refuses_to_restore_without_validation():
    for name in ("mlx", "torch"):
        pkg = side(name)
        model = pkg.model.SimpleNN(2, 3)
        with pytest.raises(ValueError, match="restore_best=True chooses weights by the validation loss"):
            pkg.train.fit(model, pkg.optim.make_adam(model), pkg.data.to_array(np.zeros((4, 2))),
                          pkg.data.to_array(np.zeros(4)), epochs=1, restore_best=True)
        with pytest.raises(RuntimeError, match="kept no weights to restore"):
            pkg.validate.EarlyStopping(keep_best=False).restore_best(model)


# ---- the pipeline: which weights the test metrics come from, and its defaults ----------------

@pytest.mark.parametrize("restore_best", [False, True])
def test_pipeline_says_which_weights_it_evaluated(conf, restore_best):
    """On the document's data the best validation epoch is 1: restored, the test metrics are
    those of the model after one step; not restored (the default), after the last epoch. Either
    way the history names the epoch, and the final weights are that epoch's recording."""
    from conformance.data import document_dataset
    from conformance.runner import prepare

    cfg = RunConfig(epochs=30, compiled=False, device=conf.device)
    splits, weights = prepare(document_dataset(), cfg)
    for name in ("mlx", "torch"):
        pkg, recorded = side(name), {}
        result = run_side(name, splits, weights, cfg, restore_best=restore_best,  # full batch: a step an epoch
                          on_step=lambda m, o, loss, pkg=pkg, rec=recorded: rec.__setitem__(len(rec) + 1,
                                                                                          pkg.model.export_weights(m)))
        h = result["history"]
        assert h["best_epoch"] == 1 and h["stopped_epoch"] is None, f"{name}: the case changed: {h['best_epoch']}"
        expected = (1, "best") if restore_best else (30, "final")
        assert (h["evaluated_epoch"], h["evaluated_weights"]) == expected, f"{name}: {h['evaluated_epoch']}"
        conf.tree(result["final_weights"], recorded[expected[0]], path=f"{name} / evaluated weights",
                  kind="decision", names=("evaluated", f"after epoch {expected[0]}"))


def test_pipeline_defaults_are_the_clis():
    """``run_pipeline`` never stops early and evaluates the final weights unless asked, as
    ``python -m conformance`` (RunConfig) does by default; ``fit`` restores nothing by default."""
    for name in ("mlx", "torch"):
        pkg = side(name)
        run = inspect.signature(pkg.pipeline.run_pipeline).parameters
        fit = inspect.signature(pkg.train.fit).parameters
        assert run["patience"].default is None is RunConfig().patience, f"{name}: run_pipeline's patience default"
        assert run["restore_best"].default is False and fit["restore_best"].default is False, name


# ---- the histories fit records: what its steps did, and torch's own scheduler ---------------

@pytest.mark.parametrize("name", ["mlx", "torch"])
def test_fit_histories_are_what_its_steps_did(conf, name):
    """``fit``'s history, epoch by epoch, against the definitions, on 10 training rows in batches
    of 4 (the last of 2) under a plateau schedule of patience 0 (it reduces at every epoch that
    does not improve):

    - ``train_loss``: ``sum_b |b| L_b / n`` of the epoch's step losses (a plain mean of the three
      batch losses is about 1e-2 off);
    - ``lr``: the rate every step of the epoch applied, and the rate torch's own
      ``ReduceLROnPlateau``, fed the same validation losses, had when the epoch began;
    - ``val_loss``: ``evaluate_loss`` at the weights the epoch ended with."""
    data = _data(20, seed=4)
    pkg = side(name)
    lr0, sizes = 0.3, [4, 4, 2]
    with pkg.device.use_device(conf.device):
        arrays = {k: (pkg.data.to_array(X), pkg.data.to_array(y)) for k, (X, y) in data.items()}
        model = pkg.model.load_weights(pkg.model.SimpleNN(2, 6), init_weights(2, 6, seed=4))
        optimizer = pkg.optim.make_adam(model, lr0)
        scheduler = pkg.optim.ReduceLROnPlateau(optimizer, patience=0)
        steps, evaluated = [], []
        h = pkg.train.fit(model, optimizer, *arrays["train"], *arrays["val"], epochs=12, batch_size=4, seed=4,
                          scheduler=scheduler, compiled=False,
                          on_step=lambda m, o, loss: steps.append((float(pkg.data.to_numpy(loss)),
                                                                   pkg.optim.get_learning_rate(o))),
                          on_epoch=lambda r: evaluated.append(pkg.validate.evaluate_loss(model, *arrays["val"])))
    epochs = len(h["epoch"])
    assert epochs == 12 and len(steps) == 3 * epochs, (epochs, len(steps))
    losses = np.array([s[0] for s in steps]).reshape(epochs, 3)
    applied = np.array([s[1] for s in steps]).reshape(epochs, 3)
    weighted = losses @ np.array(sizes, dtype=np.float64) / sum(sizes)
    assert np.abs(weighted - losses.mean(axis=1)).max() > 1e-4, "the case no longer tells the two means apart"
    conf.close(np.array(h["train_loss"]), weighted, path=f"{name} / epoch training loss: sum_b |b| L_b / n", kind="loss")
    conf.decision(np.array(h["val_loss"]), np.array(evaluated), path=f"{name} / validation loss per epoch")
    t_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, patience=0)
    expected = []
    for loss in h["val_loss"]:
        expected.append(t_opt.param_groups[0]["lr"])
        t_sched.step(loss)
    assert len(set(expected)) >= 3, f"the case reduces too seldom to tell a shifted history: {expected}"
    conf.decision(np.array(h["lr"]), np.array(expected), path=f"{name} / learning rate per epoch: torch's scheduler's")
    conf.decision(applied, np.repeat(np.array(h["lr"])[:, None], 3, axis=1),
                  path=f"{name} / learning rate per epoch: the rate its steps applied")
