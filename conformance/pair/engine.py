"""``check``: lockstep conformance of an MLX model against its PyTorch original.

The same engine as the document's pipeline (``conformance.local``'s checker, ``conformance.ledger``,
``conformance.ensemble``), driven by a model pair:

1. *transfer*: torch's initial weights go to MLX through the layout rules (``conformance.pair.mapping``)
   and must come back bit for bit;
2. *layers*: every mapped layer's output on the first batch, in execution order: the first layer that
   disagrees is named (``conformance.pair.capture``);
3. *local steps*: at every step MLX restarts from torch's state (weights, optimizer state, step count,
   learning rate, batch) and takes that step; gradients, the optimizer fed torch's gradients and the
   whole step are judged within that step's measured rounding (``conformance.pair.rounding``, the
   optimizer's reach from ``conformance.intervals``); where a step fails, its layers are compared at
   that step's state, to name the first wrong layer;
4. *free running*: MLX trains on its own from the same start, judged against torch runs perturbed at
   rounding level (``conformance.ensemble``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..ensemble import FREE_RUNNING, FreeRun, NonFinite, chaos_step, judge_distance, judge_series, member_specs
from ..ledger import Ledger, Segments
from ..local import LocalChecker
from ..optimizers import Adam, Optimizer
from .capture import compare_layers
from .hf import adapter as hf_adapter
from .layouts import NotInvertible
from .mapping import Mapping, MappingError
from .rounding import MeasuredRounding
from .sides import MLXPort, TorchReference


@dataclass(frozen=True)
class Loss:
    """The same loss on both sides: ``mlx(model, X, y)`` and ``torch(model, X, y)``, each a mean."""

    mlx: Callable
    torch: Callable
    name: str = "custom"


def loss_named(name: str) -> Loss:
    """``"cross_entropy"`` (class indices, classes on the last axis), ``"bce_with_logits"`` or ``"mse"``."""
    import mlx.core as mx
    import mlx.nn as nn
    import torch.nn.functional as F

    if name == "cross_entropy":
        return Loss(lambda m, X, y: mx.mean(nn.losses.cross_entropy(m(X), y)),
                    lambda m, X, y: (lambda z: F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1)))(m(X)), name)
    if name == "bce_with_logits":
        return Loss(lambda m, X, y: mx.mean(nn.losses.binary_cross_entropy(m(X), y, with_logits=True)),
                    lambda m, X, y: F.binary_cross_entropy_with_logits(m(X), y), name)
    if name == "causal_lm":  # transformers / mlx-lm language models (conformance.pair.hf)
        from .hf.loss import causal_lm

        return causal_lm()
    if name == "mse":
        return Loss(lambda m, X, y: mx.mean(nn.losses.mse_loss(m(X), y)), lambda m, X, y: F.mse_loss(m(X), y), name)
    raise ValueError(f"unknown loss {name!r}; name cross_entropy, bce_with_logits, mse or causal_lm, or pass Loss(mlx=..., torch=...)")


@dataclass
class PairReport:
    """What ``check`` found: every check (tallied per quantity), the first wrong layer, the free run."""

    ledger: Ledger
    mapping: Mapping | None
    modes: dict[str, str]
    steps: int
    first_layer: str | None = None  # the first layer that disagreed at the start
    failing_layer: tuple[int, str | None] | None = None  # (step, first layer that disagreed there)
    free: FreeRun = field(default_factory=FreeRun)
    non_finite: list[NonFinite] = field(default_factory=list)
    problem: str | None = None  # why no lockstep was possible (the mapping)
    losses: dict[str, list[float]] = field(default_factory=dict)

    @property
    def checks(self):
        from ..runner import _stage

        return sorted(self.ledger.checks(), key=lambda c: _stage(c.path))

    @property
    def passed(self) -> bool:
        return self.problem is None and not self.non_finite and self.ledger.passed

    @property
    def status(self) -> str:
        if self.problem:
            return "not-comparable"
        return "non-finite" if self.non_finite else "conforms" if self.passed else "does-not-conform"

    @property
    def exit_status(self) -> int:
        return {"conforms": 0, "does-not-conform": 1, "not-comparable": 2, "non-finite": 3}[self.status]

    def first_failure(self):
        failed = [c for c in self.checks if not c.passed]
        order = lambda c: (0 if c.path.startswith("0 ") else 1 if c.path.startswith("2 layers") and c.step is None  # noqa: E731
                           else 2, c.step or 0)
        return min(failed, key=order) if failed else None

    def summary(self) -> str:
        """One paragraph: the verdict, and where it starts to differ."""
        if self.problem:
            return f"NOT COMPARABLE: {self.problem}"
        if self.non_finite:
            return "NON-FINITE: " + "; ".join(str(e) for e in self.non_finite)
        if self.passed:
            return (f"CONFORMS: {len(self.checks)} quantities within their budgets over {self.steps} steps"
                    + ("" if self.free.judged else " (free running not judged)") + ".")
        first = self.first_failure()
        text = f"DOES NOT CONFORM: first {first.path}" + ("" if first.step is None else f" (step {first.step})")
        if self.first_layer:
            text += f"; at the start, the first layer that disagrees is {self.first_layer!r}"
        elif self.failing_layer:
            step, layer = self.failing_layer
            text += (f"; at step {step}'s state the first layer that disagrees is {layer!r}" if layer else
                     f"; at step {step}'s state every layer's output agrees: the difference is in the backward "
                     "pass, the loss or the update")
        return text + "."

    def assert_conforms(self) -> None:
        """Raise ``AssertionError`` with the summary and the first failure's full message."""
        if not self.passed:
            first = None if self.problem or self.non_finite else self.first_failure()
            raise AssertionError(self.summary() + ("" if first is None else "\n" + first.message()))

    def to_json(self) -> dict:
        from ..report import checks_payload

        return {"status": self.status, "exit_status": self.exit_status, "summary": self.summary(),
                "modes": self.modes, "steps": self.steps, "first_layer": self.first_layer,
                "failing_layer": self.failing_layer, "chaos_step": self.free.chaos_step,
                "problem": self.problem, "non_finite": [str(e) for e in self.non_finite],
                "mapping": [dict(torch=p.torch_path, mlx=p.mlx_path, rule=p.rule.name) for p in (self.mapping.pairs
                                                                                                 if self.mapping else [])],
                "losses": self.losses, "checks": checks_payload(self.checks)}


