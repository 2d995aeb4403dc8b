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
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Callable

import numpy as np

from .compare import Check, compare, compare_tree, problem
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

    def first_failure(self) -> Check | None:
        """The earliest failed check: the first step of the pipeline, and within training the first step number."""
        failed = [c for c in self.checks if not c.passed]
        return failed[0] if failed else None


def run_both(dataset: Dataset, config: RunConfig, on_epoch: Callable | None = None, mode: str | None = None,
             reproduce: str | None = None) -> Outcome:
    """Run both pipelines on ``dataset`` under ``config`` and compare them step by step.

    ``on_epoch(side, record)`` reports progress. ``mode`` is the float32 matmul precision the
    comparison is judged under ("ieee" or "tf32"); by default it is read from the devices.
    """
    config.validate()
    idx = split_indices(dataset.y, config.val_fraction, config.test_fraction, config.seed, config.stratify)
    splits = apply_split(dataset, idx)
    weights = init_weights(dataset.X.shape[1], config.hidden, config.seed)
    kwargs = dict(
        epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
        patience=config.patience, min_delta=config.min_delta, plateau=config.plateau, seed=config.seed,
        compiled=config.compiled, device=config.device, dtype=config.dtype,
    )
    results, recorders = {}, {}
    for name in SIDES:
        pkg = side(name)
        recorders[name] = StepRecorder(pkg, config.record_every)
        cb = (lambda rec, n=name: on_epoch(n, rec)) if on_epoch else None
        results[name] = pkg.pipeline.run_pipeline(splits, weights, on_step=recorders[name], on_epoch=cb, **kwargs)
    if mode is None:
        mode = "tf32" if "tf32" in (side(n).device.precision_mode(config.device) for n in SIDES) else "ieee"
    outcome = Outcome(config, dataset, {k: len(v[1]) for k, v in splits.items()}, results, recorders)
    outcome.checks = build_checks(outcome, mode, splits, weights, reproduce or _reproduce(config))
    return outcome


