"""Hostile and awkward input to ``conformance.pair``, through the API, the command line and the
pytest fixture: each gets its exact outcome. The API raises ``pair.PairError`` with one line naming
what to fix, before anything runs, or returns a ``not-comparable`` report naming the reason; the
command line exits 2 with one line on stderr and touches no file (0 conforms, 1 does not, 3 NaN,
130 interrupted); the fixture fails the test on that one line, without a traceback."""

from __future__ import annotations

import os
import textwrap

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
import torch
from torch import nn as tnn

import pair_models as pm
from conformance import pair
from conformance.pair.pytest_plugin import mlx_port  # noqa: F401  (the plugin's fixture, installed or not)

pytestmark = pytest.mark.cli
X, Y = pm.blobs()
QUICK = dict(steps=1, ensemble=0)


def _models(**kw):
    return pm.mlp_pair(**kw)


def _float(dtype):
    def make():
        m, t = _models()
        return m, t.to(dtype)
    return make


def _mlx_half():
    m, t = _models()
    m.set_dtype(mx.float16)
    return m, t


def _meta():
    m, _ = _models()
    with torch.device("meta"):
        t = pm.TorchMLP()
    return m, t


def _nan_weights():
    m, t = _models()
    with torch.no_grad():
        t.fc1.weight[0, 0] = float("nan")
    return m, t


class _DictNoLogits(pm.TorchMLP):
    def forward(self, x):
        return {"scores": super().forward(x)}


class _ReturnsNone(pm.TorchMLP):
    def forward(self, x):
        return None


class _Raises(pm.TorchMLP):
    def forward(self, x):
        raise RuntimeError("boom in forward")


def _swap(m, t):
    return t, m


def _nonscalar():
    return pair.Loss(mlx=lambda m, X, y: nn.losses.cross_entropy(m(X), y),
                     torch=lambda m, X, y: torch.nn.functional.cross_entropy(m(X), y, reduction="none"))


def _schedule():
    return optim.Adam(learning_rate=optim.cosine_decay(1e-3, 100), bias_correction=True)


