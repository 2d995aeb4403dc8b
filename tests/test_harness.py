"""The harness tested as a product: the verdict must see what it claims to see.

Comparing MLX with torch cannot show that the harness itself is right: a budget loosened a
hundredfold, a check that compares one side with itself or an option that never reaches the run
all leave every run "conforming". So here:

(a) every command-line option reaches ``RunConfig``, and each setting has its effect on a run;
(b) a run's split and initial weights are the ones its configuration asks for (computed here
    from ``split_indices`` and ``init_weights`` directly, standardized and run forward in numpy);
(c) every local budget is bounded from above: a candidate whose Adam has its learning rate 0.1%
    off, eps 1e-7, beta2 0.998 or no bias correction, or whose gradients are scaled by 1 + 1e-3,
    fails the right local check at an early step; ``Ledger.judge`` and ``compare`` fail at 1.01x
    their allowance and pass at 0.99x; the free-running judge fails a loop-level difference;
(d) every check compares the two sides it names: each quantity one side exports is perturbed
    (by a small relative amount, about ten times its budget on this data) and the check with that
    name must fail;
(e) a real difference makes the command line exit 1 and its JSON report say "passed": false
    with the failed checks in it.

``python -m conformance.mutate`` seeds bugs into the harness and both sides; these tests are
what catch the harness's (docs/MUTATIONS.md).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import conformance.runner as runner
import references as ref
from conformance import cli
from conformance.compare import compare
from conformance.data import apply_split, document_dataset, split_indices, synthetic_dataset
from conformance.ensemble import Run, judge, run_members
from conformance.intervals import adam_interval
from conformance.ledger import Ledger, Segments
from conformance.runner import RunConfig, run_both, side
from conformance.tolerances import step_rounding, tolerance
from conformance.weights import init_weights

MLX, TORCH = side("mlx"), side("torch")
STEPS = "5 local / training step"
ADAM = "5 local / adam, same gradients"
GRADS = "5 local / gradients"


def _failed(outcome) -> dict:
    """Failed checks by path."""
    return {c.path: c for c in outcome.checks if not c.passed}


def _first_failed(outcome, prefix: str):
    """The earliest failed check whose path starts with ``prefix`` (None if none failed)."""
    found = [c for c in outcome.checks if not c.passed and c.path.startswith(prefix)]
    return min(found, key=lambda c: c.step or 0) if found else None


# ---- (a) every command-line option reaches the run ------------------------------------------------

class _Captured(Exception):
    pass


OPTIONS = {  # option -> (argv, the RunConfig fields it sets, or "dataset.<attr>" of the data it makes)
    "--epochs": (["--epochs", "7"], {"epochs": 7}),
    "--batch-size": (["--batch-size", "8"], {"batch_size": 8}),
    "--lr": (["--lr", "0.02"], {"learning_rate": 0.02}),
    "--hidden": (["--hidden", "5"], {"hidden": 5}),
    "--patience": (["--patience", "4"], {"patience": 4}),
    "--min-delta": (["--min-delta", "0.01"], {"min_delta": 0.01}),
    "--plateau": (["--plateau", "3"], {"plateau": {"patience": 3}}),
    "--seed": (["--seed", "9"], {"seed": 9}),
    "--val-fraction": (["--val-fraction", "0.3"], {"val_fraction": 0.3}),
    "--test-fraction": (["--test-fraction", "0.1"], {"test_fraction": 0.1}),
    "--stratify": (["--synthetic", "20", "--stratify"], {"stratify": True, "dataset.n_samples": 20}),
    "--no-compile": (["--no-compile"], {"compiled": False}),
    "--ensemble": (["--ensemble", "0"], {"ensemble": 0}),
    "--local-every": (["--local-every", "5"], {"local_every": 5}),
    "--device": (["--device", "cpu"], {"device": "cpu"}),
    "--synthetic": (["--synthetic", "30"], {"dataset.n_samples": 30}),
    "--restore-best": (["--restore-best"], {"restore_best": True}),
    "--split": (["--synthetic", "30", "--split", "sklearn"], {"split": "sklearn", "dataset.n_samples": 30}),
}
# Options that choose the data or what is written: tests/test_cli.py runs them end to end.
ELSEWHERE = {"--data", "--target", "--features", "--table", "--json", "--plot", "--every", "--help",
             "--ranks", "--backend", "--shard"}  # the last three set GroupConfig: tests/test_data_parallel.py


def _config_of(monkeypatch, argv: list[str]):
    """The (dataset, RunConfig) ``python -m conformance ARGV`` hands to ``run_both``."""
    seen = {}

    def capture(dataset, config, *args, **kwargs):
        seen.update(dataset=dataset, config=config)
        raise _Captured

    monkeypatch.setattr(runner, "run_both", capture)
    monkeypatch.setattr(cli, "run_both", capture, raising=False)
    with pytest.raises(_Captured):
        cli.main(argv)
    return seen["dataset"], seen["config"]


def test_every_option_is_in_the_table():
    options = {s for a in cli.build_parser()._actions for s in a.option_strings if s.startswith("--")}
    missing = options - set(OPTIONS) - ELSEWHERE
    assert not missing, f"options without a row in OPTIONS (what they set in RunConfig): {sorted(missing)}"


@pytest.mark.parametrize("option", list(OPTIONS))
def test_option_reaches_the_config(monkeypatch, option):
    """The option sets its field and nothing else (against the run with no options)."""
    _, base = _config_of(monkeypatch, [])
    argv, expected = OPTIONS[option]
    dataset, cfg = _config_of(monkeypatch, argv)
    changed = {k: v for k, v in vars(cfg).items() if vars(base)[k] != v}
    want = {k: v for k, v in expected.items() if not k.startswith("dataset.")}
    assert changed == {k: v for k, v in want.items() if vars(base)[k] != v}, f"{argv}: RunConfig changed {changed}"
    for k, v in want.items():
        assert getattr(cfg, k) == v, f"{argv}: {k} = {getattr(cfg, k)!r}, expected {v!r}"
    for k, v in expected.items():
        if k.startswith("dataset."):
            assert getattr(dataset, k.split(".", 1)[1]) == v, f"{argv}: {k} = {getattr(dataset, k.split('.', 1)[1])}"


def test_settings_take_effect(monkeypatch, capsys):
    """One command line with every training setting away from its default; each has its effect on
    the run, and the run's split and initial weights are the configuration's (b)."""
    argv = ["--synthetic", "40", "--seed", "5", "--stratify", "--val-fraction", "0.3", "--test-fraction", "0.1",
            "--epochs", "30", "--batch-size", "8", "--hidden", "3", "--lr", "0.02", "--patience", "4",
            "--plateau", "1", "--local-every", "3", "--ensemble", "1", "--no-compile"]
    outcomes = []
    real = runner.run_both

    def keep(*args, **kwargs):
        outcomes.append(real(*args, **kwargs))
        return outcomes[-1]

    monkeypatch.setattr(runner, "run_both", keep)
    monkeypatch.setattr(cli, "run_both", keep, raising=False)
    rc = cli.main(argv)
    out = capsys.readouterr().out
    (o,) = outcomes
    assert rc == 0, " ".join(line.strip() for line in out.splitlines() if line.startswith(("DOES NOT", "NON-FINITE", "  first")))
    h = o.results["torch"]["history"]
    epochs = len(h["epoch"])
    # --patience 4: stopped early, at the epoch the rule gives for torch's validation losses
    assert h["stopped_epoch"] == epochs < 30
    # --plateau 1 and --lr 0.02: the schedule started at 0.02 and reduced it
    assert h["lr"][0] == 0.02 and min(h["lr"]) == pytest.approx(0.002)
    # --batch-size 8: ceil(24 / 8) = 3 steps an epoch, on both sides
    assert o.split_sizes == {"train": 24, "val": 12, "test": 4}
    assert len(o.losses["torch"]) == len(o.losses["mlx"]) == 3 * epochs
    # --local-every 3: steps 1, 3, 6, ... were checked locally
    checked = len([k for k in range(1, 3 * epochs + 1) if k % 3 == 0 or k == 1])
    local = [c for c in o.checks if c.path.startswith(STEPS + " / ")]
    assert local and {c.extra["steps"] for c in local} == {checked}, {c.path: c.extra["steps"] for c in local}
    # --ensemble 1: one perturbed torch run judged the free run
    assert o.free.judged and len(o.free.members) == 1
    # --hidden 3: the weights' shapes
    assert {k: v.shape for k, v in o.results["mlx"]["final_weights"].items()} == \
        {"fc1.weight": (3, 2), "fc1.bias": (3,), "fc2.weight": (1, 3), "fc2.bias": (1,)}
    # (b) --seed 5 --stratify and the fractions: the rows of split_indices, standardized here
    ds = synthetic_dataset(40, seed=5)
    splits = apply_split(ds, split_indices(ds.y, 0.3, 0.1, seed=5, stratify=True))
    for part in ("train", "val", "test"):
        mine = ref.sklearn_standardize(splits["train"][0], splits[part][0], dtype="float64")["others"][0]
        for name in ("mlx", "torch"):
            got = o.results[name]["standardized"][part]
            # float32 standardization errs by a few 1e-6 here; other rows would differ by O(1)
            assert got.shape == mine.shape and np.allclose(got, mine, rtol=1e-4, atol=1e-4), (name, part)
    # (b) the initial weights are init_weights(2, 3, seed 5): their logits on each side's data, in numpy
    w = init_weights(2, 3, seed=5)
    for name in ("mlx", "torch"):
        logits = ref.forward(w, o.results[name]["standardized"]["train"], dtype="float64")
        assert np.allclose(o.results[name]["initial_logits"], logits, rtol=1e-5, atol=1e-6), name
    assert "CONFORMS" in out


def test_ensemble_zero_leaves_free_running_unjudged():
    o = run_both(document_dataset(), RunConfig(epochs=2, compiled=False, ensemble=0))
    assert o.passed and not o.free.judged and not [c for c in o.checks if c.path.startswith("8 ")]
    assert o.verdict()["parts"]["free"] is None


def test_initial_weights_follow_torch_default_init():
    """``init_weights`` draws PyTorch's ``nn.Linear`` default: uniform on +-1/sqrt(fan_in) (the
    bound torch's own layer draws under, read from a freshly built layer's extremes)."""
    import torch

    torch.manual_seed(0)
    layer = torch.nn.Linear(400, 300)
    w = init_weights(400, 300, seed=1)
    for key, tensor in (("fc1.weight", layer.weight), ("fc1.bias", layer.bias)):
        bound = float(tensor.detach().abs().max())
        assert 0.99 * bound <= float(np.abs(w[key]).max()) <= 1.0 / math.sqrt(400), key


# ---- (c) every budget is bounded from above --------------------------------------------------------

def _adam(lr_factor=1.0, eps=1e-8, beta2=0.999, bias_correction=True):
    """A ``make_adam`` for MLX that differs from PyTorch's Adam as asked."""
    import mlx.optimizers as optim

    set_lr = MLX.optim.set_learning_rate

    def make_adam(model, learning_rate=1e-3, betas=(0.9, 0.999), eps_=1e-8):
        opt = optim.Adam(learning_rate=learning_rate, betas=[betas[0], beta2], eps=eps, bias_correction=bias_correction)
        opt.init(model.trainable_parameters())
        set_lr(opt, learning_rate)
        return opt

    return make_adam, (lambda opt, lr: set_lr(opt, lr * lr_factor))