def build_checks(outcome: Outcome, mode: str, splits, weights, reproduce: str) -> list[Check]:
    """Every comparison of the run, in the order of the document's steps."""
    cfg = outcome.config
    m, t = outcome.results["mlx"], outcome.results["torch"]
    rm, rt = outcome.recorders["mlx"], outcome.recorders["torch"]
    exact = _Float64Reference(splits, weights, cfg)
    common = dict(dtype=cfg.dtype, mode=mode, reproduce=reproduce)
    checks: list[Check] = []
    # 1. data
    for part in ("train", "val", "test"):
        checks.append(compare(m["standardized"][part], t["standardized"][part], path=f"1 data / standardized {part}",
                              kind="data", exact=lambda p=part: exact()["standardized"][p], **common))
    # 2. model
    checks.append(compare(m["initial_logits"], t["initial_logits"], path="2 model / initial logits (train)",
                          kind="forward", exact=lambda: exact()["initial_logits"], **common))
    # 3. loss
    checks.append(compare(m["initial_loss"], t["initial_loss"], path="3 loss / initial BCE (train)",
                          kind="loss", exact=lambda: exact()["initial_loss"], **common))
    checks += compare_tree(m["initial_grads"], t["initial_grads"], path="3 loss / initial gradients",
                           kind="gradient", exact=_LazyTree(lambda: exact()["initial_grads"]), **common)
    # 4. optimizer: the first Adam step
    if 1 in rm.states and 1 in rt.states:
        checks += compare_tree(rm.states[1], rt.states[1], path="4 adam / after step 1 / state", kind="optimizer_state", **common)
        checks += compare_tree(rm.weights[1], rt.weights[1], path="4 adam / after step 1 / weights", kind="trajectory", step=1, **common)
    # 5. training, step by step
    checks.append(_trajectory(rm.losses, rt.losses, "5 training / loss at each step", common))
    for step in sorted(set(rm.weights) & set(rt.weights)):
        if step == 1:
            continue
        checks += compare_tree(rm.weights[step], rt.weights[step], path=f"5 training / step {step} / weights",
                               kind="trajectory", step=step, **common)
        checks += compare_tree(rm.states[step], rt.states[step], path=f"5 training / step {step} / adam state",
                               kind="trajectory", step=step, **common)
    steps_per_epoch = max(len(rt.losses) // max(len(t["history"]["epoch"]), 1), 1)
    for key in ("train_loss", "val_loss"):
        checks.append(_trajectory(m["history"][key], t["history"][key], f"5 training / {key} per epoch", common, steps_per_epoch))
    # 6. validation: decisions must be identical
    checks.append(_decision(np.float32(m["history"]["lr"]), np.float32(t["history"]["lr"]), "6 validation / learning rate per epoch (float32)", common))
    for key in ("stopped_epoch", "best_epoch"):
        checks.append(_decision(_int(m["history"].get(key)), _int(t["history"].get(key)), f"6 validation / {key.replace('_', ' ')}", common))
    # 7. evaluation
    last = max(len(rt.losses), 1)
    checks += compare_tree(m["final_weights"], t["final_weights"], path="7 evaluation / restored weights",
                           kind="trajectory", step=last, **common)
    checks.append(compare(m["test_logits"], t["test_logits"], path="7 evaluation / test logits", kind="trajectory", step=last, **common))
    checks.append(compare(m["test_loss"], t["test_loss"], path="7 evaluation / test loss", kind="trajectory", step=last, **common))
    checks.append(_decision(np.asarray(m["metrics"]["confusion_matrix"]), np.asarray(t["metrics"]["confusion_matrix"]),
                            "7 evaluation / confusion matrix", common))
    for key in ("accuracy", "precision", "recall", "f1"):
        checks.append(compare(m["metrics"][key], t["metrics"][key], path=f"7 evaluation / {key}", kind="metric", **common))
    return checks


def _trajectory(a: list[float], b: list[float], path: str, common: dict, stride: int = 1) -> Check:
    """Compare two per-step series, each element under the budget of its own step; report the
    first step out of budget (or, when all pass, the one closest to its limit)."""
    if len(a) != len(b):
        return problem(path, f"{len(a)} steps from mlx but {len(b)} from torch (a decision differed earlier)",
                       kind="trajectory", **common)
    checks = [compare(x, y, path=f"{path}, step {(i + 1) * stride}", kind="trajectory", step=(i + 1) * stride, **common)
              for i, (x, y) in enumerate(zip(a, b))]
    if not checks:
        return compare(np.zeros(0), np.zeros(0), path=path, kind="trajectory", **common)
    failed = [c for c in checks if not c.passed]
    if failed:
        first = failed[0]
        first.n_mismatched, first.n_total = len(failed), len(checks)
        return first
    worst = max(checks, key=lambda c: c.max_abs / (c.atol + c.rtol * abs(c.expected_value or 0.0)) if c.atol or c.rtol else 0.0)
    worst.n_total = len(checks)
    worst.path = f"{path} (worst: step {worst.step} of {len(checks) * stride})"
    return worst


def _decision(a, b, path: str, common: dict) -> Check:
    return compare(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), path=path, kind="decision", **common)


def _int(v) -> float:
    return float("nan") if v is None else float(v)


class _Float64Reference:
    """The torch pipeline in float64 on the CPU, run only when a failing check asks for it."""

    def __init__(self, splits, weights, cfg: RunConfig):
        self.splits, self.weights, self.cfg, self._result = splits, weights, cfg, None

    def __call__(self) -> dict:
        if self._result is None:
            c = self.cfg
            self._result = side("torch").pipeline.run_pipeline(
                self.splits, {k: v.astype(np.float64) for k, v in self.weights.items()}, epochs=1,
                batch_size=c.batch_size, learning_rate=c.learning_rate, patience=None, seed=c.seed,
                device="cpu", dtype="float64")
        return self._result


class _LazyTree:
    """A mapping whose values come from ``fn()`` on first use (``compare_tree``'s ``exact``)."""

    def __init__(self, fn):
        self.fn = fn

    def get(self, key):
        return lambda: self.fn()[key]


def _reproduce(cfg: RunConfig) -> str:
    parts = ["python -m conformance", f"--epochs {cfg.epochs}", f"--lr {cfg.learning_rate}", f"--hidden {cfg.hidden}",
             f"--seed {cfg.seed}", f"--device {cfg.device}"]
    if cfg.batch_size:
        parts.append(f"--batch-size {cfg.batch_size}")
    if cfg.patience:
        parts.append(f"--patience {cfg.patience}")
    if not cfg.compiled:
        parts.append("--no-compile")
    return " ".join(parts)


def config_dict(cfg: RunConfig) -> dict:
    return asdict(cfg)
