"""Run the document's pipeline in both frameworks from the same data and weights, and compare
every step: data, forward pass, loss, gradients, the first Adam step, every training step (loss,
parameters, optimizer state), learning-rate and early-stopping decisions, and the final metrics.

Both sides run their own ``pipeline.run_pipeline`` (the code under test, whole). A recorder passed
as ``on_step`` copies each step's loss, parameters and optimizer state to numpy, so the
trajectories can be compared step by step afterwards and the first step that left its budget
named.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Callable

import numpy as np

from .compare import Check, compare, compare_tree, problem
from .tolerances import adam_state_scales, data_scale, gradient_scales, tolerance
from .data import Dataset, apply_split, split_indices
from .weights import init_weights

SIDES = ("mlx", "torch")
PACKAGES = {"mlx": "mlx_reference", "torch": "reference_torch"}


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
    device: str = "cpu"
    dtype: str = "float32"
    compiled: bool = True
    record_every: int = 1  # record parameters and optimizer state every this many steps (losses: every step)

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
        if self.record_every < 1:
            raise ValueError(f"record_every must be at least 1, got {self.record_every}")


def side(name: str) -> ModuleType:
    """The package of one side, its step modules imported (``side("mlx").train.fit`` ...)."""
    pkg = importlib.import_module(PACKAGES[name])
    for mod in ("data", "device", "model", "loss", "optim", "train", "validate", "metrics", "pipeline"):
        importlib.import_module(f"{PACKAGES[name]}.{mod}")
    return pkg


class StepRecorder:
    """``on_step`` for ``fit``: copies each step's loss (and, every ``every`` steps, the parameters
    and optimizer state) to numpy. Reading values back costs a host synchronization per step, which
    is why the pipelines only do it when asked."""

    def __init__(self, pkg: ModuleType, every: int = 1):
        self.pkg, self.every = pkg, every
        self.losses: list[float] = []
        self.weights: dict[int, dict[str, np.ndarray]] = {}
        self.states: dict[int, dict[str, np.ndarray]] = {}

    def __call__(self, model, optimizer, loss) -> None:
        self.losses.append(float(self.pkg.data.to_numpy(loss)))
        step = len(self.losses)
        if step == 1 or step % self.every == 0:
            self.weights[step] = self.pkg.model.export_weights(model)
            self.states[step] = self.pkg.optim.export_optimizer_state(optimizer, model)


@dataclass
class Outcome:
    """The result of running both sides: their results, recorders, and every check."""

    config: RunConfig
    dataset: Dataset
    split_sizes: dict[str, int]
    results: dict[str, dict]
    recorders: dict[str, StepRecorder]
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def diagnosis(self) -> tuple[list[Check], str | None]:
        """``assert_all``'s arguments: every check with the first failure first, and a line naming
        the first step and tensor that left its budget."""
        first = self.first_failure()
        if first is None:
            return self.checks, None
        where = first.path + ("" if first.step is None else f" (step {first.step})")
        return [first] + [c for c in self.checks if c is not first], f"first out of budget: {where}"

    def first_failure(self) -> Check | None:
        """The earliest failed check: the first step of the pipeline, and within it the first
        training step (so the report names the first step and tensor that left its budget)."""
        failed = [(i, c) for i, c in enumerate(self.checks) if not c.passed]
        if not failed:
            return None
        # a series cut short by a stopping decision is that decision's consequence: the decision first
        return min(failed, key=lambda ic: (ic[1].extra.get("consequence", False), _stage(ic[1].path), ic[1].step or 0,
                                           ic[0]))[1]


def prepare(dataset: Dataset, config: RunConfig) -> tuple[dict, dict[str, np.ndarray]]:
    """The split (as numpy arrays) and the initial weights both sides start from."""
    config.validate()
    idx = split_indices(dataset.y, config.val_fraction, config.test_fraction, config.seed, config.stratify)
    return apply_split(dataset, idx), init_weights(dataset.X.shape[1], config.hidden, config.seed)


def run_side(name: str, splits: dict, weights: dict[str, np.ndarray], config: RunConfig,
             on_epoch: Callable | None = None, **override) -> tuple[dict, StepRecorder]:
    """One side's whole pipeline under ``config`` with a recorder on every step; ``override``
    replaces ``run_pipeline`` arguments (``dtype="float64"``, ``device="cpu"``, ...)."""
    pkg = side(name)
    recorder = StepRecorder(pkg, config.record_every)
    kwargs = dict(
        epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
        patience=config.patience, min_delta=config.min_delta, plateau=config.plateau, seed=config.seed,
        compiled=config.compiled, device=config.device, dtype=config.dtype,
    )
    kwargs.update(override)
    if kwargs["dtype"] == "float64":
        weights = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    result = pkg.pipeline.run_pipeline(splits, weights, on_step=recorder, on_epoch=on_epoch, **kwargs)
    return result, recorder


def precision_mode(device: str) -> str:
    """The float32 matmul precision a comparison on ``device`` is judged under: "tf32" when either
    framework multiplies in TF32 there, else "ieee"."""
    return "tf32" if "tf32" in (side(n).device.precision_mode(device) for n in SIDES) else "ieee"


def run_both(dataset: Dataset, config: RunConfig, on_epoch: Callable | None = None, mode: str | None = None,
             reproduce: str | None = None) -> Outcome:
    """Run both pipelines on ``dataset`` under ``config`` and compare them step by step.

    ``on_epoch(side, record)`` reports progress. ``mode`` is the float32 matmul precision the
    comparison is judged under ("ieee" or "tf32"); by default it is read from the devices.
    """
    splits, weights = prepare(dataset, config)
    results, recorders = {}, {}
    for name in SIDES:
        cb = (lambda rec, n=name: on_epoch(n, rec)) if on_epoch else None
        results[name], recorders[name] = run_side(name, splits, weights, config, on_epoch=cb)
    if mode is None:
        mode = precision_mode(config.device)
    outcome = Outcome(config, dataset, {k: len(v[1]) for k, v in splits.items()}, results, recorders)
    outcome.checks = build_checks(outcome, mode, splits, weights, reproduce or reproduce_command(config, dataset))
    return outcome


def build_checks(outcome: Outcome, mode: str, splits, weights, reproduce: str,
                 names: tuple[str, str] = ("mlx", "torch")) -> list[Check]:
    """Every comparison of the run, in the order of the document's steps: ``results["mlx"]``
    (named ``names[0]`` in messages) against ``results["torch"]`` (``names[1]``), the reference."""
    cfg = outcome.config
    m, t = outcome.results["mlx"], outcome.results["torch"]
    rm, rt = outcome.recorders["mlx"], outcome.recorders["torch"]
    exact = _Float64Reference(splits, weights, cfg)
    common = dict(dtype=cfg.dtype, mode=mode, reproduce=reproduce, device=cfg.device, names=names)
    lr = cfg.learning_rate  # the scale of trajectories: Adam moves a parameter by about lr a step
    checks: list[Check] = []
    X_train = t["standardized"]["train"]
    effect = InputEffect(weights, m["standardized"]["train"], X_train, splits["train"][1])
    # 1. data
    for part in ("train", "val", "test"):
        checks.append(compare(m["standardized"][part], t["standardized"][part], path=f"1 data / standardized {part}",
                              kind="data", exact=lambda p=part: exact()["standardized"][p],
                              scale=data_scale(splits["train"][0]), **common))
    # 2. model
    checks.append(compare(m["initial_logits"], t["initial_logits"], path="2 model / initial logits (train)",
                          kind="forward", exact=lambda: exact()["initial_logits"], extra=effect.of("logits"), **common))
    # 3. loss
    checks.append(compare(m["initial_loss"], t["initial_loss"], path="3 loss / initial BCE (train)",
                          kind="loss", exact=lambda: exact()["initial_loss"], extra=effect.of("loss"), **common))
    checks += compare_tree(m["initial_grads"], t["initial_grads"], path="3 loss / initial gradients",
                           kind="gradient", exact=lambda: exact()["initial_grads"],
                           scales=gradient_scales(weights, X_train), extras=effect.of("grads"), **common)
    # 4. optimizer: the first Adam step
    terms = GradientTerms(weights, rt.weights, X_train)
    if 1 in rm.states and 1 in rt.states:
        checks += compare_tree(rm.states[1], rt.states[1], path="4 adam / after step 1 / state", kind="optimizer_state",
                               step=1, scales=adam_state_scales(rt.states[1], terms(1)),
                               exact=lambda: exact.trajectory().states.get(1), **common)
        checks += compare_tree(rm.weights[1], rt.weights[1], path="4 adam / after step 1 / weights", kind="trajectory",
                               step=1, lr=lr, exact=lambda: exact.trajectory().weights.get(1), **common)
    # 5. training, step by step
    checks.append(_trajectory(rm.losses, rt.losses, "5 training / loss at each step", {**common, "lr": lr},
                              exact=lambda: exact.trajectory().losses))
    for step in sorted(set(rm.weights) & set(rt.weights)):
        if step == 1:
            continue
        checks += compare_tree(rm.weights[step], rt.weights[step], path=f"5 training / step {step} / weights",
                               kind="trajectory", step=step, lr=lr,
                               exact=lambda s=step: exact.trajectory().weights.get(s), **common)
        checks += compare_tree(rm.states[step], rt.states[step], path=f"5 training / step {step} / adam state",
                               kind="optimizer_state", step=step, scales=adam_state_scales(rt.states[step], terms(step)),
                               exact=lambda s=step: exact.trajectory().states.get(s), **common)
    steps_per_epoch = max(len(rt.losses) // max(len(t["history"]["epoch"]), 1), 1)
    for key in ("train_loss", "val_loss"):
        checks.append(_trajectory(m["history"][key], t["history"][key], f"5 training / {key} per epoch",
                                  {**common, "lr": lr}, steps_per_epoch))
    # 6. validation: decisions must be identical
    lr_check = _decision(np.float32(m["history"]["lr"]), np.float32(t["history"]["lr"]),
                         "6 validation / learning rate per epoch (float32)", common)
    if lr_check.problem:  # histories of different lengths: a stopping decision differed
        lr_check.extra["consequence"] = True
    checks.append(lr_check)
    closest = closest_call(t["history"]["val_loss"], cfg.min_delta)
    for key in ("stopped_epoch", "best_epoch"):
        check = _decision(_int(m["history"].get(key)), _int(t["history"].get(key)), f"6 validation / {key.replace('_', ' ')}",
                          common)
        if not check.passed and closest is not None:
            epoch, gap = closest
            tol = tolerance("loss", cfg.dtype, mode, epoch * steps_per_epoch, lr)
            allowed = tol.atol + tol.rtol * abs(t["history"]["val_loss"][epoch - 1])
            check.note = (f"the closest call was epoch {epoch}: its validation loss cleared the best one (less "
                          f"min_delta) by {gap:.2e}" + (f", inside the loss budget {allowed:.1e}: a tie that rounding decides, "
                                                         "not a porting bug" if gap <= allowed else ""))
        checks.append(check)
    # 7. evaluation
    last = max(len(rt.losses), 1)
    checks += compare_tree(m["final_weights"], t["final_weights"], path="7 evaluation / restored weights",
                           kind="trajectory", step=last, lr=lr, **common)
    checks.append(compare(m["test_logits"], t["test_logits"], path="7 evaluation / test logits", kind="forward",
                          step=last, lr=lr, **common))
    checks.append(compare(m["test_loss"], t["test_loss"], path="7 evaluation / test loss", kind="loss", step=last,
                          lr=lr, **common))
    checks.append(_decision(np.asarray(m["metrics"]["confusion_matrix"]), np.asarray(t["metrics"]["confusion_matrix"]),
                            "7 evaluation / confusion matrix", common))
    for key in ("accuracy", "precision", "recall", "f1"):
        checks.append(compare(m["metrics"][key], t["metrics"][key], path=f"7 evaluation / {key}", kind="metric", **common))
    return checks


class InputEffect:
    """How much of a first-step difference the inputs explain. Each side standardizes the data
    itself, so the two start from inputs that differ (within the data budget); float64 at each
    side's own inputs gives the part of the logits', loss's and gradients' difference that comes
    from there, allowed on top of the comparison's own budget."""

    def __init__(self, weights: dict, X_mlx, X_torch, y):
        self.weights, self.X = weights, (np.asarray(X_mlx, np.float64), np.asarray(X_torch, np.float64))
        self.y, self._effect = np.asarray(y, np.float64), None

    def _compute(self) -> dict:
        if self._effect is None:
            if np.array_equal(*self.X):
                self._effect = {}
            else:
                from . import steps  # steps imports this module

                at = [(steps.forward("torch", self.weights, X, "float64", "cpu"),
                       *steps.loss_and_gradients("torch", self.weights, X, self.y, "float64", "cpu")) for X in self.X]
                (lm, sm, gm), (lt, st, gt) = at
                self._effect = {"logits": np.abs(lm - lt), "loss": abs(sm - st),
                                "grads": {k: np.abs(gm[k] - gt[k]) for k in gt}}
        return self._effect

    def of(self, what: str):
        """``extra`` for ``compare`` (``extras`` for ``compare_tree``), or None when the inputs agree."""
        effect = self._compute().get(what)
        if effect is None:
            return None
        label = "float64 effect of the inputs' difference"
        return {k: (v, label) for k, v in effect.items()} if isinstance(effect, dict) else (effect, label)