ADAM_BUGS = {
    "learning rate 0.1% off": dict(lr_factor=1.001),
    "eps 1e-7": dict(eps=1e-7),
    "beta2 0.998": dict(beta2=0.998),
    "no bias correction": dict(bias_correction=False),
}


@pytest.mark.parametrize("bug", list(ADAM_BUGS))
def test_adam_bug_fails_locally(monkeypatch, bug):
    """MLX's Adam (the shadow that restarts from torch's state) wrong as named: its update fed
    torch's gradients, and its whole training step, fail at step 1 or 2. A data set with nearly
    dead hidden units, whose tiny gradients make eps matter: 240 rows, hidden 32."""
    make_adam, set_lr = _adam(**ADAM_BUGS[bug])
    monkeypatch.setattr(MLX.optim, "make_adam", make_adam)
    monkeypatch.setattr(MLX.optim, "set_learning_rate", set_lr)
    o = run_both(synthetic_dataset(400, seed=3), RunConfig(epochs=2, hidden=32, seed=3, compiled=False, ensemble=0))
    for prefix in (ADAM, STEPS):
        first = _first_failed(o, prefix + " / ")
        assert first is not None and first.step <= 2, f"{bug}: {prefix} passed"
    assert not o.passed and o.exit_status == 1 and not o.part_passed("local") and o.part_passed("anchor")
    assert o.first_failure().path.startswith("5 local / ") and o.first_failure().step <= 2


