"""``check``: lockstep conformance of an MLX model against its PyTorch original.

The same engine as the document's pipeline (``conformance.local``'s checker, ``conformance.ledger``,
``conformance.ensemble``), driven by a model pair:

0. *validation* (``conformance.pair.validate``): every argument, before anything runs; ``PairError``
   names what to fix. The check works on copies: the user's models are never changed;
1. *transfer*: torch's initial weights go to MLX through the layout rules (``conformance.pair.mapping``)
   and must come back bit for bit; each side's forward and loss must run on the first batch, and
   give the same loss twice (else dropout is drawn inside the forward: not comparable);
2. *layers*: every compared layer's output on the first batch, in execution order: the first layer
   that disagrees is named, and whether its input already differed (``conformance.pair.capture``);
3. *local steps*: at every step MLX restarts from torch's state (weights, running statistics,
   optimizer state, step count, learning rate, batch) and takes that step; gradients, the optimizer
   fed torch's gradients, the whole step and the running statistics are judged within that step's
   measured rounding (``conformance.pair.rounding``, the optimizer's reach from
   ``conformance.intervals``); where a step fails, its layers are compared at that step's state;
4. *free running*: MLX trains on its own from the same start, judged against torch runs perturbed at
   rounding level (``conformance.ensemble``).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..ensemble import FREE_RUNNING, NonFinite, member_specs
from ..ledger import Ledger, Segments
from ..local import LocalChecker
from ..optimizers import Optimizer
from . import validate
from .capture import compare_layers
from .errors import PairError
from .hf import adapter as hf_adapter
from .hf import lora as hf_lora
from .layouts import NotInvertible
from .losses import Loss, resolve
from .mapping import Mapping, MappingError
from .parts import part
from .rounding import MeasuredRounding
from .sides import MLXPort, TorchReference
from .verdict import PairReport, judge_free_run


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


def _finite(weights: dict) -> None:
    for n, v in weights.items():
        bad = ~np.isfinite(np.asarray(v, np.float64))
        if bad.any():
            raise PairError(f"torch's initial {n} holds NaN or infinity at {tuple(int(i) for i in np.argwhere(bad)[0])}: "
                            "initialize the model's weights (both sides start from torch's)")


def check(mlx_model, torch_model, batches, loss: str | Loss = "cross_entropy", optimizer=None,
          steps: int | None = None, *, names: dict | None = None, rules: dict | None = None,
          inputs: Callable | None = None, output=None, compiled: bool = False, device: str = "cpu",
          ensemble: int | None = None, train_step: Callable | None = None, reproduce: str | None = None,
          mode: str | None = None, progress: Callable[[str], None] | None = None, ranks: int = 1,
          shard: str = "sampler") -> PairReport:
    """Check an MLX port against its torch original in lockstep; returns a ``PairReport``.

    ``batches``: one ``(X, y)`` (used at every step) or a list of them (one per step, cycled), as
    numpy in torch's layout; ``inputs`` turns a torch-layout input into MLX's (``channels_last`` for
    images). ``loss``: a name (``loss_named``) or ``Loss``; ``output``: which tensor of the models'
    output the named losses read (``conformance.pair.select``: by default a tuple's first element, an
    output object's ``logits``). ``optimizer``: ``pair.Adam``/``AdamW``/``SGD`` (default Adam 1e-3),
    or the port's own MLX ``Adam``/``AdamW``/``SGD``, whose settings torch's optimizer then follows
    and which is what gets judged. ``steps`` (default: one per batch, at least 10). ``names``/
    ``rules``: see ``Mapping.build``. ``progress(text)`` is told where the check is. Both models
    start from torch's weights; the check works on copies of both models (and of the optimizer).
    ``ranks``: above 1, the local steps and the free run are data-parallel, each batch cut into
    ``ranks`` shards by ``shard`` ("sampler": DistributedSampler's; "contiguous"), torch under DDP and
    MLX averaging gradients over its group, each in processes its own launcher starts
    (``conformance.pair.group``); the models and functions then reach them by pickle.
    Raises ``PairError`` for input it cannot judge; returns a ``not-comparable`` report for models
    that cannot be paired."""
    from ..sides import side

    tell = progress or (lambda text: None)
    validate.arguments(mlx_model, torch_model, steps, ensemble, compiled, device, inputs, train_step, output)
    validate.ranks(ranks, shard, compiled, device)
    validate.device_available(device)
    group = None if ranks == 1 else {"ranks": ranks, "shard": shard, "loss": loss, "names": names, "rules": rules}
    loss = resolve(loss, output)
    batches = validate.batches(loss.prepare(batches) if hasattr(loss, "prepare") else batches)  # causal_lm: ids alone
    spec, mlx_optimizer = validate.optimizer(optimizer)
    if group is not None:
        from .group import plan

        group["shares"] = plan(batches, ranks, shard)  # every batch can be shared by the ranks (else PairError)
    steps = int(steps) if steps is not None else max(len(batches), 10)
    validate.memory(torch_model, batches, steps, ranks)
    tdev = _device(device)
    modes = {"mlx": mode or side("mlx").device.precision_mode(device),
             "torch": mode or ("ieee" if device == "cpu" else side("torch").device.precision_mode(device))}
    judged = "tf32" if "tf32" in modes.values() else "ieee"
    ledger = Ledger(("mlx", "torch"), judged, device, reproduce)

    def refused(why: str, mapping: Mapping | None = None) -> PairReport:
        return PairReport(ledger, mapping, modes, 0, problem=why, optimizer=spec.label)

    drop = _dropout(torch_model, mlx_model)
    if drop:
        return refused(f"dropout draws different masks in each framework ({', '.join(drop)}): set p=0 in both models "
                       "for a lockstep (evaluation mode is not a training step)")
    torch_model = copy.deepcopy(torch_model)  # the user's stays as it is; MLX's is restored after (``_restored``)
    try:
        mlx_optimizer = copy.deepcopy(mlx_optimizer)
    except TypeError as e:
        raise PairError(f"optimizer: your MLX optimizer cannot be copied ({e}); pass pair.Adam/AdamW/SGD") from None
    with _restored(mlx_model):
        try:
            torch_model, mapping = build_mapping(torch_model, mlx_model, names, rules)
        except MappingError as e:
            return refused(str(e))
        if group is not None and mapping.buffers:
            raise PairError(f"ranks={ranks}: the models keep running statistics ({', '.join(mapping.buffers)}), which "
                            "DDP broadcasts from rank 0 and MLX keeps per rank; the data-parallel check does not judge "
                            "them: check them with ranks=1")
        if group is not None:  # the user's objects for the ranks, pickled before anything runs
            from .group import job_bytes

            group = {**group, "objects": job_bytes({
                "loss": group["loss"], "output": output, "names": group["names"], "rules": group["rules"],
                "spec": spec, "mlx_optimizer": copy.deepcopy(mlx_optimizer), "inputs": inputs,
                "train_step": train_step, "torch_model": torch_model, "mlx_model": mlx_model, "ranks": ranks})}
        setup = _Setup(loss, spec, mlx_optimizer, steps, modes, judged, ledger, inputs, compiled, device, tdev,
                       ensemble, train_step, tell, group)
        return _lockstep(mlx_model, torch_model, batches, mapping, setup, refused)


def build_mapping(torch_model, mlx_model, names: dict | None, rules: dict | None):
    """The torch model to train (a peft model's transformers model, LoRA in place) and the pair's
    ``Mapping`` (transformers' names, norms, rope and tie adapted: ``conformance.pair.hf``);
    ``MappingError`` for models that cannot be paired."""
    torch_model = hf_lora.unwrap(torch_model)
    if hf_adapter.is_transformers(torch_model):
        names, rules = hf_adapter.adapt(torch_model, mlx_model, names, rules)
    return torch_model, Mapping.build(torch_model, mlx_model, names, rules)


@contextmanager
def _restored(mlx_model):
    """The MLX model's parameters (frozen arrays included) and training flags as they were, whatever
    happens inside (MLX modules hold functions ``copy.deepcopy`` cannot copy, so it is not copied)."""
    from mlx.utils import tree_flatten, tree_unflatten

    params = tree_flatten(mlx_model.parameters())
    modes = sorted(((path.count(".") if path else -1, path, m, m.training) for path, m in mlx_model.named_modules()),
                   key=lambda t: (t[0], t[1]))
    try:
        yield
    finally:
        mlx_model.update(tree_unflatten(params))
        for _, _, m, training in modes:
            m.train(training)


@dataclass
class _Setup:
    """What ``check`` resolved from its arguments, for the run (``_lockstep``)."""

    loss: Loss
    spec: Optimizer
    mlx_optimizer: object | None
    steps: int
    modes: dict
    judged: str
    ledger: Ledger
    inputs: Callable | None
    compiled: bool
    device: str
    tdev: str
    ensemble: int | None
    train_step: Callable | None
    tell: Callable[[str], None]
    group: dict | None  # ranks=: the data-parallel settings and the user's objects, pickled


def _lockstep(mlx_model, torch_model, batches, mapping: Mapping, setup: _Setup, refused) -> PairReport:
    loss, spec, steps, modes, judged, ledger, tdev, tell = (setup.loss, setup.spec, setup.steps, setup.modes,
                                                            setup.judged, setup.ledger, setup.tdev, setup.tell)
    inputs, device, group = setup.inputs, setup.device, setup.group
    initial = copy.deepcopy(torch_model)
    ref = TorchReference(torch_model, loss.torch, spec, mapping, tdev)
    port = MLXPort(mlx_model, loss.mlx, spec, mapping, setup.compiled, inputs, setup.train_step, device,
                   setup.mlx_optimizer)
    w0 = ref.weights()
    _finite(w0)
    report = PairReport(ledger, mapping, modes, steps, optimizer=spec.label)
    with port.on_device():
        port.set_weights(w0)
    try:
        back = port.weights()
    except NotInvertible as e:
        report.first_layer = compare_layers(ledger, initial, port, batches[0][0], w0, judged, None)
        report.problem = str(e)
        return report
    validate.probe(port, ref, batches, inputs is not None)
    random = validate.randomness(port, ref, *batches[0])
    if random:
        return refused(f"the {' and the '.join(random)} model's training-mode loss differs between two identical calls: "
                       "dropout drawn inside the forward (a functional dropout, an attention dropout probability) or "
                       "another random operation; set its probability to 0 in both models for a lockstep", mapping)
    seg = Segments.of(w0)
    ledger.judge("0 transfer / weights torch -> mlx -> torch", "exchange", seg, seg.flat(back), seg.flat(w0),
                 np.zeros(sum(int(np.prod(s)) for s in seg.shapes)), None, "copies: identical")
    tell("the layers on the first batch")
    with part("layer capture"):
        report.first_layer = compare_layers(ledger, initial, port, batches[0][0], w0, judged, None)
    checker = LocalChecker(port, None, None, ledger, modes, device, ("mlx", "torch"), detail_every=1,
                           rounding=MeasuredRounding(initial, loss.torch, tdev, candidate=port, buffers=mapping.buffers),
                           optimizer=spec)
    if group is not None:  # the local steps and the free run, data-parallel (conformance.pair.group)
        from . import group as data_parallel

        data_parallel.lockstep(report, checker, port, initial, w0, batches, steps, group["ranks"], group["shard"],
                               group["objects"], group["shares"], setup.ensemble, tell)  # each rank maps anew
        return report
    ref_losses = []
    try:
        for k in range(1, steps + 1):
            tell(f"training step {k} of {steps}")
            X, y = batches[(k - 1) % len(batches)]
            before = (ref.weights(), ref.state())
            lr = ref.lr
            with part("reference steps (torch's training)"):
                value, grads = ref.step(X, y)
            ref_losses.append(value)
            if not np.isfinite(value):
                raise NonFinite("torch", k, "the training loss", value)
            with part("local checks"):
                ok = checker.check_step(k, before, lr, None, value, grads, (ref.weights(), ref.state()), batch=(X, y))
            if not ok and report.failing_layer is None:
                with part("layer capture"):
                    report.failing_layer = (k, compare_layers(ledger, initial, port, X, before[0], judged, k))
    except NonFinite as e:
        report.non_finite.append(e)
        return report
    report.losses = {"torch": ref_losses}
    with part("free run (MLX's own run; judging)"):
        _free_run(report, port, initial, loss, spec, batches, steps, w0, judged, tdev, setup.ensemble,
                  np.asarray(checker.loss_bounds), ref, tell)
    return report


def _free_run(report: PairReport, port: MLXPort, initial, loss: Loss, optimizer: Optimizer, batches, steps: int, w0,
              mode: str, tdev: str, ensemble: int | None, loss_floor, ref: TorchReference, tell) -> None:
    count = FREE_RUNNING.members if ensemble is None else ensemble
    params = {n for n, p in initial.named_parameters() if p.requires_grad}
    zero = {"step": np.float64(0), **{n + s: np.zeros_like(w0[n]) for n in params for s in optimizer.suffixes}}
    port.load(w0, zero, optimizer.lr)
    mine = []
    for k in range(steps):
        tell(f"MLX's free run, step {k + 1} of {steps}")
        X, y = batches[k % len(batches)]
        value, _, _ = port.step(*port.arrays(X, y))
        mine.append(value)
        if not np.isfinite(value):
            report.non_finite.append(NonFinite("mlx", k + 1, "the training loss", value))
            return
    report.losses["mlx"] = mine
    if not count:
        return
    specs = [(lr, {**w0, **{n: w[n] for n in params}})  # buffers (running statistics) are not moved
             for _, w, lr in member_specs(w0, optimizer.lr, mode, count)]
    members = []
    with part("ensemble (perturbed torch runs)"):
        for i, (lr, w) in enumerate(specs):
            tell(f"perturbed torch run {i + 1} of {len(specs)}")
            model = copy.deepcopy(initial)
            member = TorchReference(model, loss.torch, _with_lr(optimizer, lr), report.mapping, tdev)
            member.load(w)
            series = []
            for k in range(steps):
                X, y = batches[k % len(batches)]
                series.append(member.step(X, y)[0])
            members.append((series, member.weights()))
    judge_free_run(report, mine, [m[0] for m in members], loss_floor, port.weights(), ref.weights(),
                   [m[1] for m in members])


def _with_lr(opt: Optimizer, lr: float) -> Optimizer:
    from dataclasses import replace

    return replace(opt, lr=lr)