def _image_pair():
    class T(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = tnn.Conv2d(2, 3, 3, padding=1), tnn.Linear(3, 3)

        def forward(self, x):
            return self.fc(self.conv(x).mean(dim=(2, 3)))

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(2, 3, 3, padding=1), nn.Linear(3, 3)

        def __call__(self, x):
            return self.fc(self.conv(x).mean(axis=(1, 2)))

    return M(), T()


IMAGES = (np.random.default_rng(0).normal(size=(8, 2, 4, 4)).astype(np.float32), np.arange(8) % 3)

# (id, models (a function), batches, keyword arguments, what the PairError must say)
RAISES = [
    ("steps negative", _models, (X, Y), dict(steps=-1), "steps=-1: give a whole number"),
    ("steps zero", _models, (X, Y), dict(steps=0), "steps=0"),
    ("steps fractional", _models, (X, Y), dict(steps=2.5), "steps=2.5"),
    ("steps bool", _models, (X, Y), dict(steps=True), "steps=True"),
    ("steps string", _models, (X, Y), dict(steps="3"), "steps='3'"),
    ("ensemble negative", _models, (X, Y), dict(ensemble=-1, steps=1), "ensemble=-1"),
    ("ensemble fractional", _models, (X, Y), dict(ensemble=1.5, steps=1), "ensemble=1.5"),
    ("compiled not bool", _models, (X, Y), dict(compiled="yes", **QUICK), "compiled='yes'"),
    ("device unknown", _models, (X, Y), dict(device="tpu", **QUICK), "device='tpu'"),
    ("models swapped", lambda: _swap(*_models()), (X, Y), QUICK, "the models are in the wrong order"),
    ("mlx model None", lambda: (None, _models()[1]), (X, Y), QUICK, "mlx_model: an mlx.nn.Module is needed, got NoneType"),
    ("torch model a string", lambda: (_models()[0], "model.pt"), (X, Y), QUICK, "torch_model: a torch.nn.Module"),
    ("torch float64", _float(torch.float64), (X, Y), QUICK, "torch's fc1.weight is float64"),
    ("torch float16", _float(torch.float16), (X, Y), QUICK, "torch's fc1.weight is float16"),
    ("torch bfloat16", _float(torch.bfloat16), (X, Y), QUICK, "torch's fc1.weight is bfloat16"),
    ("mlx float16", _mlx_half, (X, Y), QUICK, "MLX's fc1.weight is float16"),
    ("torch on the meta device", _meta, (X, Y), QUICK, "torch's fc1.weight is on the meta device"),
    ("batches empty list", _models, [], QUICK, "batches is empty"),
    ("batches a string", _models, "data.csv", QUICK, "batches: give one (X, y) or a list of (X, y), got str"),
    ("a batch of one element", _models, [(X,)], QUICK, "batches[0]: give an (X, y) pair, got tuple of length 1"),
    ("an empty batch", _models, (X[:0], Y[:0]), QUICK, "a batch needs at least one sample"),
    ("y of the wrong length", _models, (X, Y[:-1]), QUICK, "y has shape (31,) but X has 32 samples"),
    ("X of strings", _models, (np.array([["a"] * 4] * 32), Y), QUICK, "numbers are needed"),
    ("X with NaN", _models, (np.where(np.arange(128).reshape(32, 4) == 5, np.nan, X), Y), QUICK,
     "batches[0] X holds NaN or infinity at (1, 1)"),
    ("cross entropy on float labels", _models, (X, Y.astype(np.float32)), QUICK, "takes class indices"),
    ("cross entropy labels of shape (N, 1)", _models, (X, Y[:, None]), QUICK, "y needs shape (32,)"),
    ("class index out of range", _models, (X, np.full(32, 5)), QUICK, "y holds class 5 but the model has 3 classes"),
    ("bce targets of another shape", lambda: _models(c=1), (X, (Y > 0).astype(np.float32)),
     dict(loss="bce_with_logits", **QUICK), "y has shape (32,) but the model's output is (32, 1)"),
    ("unknown loss name", _models, (X, Y), dict(loss="hinge", **QUICK), "loss='hinge': name one of"),
    ("loss of another type", _models, (X, Y), dict(loss=42, **QUICK), "loss: give a name"),
    ("a loss that is not a scalar", _models, (X, Y), dict(loss=_nonscalar(), **QUICK), "returned shape (32,), not a scalar"),
    ("optimizer as a string", _models, (X, Y), dict(optimizer="adam", **QUICK), "optimizer='adam': give pair.Adam"),
    ("a torch optimizer", _models, (X, Y), dict(optimizer=torch.optim.Adam([torch.zeros(1)]), **QUICK),
     "a torch optimizer (Adam) is bound"),
    ("MLX Adam without bias correction", _models, (X, Y), dict(optimizer=optim.Adam(1e-3), **QUICK),
     "bias_correction=False"),
    ("an MLX optimizer torch has no twin of", _models, (X, Y), dict(optimizer=optim.RMSprop(1e-3), **QUICK),
     "MLX's RMSprop has no torch twin"),
    ("Adam with weight decay", _models, (X, Y), dict(optimizer=pair.Adam(weight_decay=0.1), **QUICK),
     "MLX's Adam has no weight decay"),
    ("optimizer a number", _models, (X, Y), dict(optimizer=3, **QUICK), "got int"),
    ("an MLX learning-rate schedule", _models, (X, Y), dict(optimizer=_schedule(), **QUICK), "a learning-rate schedule"),
    ("names key matches no module", _models, (X, Y), dict(names={"nope": "fc1"}, **QUICK),
     "names={'nope': ...}: the torch model has no module at 'nope'"),
    ("names value matches no MLX module", _models, (X, Y), dict(names={"fc1": "nope"}, **QUICK),
     "names={'fc1': 'nope'}: the MLX model has no module at 'nope'"),
    ("rules key matches no module", _models, (X, Y), dict(rules={"fc9": pair.after_flatten(1, 4)}, **QUICK),
     "rules={'fc9': ...}: the torch model has no module at 'fc9'"),
    ("rules value not a rule", _models, (X, Y), dict(rules={"fc1": "linear"}, **QUICK), "give a pair.Rule"),
    ("names not a dict", _models, (X, Y), dict(names=[("fc1", "fc1")], **QUICK), "names= must be a dict"),
    ("output a float", _models, (X, Y), dict(output=3.5, **QUICK), "output=3.5"),
    ("output key on a tensor", _models, (X, Y), dict(output="scores", **QUICK), "output='scores'"),
    ("output index out of range", lambda: (pm.WithTuple(), pm.TorchWithOutput("tuple")), (X, Y),
     dict(output=5, **QUICK), "output=5: the torch model's output is tuple of length 2"),
    ("output function returning no tensor", _models, (X, Y), dict(output=lambda o: "x", **QUICK),
     "the function returned str"),
    ("a dict output without logits", lambda: (_models()[0], _DictNoLogits()), (X, Y), QUICK,
     "is dict with keys ['scores'] and no 'logits'"),
    ("a forward that returns None", lambda: (_models()[0], _ReturnsNone()), (X, Y), QUICK,
     "the torch model's output is NoneType, not a tensor"),
    ("NCHW images without channels_last", _image_pair, IMAGES, QUICK, "need inputs=pair.channels_last"),
    ("inputs not a function", _image_pair, IMAGES, dict(inputs="channels_last", **QUICK), "inputs=: a function"),
    ("inputs that raise", _image_pair, IMAGES, dict(inputs=lambda x: x.missing, **QUICK), "inputs=: the function failed"),
    ("a torch forward that raises", lambda: (_models()[0], _Raises()), (X, Y), QUICK,
     "the torch model or loss failed on batches[0]"),
    ("NaN in the initial weights", _nan_weights, (X, Y), QUICK, "torch's initial fc1.weight holds NaN"),
    ("train_step not a function", _models, (X, Y), dict(train_step=5, **QUICK), "train_step=: a function"),
]


@pytest.mark.parametrize("models, batches, kwargs, message", [r[1:] for r in RAISES], ids=[r[0] for r in RAISES])
def test_api_refuses_with_one_line(models, batches, kwargs, message):
    m, t = models()
    with pytest.raises(pair.PairError) as e:
        pair.check(m, t, batches, **kwargs)
    text = str(e.value)
    assert message in text and "\n" not in text, text
    assert "learning rate" not in text or "schedule" in text, text  # NaN weights are not a learning-rate matter


def test_device_gpu_without_a_gpu(monkeypatch):
    from conformance.sides import side

    if side("mlx").device.gpu_backend() is not None and side("torch").device.gpu_backend() is not None:
        pytest.skip("this machine has a GPU for both frameworks")
    m, t = _models()
    with pytest.raises(pair.PairError, match="device='gpu': no GPU for"):
        pair.check(m, t, (X, Y), device="gpu", **QUICK)


def test_a_check_larger_than_memory_is_refused_with_its_estimate(monkeypatch):
    from conformance import footprint

    monkeypatch.setattr(footprint, "available_memory", lambda: (2e8, "a test's limit"))
    m, t = _models()
    with pytest.raises(pair.PairError, match=r"this check would hold about [\d.]+ MB .* but 200 MB is available"):
        pair.check(m, t, (X, Y), **QUICK)


def _custom():
    class Custom(tnn.Module):
        def __init__(self):
            super().__init__()
            self.w = tnn.Parameter(torch.ones(4, 3))

        def forward(self, x):
            return x @ self.w

    class T(tnn.Module):
        def __init__(self):
            super().__init__()
            self.block = Custom()

        def forward(self, x):
            return self.block(x)

    class MBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = mx.ones((4, 3))

        def __call__(self, x):
            return x @ self.w

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = MBlock()

        def __call__(self, x):
            return self.block(x)

    return M(), T()


def _group_norm():
    class T(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.gn = tnn.Linear(4, 4), tnn.GroupNorm(2, 4)

        def forward(self, x):
            return self.gn(self.fc(x))[:, :3]

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.gn = nn.Linear(4, 4), nn.GroupNorm(2, 4)

        def __call__(self, x):
            return self.gn(self.fc(x))[:, :3]

    return M(), T()


def _dropout():
    m, t = _models()
    t.act = tnn.Sequential(tnn.ReLU(), tnn.Dropout(0.1))
    return m, t


def _extra_bias():
    m, t = _models()
    t.fc2 = tnn.Linear(16, 3, bias=False)
    return m, t


NOT_COMPARABLE = [
    ("another width", lambda: (pm.MLP(h=15), pm.TorchMLP(h=16)),
     "fc1 (Linear): torch's fc1.weight is (16, 4) in MLX's layout but the MLX model's fc1.weight is (15, 4)"),
    ("a dropout module", _dropout, "dropout draws different masks in each framework (torch act.1)"),
    ("a layer without a rule", _custom, "torch module 'block' owns w: no layout rule for torch Custom -> MLX MBlock"),
    ("a bias on one side", _extra_bias, "fc2 (Linear): bias: torch has none, mlx has one"),
    ("GroupNorm without pytorch_compatible", _group_norm, "pytorch_compatible: mlx False"),
    ("functional dropout", lambda: (_models()[0], pm.TorchFunctionalDropout()),
     "the torch model's training-mode loss differs between two identical calls"),
]


@pytest.mark.parametrize("models, message", [r[1:] for r in NOT_COMPARABLE], ids=[r[0] for r in NOT_COMPARABLE])
def test_api_not_comparable_names_the_reason(models, message):
    m, t = models()
    report = pair.check(m, t, (X, Y), **QUICK)
    assert report.status == "not-comparable" and report.exit_status == 2 and not report.passed
    assert message in report.summary() and "\n" not in report.summary(), report.summary()
    with pytest.raises(AssertionError, match="NOT COMPARABLE"):
        report.assert_conforms()


# --- the command line --------------------------------------------------------------------------

GOOD = """
import pair_models as pm
def port():
    m, t = pm.mlp_pair()
    return dict(mlx_model=m, torch_model=t, batches=pm.blobs())
"""


def _spec(tmp_path, body: str, name: str = "myport.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def _cli(capsys, argv):
    from conformance.pair.cli import main

    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


CLI = [  # (id, spec body or None for the good one, extra arguments, what stderr's one line must say)
    ("steps negative", None, ["--steps", "-1"], "--steps must be at least 1"),
    ("steps fractional", None, ["--steps", "2.5"], "--steps"),
    ("ensemble negative", None, ["--ensemble", "-1"], "--ensemble must be 0 or more"),
    ("steps given twice", None, ["--steps", "1", "--steps", "2"], "given twice"),
    ("an abbreviated option", None, ["--ste", "1"], "unrecognized arguments"),
    ("an unknown device", None, ["--device", "tpu"], "--device"),
    ("a spec that raises at import", "raise ValueError('no data here')\n", [], "ValueError while loading or in port(): no data"),
    ("a spec that exits 0 at import", "import sys\nsys.exit(0)\n", [], "exited (SystemExit 0)"),
    ("a port() that raises", "def port():\n    raise KeyError('weights')\n", [], "KeyError while loading or in port()"),
    ("a port() that returns a list", "def port():\n    return [1, 2]\n", [], "port() returned list"),
    ("a port() without batches", "import pair_models as pm\ndef port():\n    m, t = pm.mlp_pair()\n"
     "    return dict(mlx_model=m, torch_model=t)\n", [], "port() lacks batches"),
    ("a port() with an unknown key", GOOD.replace("batches=pm.blobs())", "batches=pm.blobs(), lr=1e-3)"), [],
     "unknown key(s) lr"),
    ("a spec without port()", "x = 1\n", [], "defines no port()"),
    ("a spec with a syntax error", "def port(:\n", [], "SyntaxError while loading"),
    ("input the check refuses", GOOD.replace("batches=pm.blobs())", "batches=pm.blobs(), loss='hinge')"), [],
     "loss='hinge': name one of"),
    ("models that cannot be paired", GOOD.replace("m, t = pm.mlp_pair()", "m, t = pm.MLP(h=15), pm.TorchMLP()"), [],
     "NOT COMPARABLE: fc1 (Linear)"),
]


@pytest.mark.parametrize("body, extra, message", [r[1:] for r in CLI], ids=[r[0] for r in CLI])
def test_cli_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, body, extra, message):
    spec = _spec(tmp_path, body if body is not None else GOOD)
    report = tmp_path / "r.json"
    before = sorted(os.listdir(tmp_path))
    status, out, err = _cli(capsys, [spec, "--steps", "1", "--ensemble", "0", *extra, "--json", str(report)]
                            if "--steps" not in extra and "--ensemble" not in extra
                            else [spec, *extra, "--json", str(report)])
    assert status == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert "Traceback" not in err + out and sorted(os.listdir(tmp_path)) == before


JSON_TARGETS = [  # (id, how the --json path is made, what stderr says)
    ("the port file itself", lambda tmp, spec: spec, "is the SPEC input"),
    ("a directory", lambda tmp, spec: str(tmp), "is a directory"),
    ("a missing folder", lambda tmp, spec: str(tmp / "nope" / "r.json"), "does not exist"),
    ("a symbolic link", lambda tmp, spec: (os.symlink(spec, tmp / "link.json"), str(tmp / "link.json"))[1],
     "is a symbolic link"),
    ("an empty name", lambda tmp, spec: "", "--json is empty"),
]


@pytest.mark.parametrize("make, message", [r[1:] for r in JSON_TARGETS], ids=[r[0] for r in JSON_TARGETS])
def test_cli_json_target_refused_before_the_run(tmp_path, capsys, make, message):
    spec = _spec(tmp_path, GOOD)
    text = open(spec).read()
    status, out, err = _cli(capsys, [spec, "--steps", "1", "--ensemble", "0", "--json", make(tmp_path, spec)])
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err, (out, err)
    assert open(spec).read() == text


def test_cli_conforms_does_not_conform_and_help(tmp_path, capsys, monkeypatch):
    from conformance.pair.cli import main

    spec = _spec(tmp_path, GOOD)
    status, out, err = _cli(capsys, [spec, "--steps", "1", "--ensemble", "0", "--json", str(tmp_path / "ok.json")])
    assert status == 0 and "CONFORMS" in out and (tmp_path / "ok.json").exists(), out + err
    wrong = _spec(tmp_path, GOOD.replace("m, t = pm.mlp_pair()", "m, t = pm.mlp_pair(act=__import__('mlx.nn').nn.GELU())"),
                  "wrong.py")
    status, out, err = _cli(capsys, [wrong, "--steps", "1", "--ensemble", "0", "--json", str(tmp_path / "bad.json")])
    assert status == 1 and "first layer that disagrees is 'act'" in out, out + err
    assert '"status": "does-not-conform"' in (tmp_path / "bad.json").read_text()
    assert main(["--help"]) == 0
    assert "Exit status" in capsys.readouterr().out


INTERRUPTING = """
import torch.nn.functional as F, mlx.core as mx, mlx.nn as nn
import pair_models as pm
from conformance import pair
calls = []
def torch_loss(model, X, y):
    calls.append(1)
    if len(calls) > 12:  # past the probes, in a training step: as if Ctrl-C were pressed there
        raise KeyboardInterrupt
    return F.cross_entropy(model(X), y)
def port():
    m, t = pm.mlp_pair()
    loss = pair.Loss(mlx=lambda m, X, y: mx.mean(nn.losses.cross_entropy(m(X), y)), torch=torch_loss)
    return dict(mlx_model=m, torch_model=t, batches=pm.blobs(), loss=loss)
"""


def test_cli_interrupt_names_the_step_and_writes_nothing(tmp_path, capsys):
    spec = _spec(tmp_path, INTERRUPTING)
    status, out, err = _cli(capsys, [spec, "--steps", "5", "--ensemble", "0", "--json", str(tmp_path / "r.json")])
    assert status == 130 and "interrupted at training step" in err and "nothing written" in err, (out, err)
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r.json").exists()


def test_main_help_lists_pair(capsys):
    from conformance.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the epilog where it fits
    assert e.value.code == 0 and "python -m conformance pair SPEC" in out


# --- the pytest fixture ------------------------------------------------------------------------

def test_fixture_fails_on_one_line_for_refused_input(mlx_port):
    m, t = _models()
    with pytest.raises(pytest.fail.Exception, match=r"^mlx_port: steps=-1: give a whole number") as e:
        mlx_port(m, t, (X, Y), steps=-1)
    assert not e.value.pytrace
    with pytest.raises(pytest.fail.Exception, match="the models are in the wrong order"):
        mlx_port(t, m, (X, Y), **QUICK)


def test_fixture_fails_on_not_comparable_and_passes_a_port(mlx_port):
    with pytest.raises(AssertionError, match="NOT COMPARABLE: fc1 .Linear.: torch's fc1.weight is .16, 4."):
        mlx_port(pm.MLP(h=15), pm.TorchMLP(), (X, Y), **QUICK)
    m, t = _models()
    assert mlx_port(m, t, (X, Y), **QUICK).passed