@pytest.mark.parametrize("dataset, factor", [(document_dataset, 1e-3), (lambda: synthetic_dataset(4000, seed=2), 1e-4)],
                         ids=["document, gradients x (1 + 1e-3)", "2400 rows, gradients x (1 + 1e-4)"])
def test_scaled_gradients_fail_locally(monkeypatch, dataset, factor):
    """MLX's gradients scaled by 1 + factor fail "5 local / gradients" at step 1: on the document,
    and on a 2400-row batch, where the bound of a sum of n terms (u min(n, lam sqrt(n))) and the
    1/n of the mean are what keep the budget at a few 1e-5 of the gradient."""
    real = MLX.loss.loss_and_gradients

    def scaled(model, X, y):
        loss, grads = real(model, X, y)
        return loss, {k: v * np.float32(1 + factor) for k, v in grads.items()}

    monkeypatch.setattr(MLX.loss, "loss_and_gradients", scaled)
    o = run_both(dataset(), RunConfig(epochs=1, compiled=False, ensemble=0))
    first = _first_failed(o, GRADS + " / ")
    assert first is not None and first.step == 1, "scaled gradients passed the local gradient check"
    assert o.first_failure().path.startswith(GRADS + " / ")


def test_ledger_fails_just_outside_its_allowance():
    rng = np.random.default_rng(0)
    expected = rng.normal(size=50)
    allow = 10.0 ** rng.uniform(-9, -3, size=50)
    seg = Segments(["a", "b"], [(20,), (5, 6)])
    sign = rng.choice([-1.0, 1.0], size=50)
    inside = Ledger()
    assert inside.judge("x", "gradient", seg, expected + 0.99 * sign * allow, expected, allow, 1, "test")
    assert inside.passed and all(c.passed for c in inside.checks())
    for i in (3, 37):  # one element in each segment, 1.01x its allowance
        actual = expected + 0.99 * sign * allow
        actual[i] = expected[i] + 1.01 * sign[i] * allow[i]
        led = Ledger()
        assert not led.judge("x", "gradient", seg, actual, expected, allow, 4, "test")
        assert not led.passed
        (bad,) = [c for c in led.checks() if not c.passed]
        assert bad.path == ("x / a" if i < 20 else "x / b") and bad.step == 4, bad.path
        assert bad.extra["failed_steps"] == 1 and bad.extra["first_failed_step"] == 4


