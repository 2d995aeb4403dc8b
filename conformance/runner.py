"""Run the document's pipeline in both frameworks and judge the MLX one against the PyTorch one.

The verdict has four parts (local, anchor, static, free), each in the report under its own stage:

- *local checks* (stages 5 to 7, ``conformance.local``): at every training step MLX restarts from
  torch's state and takes that one step; gradients, Adam's update and the whole step are judged
  within that step's own rounding, derived per element; at every epoch MLX's validation loss at
  torch's weights; then MLX's early stopping and learning-rate schedule fed torch's validation
  losses, and MLX's evaluation of torch's final weights. These decide whether the rules agree,
  at any run length, width, learning rate or device. Two *anchors* judge torch itself against
  the mathematics (its gradients against float64, its Adam against the update's formula).
- *static checks* (stages 1 to 3): each pipeline's own standardization and first forward pass,
  loss and gradients, from the same raw data and weights.
- *free running* (stage 8, ``conformance.ensemble``): MLX's own whole run, what a user sees,
  against an ensemble of torch runs perturbed at the scale the local rules allow.

Everything is streamed: per quantity the ``Ledger`` keeps counts, the worst step and the first
failure, so memory does not grow with run length. NaN or infinity anywhere stops the run with
``NonFinite`` recorded in the outcome: never an agreement.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from . import steps
from .compare import Check, compare
from .data import Dataset, apply_split, document_split, epoch_orders, split_indices
from .effects import InputEffect
from .histories import batch_sizes, judge_histories
from .ensemble import FreeRun, LossSeries, NonFinite, Run, judge, run_members
from .ledger import Ledger, Segments
from .local import LocalChecker, Shadow
from .sides import SIDES, precision_mode, side  # noqa: F401  (re-exported)
from .bounds import step_bounds
from .tolerances import FREE_RUNNING, Tolerance, data_scale
from .weights import init_weights

@dataclass
class RunConfig:
    """Everything that decides a run; the defaults are the document's (100 epochs, Adam 1e-3, full batch)."""

    epochs: int = 100
    batch_size: int | None = None
    learning_rate: float = 1e-3
    hidden: int = 10
    patience: int | None = None
    min_delta: float = 0.0
    plateau: dict | None = None
    seed: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    stratify: bool = False
    split: str = "auto"  # "auto": the document's own split for its data, else "project"; or "project", "sklearn", "document"
    device: str = "cpu"
    dtype: str = "float32"
    compiled: bool = True
    restore_best: bool = False  # evaluate the best validation epoch's weights (else the last epoch's, as the document)
    local_every: int = 1  # run the local checks at every this many training steps
    ensemble: int | None = None  # perturbed reference runs judging the free run (None: the table's; 0: none)

    def validate(self) -> None:
        """Raise ``ValueError`` with one line saying which setting is wrong and what to do."""
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be positive, got {self.learning_rate}")
        if self.hidden < 1:
            raise ValueError(f"hidden width must be at least 1, got {self.hidden}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")
        if self.min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {self.min_delta}")
        if self.local_every < 1:
            raise ValueError(f"local_every must be at least 1, got {self.local_every}")
        if self.ensemble is not None and self.ensemble < 0:
            raise ValueError(f"ensemble must be >= 0, got {self.ensemble}")
        if self.split not in ("auto", "project", "sklearn", "document"):
            raise ValueError(f"split must be auto, project, sklearn or document, got {self.split!r}")
        if self.dtype != "float32":
            raise ValueError(f"the lockstep runs float32 (its bounds are derived for it), got {self.dtype}")


