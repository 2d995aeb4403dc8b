"""Your own port, proven on four real ones (``examples/``): an MLP classifier, a small CNN, a
transformer encoder block and an LSTM, each written idiomatically on both sides, conform in lockstep
through ``conformance.pair``; each one's deliberately wrong port is caught and the report names the
first wrong layer. The document's own SimpleNN is the harness's first case, and the pytest fixture
and the command line are exercised here too."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from conformance import pair, steps
from conformance.data import synthetic_dataset
from conformance.pair.pytest_plugin import mlx_port  # noqa: F401  (the plugin's fixture, installed or not)
from conformance.runner import RunConfig, prepare

pytestmark = pytest.mark.training
EXAMPLES = ("mlp", "cnn", "transformer", "rnn", "bn")
ROOT = Path(__file__).resolve().parent.parent


def _check(conf, name: str, which: str = "port", **kw):
    mod = importlib.import_module(f"examples.{name}")
    spec = dict(getattr(mod, which)())
    kw = {"device": conf.device, "reproduce": conf.reproduce, **kw}
    return mod, pair.check(spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches"), **spec, **kw)


@pytest.mark.parametrize("name", EXAMPLES)
def test_port_conforms(conf, name):
    _, report = _check(conf, name, steps=4, ensemble=4)
    report.assert_conforms()
    steps_checked = {c.extra["steps"] for c in report.checks if c.path.startswith("5 local / training step")}
    assert steps_checked == {4}, f"{name}: local checks ran at {steps_checked} steps, not every one of 4"
    assert any(c.path.startswith("2 layers /") for c in report.checks) and report.free.judged


@pytest.mark.parametrize("name", EXAMPLES)
def test_wrong_port_is_caught_and_named(conf, name):
    mod, report = _check(conf, name, "wrong", steps=2, ensemble=0)
    assert not report.passed and report.exit_status in (1, 2), report.summary()
    assert repr(mod.WRONG_NAMES) in report.summary() or f"{mod.WRONG_NAMES} (" in report.summary(), report.summary()


@pytest.mark.parametrize("name, factor, passes", [(n, 1e-5, False) for n in EXAMPLES]
                         + [("mlp", 1e-6, True), ("rnn", 1e-6, True)])
def test_measured_budget_fails_a_systematic_gradient_difference(conf, monkeypatch, name, factor, passes):
    """The measured budget (``tolerances.MEASURED``: 10 times each side's rerun spread plus 8u) is
    bounded from above: the port's gradients scaled by 1 + 1e-5 (a systematic difference, which
    moves the candidate's reruns alike and so does not widen its own budget) fail "5 local /
    gradients" at step 1 in every example; scaled by 1 + 1e-6 (17u, about both sides' 8u floors
    together) they still pass, so the budget is not below rounding either."""
    from conformance.pair import sides
    from conformance.tolerances import step_rounding

    r = step_rounding(conf.mode)  # TF32's budgets are (u + operand) / u = 16 385 times IEEE's: so are the factors
    factor *= (r.u + r.operand) / r.u
    real = sides.MLXPort.gradients

    def scaled(self, weights, X, y):
        loss, grads = real(self, weights, X, y)
        return loss, {k: v * np.float32(1 + factor) for k, v in grads.items()}

    monkeypatch.setattr(sides.MLXPort, "gradients", scaled)
    _, report = _check(conf, name, steps=2, ensemble=0)
    failed = [c for c in report.checks if not c.passed]
    if passes:
        assert report.passed, report.summary()
    else:
        assert failed and all(c.path.startswith("5 local / gradients / ") for c in failed), report.summary()
        assert report.first_failure().step == 1 and not report.passed, report.summary()


def test_a_rule_at_the_root_maps_each_tensor_once():
    """A model whose root module has a layout rule (a bare MultiheadAttention): its children
    (``out_proj``) belong to that rule and are not mapped a second time on their own."""
    import mlx.nn as mnn
    import torch

    from conformance.pair.mapping import Mapping

    m = Mapping.build(torch.nn.MultiheadAttention(8, 2, batch_first=True), mnn.MultiHeadAttention(8, 2, bias=True))
    assert sorted(m.torch_names) == ["in_proj_bias", "in_proj_weight", "out_proj.bias", "out_proj.weight"], m.torch_names
    assert len(m.pairs) == 1


def test_lstm_with_two_biases_is_refused_with_the_reason(conf):
    _, report = _check(conf, "rnn", "rnn_two_biases", steps=2, ensemble=0)
    assert report.status == "not-comparable" and "twice as far" in report.summary(), report.summary()


def test_the_documents_model_is_the_first_case(conf):
    """SimpleNN (mlx_reference against reference_torch) through the pair harness: the same engine
    as the document's pipeline, from its models alone."""
    import mlx_reference.model as MM
    import reference_torch.model as TM

    splits, w = prepare(synthetic_dataset(64, seed=3), RunConfig(hidden=8, seed=3))
    X = steps.standardize("torch", splits["train"][0])["train"].astype(np.float32)
    y = splits["train"][1].astype(np.float32)
    batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, len(y), 16)]
    report = pair.check(MM.SimpleNN(2, 8), TM.load_weights(TM.SimpleNN(2, 8), w), batches, loss="bce_with_logits",
                        optimizer=pair.Adam(1e-2), steps=6, ensemble=4, device=conf.device, reproduce=conf.reproduce)
    report.assert_conforms()


def test_the_mlx_port_fixture(mlx_port):
    spec = importlib.import_module("examples.mlp").port()
    report = mlx_port(spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches"), steps=2, ensemble=0, **spec)
    assert report.passed
    wrong = importlib.import_module("examples.mlp").wrong()
    with pytest.raises(AssertionError, match="NOT COMPARABLE: layers.2"):
        mlx_port(wrong.pop("mlx_model"), wrong.pop("torch_model"), wrong.pop("batches"), steps=2, ensemble=0, **wrong)


@pytest.mark.cli
def test_pair_command_line_exit_statuses(tmp_path, capsys, monkeypatch):
    from conformance.pair.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["examples/cnn.py", "--steps", "2", "--ensemble", "0", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "CONFORMS" in out and (tmp_path / "r.json").exists(), out[-2000:]
    assert main(["examples/cnn.py", "--wrong", "--steps", "2", "--ensemble", "0"]) == 1
    assert "first layer that disagrees is 'fc'" in capsys.readouterr().out
    assert main(["examples/nothing.py"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "examples/nothing.py" in err, err