def test_first_failure_is_the_earliest_training_step():
    """``first_failure``: the local checks' earliest step, whatever was tallied first; checks
    without a step (evaluation, decisions) after every step; then static, anchors, free running."""
    led = Ledger()
    one = Segments(["w"], [(1,)])
    for path, step in (("8 free-running / training loss per step", None), ("1 data / standardized train", None),
                       ("7 local / test loss at torch's final weights", None), ("5 anchor / reference adam", 1),
                       (STEPS, 5), (GRADS, 3), (ADAM, 4)):
        led.judge(path, "loss", one, [1.0], [0.0], [0.5], step, "test")
    o = runner.Outcome(RunConfig(), document_dataset(), {}, {}, led, {})
    first = o.first_failure()
    assert (first.path, first.step) == (GRADS + " / w", 3), (first.path, first.step)
    assert not o.passed and o.exit_status == 1 and not any(o.part_passed(p) for p in ("local", "static", "anchor", "free"))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("allowance", [0.0, 1.0])
def test_ledger_never_passes_nan_or_infinity(value, allowance):
    for actual, expected in (([value], [1.0]), ([1.0], [value]), ([value], [value])):
        led = Ledger()
        assert not led.judge("x", "loss", Segments([""], [(1,)]), actual, expected, [allowance], 1, "test")
        assert not led.passed


@pytest.mark.parametrize("kind, scale, dtype", [("loss", None, "float32"), ("forward", None, "float32"),
                                                ("gradient", 0.3, "float32"), ("data", 2.0, "float32"),
                                                ("optimizer_state", 0.5, "float32"), ("data", 2.0, "float64")])
