"""Step 5 in lockstep: both pipelines train from the same weights on the same batches, and after
every step the loss, every parameter and Adam's state are compared (``conformance.runner``); a
failure names the first step and tensor that left its budget. Early stopping must stop at the
same epoch and restore the same weights; minibatches must come in ``shuffle_orders``'s order.

Budgets are justified for learning rates <= 1e-3 and runs of about a hundred steps (see the
trajectory entry of ``conformance.tolerances``): with larger rates a sample can sit closer to a
ReLU kink than the two float32 runs are to each other, and the runs part for a reason that is not
a porting bug.
"""

from __future__ import annotations

import numpy as np
import pytest

import references as ref
from conformance.compare import assert_all, unobserved
from conformance.data import document_dataset, shuffle_orders, synthetic_dataset
from conformance.runner import RunConfig, closest_call, reproduce_command, run_both, side

pytestmark = pytest.mark.training

RUNS = {  # name: (dataset, config); two compiled cases (MLX compiles a step per input shape: seconds each)
    "document, full batch, compiled": (document_dataset, RunConfig(epochs=100)),
    "document, full batch, uncompiled": (document_dataset, RunConfig(epochs=100, compiled=False)),
    "synthetic n=64, minibatch 16, compiled": (lambda: synthetic_dataset(64, seed=3),
                                               RunConfig(epochs=20, hidden=8, batch_size=16, seed=3)),
    "synthetic n=64, minibatch 16, uncompiled": (lambda: synthetic_dataset(64, seed=3),
                                                 RunConfig(epochs=20, hidden=8, batch_size=16, seed=3, compiled=False)),
    "synthetic n=256, hidden 32, minibatch 32 (last batch 25), uncompiled": (
        lambda: synthetic_dataset(256, seed=1), RunConfig(epochs=12, hidden=32, batch_size=32, seed=1, compiled=False)),
    "synthetic n=200, hidden 16, full batch, stratified, uncompiled": (
        lambda: synthetic_dataset(200, seed=5), RunConfig(epochs=60, hidden=16, seed=5, stratify=True, compiled=False)),
    "document, plateau patience 2, uncompiled": (
        document_dataset, RunConfig(epochs=30, plateau={"patience": 2}, compiled=False)),
}


def _run(conf, dataset, cfg: RunConfig):
    cfg.device = conf.device
    ds = dataset()
    outcome = run_both(ds, cfg, mode=conf.mode, reproduce=f"{conf.reproduce} (or: {reproduce_command(cfg, ds)})")
    assert_all(*outcome.diagnosis())
    return outcome