def _dropout(torch_model, mlx_model) -> list[str]:
    out = [f"torch {n}" for n, m in torch_model.named_modules() if type(m).__name__.startswith("Dropout") and m.p > 0]
    out += [f"mlx {n}" for n, m in mlx_model.named_modules() if type(m).__name__.startswith("Dropout")
            and getattr(m, "_p_1", 1.0) < 1.0]
    return out


def _device(device: str) -> str:
    import torch

    if device == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "mps"


def check(mlx_model, torch_model, batches, loss: str | Loss = "cross_entropy", optimizer: Optimizer | None = None,
          steps: int | None = None, *, names: dict | None = None, rules: dict | None = None,
          inputs: Callable | None = None, compiled: bool = False, device: str = "cpu", ensemble: int | None = None,
          train_step: Callable | None = None, reproduce: str | None = None, mode: str | None = None) -> PairReport:
    """Check an MLX port against its torch original in lockstep; returns a ``PairReport``.

    ``batches``: one ``(X, y)`` (used at every step) or a list of them (one per step, cycled), as numpy
    in torch's layout; ``inputs`` turns a torch-layout input into MLX's (``channels_last`` for
    images). ``loss``: a name (``loss_named``) or ``Loss``. ``optimizer``: ``Adam``, ``AdamW`` or
    ``SGD`` (default Adam 1e-3). ``steps`` (default: one per batch, at least 10). ``names``/``rules``:
    see ``Mapping.build``. Both models start from torch's weights."""
    from ..sides import side

    optimizer = optimizer or Adam()
    loss = loss_named(loss) if isinstance(loss, str) else loss
    batches = loss.prepare(batches) if hasattr(loss, "prepare") else batches  # causal_lm: input_ids alone
    batches = [batches] if isinstance(batches, tuple) else list(batches)
    steps = steps or max(len(batches), 10)
    tdev = _device(device)
    modes = {"mlx": mode or side("mlx").device.precision_mode(device),
             "torch": mode or ("ieee" if device == "cpu" else side("torch").device.precision_mode(device))}
    judged = "tf32" if "tf32" in modes.values() else "ieee"
    ledger = Ledger(("mlx", "torch"), judged, device, reproduce)
    drop = _dropout(torch_model, mlx_model)
    if drop:
        return PairReport(ledger, None, modes, 0, problem=f"dropout draws different masks in each framework ({', '.join(drop)})"
                          ": set p=0 (or compare in evaluation mode) for a lockstep")
    try:
        if hf_adapter.is_transformers(torch_model):  # transformers' names, norms, rope, tie (conformance.pair.hf)
            names, rules = hf_adapter.adapt(torch_model, mlx_model, names, rules)
        mapping = Mapping.build(torch_model, mlx_model, names, rules)
    except MappingError as e:
        return PairReport(ledger, None, modes, 0, problem=str(e))
    initial = copy.deepcopy(torch_model)
    ref = TorchReference(torch_model, loss.torch, optimizer, mapping, tdev)
    port = MLXPort(mlx_model, loss.mlx, optimizer, mapping, compiled, inputs, train_step, device)
    w0 = ref.weights()
    report = PairReport(ledger, mapping, modes, steps)
    with port._dev():
        port._set(w0)
    try:
        back = port.weights()
    except NotInvertible as e:
        report.first_layer = compare_layers(ledger, initial, port, batches[0][0], w0, judged, None)
        report.problem = str(e)
        return report
    seg = Segments.of(w0)
    ledger.judge("0 transfer / weights torch -> mlx -> torch", "exchange", seg, seg.flat(back), seg.flat(w0),
                 np.zeros(sum(int(np.prod(s)) for s in seg.shapes)), None, "copies: identical")
    report.first_layer = compare_layers(ledger, initial, port, batches[0][0], w0, judged, None)
    checker = LocalChecker(port, None, None, ledger, modes, device, ("mlx", "torch"), detail_every=1,
                           rounding=MeasuredRounding(initial, loss.torch, tdev, candidate=port), optimizer=optimizer)
    ref_losses = []
    try:
        for k in range(1, steps + 1):
            X, y = batches[(k - 1) % len(batches)]
            before = (ref.weights(), ref.state())
            lr = ref.lr
            value, grads = ref.step(X, y)
            ref_losses.append(value)
            if not np.isfinite(value):
                raise NonFinite("torch", k, "the training loss", value)
            ok = checker.check_step(k, before, lr, None, value, grads, (ref.weights(), ref.state()), batch=(X, y))
            if not ok and report.failing_layer is None:
                report.failing_layer = (k, compare_layers(ledger, initial, port, X, before[0], judged, k))
    except NonFinite as e:
        report.non_finite.append(e)
        return report
    report.losses = {"torch": ref_losses}
    _free_run(report, port, initial, loss, optimizer, batches, steps, w0, judged, tdev, ensemble,
              np.asarray(checker.loss_bounds), ref)
    return report