def test_compare_fails_just_outside_the_table(kind, scale, dtype):
    """The static checks' ``compare``: 1.01x the table's allowance at one element fails, 0.99x passes
    (float64: the scaler's derived entry, whose allowance is a few 1e-14)."""
    tol = tolerance(kind, dtype)
    expected = np.linspace(-2.0, 3.0, 12)
    scale_value = float(np.abs(expected).max()) if scale is None else scale
    allow = tol.atol + tol.atol_scale * scale_value + tol.rtol * np.abs(expected)
    ok = compare(expected + 0.99 * allow, expected, path="x", kind=kind, dtype=dtype, scale=scale)
    assert ok.passed, ok.message()
    actual = expected + 0.99 * allow
    actual[5] = expected[5] + 1.01 * allow[5]
    bad = compare(actual, expected, path="x", kind=kind, dtype=dtype, scale=scale)
    assert not bad.passed and bad.worst_index == (5,) and bad.n_mismatched == 1, bad.message()


def test_adam_interval_reaches_both_ends_of_the_gradient():
    """The interval of one Adam step holds the exact step from every gradient in [g_lo, g_hi]
    (a grid, computed here from the update's formula), including intervals around 0 at the
    first step, where Adam moves by lr sign(g)."""
    rng = np.random.default_rng(1)
    n, lr = 200, 1e-2
    p = rng.normal(size=n)
    g = rng.normal(size=n) * 10.0 ** rng.uniform(-6, 0, size=n)
    half = np.abs(g) * 10.0 ** rng.uniform(-3, 1, size=n)  # some intervals contain 0
    for t, m, v in ((0, np.zeros(n), np.zeros(n)), (5, 0.1 * rng.normal(size=n) * np.abs(g), 0.01 * g ** 2)):
        iv = adam_interval(p, m, v, t, lr, g - half, g + half, step_rounding("ieee"))
        c1, c2 = 1 - 0.9 ** (t + 1), 1 - 0.999 ** (t + 1)
        for s in np.linspace(-1.0, 1.0, 21):
            gg = g + s * half
            m1, v1 = 0.9 * m + 0.1 * gg, 0.999 * v + 0.001 * gg ** 2
            p1 = p - lr * (m1 / c1) / (np.sqrt(v1 / c2) + 1e-8)
            for key, x in (("param", p1), ("exp_avg", m1), ("exp_avg_sq", v1)):
                assert np.all((iv[key].lo <= x) & (x <= iv[key].hi)), (t, s, key)


def test_free_running_fails_a_loop_difference(monkeypatch):
    """MLX's own run (not the shadow the local checks drive) with its learning rate 1% off, a
    loop-level slip (a schedule, a batch order) that no local check sees: its losses leave the
    ensemble's envelope while every local check passes."""
    real = MLX.pipeline.make_adam
    monkeypatch.setattr(MLX.pipeline, "make_adam", lambda model, lr=1e-3, **kw: real(model, lr * 1.01, **kw))
    o = run_both(synthetic_dataset(30, seed=1), RunConfig(epochs=20, seed=1, learning_rate=0.01, compiled=False,
                                                          ensemble=2))
    assert o.part_passed("local") and o.part_passed("anchor") and o.part_passed("static")
    assert o.free.judged and not o.part_passed("free") and not o.passed
    assert o.first_failure().path.startswith("8 free-running / ")


def _free_run(name: str, losses, final: float = 1.0, stopped=None) -> Run:
    history = {"val_loss": [0.5, 0.4, 0.45], "stopped_epoch": stopped, "best_epoch": 2}
    metrics = {"accuracy": 0.75, "precision": 0.5, "recall": 1.0, "f1": 2 / 3}
    return Run(name, {"history": history, "final_weights": {"fc2.bias": np.array([final])},
                      "test_logits": np.array([0.3, -1.2]), "metrics": metrics}, np.asarray(losses))


@pytest.mark.parametrize("factor, passes", [(0.99, True), (1.01, False)])
def test_free_running_allows_ten_times_the_ensemble(factor, passes):
    """The free-running judge's budget, bounded from above: with two perturbed torch runs each
    1e-5 from torch at every step, MLX may be 10 times that (the margin of tolerances.FREE_RUNNING)
    plus the loss's rounding (0 here) from torch: 1.01x fails, 0.99x passes. Decisions outside the
    perturbed runs' range fail whatever the margin."""
    ref = 0.7 - 0.01 * np.arange(12)
    members = [_free_run("+", ref + 1e-5), _free_run("-", ref - 1e-5)]
    cand = ref.copy()
    cand[6] += factor * 10 * 1e-5
    led = Ledger()
    judge(led, _free_run("torch", ref), _free_run("mlx", cand, stopped=3), members, 1, np.zeros(12), np.zeros(3),
          ("mlx", "torch"))
    failed = sorted(c.path for c in led.checks() if not c.passed)
    expected = ["8 free-running / stopped epoch"] + ([] if passes else ["8 free-running / training loss per step"])
    assert failed == sorted(expected), failed