@pytest.mark.parametrize("name", list(RUNS))
def test_lockstep(conf, name):
    dataset, cfg = RUNS[name]
    outcome = _run(conf, dataset, RunConfig(**vars(cfg)))
    steps = len(outcome.recorders["torch"].losses)
    n_train = outcome.split_sizes["train"]
    per_epoch = 1 if cfg.batch_size is None else -(-n_train // cfg.batch_size)
    assert steps == cfg.epochs * per_epoch, f"{name}: torch ran {steps} steps, expected {cfg.epochs} x {per_epoch}"
    assert len(outcome.recorders["mlx"].losses) == steps, "the two sides ran different numbers of steps"
    if cfg.plateau:
        lrs = outcome.results["torch"]["history"]["lr"]
        assert min(lrs) < lrs[0], f"{name}: the plateau schedule never reduced the learning rate, so it was not tested"


EARLY = {  # name: (dataset, config, stopped epoch, best epoch) read off the runs, checked against the rule below
    "document, patience 5 (validation worsens from epoch 1)": (document_dataset, RunConfig(epochs=100, patience=5)),
    "synthetic n=64, minibatch 16, patience 3, min_delta 2.5e-3": (
        lambda: synthetic_dataset(64, seed=3),
        RunConfig(epochs=60, hidden=8, batch_size=16, patience=3, min_delta=2.5e-3, seed=3, compiled=False)),
}


@pytest.mark.validation
@pytest.mark.parametrize("name", list(EARLY))
def test_early_stopping_in_lockstep(conf, name):
    """Both sides stop at the epoch the rule gives for their validation losses, the same one, and
    end with the weights of the epoch their history names (``evaluated_epoch``: the best one when
    the run restores it, else the last), compared with that step's recording."""
    dataset, cfg = EARLY[name]
    outcome = _run(conf, dataset, RunConfig(**vars(cfg)))
    for side_name in ("mlx", "torch"):
        h = outcome.results[side_name]["history"]
        rule = ref.early_stopping(h["val_loss"], cfg.patience, cfg.min_delta)
        got = {"stopped_epoch": h["stopped_epoch"], "best_epoch": h["best_epoch"]}
        assert got == {k: rule[k] for k in got}, f"{side_name}: early stopping gave {got}, the rule gives {rule}"
        assert h["stopped_epoch"] is not None and h["stopped_epoch"] < cfg.epochs, f"{name}: never stopped early"
        # the case must not hinge on rounding: every decision clears its threshold by far more than
        # the loss budget
        epoch, gap = closest_call(h["val_loss"], cfg.min_delta)
        assert gap > 1e-4, f"{name}: epoch {epoch}'s stopping decision is within {gap:.1e} of its threshold"
        rec = outcome.recorders[side_name]
        per_epoch = len(rec.losses) // len(h["epoch"])
        expected_epoch = h["best_epoch"] if h["evaluated_weights"] == "best" else h["stopped_epoch"]
        assert h["evaluated_epoch"] == expected_epoch, f"{side_name}: evaluated epoch {h['evaluated_epoch']}"
        step = h["evaluated_epoch"] * per_epoch
        conf.tree(outcome.results[side_name]["final_weights"], rec.weights[step],
                  path=f"{name} / {side_name} / {h['evaluated_weights']} weights vs step {step}", kind="decision",
                  names=("evaluated", f"after epoch {h['evaluated_epoch']}"))


@pytest.mark.parametrize("name", ["mlx", "torch"])
@pytest.mark.parametrize("batch_size", [4, 7, 16])
def test_minibatches_follow_shuffle_orders(conf, monkeypatch, name, batch_size):
    """``fit`` draws each epoch's order as ``conformance.data.shuffle_orders`` says, and cuts it
    into consecutive batches: the rows each training step sees, recorded by a spy step."""
    pkg = side(name)
    n, epochs, seed = 22, 3, 7
    X = np.column_stack([np.arange(n), np.zeros(n)]).astype(np.float32)  # column 0: the row number
    seen: list[np.ndarray] = []

    def spy_factory(model, optimizer, compiled=True):
        def step(Xb, yb):
            seen.append(np.asarray(pkg.data.to_numpy(Xb))[:, 0].astype(int))
            return pkg.data.to_array(np.zeros(()), "float32")
        return step

    monkeypatch.setattr(pkg.train, "make_train_step", spy_factory)
    with pkg.device.use_device(conf.device):
        model = pkg.model.SimpleNN(2, 3)
        opt = pkg.optim.make_adam(model)
        pkg.train.fit(model, opt, pkg.data.to_array(X), pkg.data.to_array(np.zeros(n)), epochs=epochs,
                      batch_size=batch_size, seed=seed)
    expected = [order[s:s + batch_size] for order in shuffle_orders(n, epochs, seed) for s in range(0, n, batch_size)]
    assert len(seen) == len(expected), f"{name}: {len(seen)} steps, expected {len(expected)}"
    for i, (got, want) in enumerate(zip(seen, expected)):
        per = len(range(0, n, batch_size))
        assert np.array_equal(got, want), (f"{name}: epoch {i // per + 1}, batch {i % per + 1}: the step saw rows "
                                           f"{got.tolist()}, shuffle_orders(n={n}, epochs={epochs}, seed={seed}) "
                                           f"gives {want.tolist()}")


def test_first_failure_names_the_first_step_and_tensor(conf):
    """The diagnosis itself: a run whose MLX recording is nudged at step 7 (fc1.bias[2], by 1e-3)
    fails there first, and the message says so with both values."""
    outcome = run_both(document_dataset(), RunConfig(epochs=12, compiled=False, device=conf.device), mode=conf.mode)
    assert outcome.passed, outcome.first_failure().message()
    for step in range(7, 13):
        outcome.recorders["mlx"].weights[step]["fc1.bias"][2] += 1e-3
    from conformance.runner import build_checks, prepare

    splits, weights = prepare(outcome.dataset, outcome.config)
    outcome.checks = build_checks(outcome, conf.mode, splits, weights, "test")
    first = outcome.first_failure()
    assert first is not None and first.path == "5 training / step 7 / weights / fc1.bias", first and first.path
    assert first.worst_index == (2,) and first.step == 7, first.message()
    with unobserved(), pytest.raises(AssertionError, match=r"step 7 / weights / fc1.bias: MISMATCH: 1/10 .* worst fc1.bias\[2\]"):
        assert_all([first])