def _free_run(report: PairReport, port: MLXPort, initial, loss: Loss, optimizer: Optimizer, batches, steps: int, w0,
              mode: str, tdev: str, ensemble: int | None, loss_floor, ref: TorchReference) -> None:
    count = FREE_RUNNING.members if ensemble is None else ensemble
    zero = {"step": np.float64(0), **{n + s: np.zeros_like(v) for n, v in w0.items() for s in optimizer.suffixes}}
    port.load(w0, zero, optimizer.lr)
    mine = []
    for k in range(steps):
        X, y = batches[k % len(batches)]
        value, _, _ = port.step(*port.arrays(X, y))
        mine.append(value)
        if not np.isfinite(value):
            report.non_finite.append(NonFinite("mlx", k + 1, "the training loss", value))
            return
    report.losses["mlx"] = mine
    if not count:
        return
    params = {n for n, _ in initial.named_parameters()}
    specs = [(lr, {**w0, **{n: w[n] for n in params}})  # buffers (running statistics) are not moved
             for _, w, lr in member_specs(w0, optimizer.lr, mode, count)]
    members = []
    for lr, w in specs:
        model = copy.deepcopy(initial)
        member = TorchReference(model, loss.torch, _with_lr(optimizer, lr), report.mapping, tdev)
        member.load(w)
        series = []
        for k in range(steps):
            X, y = batches[k % len(batches)]
            series.append(member.step(X, y)[0])
        members.append((series, member.weights()))
    names = ("mlx", "torch")
    spread, _, floor = judge_series(report.ledger, "8 free-running / training loss per step", "loss", mine,
                                    report.losses["torch"], [m[0] for m in members], loss_floor, 2, names)
    final_mine, final_ref = port.weights(), ref.weights()
    for name in sorted(final_ref):
        judge_distance(report.ledger, f"8 free-running / final weights / {name}: L2 distance from torch",
                       final_mine[name], final_ref[name], [m[1][name] for m in members], names)
    report.free = FreeRun(members=[], spread=spread, judged=True, chaos_step=chaos_step(spread, floor))


def _with_lr(opt: Optimizer, lr: float) -> Optimizer:
    from dataclasses import replace

    return replace(opt, lr=lr)