def test_ensemble_members_are_perturbed_at_rounding_level():
    """The ensemble's runs differ from torch's by what the local rules allow, not more: learning
    rates within 1e-5 relative (update_rtol), initial weights moved by at most 1e-6 relative (4u,
    and the rounding to float32), and each kind of perturbation present."""
    w = init_weights(2, 10, seed=0)
    seen = []
    run_members(lambda weights, lr, label: seen.append((weights, lr)) or Run(label, {}, np.zeros(1)), w, 1e-3, "ieee", 6)
    assert len(seen) == 6
    moved_any = lr_any = False
    for weights, lr in seen:
        assert abs(lr / 1e-3 - 1) <= 1.01e-5, lr
        lr_any |= lr != 1e-3
        for k, v in w.items():
            move = np.abs(np.asarray(weights[k], np.float64) - v)
            assert np.all(move <= 1e-6 * np.abs(v)), (k, float((move / np.abs(v)).max()))
            moved_any |= bool(move.max() > 0)
    assert moved_any and lr_any


# ---- (d) every check compares the two sides it names ------------------------------------------------

def _scale_tree(tree: dict, keys, factor: float) -> dict:
    return {k: (np.asarray(v) * np.asarray(factor, dtype=np.asarray(v).dtype) if k in keys else v) for k, v in tree.items()}


def _wrap(monkeypatch, owner, name, make):
    monkeypatch.setattr(owner, name, make(getattr(owner, name)))


def _mlx_logits(monkeypatch):  # every forward pass: the evaluation's logits among them
    _wrap(monkeypatch, MLX.model.SimpleNN, "__call__", lambda real: lambda self, x: real(self, x) * 1.0001)


def _mlx_train_loss(monkeypatch):  # the loss the training step returns, not the update
    _wrap(monkeypatch, MLX.train, "make_train_step",
          lambda real: lambda model, opt, compiled=True: (lambda step: lambda X, y: step(X, y) * 1.00003)(
              real(model, opt, compiled)))


def _mlx_late_stop(monkeypatch):
    _wrap(monkeypatch, MLX.validate.EarlyStopping, "step",
          lambda real: lambda self, loss, model, epoch: real(self, loss, model, epoch) and self.bad_epochs > self.patience)


def _mlx_plateau_factor(monkeypatch):
    _wrap(monkeypatch, MLX.optim.ReduceLROnPlateau, "__init__",
          lambda real: lambda self, optimizer, **kw: real(self, optimizer, **{**kw, "factor": 0.2}))


def _mlx_metrics(monkeypatch):
    _wrap(monkeypatch, MLX.metrics, "classification_metrics",
          lambda real: lambda logits, targets: {**real(logits, targets), "accuracy": real(logits, targets)["accuracy"] + 1e-9})


def _mlx_standardized(monkeypatch):
    _wrap(monkeypatch, MLX.data.StandardScaler, "transform", lambda real: lambda self, X: real(self, X) * 1.0001)


def _torch_step(after):
    """Wrap torch's training step: ``after(model, loss) -> loss`` runs after each step."""
    def make(real):
        def make_train_step(model, optimizer, compiled=True):
            step = real(model, optimizer, compiled)
            return lambda X, y: after(model, step(X, y))
        return make_train_step
    return make


def _torch_grads(model, loss):  # the gradients torch records, not those its update used
    for p in model.parameters():
        p.grad.mul_(1.0001)
    return loss


def _torch_adam(monkeypatch):
    import torch

    monkeypatch.setattr(TORCH.pipeline, "make_adam", lambda model, lr=1e-3, **kw: torch.optim.Adam(
        model.parameters(), lr=lr, eps=1e-6, foreach=False))


def _history(owner, key: str, change):
    """Wrap a side's ``fit`` (as its pipeline calls it) to change the history it returns."""
    return lambda mp: _wrap(mp, owner, "fit", lambda real: lambda *a, **kw: (lambda h: {**h, key: change(h[key])})(
        real(*a, **kw)))


def _one_epoch_late(values):
    return list(values[:1]) + list(values[:-1])


