"""``conformance.pair`` on ports written the way others write them: in-place residuals and position
embeddings (mlx-lm's GPT-2, mlx-examples' ResNet), activations as modules, output objects, BatchNorm
1d/2d/3d trained end to end; and the verdicts that must name the right thing: an activation with
another approximation, a running variance with the wrong estimator, a frozen tensor on one side,
the port's own MLX optimizer, functional dropout, and the user's models left as they were."""

from __future__ import annotations

import copy

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
import torch
from torch import nn as tnn

from conformance import pair

import pair_models as pm

pytestmark = pytest.mark.training
QUICK = dict(steps=2, ensemble=0)


def _check(device, *args, **kwargs):
    """``pair.check`` on the device the suite runs on (``--device``)."""
    return pair.check(*args, device=device, **kwargs)


def test_in_place_residuals_and_position_embeddings_conform(device):
    """mlx-lm's GPT-2 adds its position embeddings in place (``h += wpe(pos)``): the layer capture
    copies values at the call, so the rewrite no longer reads as a MISMATCH of ``wte``."""
    torch.manual_seed(0)
    report = _check(device, pm.GPT(), pm.TorchGPT(), [pm.tokens(seed=s) for s in range(2)], optimizer=pair.AdamW(1e-3),
                        steps=3, ensemble=2)
    report.assert_conforms()
    layers = {c.path for c in report.checks if c.path.startswith("2 layers")}
    assert {"2 layers / wte output", "2 layers / wpe output", "2 layers / act output"} <= layers, layers


def test_an_in_place_torch_activation_conforms(device):
    """``nn.ReLU(inplace=True)`` rewrites the Linear's output after its hook ran: the capture holds
    copies on both of torch's runs (float32 and the float64 anchor), so fc1 agrees."""
    m, t = pm.mlp_pair()
    t.act = tnn.ReLU(inplace=True)
    report = _check(device, m, t, pm.blobs(), **QUICK)
    report.assert_conforms()
    # the float64 anchor's record of fc1 keeps its negative values (a view would hold ReLU's zeros,
    # and the layer's measured budget would grow to |value| there)
    from conformance.pair.capture import torch_values
    from conformance.pair.mapping import Mapping

    wide = copy.deepcopy(t).double()
    _, record = torch_values(wide, Mapping.build(wide, m), torch.as_tensor(pm.blobs()[0]).double())
    assert (record["fc1"][1] < 0).any() and (record["act"][1] >= 0).all()


