"""Step 5 in lockstep: both pipelines train from the same weights on the same batches. At every
step MLX restarts from torch's state and takes that step (``conformance.local``): its gradients,
its Adam update fed torch's gradients and its whole training step are judged within that step's
own rounding; its free run is judged against perturbed torch runs (``conformance.ensemble``). A
failure names the first step and tensor that left its budget. Early stopping must stop at the same
epoch and restore the weights of the best one; minibatches come in ``shuffle_orders``'s order.

The local budgets do not grow with the run, so these hold for any learning rate and length: the
larger-rate and longer runs live in the corpus (``python -m conformance.corpus``).
"""

from __future__ import annotations

import numpy as np
import pytest

import references as ref
from conformance.compare import assert_all, unobserved
from conformance.data import document_dataset, shuffle_orders, synthetic_dataset
from conformance.runner import RunConfig, closest_call, reproduce_command, run_both, run_side, prepare, side

pytestmark = pytest.mark.training

RUNS = {  # name: (dataset, config); MLX compiles a step per input shape (about a second each)
    "document, full batch, compiled": (document_dataset, RunConfig(epochs=100)),
    "document, full batch, uncompiled, no ensemble": (document_dataset, RunConfig(epochs=100, compiled=False, ensemble=0)),
    "synthetic n=64, minibatch 16, compiled": (lambda: synthetic_dataset(64, seed=3),
                                               RunConfig(epochs=20, hidden=8, batch_size=16, seed=3, ensemble=2)),
    "synthetic n=256, hidden 32, minibatch 32 (last batch 25), lr 1e-2, uncompiled": (
        lambda: synthetic_dataset(256, seed=1),
        RunConfig(epochs=12, hidden=32, batch_size=32, seed=1, learning_rate=1e-2, compiled=False, ensemble=2)),
    "synthetic n=200, hidden 16, full batch, stratified, uncompiled": (
        lambda: synthetic_dataset(200, seed=5), RunConfig(epochs=60, hidden=16, seed=5, stratify=True, compiled=False,
                                                          ensemble=2)),
    "document, plateau patience 2, uncompiled": (
        document_dataset, RunConfig(epochs=30, plateau={"patience": 2}, compiled=False, ensemble=2)),
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
    steps = len(outcome.losses["torch"])
    n_train = outcome.split_sizes["train"]
    per_epoch = 1 if cfg.batch_size is None else -(-n_train // cfg.batch_size)
    assert steps == cfg.epochs * per_epoch, f"{name}: torch ran {steps} steps, expected {cfg.epochs} x {per_epoch}"
    assert len(outcome.losses["mlx"]) == steps, "the two sides ran different numbers of steps"
    local = [c for c in outcome.checks if c.path.startswith("5 local / training step")]
    assert local and all(c.extra["steps"] == steps for c in local), "a step was not checked locally"
    assert outcome.free.judged == bool(cfg.ensemble is None or cfg.ensemble)
    if cfg.plateau:
        lrs = outcome.results["torch"]["history"]["lr"]
        assert min(lrs) < lrs[0], f"{name}: the plateau schedule never reduced the learning rate, so it was not tested"


EARLY = {  # name: (dataset, config), checked against the rule below
    "document, patience 5, best weights restored (validation worsens from epoch 1)": (
        document_dataset, RunConfig(epochs=100, patience=5, restore_best=True, ensemble=0)),
    "synthetic n=64, minibatch 16, patience 3, min_delta 2.5e-3": (
        lambda: synthetic_dataset(64, seed=3),
        RunConfig(epochs=60, hidden=8, batch_size=16, patience=3, min_delta=2.5e-3, seed=3, compiled=False, ensemble=0)),
}


class EpochWeights:
    """``on_epoch``-like recorder of the weights after every epoch (the test's own record)."""

    def __init__(self, pkg, per_epoch: int):
        self.pkg, self.per_epoch, self.k, self.weights = pkg, per_epoch, 0, {}

    def __call__(self, model, optimizer, loss):
        self.k += 1
        if self.k % self.per_epoch == 0:
            self.weights[self.k // self.per_epoch] = self.pkg.model.export_weights(model)


@pytest.mark.validation
@pytest.mark.parametrize("name", list(EARLY))
def test_early_stopping_in_lockstep(conf, name):
    """Both sides stop at the epoch the rule gives for their validation losses, the same one, and
    end with the weights of the epoch their history names (``evaluated_epoch``: the best one when
    the run restores it, else the last), recorded here independently of the run."""
    dataset, cfg = EARLY[name]
    outcome = _run(conf, dataset, RunConfig(**vars(cfg)))
    splits, weights = prepare(dataset(), RunConfig(**vars(cfg)))
    per_epoch = 1 if cfg.batch_size is None else -(-outcome.split_sizes["train"] // cfg.batch_size)
    for side_name in ("mlx", "torch"):
        h = outcome.results[side_name]["history"]
        rule = ref.early_stopping(h["val_loss"], cfg.patience, cfg.min_delta)
        got = {"stopped_epoch": h["stopped_epoch"], "best_epoch": h["best_epoch"]}
        assert got == {k: rule[k] for k in got}, f"{side_name}: early stopping gave {got}, the rule gives {rule}"
        assert h["stopped_epoch"] is not None and h["stopped_epoch"] < cfg.epochs, f"{name}: never stopped early"
        epoch, gap = closest_call(h["val_loss"], cfg.min_delta)
        assert gap > 1e-4, f"{name}: epoch {epoch}'s stopping decision is within {gap:.1e} of its threshold"
        assert h["evaluated_weights"] == ("best" if cfg.restore_best else "final"), f"{side_name}: {h['evaluated_weights']}"
        expected_epoch = h["best_epoch"] if cfg.restore_best else h["stopped_epoch"]
        assert h["evaluated_epoch"] == expected_epoch, f"{side_name}: evaluated epoch {h['evaluated_epoch']}"
        rec = EpochWeights(side(side_name), per_epoch)
        again = run_side(side_name, splits, weights, RunConfig(**{**vars(cfg), "device": conf.device}), on_step=rec)
        conf.tree(again["final_weights"], rec.weights[h["evaluated_epoch"]],
                  path=f"{name} / {side_name} / {h['evaluated_weights']} weights vs after epoch {h['evaluated_epoch']}",
                  kind="decision", names=("evaluated", f"after epoch {h['evaluated_epoch']}"))


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


def test_first_failure_names_the_first_step_and_tensor(conf, monkeypatch):
    """The diagnosis itself: MLX's training step nudged from step 7 on (fc1.bias[2] by 1e-3, a
    stand-in for a bug that starts mid-run) fails the local check there first, with both values;
    the steps before it pass."""
    pkg = side("mlx")
    made = pkg.train.make_train_step

    def nudged(model, optimizer, compiled=True):
        step = made(model, optimizer, compiled)

        def train_step(X, y):
            loss = step(X, y)
            if int(optimizer.step.item()) >= 7:
                b = model.fc1.bias
                model.fc1.bias = b + pkg.data.to_array(np.eye(b.shape[0])[2] * 1e-3)
            return loss
        return train_step

    monkeypatch.setattr(pkg.train, "make_train_step", nudged)
    with unobserved():
        outcome = run_both(document_dataset(), RunConfig(epochs=12, compiled=False, device=conf.device, ensemble=0),
                           mode=conf.mode)
    first = outcome.first_failure()
    assert first is not None and first.path == "5 local / training step / fc1.bias", first and first.path
    assert first.worst_index == (2,) and first.step == 7, first.message()
    assert first.extra["failed_steps"] == 6 and first.extra["steps"] == 12, first.extra
    assert "MISMATCH: 1/10" in first.message() and "worst fc1.bias[2]" in first.message(), first.message()
    assert outcome.exit_status == 1 and not outcome.part_passed("local") and outcome.part_passed("anchor")