def _scaled(values, factor=1 + 1e-5):
    return [v * factor for v in values]


WEIGHTS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
PERTURBED = {  # what is perturbed -> (how, the checks (path prefixes) that must fail)
    "mlx weights after a step (x (1 + 1e-5))": (
        lambda mp: _wrap(mp, MLX.model, "export_weights", lambda real: lambda m: _scale_tree(real(m), WEIGHTS, 1 + 1e-5)),
        [STEPS + " / fc1.weight", ADAM + " / fc1.weight"]),
    "mlx exp_avg (x (1 + 1e-5))": (
        lambda mp: _wrap(mp, MLX.optim, "export_optimizer_state",
                         lambda real: lambda o, m: _scale_tree(real(o, m), [k + ".exp_avg" for k in WEIGHTS], 1 + 1e-5)),
        [STEPS + " / fc1.weight.exp_avg", ADAM + " / fc1.weight.exp_avg"]),
    "mlx exp_avg_sq (x (1 + 1e-5))": (
        lambda mp: _wrap(mp, MLX.optim, "export_optimizer_state",
                         lambda real: lambda o, m: _scale_tree(real(o, m), [k + ".exp_avg_sq" for k in WEIGHTS], 1 + 1e-5)),
        [STEPS + " / fc2.weight.exp_avg_sq", ADAM + " / fc2.weight.exp_avg_sq"]),
    "mlx step count (+1)": (
        lambda mp: _wrap(mp, MLX.optim, "export_optimizer_state",
                         lambda real: lambda o, m: {**real(o, m), "step": real(o, m)["step"] + 1}),
        [STEPS + " / step count", ADAM + " / step count"]),
    "mlx training loss (x (1 + 3e-5))": (_mlx_train_loss, ["5 local / loss"]),
    "mlx evaluation loss (x (1 + 3e-5))": (
        lambda mp: _wrap(mp, MLX.validate, "evaluate_loss", lambda real: lambda m, X, y: real(m, X, y) * 1.00003),
        ["6 local / validation loss at torch's weights", "7 local / test loss at torch's final weights"]),
    "mlx logits (x (1 + 1e-4))": (_mlx_logits, ["7 local / test logits at torch's final weights"]),
    "mlx accuracy (+1e-9)": (_mlx_metrics, ["7 local / accuracy from the same logits"]),
    "mlx early stopping (one epoch late)": (_mlx_late_stop, ["6 local / stopped epoch from torch's validation losses",
                                                            "8 free-running / stopped epoch"]),
    "mlx plateau (factor 0.2)": (_mlx_plateau_factor, ["6 local / learning rate per epoch"]),
    "mlx standardized data (x (1 + 1e-4))": (_mlx_standardized, ["1 data / standardized train"]),
    "torch recorded gradients (x (1 + 1e-4))": (
        lambda mp: _wrap(mp, TORCH.train, "make_train_step", _torch_step(_torch_grads)),
        [GRADS + " / fc1.weight", "5 anchor / reference gradients vs float64"]),
    "torch training loss (x (1 + 3e-5))": (
        lambda mp: _wrap(mp, TORCH.train, "make_train_step", _torch_step(lambda model, loss: loss * 1.00003)),
        ["5 local / loss"]),
    "torch weights after a step (x (1 + 1e-5))": (
        lambda mp: _wrap(mp, TORCH.model, "export_weights", lambda real: lambda m: _scale_tree(real(m), WEIGHTS, 1 + 1e-5)),
        [STEPS + " / fc2.weight"]),
    "torch adam (eps 1e-6)": (_torch_adam, ["5 anchor / reference adam vs its formula"]),
    # the histories a user reads (conformance.histories): each against its own side's steps
    "mlx epoch training loss (x (1 + 1e-5))": (_history(MLX.pipeline, "train_loss", _scaled),
                                               ["6 local / mlx's epoch training loss"]),
    "mlx learning-rate history (one epoch late)": (_history(MLX.pipeline, "lr", _one_epoch_late),
                                                   ["6 local / mlx's learning-rate history"]),
    "mlx validation-loss history (one epoch late)": (_history(MLX.pipeline, "val_loss", _one_epoch_late),
                                                     ["6 local / mlx's validation-loss history"]),
    "torch epoch training loss (x (1 + 1e-5))": (_history(TORCH.pipeline, "train_loss", _scaled),
                                                 ["6 anchor / torch's epoch training loss"]),
    "torch learning-rate history (one epoch late)": (_history(TORCH.pipeline, "lr", _one_epoch_late),
                                                     ["6 anchor / torch's learning-rate history"]),
    "torch validation-loss history (one epoch late)": (_history(TORCH.pipeline, "val_loss", _one_epoch_late),
                                                       ["6 anchor / torch's validation-loss history"]),
}
# 20 rows (12 / 4 / 4), validation worse from epoch 1 at lr 0.05: the plateau schedule reduces the
# rate and early stopping stops within 8 epochs; one perturbed torch run judges the free run
PERTURB_DATA = lambda: synthetic_dataset(20, seed=2)  # noqa: E731
PERTURB_RUN = RunConfig(epochs=8, seed=2, learning_rate=0.05, patience=3, plateau={"patience": 1}, compiled=False,
                        ensemble=1)