def test_the_residual_bn_example_conforms_with_running_statistics_judged(device):
    import examples.bn as ex

    spec = ex.port()
    # the default six perturbed runs: with two, TF32's free run on an H100 exceeded their spread
    report = _check(device, spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches"), steps=3, **spec)
    report.assert_conforms()
    stats = {c.path for c in report.checks if c.path.startswith("5 local / running statistics")}
    assert "5 local / running statistics / block.bn1.running_var" in stats and len(stats) == 6, stats
    assert next(c for c in report.checks
                if c.path == "5 local / running statistics / block.bn1.running_var").extra["steps"] == 3


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_trains_end_to_end(nd, mode, device):
    """BatchNorm1d/2d/3d with running statistics, given in training or evaluation mode (the check
    trains either way and leaves the models' modes as they were)."""
    torch.manual_seed(nd)
    t, m = pm.TorchBN(nd), pm.BN(nd)
    getattr(t, mode)(), getattr(m, mode)()
    report = _check(device, m, t, pm.bn_batches(nd), steps=3, ensemble=0,
                        inputs=None if nd == 1 else pm.channels_last_nd)
    report.assert_conforms()
    assert any(c.path == "5 local / running statistics / bn.running_var" for c in report.checks)
    assert t.training == (mode == "train") and m.training == (mode == "train")


def test_a_running_variance_with_the_wrong_estimator_is_named_at_step_1(device):
    """A hand-written MLX BatchNorm whose running variance uses the biased batch variance: the
    forward pass agrees (both normalize with the biased one), so only the judged running
    statistics catch it."""
    torch.manual_seed(0)
    # 4 samples and momentum 0.5: the two estimators differ by 1/6 of the batch variance, past TF32's noise
    report = _check(device, pm.BN(1, bn_class=pm.BiasedRunningVar, momentum=0.5), pm.TorchBN(1, momentum=0.5),
                    pm.bn_batches(1, n=4), **QUICK)
    first = report.first_failure()
    assert not report.passed and first.path == "5 local / running statistics / bn.running_var" and first.step == 1, \
        report.summary()
    assert all(c.passed for c in report.checks if c.path.startswith("2 layers")), report.summary()


@pytest.mark.parametrize("flag, value, named", [("momentum", 0.2, "momentum: torch 0.1, mlx 0.2"),
                                                 ("eps", 1e-3, "eps: torch 1e-05, mlx 0.001")])
def test_a_batchnorm_flag_difference_is_refused_by_name(flag, value, named):
    report = pair.check(pm.BN(1, **{flag: value}), pm.TorchBN(1), pm.bn_batches(1), **QUICK)
    assert report.status == "not-comparable" and f"bn (BatchNorm1d): {named}" in report.summary(), report.summary()


def test_an_activation_with_another_approximation_is_the_first_layer_named(conf):
    """torch's GELU(approximate='tanh') against MLX's exact GELU: the parameterless layer is
    compared, so the report names ``act``, not the Linear after it, and says its input agreed. In
    TF32 the two GELUs (up to 3e-4 apart) lie within the measured rounding of a TF32 layer, so there
    torch's activation is SiLU, which differs from GELU by up to 0.2."""
    m, t = pm.mlp_pair(act=nn.GELU())
    t.act = tnn.GELU(approximate="tanh") if conf.mode == "ieee" else tnn.SiLU()
    report = _check(conf.device, m, t, pm.blobs(), **QUICK)
    assert report.first_layer == "act", report.summary()
    note = next(c for c in report.checks if c.path == "2 layers / act output").note
    assert "its input agrees with torch's" in note, note
    assert "fc2" not in report.summary().split("first layer that disagrees is")[1].split(";")[0]


def test_a_difference_outside_the_layers_says_so():
    """A residual the MLX port forgets to add is in no compared layer: the head is named, with the
    note that its input already differs though every earlier layer agrees."""
    class Forgets(pm.GPT):
        def __call__(self, idx):
            h = self.wte(idx)
            h += self.wpe(mx.arange(idx.shape[1]))
            return self.head(self.proj(self.act(self.fc(self.ln(h)))))

    torch.manual_seed(0)
    report = pair.check(Forgets(), pm.TorchGPT(), pm.tokens(), **QUICK)
    assert report.first_layer == "head", report.summary()
    note = next(c for c in report.checks if c.path == "2 layers / head output").note
    assert "its input already differs" in note and "every earlier compared layer agrees" in note, note


@pytest.mark.parametrize("kind", ["object", "dict", "tuple"])
def test_output_objects_dicts_and_tuples_conform_with_the_default_selector(kind, device):
    m, _ = pm.mlp_pair()
    torch.manual_seed(0)
    t = pm.TorchWithOutput(kind)
    report = _check(device, pm.WithTuple(), t, pm.blobs(), **QUICK)
    report.assert_conforms()


def test_output_selects_by_name_and_index():
    torch.manual_seed(0)
    report = pair.check(pm.WithTuple(), pm.TorchWithOutput("tuple"), pm.blobs(), output=0, **QUICK)
    report.assert_conforms()
    with pytest.raises(pair.PairError, match=r"output='scores': the torch model's output \(Output\) has no such key"):
        pair.check(pm.WithTuple(), pm.TorchWithOutput("object"), pm.blobs(), output="scores", **QUICK)


def test_functional_dropout_is_refused():
    torch.manual_seed(0)
    report = pair.check(pm.MLP(), pm.TorchFunctionalDropout(), pm.blobs(), **QUICK)
    assert report.status == "not-comparable" and "the torch model's training-mode loss differs between two identical "\
        "calls" in report.summary(), report.summary()


def test_the_ports_own_mlx_optimizer_is_judged(device):
    """MLX's Adam as mlx-examples build it (bias_correction=False, MLX's default) is refused by
    name; built with bias_correction=True it conforms; an SGD with momentum is named as such."""
    m, t = pm.mlp_pair()
    with pytest.raises(pair.PairError, match="bias_correction=False"):
        _check(device, m, t, pm.blobs(), optimizer=optim.Adam(1e-3), **QUICK)
    report = _check(device, m, t, pm.blobs(), optimizer=optim.Adam(1e-3, bias_correction=True), **QUICK)
    report.assert_conforms()
    assert report.optimizer == "Adam"
    report = _check(device, m, t, pm.blobs(), optimizer=optim.SGD(0.1, momentum=0.9), **QUICK)
    report.assert_conforms()
    assert "SGD with momentum's reach" in next(c for c in report.checks
                                              if c.path.startswith("5 local / training step")).reason


def test_the_ports_own_optimizer_is_what_runs():
    """A custom MLX optimizer (an Adam subclass that scales its step) is the one the training step
    uses: the local check fails at step 1."""
    class Scaled(optim.Adam):
        def apply_single(self, gradient, parameter, state):
            return parameter + 1.01 * (super().apply_single(gradient, parameter, state) - parameter)

    m, t = pm.mlp_pair()
    report = pair.check(m, t, pm.blobs(), optimizer=Scaled(1e-3, bias_correction=True), **QUICK)
    assert not report.passed and report.first_failure().step == 1, report.summary()


def test_a_parameter_frozen_on_one_side_is_refused():
    m, t = pm.mlp_pair()
    t.fc1.weight.requires_grad_(False)
    report = pair.check(m, t, pm.blobs(), **QUICK)
    assert report.status == "not-comparable" and "fc1.weight: torch's is frozen" in report.summary(), report.summary()


def test_frozen_on_both_sides_conforms():
    m, t = pm.mlp_pair()
    t.fc1.weight.requires_grad_(False)
    m.fc1.freeze(keys=["weight"])
    pair.check(m, t, pm.blobs(), **QUICK).assert_conforms()


def test_a_different_width_is_refused_and_nothing_is_resized():
    torch.manual_seed(0)
    m, t = pm.MLP(h=15), pm.TorchMLP(h=16)
    report = pair.check(m, t, pm.blobs(), **QUICK)
    assert report.status == "not-comparable" and "fc1.weight is (16, 4)" in report.summary(), report.summary()
    assert m.fc1.weight.shape == (15, 4)


def test_the_users_models_are_left_as_they_were():
    m, t = pm.mlp_pair()
    t_before = {k: v.clone() for k, v in t.state_dict().items()}
    m_before = {k: np.array(v) for k, v in __import__("mlx.utils", fromlist=["x"]).tree_flatten(m.parameters())}
    m.eval()
    pair.check(m, t, pm.blobs(), steps=3, ensemble=2).assert_conforms()
    from mlx.utils import tree_flatten

    assert all(torch.equal(t_before[k], v) for k, v in t.state_dict().items())
    assert all(np.array_equal(m_before[k], np.array(v)) for k, v in tree_flatten(m.parameters()))
    assert not m.training and t.training and type(m.fc1) is nn.Linear


def test_failures_are_ordered_by_step_and_the_free_run_comes_last():
    from conformance.compare import Check
    from conformance.pair.verdict import failure_order

    def c(path, step):
        return Check(path=path, kind="x", dtype="float32", mode="ieee", step=step, rtol=0, atol=0, reason="",
                     passed=False, n_total=1, n_mismatched=1, max_abs=1, max_rel=1)

    checks = [c("8 free-running / training loss per step", None), c("5 local / gradients / w", 3),
              c("2 layers / fc output at step 3", 3), c("5 local / training step / w", 1), c("2 layers / fc output", None)]
    assert [x.path for x in sorted(checks, key=failure_order)] == [
        "2 layers / fc output", "5 local / training step / w", "2 layers / fc output at step 3",
        "5 local / gradients / w", "8 free-running / training loss per step"]


def test_padding_idx_is_refused_by_name():
    torch.manual_seed(0)
    t = pm.TorchGPT()
    t.wte = tnn.Embedding(11, 16, padding_idx=0)
    report = pair.check(pm.GPT(), t, pm.tokens(), **QUICK)
    assert report.status == "not-comparable" and report.summary().startswith("NOT COMPARABLE: wte (Embedding): "
                                                                             "padding_idx: torch 0"), report.summary()