class GradientTerms:
    """``gradient_scales`` of the gradients Adam has averaged by step k: those of the weights
    before each step up to k (the largest, elementwise), on the whole training set."""

    def __init__(self, initial: dict, recorded: dict[int, dict], X):
        self.initial, self.recorded, self.X, self._done = initial, recorded, X, {0: None}

    def __call__(self, step: int) -> dict:
        k = max(s for s in self._done if s < step)
        acc = self._done[k]
        for s in range(k + 1, step + 1):
            before = self.initial if s == 1 else self.recorded.get(s - 1)
            if before is None:
                continue
            now = gradient_scales(before, self.X)
            acc = now if acc is None else {key: (np.maximum(acc[key][0], now[key][0]), now[key][1]) for key in now}
            self._done[s] = acc
        self._done[step] = acc
        return acc


def _stage(path: str) -> int:
    head = path.split(" ", 1)[0]
    return int(head) if head.isdigit() else 99


def _trajectory(a: list[float], b: list[float], path: str, common: dict, stride: int = 1, exact=None) -> Check:
    """Compare two per-step series of losses, each under the budget of its own step; report the
    first step out of budget (or, when all pass, the one closest to its limit). ``exact()``, the
    float64 series, is computed only if a step fails."""
    if len(a) != len(b):
        first, second = common.get("names", ("mlx", "torch"))
        check = problem(path, f"{len(a)} steps from {first} but {len(b)} from {second} (a decision differed earlier)",
                        kind="loss", **common)
        check.extra["consequence"] = True
        return check
    def at(i):
        return None if exact is None else (lambda: (lambda s: s[i] if i < len(s) else None)(exact()))

    checks = [compare(x, y, path=f"{path}, step {(i + 1) * stride}", kind="loss", step=(i + 1) * stride, exact=at(i),
                      **common) for i, (x, y) in enumerate(zip(a, b))]
    if not checks:
        return compare(np.zeros(0), np.zeros(0), path=path, kind="loss", **common)
    failed = [c for c in checks if not c.passed]
    if failed:
        first = failed[0]
        first.n_mismatched, first.n_total = len(failed), len(checks)
        return first
    worst = max(checks, key=lambda c: c.share)
    worst.n_total = len(checks)
    worst.path = f"{path} (worst: step {worst.step} of {len(checks) * stride})"
    return worst


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