def test_the_perturbation_run_conforms():
    o = run_both(PERTURB_DATA(), RunConfig(**vars(PERTURB_RUN)))
    assert o.passed, o.first_failure() and o.first_failure().message()
    h = o.results["torch"]["history"]
    assert h["stopped_epoch"] is not None and min(h["lr"]) < h["lr"][0] and o.free.judged


@pytest.mark.parametrize("what", list(PERTURBED))
def test_perturbed_side_fails_its_check(monkeypatch, what):
    perturb, paths = PERTURBED[what]
    perturb(monkeypatch)
    o = run_both(PERTURB_DATA(), RunConfig(**vars(PERTURB_RUN)))
    failed = _failed(o)
    for path in paths:
        assert any(p.startswith(path) for p in failed), f"{what}: no failed check {path!r}; failed: {sorted(failed)}"
    assert not o.passed and o.exit_status == 1


# ---- (e) a real difference: exit status 1, and a report that says so --------------------------------

def test_cli_exits_1_and_reports_the_failure(monkeypatch, tmp_path, capsys):
    make_adam, _ = _adam(bias_correction=False)  # MLX's default Adam: the guide's costliest pitfall
    monkeypatch.setattr(MLX.optim, "make_adam", make_adam)
    path = tmp_path / "report.json"
    rc = cli.main(["--epochs", "3", "--ensemble", "0", "--no-compile", "--json", str(path)])
    out = capsys.readouterr().out
    assert rc == 1, out[-2000:]
    assert "DOES NOT CONFORM" in out and "5 local / adam, same gradients" in out
    report = json.loads(path.read_text())
    assert report["passed"] is False and report["summary"]["failed"] >= 1
    failed = {c["path"]: c for c in report["checks"] if not c["passed"]}
    for tensor in WEIGHTS:
        c = failed.get(f"{ADAM} / {tensor}")
        assert c is not None, f"{ADAM} / {tensor} is not among the report's failed checks: {sorted(failed)}"
        assert c["step"] == 1 and "MISMATCH" in c["message"], c
    assert report["verdict"]["status"] == "does-not-conform" and report["verdict"]["exit_status"] == 1
    assert report["verdict"]["parts"]["local"] is False and report["verdict"]["first_failure"].startswith("5 local / ")


# ---- the mutation runner's data ----------------------------------------------------------------------

def test_mutants_are_well_formed_and_current():
    """Every mutant of ``python -m conformance.mutate`` says what its bug means and which part of
    the verdict must catch it, or why it is equivalent; its text occurs exactly once in its file
    (edit conformance/mutants.py along with a line it names). The mutation runner deselects this
    test: in a mutated copy one text is gone on purpose."""
    from collections import Counter

    from conformance.mutate import PARTS, ROOT
    from conformance.mutants import MUTANTS

    assert not [i for i, n in Counter(m.id for m in MUTANTS).items() if n > 1]
    live = [m for m in MUTANTS if not m.equivalent]
    per_package = Counter(m.package for m in live)
    assert per_package["conformance"] >= 20 and sum(per_package.values()) >= 25, per_package
    for m in MUTANTS:
        assert m.old != m.new and len(m.bug) > 20, m.id
        assert m.verdict is None or m.verdict in PARTS, m.id
        assert not m.equivalent or len(m.equivalent) > 30, m.id
        count = (ROOT / m.file).read_text(encoding="utf-8").count(m.old)
        assert count == 1, f"{m.id}: its text occurs {count} times in {m.file}; update it in conformance/mutants.py"
