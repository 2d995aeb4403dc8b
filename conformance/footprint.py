"""How much memory a run will hold, estimated before it starts, and how much this machine has.

``python -m conformance`` refuses a run whose estimate exceeds the memory available (exit 2,
naming the option that makes it large) instead of ending, minutes later, in a MemoryError or the
kernel's OOM killer. The estimate is deliberately simple: a sum of the arrays each part of the run
keeps (see each term), checked against measured peaks (2-core CPU, 2 epochs): --synthetic 1000000
and 2000000 peak at 0.81 and 1.22 GB (estimated 0.84 and 1.25), --synthetic 500000 at --hidden 10
and 200 at 0.65 and 2.37 GB (estimated 0.63 and 2.45): within 5%.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

#: Python, numpy, MLX and torch themselves (measured: 0.30-0.35 GB resident before any data).
BASELINE = 400 * 2**20
#: What the run keeps per training step (a few floats of losses and bounds; the checks are streamed
#: into per-quantity tallies): measured at 2.8 kB a step (peak resident memory 330.5 MB at 1 000
#: steps, 382.7 MB at 20 000: tests/test_memory.py's runs), rounded up.
PER_STEP = 4 * 1024


def gb(n: float) -> str:
    """Bytes for a reader: 1.5 GB, 320 MB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 1e3:.3g} kB"


@dataclass
class Estimate:
    """The bytes each part of a run holds, what they were estimated for, and ``total``."""

    terms: dict[str, float] = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)  # estimate()'s arguments

    @property
    def total(self) -> float:
        return BASELINE + sum(self.terms.values())

    def describe(self) -> str:
        parts = [kv for kv in sorted(self.terms.items(), key=lambda kv: -kv[1])[:3] if kv[1] >= 0.01 * self.total]
        return ", ".join(f"{name} {gb(b)}" for name, b in parts)

    def culprit(self) -> str:
        """The option that makes the run large: the one whose ordinary value (hidden 10, 100
        epochs, full batch, 1 000 samples) would shrink the estimate most."""
        a = self.inputs
        ordinary = {"--hidden": dict(hidden=min(a["hidden"], 10)),
                    "--epochs": dict(epochs=min(a["epochs"], 100)),
                    "--batch-size": dict(batch_size=None),
                    a["data_option"]: dict(n_samples=min(a["n_samples"], 1000),
                                           n_train=None if a["n_train"] is None else min(a["n_train"], 1000))}
        return min(ordinary, key=lambda option: estimate(**{**a, **ordinary[option]}).total)


def estimate(n_samples: int, n_features: int, hidden: int, epochs: int, batch_size: int | None,
             n_train: int | None = None, record_every: int = 1, data_option: str = "--synthetic") -> Estimate:
    """The bytes both frameworks (and the float64 reference, built when a check fails) will hold."""
    n, d, h = float(n_samples), float(n_features), float(hidden)
    n_train_ = float(n_train if n_train is not None else n)
    params = d * h + 2 * h + 1
    steps = float(epochs) * (1.0 if not batch_size else math.ceil(n_train_ / batch_size))
    est = Estimate(inputs=dict(n_samples=n_samples, n_features=n_features, hidden=hidden, epochs=epochs,
                               batch_size=batch_size, n_train=n_train, record_every=record_every,
                               data_option=data_option))
    # the table (float64 X and y) and the split's copies of it
    est.terms["the data"] = 16 * n * (d + 1)
    # each side: float32 X and y, the standardized copy, the scaler's shifted temporaries, the numpy
    # copies of the standardized splits in its results; the float64 reference: the rounded split and
    # its float64 tensors
    est.terms["each framework's copies of the data"] = 2 * (20 * n * d + 8 * n) + (32 * n * d + 16 * n)
    # the forward and backward passes over the whole training set (initial logits and gradients),
    # both sides and the float64 reference: measured 30 bytes per training sample and hidden unit
    # (peak RSS of --synthetic 500000 at --hidden 10 and 200: 0.65 GB and 2.37 GB)
    est.terms["activations (samples x hidden)"] = 32 * n_train_ * h
    # weights, gradients, Adam's two moments, the best weights, compiled copies and exports:
    # about ten copies a side in float32, and the float64 reference's
    est.terms["weights and Adam state (hidden)"] = 2 * 40 * params + 80 * params
    # the recorded trajectory: weights and Adam state every record_every steps on both sides (and
    # the float64 reference), plus what each step keeps
    records = math.ceil(steps / max(record_every, 1))
    est.terms["per-step records (epochs x batches)"] = 3 * 12 * params * records + PER_STEP * steps
    return est


def available_memory() -> tuple[float, str] | None:
    """Bytes of memory this process can use, and where the figure comes from (None: unknown)."""
    found: list[tuple[float, str]] = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append((float(line.split()[1]) * 1024, "available (MemAvailable)"))
    except OSError:
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            found.append((float(text), "the container's limit"))
    if not found:
        try:
            found.append((float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")), "installed"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


def refusal(est: Estimate, memory: tuple[float, str] | None = None) -> str | None:
    """One line refusing the run when its estimate exceeds the memory available, else None."""
    memory = memory if memory is not None else available_memory()
    if memory is None or est.total <= memory[0]:
        return None
    option = est.culprit()
    a = est.inputs
    said = {"--hidden": (a["hidden"], "make it smaller"), "--epochs": (a["epochs"], "make it smaller"),
            "--batch-size": (a["batch_size"], "make it larger or leave it out (full batch)")}.get(
        option, (f"({a['n_samples']} samples)" if option == "--data" else a["n_samples"], "use fewer samples"))
    return (f"{option} {said[0]}: the run would hold about {gb(est.total)} of memory ({est.describe()}), more "
            f"than the {gb(memory[0])} {memory[1]} here; {said[1]}")