def _decision(a, b, path: str, common: dict) -> Check:
    return compare(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), path=path, kind="decision", **common)


def _int(v) -> float:
    return float("nan") if v is None else float(v)


class _Float64Reference:
    """The torch pipeline in float64 on the CPU, from the data rounded to the run's dtype (so it
    measures the arithmetic, not the rounding of the inputs both sides share); run only when a
    failing check asks for it."""

    def __init__(self, splits, weights, cfg: RunConfig):
        self.splits, self.weights, self.cfg, self._result, self._trajectory = splits, weights, cfg, None, None

    def _rounded(self) -> dict:
        from .steps import rounded  # the inputs as the float32 sides received them, widened

        return {k: (rounded(X, self.cfg.dtype), rounded(y, self.cfg.dtype)) for k, (X, y) in self.splits.items()}

    def __call__(self) -> dict:
        if self._result is None:
            self._result, _ = run_side("torch", self._rounded(), self.weights, self.cfg, epochs=1, patience=None,
                                       plateau=None, device="cpu", dtype="float64")
        return self._result

    def trajectory(self) -> StepRecorder:
        """The whole run in float64: every step's loss, weights and Adam state."""
        if self._trajectory is None:
            _, self._trajectory = run_side("torch", self._rounded(), self.weights, self.cfg, device="cpu",
                                           dtype="float64")
        return self._trajectory


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
    return " ".join(parts)


def config_dict(cfg: RunConfig) -> dict:
    return asdict(cfg)