@dataclass
class Outcome:
    """The result of running both sides: their results, and every check (tallied per quantity)."""

    config: RunConfig
    dataset: Dataset
    split_sizes: dict[str, int]
    results: dict[str, dict]
    ledger: Ledger
    modes: dict[str, str]
    losses: dict[str, np.ndarray] = field(default_factory=dict)
    free: FreeRun = field(default_factory=FreeRun)
    non_finite: list[NonFinite] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the split means for the numbers

    @property
    def checks(self) -> list[Check]:
        return sorted(self.ledger.checks(), key=lambda c: _stage(c.path))

    @property
    def passed(self) -> bool:
        return not self.non_finite and self.ledger.passed

    @property
    def status(self) -> str:
        """"conforms", "does-not-conform" or "non-finite"."""
        return "non-finite" if self.non_finite else "conforms" if self.passed else "does-not-conform"

    @property
    def exit_status(self) -> int:
        """The command line's: 0 conforms, 1 does not conform, 3 NaN or infinity in the run."""
        return {"conforms": 0, "does-not-conform": 1, "non-finite": 3}[self.status]

    def verdict(self, points: int = 400) -> dict:
        """The verdict for the JSON report: status, each part's result, the first failure, where
        the run turned sensitive to rounding, and the free-running envelope per step (at most
        ``points`` steps of it, evenly spaced, plus the step where the deviation used the largest
        share of its allowance)."""
        parts = {p: (None if self.non_finite else self.part_passed(p)) for p in ("local", "anchor", "static", "free")}
        if not self.free.judged:
            parts["free"] = None
        first = None if self.non_finite else self.first_failure()
        out = {"status": self.status, "exit_status": self.exit_status, "parts": parts,
               "first_failure": first.message() if first else None,
               "non_finite": [dict(side=e.side, step=e.step, quantity=e.quantity, value=e.value) for e in self.non_finite],
               "chaos_step": self.free.chaos_step, "ensemble": [m.name for m in self.free.members]}
        f = self.free
        if f.judged and f.allowance is not None and len(f.allowance):
            n = len(f.allowance)
            share = f.deviation / np.maximum(f.allowance, 1e-300)
            idx = np.unique(np.concatenate([np.linspace(0, n - 1, min(points, n)).round().astype(int), [int(np.argmax(share))]]))
            out["envelope"] = {"step": (idx + 1).tolist(), "torch": self.losses["torch"][idx].tolist(),
                               "mlx": self.losses["mlx"][idx].tolist(), "deviation": f.deviation[idx].tolist(),
                               "members_spread": f.spread[idx].tolist(), "allowance": f.allowance[idx].tolist()}
        return out

    def envelope(self) -> dict | None:
        """The free-running envelope for a plot: ``verdict()["envelope"]`` with the steps per epoch
        and the step from which the run is sensitive to rounding; None when it was not judged."""
        env = self.verdict().get("envelope") if not self.non_finite else None
        if env is None:
            return None
        epochs = max(len(self.results.get("torch", {}).get("history", {}).get("epoch", [])), 1)
        return {**env, "steps_per_epoch": max(len(self.losses.get("torch", [])) // epochs, 1),
                "chaos_step": self.free.chaos_step}

    def part_passed(self, part: str) -> bool:
        """Whether the checks of one part passed: "local" (stages 5-7), "anchor" (torch against
        float64 and Adam's formula), "static" (stages 1-3) or "free" (stage 8)."""
        return all(c.passed for c in self.checks if _part(c.path) == part)

    def diagnosis(self) -> tuple[list[Check], str | None]:
        """``assert_all``'s arguments: every check with the first failure first, and a line naming
        the first step and tensor that left its budget."""
        checks = self.checks
        if self.non_finite:
            raise AssertionError("; ".join(str(e) for e in self.non_finite))
        first = self.first_failure()
        if first is None:
            return checks, None
        where = first.path + ("" if first.step is None else f" (step {first.step})")
        return [first] + [c for c in checks if c is not first], f"first out of budget: {where}"

    def first_failure(self) -> Check | None:
        """The earliest failed check: local checks first (the first training step at which the
        rules part), then the static ones, then the anchors, then the free run."""
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            return None
        order = {"local": 0, "static": 1, "anchor": 2, "free": 3}
        return min(failed, key=lambda c: (order[_part(c.path)], math.inf if c.step is None else c.step, _stage(c.path)))


def _stage(path: str) -> int:
    head = path.split(" ", 1)[0]
    return int(head) if head.isdigit() else 99


def _part(path: str) -> str:
    if " anchor " in f" {path} ":
        return "anchor"
    if " local " in f" {path} ":
        return "local"
    return "free" if path.startswith("8 ") else "static"


def split_of(dataset: Dataset, config: RunConfig):
    """The split ``config`` asks for: the document's own (``train_test_split(test_size=0.2,
    random_state=42)``, validating on the test row as the document does) for the document's data
    unless another is named; else ``split_indices`` by the project's method or scikit-learn's."""
    method = config.split
    if method == "auto":
        method = "document" if dataset.source == "document" else "project"
    if method == "document":
        return document_split(dataset.y)
    return split_indices(dataset.y, config.val_fraction, config.test_fraction, config.seed, config.stratify,
                         method=method)


def prepare(dataset: Dataset, config: RunConfig) -> tuple[dict, dict[str, np.ndarray]]:
    """The split (as numpy arrays) and the initial weights both sides start from."""
    config.validate()
    return apply_split(dataset, split_of(dataset, config)), init_weights(dataset.X.shape[1], config.hidden, config.seed)


def split_notes(dataset: Dataset, config: RunConfig, sizes: dict[str, int]) -> list[str]:
    """What the split means for the numbers: validation on the test rows, sets too small to judge by."""
    notes = []
    if split_of(dataset, config).val_is_test:
        notes.append("the validation rows are the test rows, as in the document (it validates on X_test): early "
                     "stopping, the plateau schedule and best weights select on the test set")
    for part, what in (("test", "test metrics"), ("val", "validation losses")):
        if 0 < sizes.get(part, 0) < 10:
            notes.append(f"the {'validation' if part == 'val' else part} set has {sizes[part]} row(s): its {what} move in "
                         f"steps of {1 / sizes[part]:.2g} and say little about the model" if part == "test" else
                         f"the validation set has {sizes[part]} row(s): its loss is that of {sizes[part]} sample(s), "
                         "a noisy basis for stopping or scheduling")
    return notes


def run_side(name: str, splits: dict, weights: dict[str, np.ndarray], config: RunConfig,
             on_step: Callable | None = None, on_epoch: Callable | None = None, **override) -> dict:
    """One side's whole pipeline under ``config``; ``override`` replaces ``run_pipeline``
    arguments (``dtype="float64"``, ``device="cpu"``, ``learning_rate=...``)."""
    pkg = side(name)
    kwargs = dict(
        epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
        patience=config.patience, min_delta=config.min_delta, plateau=config.plateau, seed=config.seed,
        compiled=config.compiled, device=config.device, dtype=config.dtype, restore_best=config.restore_best,
    )
    kwargs.update(override)
    if kwargs["dtype"] == "float64":
        weights = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    return pkg.pipeline.run_pipeline(splits, weights, on_step=on_step, on_epoch=on_epoch, **kwargs)


class ReferenceSteps:
    """``on_step`` of the reference's run: reads each step's state back and hands it, with the
    state before it and its batch, to the local checker. Holds one step's state at a time."""

    def __init__(self, checker: LocalChecker, weights: dict, n_train: int, config: RunConfig, every: int = 1):
        self.pkg = side("torch")
        self.checker, self.every, self.k = checker, every, 0
        zeros = {f"{k}{s}": np.zeros_like(v, dtype=np.float32) for k, v in weights.items() for s in (".exp_avg", ".exp_avg_sq")}
        self.state = ({k: np.asarray(v, np.float32) for k, v in weights.items()}, {**zeros, "step": np.float64(0)})
        self.losses: list[float] = []
        self.lrs = array("d")  # the learning rate every step applied
        b = config.batch_size
        self.batches = None if b is None or b >= n_train else [(s, min(s + b, n_train)) for s in range(0, n_train, b)]
        self.orders = epoch_orders(n_train, config.seed) if self.batches else None
        self.order, self.position = None, 0
        self.lr0: float | None = None

    def _batch(self):
        if self.batches is None:
            return None
        if self.position == 0:
            self.order = next(self.orders)
        start, end = self.batches[self.position]
        self.position = (self.position + 1) % len(self.batches)
        return self.order[start:end]

    def __call__(self, model, optimizer, loss) -> None:
        pkg = self.pkg
        self.k += 1
        idx = self._batch()
        value = float(pkg.data.to_numpy(loss))
        self.losses.append(value)
        if not math.isfinite(value):
            raise NonFinite("torch", self.k, "the training loss", value)
        grads = {n: pkg.data.to_numpy(p.grad) for n, p in model.named_parameters()}
        after = (pkg.model.export_weights(model), pkg.optim.export_optimizer_state(optimizer, model))
        for what, tree in (("gradient", grads), ("weight", after[0])):
            for n, v in tree.items():
                if not np.all(np.isfinite(v)):
                    raise NonFinite("torch", self.k, f"the {what} of {n}", float(v[~np.isfinite(v)].flat[0]))
        lr = pkg.optim.get_learning_rate(optimizer)
        self.lrs.append(lr)
        if self.k == 1:
            self.lr0 = lr  # the learning rate the reference's optimizer started with
        if self.k % self.every == 0 or self.k == 1:
            self.checker.check_step(self.k, self.state, lr, idx, value, grads, after)
        self.state = after


def run_both(dataset: Dataset, config: RunConfig, on_epoch: Callable | None = None, mode: str | None = None,
             reproduce: str | None = None) -> Outcome:
    """Run both pipelines on ``dataset`` under ``config`` and judge MLX against torch.

    ``on_epoch(side, record)`` reports progress (``side`` "torch", "mlx", or "ensemble k/K").
    ``mode`` is the float32 matmul precision both sides are judged under ("ieee" or "tf32"); by
    default each side's is measured on the device."""
    splits, weights = prepare(dataset, config)
    if mode is None:
        modes = {n: side(n).device.precision_mode(config.device) for n in SIDES}
    else:
        modes = {n: mode for n in SIDES}
    judged = "tf32" if "tf32" in modes.values() else "ieee"
    reproduce = reproduce or reproduce_command(config, dataset)
    ledger = Ledger(("mlx", "torch"), judged, config.device, reproduce)
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = splits["train"], splits["val"], splits["test"]
    std = steps.standardize("torch", X_tr, X_va, X_te, device=config.device)
    Xs = {"train": std["train"], "val": std["others"][0], "test": std["others"][1]}
    shadow = Shadow("mlx", X_tr.shape[1], config.hidden, config.learning_rate, config.compiled, config.device)
    checker = LocalChecker(shadow, Xs["train"], y_tr, ledger, modes, config.device)
    ref_steps = ReferenceSteps(checker, weights, len(y_tr), config, config.local_every)
    val_floor: list[float] = []

    val_seen: dict[str, list[float]] = {"mlx": [], "torch": []}  # what each loop's epochs evaluated

    def ref_epoch(record):
        val_seen["torch"].append(record["val_loss"])
        if len(y_va):
            # judged at the training step that ends the epoch, so it sorts among the steps
            val_floor.append(checker.check_validation(ref_steps.k, ref_steps.state[0], Xs["val"], y_va,
                                                      record["val_loss"]))
        if on_epoch:
            on_epoch("torch", record)

    sizes = {k: len(v[1]) for k, v in splits.items()}
    outcome = Outcome(config, dataset, sizes, {}, ledger, modes, notes=split_notes(dataset, config, sizes))
    try:
        outcome.results["torch"] = run_side("torch", splits, weights, config, on_step=ref_steps, on_epoch=ref_epoch)
    except NonFinite as e:
        outcome.non_finite.append(e)
    cand_series = LossSeries(side("mlx"), "mlx")
    try:
        def cand_epoch(record):
            val_seen["mlx"].append(record["val_loss"])
            if on_epoch:
                on_epoch("mlx", record)

        outcome.results["mlx"] = run_side("mlx", splits, weights, config, on_step=cand_series, on_epoch=cand_epoch)
    except NonFinite as e:
        outcome.non_finite.append(e)
    outcome.losses = {"torch": np.asarray(ref_steps.losses), "mlx": np.asarray(cand_series.losses)}
    if outcome.non_finite:
        return outcome
    m, t = outcome.results["mlx"], outcome.results["torch"]
    _static_checks(ledger, m, t, Xs, splits, weights, modes, judged)
    _loop_checks(ledger, outcome, shadow, ref_steps, checker, config)
    sizes = batch_sizes(len(y_tr), config.batch_size)
    judge_histories(ledger, "mlx", "local", m["history"], outcome.losses["mlx"], cand_series.lrs, sizes, val_seen["mlx"])
    judge_histories(ledger, "torch", "anchor", t["history"], outcome.losses["torch"], ref_steps.lrs, sizes,
                    val_seen["torch"])
    _decisions(ledger, m, t, config)
    if len(y_te):
        checker.check_evaluation(t["final_weights"], Xs["test"], y_te, t["test_logits"], t["test_loss"])
    count = FREE_RUNNING.members if config.ensemble is None else config.ensemble
    if count:
        def member(w, lr, label, _i=[0]):  # noqa: B006 (a counter for progress)
            _i[0] += 1
            series = LossSeries(side("torch"), f"torch ({label})")
            cb = (lambda r, i=_i[0]: on_epoch(f"ensemble {i}/{count}", r)) if on_epoch else None
            result = run_side("torch", splits, w, config, on_step=series, on_epoch=cb, learning_rate=lr)
            return Run(label, result, np.asarray(series.losses))
        try:
            members = run_members(member, weights, config.learning_rate, judged, count)
        except NonFinite as e:
            outcome.non_finite.append(e)
            return outcome
        per_epoch = max(len(ref_steps.losses) // max(len(t["history"]["epoch"]), 1), 1)
        outcome.free = judge(ledger, Run("torch", t, outcome.losses["torch"]), Run("mlx", m, outcome.losses["mlx"]),
                             members, per_epoch, np.asarray(checker.loss_bounds), np.asarray(val_floor),
                             ("mlx", "torch"))
    return outcome


def _static_checks(ledger: Ledger, m: dict, t: dict, Xs: dict, splits: dict, weights: dict, modes: dict, mode: str):
    """Each pipeline's own standardization and first forward pass, loss and gradients."""
    common = dict(dtype="float32", mode=mode, reproduce=ledger.reproduce, device=ledger.device, names=ledger.names)
    for part in ("train", "val", "test"):
        ledger.add(compare(m["standardized"][part], t["standardized"][part], path=f"1 data / standardized {part}",
                           kind="data", scale=data_scale(splits["train"][0]),
                           exact=lambda p=part: steps.standardize("torch", splits[p][0], dtype="float64")["train"]
                           if p == "train" else None, **common))
        ledger.add(compare(t["standardized"][part], Xs[part], path=f"1 data / torch's pipeline standardizes as its scaler ({part})",
                           kind="decision", **{**common, "names": ("pipeline", "scaler")}))
    # the first forward pass, loss and gradients: within both sides' derived rounding bounds at these
    # weights (conformance.bounds, as the local checks), plus the float64 effect of the difference
    # between the two sides' own standardized inputs
    X_train = t["standardized"]["train"]
    y = splits["train"][1]
    effect = InputEffect(weights, m["standardized"]["train"], X_train, y)
    X64, y64 = np.asarray(X_train, np.float64), np.asarray(y, np.float64)
    ba = step_bounds(weights, X64, y64, modes["mlx"])
    bb = ba if modes["torch"] == modes["mlx"] else step_bounds(weights, X64, y64, modes["torch"])
    derived = Tolerance(0.0, 0.0, reason="both sides' derived rounding bounds (conformance.bounds)")

    def within(actual, expected, path, kind, bound, what, exact_value):
        extra = effect.of(what)
        allowance = bound + (0.0 if extra is None else extra[0])
        label = "both sides' rounding bound (conformance.bounds)" + ("" if extra is None else f" + {extra[1]}")
        return compare(actual, expected, path=path, kind=kind, tol=derived, extra=(allowance, label), scale=0.0,
                       exact=exact_value, **common)

    ledger.add(within(m["initial_logits"], t["initial_logits"], "2 model / initial logits (train)", "forward",
                      ba.logits + bb.logits, "logits", lambda: ba.exact_logits))
    ledger.add(within(m["initial_loss"], t["initial_loss"], "3 loss / initial BCE (train)", "loss", ba.loss + bb.loss,
                      "loss", lambda: ba.exact_loss))
    grads_effect = effect.of("grads") or {}
    for name in sorted(t["initial_grads"]):
        extra = grads_effect.get(name)
        allowance = ba.grads[name] + bb.grads[name] + (0.0 if extra is None else extra[0])
        ledger.add(compare(m["initial_grads"][name], t["initial_grads"][name], path=f"3 loss / initial gradients / {name}",
                           kind="gradient", tol=derived, scale=0.0, exact=lambda n=name: ba.exact_grads[n],
                           extra=(allowance, "both sides' rounding bound (conformance.bounds)"
                                  + ("" if extra is None else f" + {extra[1]}")), **common))


def _loop_checks(ledger: Ledger, outcome: Outcome, shadow: Shadow, ref_steps: ReferenceSteps, checker: LocalChecker,
                 config: RunConfig) -> None:
    """What the local steps cannot see, because they load the reference's learning rate and batch
    into the candidate: each side's optimizer starts at the configured rate; MLX's own loop (its
    free run) takes its first step on the same batch from the same state, so its loss is torch's
    within that step's bound (a batch order reversed or reseeded fails here); both loops take the
    same number of steps an epoch (a dropped partial batch fails here) and evaluate the same kind of
    weights (final or best)."""
    exact = dict(kind="decision", mode=ledger.mode, reproduce=ledger.reproduce, device=ledger.device)
    for name, lr in zip(("mlx", "torch"), (shadow.lr0, ref_steps.lr0)):
        ledger.add(compare(np.array(lr if lr is not None else np.nan), np.array(config.learning_rate), step=1,
                           path=f"5 local / {name}'s learning rate at step 1 (the configuration's)",
                           names=(name, "configured"), **exact))
    losses = outcome.losses
    if len(losses["mlx"]) and len(losses["torch"]) and checker.loss_bounds:
        ledger.judge("5 local / mlx's own loop: loss of its first step", "loss", Segments([""], [()]),
                     losses["mlx"][:1], losses["torch"][:1], np.array(checker.loss_bounds[:1]), 1,
                     "both sides' rounding bound of step 1's loss (the same weights and, if the loops agree, batch)")
    hm, ht = outcome.results["mlx"]["history"], outcome.results["torch"]["history"]
    per = lambda h, k: k // max(len(h["epoch"]), 1)  # noqa: E731
    ledger.add(compare(np.array(per(hm, len(losses["mlx"]))), np.array(per(ht, len(losses["torch"]))),
                       path="6 local / training steps an epoch", names=("mlx", "torch"), **exact))
    kinds = {"final": 0.0, "best": 1.0}
    ledger.add(compare(np.array(kinds.get(hm.get("evaluated_weights"), -1.0)),
                       np.array(kinds.get(ht.get("evaluated_weights"), -1.0)),
                       path="7 local / weights evaluated (0 final, 1 best)", names=("mlx", "torch"), **exact))


def _decisions(ledger: Ledger, m: dict, t: dict, config: RunConfig) -> None:
    """MLX's early stopping and schedule fed torch's validation losses: the same decisions."""
    common = dict(mode=ledger.mode, reproduce=ledger.reproduce, device=ledger.device)
    ht = t["history"]
    val = ht["val_loss"]
    if not any(np.isfinite(val)):
        return
    rule = steps.early_stopping("mlx", val, config.patience, config.min_delta)
    for key in ("stopped_epoch", "best_epoch"):
        ledger.add(compare(np.array(_int(rule[key])), np.array(_int(ht.get(key))), kind="decision",
                           path=f"6 local / {key.replace('_', ' ')} from torch's validation losses", **common))
    if config.plateau:
        lrs = steps.plateau_learning_rates("mlx", val, config.learning_rate, **config.plateau)
        ledger.add(compare(np.float32(lrs[:len(ht["lr"]) - 1]), np.float32(ht["lr"][1:]), kind="decision",
                           path="6 local / learning rate per epoch from torch's validation losses (float32)", **common))


def _int(v) -> float:
    return -1.0 if v is None else float(v)


def closest_call(val_losses, min_delta: float) -> tuple[int, float] | None:
    """The epoch whose improve-or-not decision (``loss < best - min_delta``) was closest, and by
    how much: early stopping can only be expected to decide alike where this is not a tie."""
    best, out = math.inf, None
    for epoch, loss in enumerate(val_losses, start=1):
        if math.isfinite(best) and math.isfinite(loss):
            gap = abs(loss - (best - min_delta))
            if out is None or gap < out[1]:
                out = (epoch, gap)
        if loss < best - min_delta:
            best = loss
    return out



def reproduce_command(cfg: RunConfig, dataset: Dataset | None = None) -> str:
    """The ``python -m conformance`` command that runs ``cfg`` (the dataset named when the CLI cannot make it)."""
    parts = ["python -m conformance"]
    source = dataset.source if dataset is not None else "document"
    synthetic = f"synthetic(n={dataset.n_samples}, n_features=2, seed={cfg.seed})" if dataset is not None else None
    if source == synthetic:
        parts.append(f"--synthetic {dataset.n_samples}")
    elif source != "document":
        parts.append(f"--data <{source}>")
    parts += [f"--epochs {cfg.epochs}", f"--lr {cfg.learning_rate}", f"--hidden {cfg.hidden}", f"--seed {cfg.seed}",
              f"--device {cfg.device}"]
    if cfg.batch_size:
        parts.append(f"--batch-size {cfg.batch_size}")
    if cfg.patience:
        parts.append(f"--patience {cfg.patience}")
    if cfg.min_delta:
        parts.append(f"--min-delta {cfg.min_delta}")
    if cfg.plateau:
        parts.append(f"--plateau {cfg.plateau.get('patience', 10)}")
    if cfg.val_fraction != 0.2 or cfg.test_fraction != 0.2:
        parts.append(f"--val-fraction {cfg.val_fraction} --test-fraction {cfg.test_fraction}")
    if cfg.stratify:
        parts.append("--stratify")
    if not cfg.compiled:
        parts.append("--no-compile")
    if cfg.ensemble is not None:
        parts.append(f"--ensemble {cfg.ensemble}")
    return " ".join(parts)


def config_dict(cfg: RunConfig) -> dict:
    return asdict(cfg)
