"""``python -m conformance.spread``: measure the spreads the tolerance table's reasons cite.

For every kind of quantity the suite compares (standardized data, logits, loss, gradients, Adam's
parameters and state after k steps, whole training trajectories) and every dtype, this computes
the same quantity several ways, each a correct computation:

- ``mlx-torch``: MLX on the CPU against torch on the CPU (what the tests compare);
- ``mlx-f64`` and ``torch-f64``: each against torch in float64 on the CPU, from the same inputs
  rounded to the dtype (the arithmetic's own error);
- ``torch-reorder``: torch against torch with the samples (or hidden units) in another order,
  which changes only the order of the sums (the spread between two equally right answers).

Plus the lockstep's own situation: both pipelines from the same raw data, each standardizing it
itself (what remains after the float64 effect of their inputs' difference, which the runner
allows), and whole training runs, where the parameters drift apart step by step.

Each line shows the largest absolute error, that error over the tensor's largest value
("scaled"), and the share of the table's current budget it uses (1.0 = at the limit); the summary
gives, per table entry, the worst share and so the margin the entry keeps. The cases are small
enough to run in well under two minutes on two CPU cores.

``--json PATH`` writes every measurement. Exit status 1 when a measurement exceeds its budget.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from . import steps
from .compare import compare
from .data import apply_split, document_dataset, split_indices, synthetic_dataset
from .effects import InputEffect
from .runner import RunConfig, prepare, run_side
from .sides import precision_mode, side
from .tolerances import adam_state_scales, data_scale, gradient_scales, tolerance
from .weights import init_weights


@dataclass
class Spread:
    kind: str
    dtype: str
    pair: str
    case: str
    quantity: str
    step: int | None
    max_abs: float
    scaled: float  # max_abs / max|reference|
    share: float  # of the table's budget (at ``step``)
    budget: bool = True  # False: shown, but not a case the table's budget must cover


class Meter:
    """Collects measurements and prints them as they come."""

    def __init__(self, verbose: bool = True):
        self.rows: list[Spread] = []
        self.verbose = verbose
        self.budget = True

    def add(self, kind: str, dtype: str, pair: str, case: str, quantity: str, actual, reference,
            step: int | None = None, scale=None, lr: float | None = None, extra=None) -> Spread:
        if extra is not None:  # measure what the inputs' difference leaves: shrink each error by its allowance
            a, e = np.asarray(actual, np.float64), np.asarray(reference, np.float64)
            actual = e + np.sign(a - e) * np.maximum(np.abs(a - e) - np.asarray(extra[0], np.float64), 0.0)
        c = compare(actual, reference, path=quantity, kind=kind, dtype=dtype, mode=MODE, step=step, scale=scale, lr=lr)
        ref = np.abs(np.asarray(reference, dtype=np.float64))
        top = float(ref[np.isfinite(ref)].max()) if np.isfinite(ref).any() else 0.0
        row = Spread(kind, dtype, pair, case, quantity, step, c.max_abs, c.max_abs / top if top else 0.0, c.share,
                     self.budget)
        self.rows.append(row)
        return row

    def add_tree(self, kind, dtype, pair, case, prefix, actual: dict, reference: dict, step=None, lr=None,
                 scales=None, extras=None) -> None:
        if scales is None:
            scales = adam_state_scales(reference) if kind == "optimizer_state" else {}
        for k in reference:
            self.add(kind, dtype, pair, case, f"{prefix}{k}", actual[k], reference[k], step, scales.get(k, (None,))[0], lr,
                     (extras or {}).get(k))

    def section(self, title: str, rows_from: int) -> None:
        if not self.verbose:
            return
        rows = self.rows[rows_from:]
        print(f"\n== {title}")
        groups: dict[tuple, list[Spread]] = {}
        for r in rows:
            groups.setdefault((r.kind, r.dtype, r.pair + ("" if r.budget else " (not covered)")), []).append(r)
        print(f"  {'kind':<16}{'dtype':<10}{'pair':<15}{'max abs':>10}{'scaled':>10}{'share':>8}  worst case (by share)")
        for (kind, dtype, pair), rs in groups.items():
            worst = max(rs, key=lambda r: r.share)
            print(f"  {kind:<16}{dtype:<10}{pair:<15}{max(r.max_abs for r in rs):>10.2e}"
                  f"{max(r.scaled for r in rs):>10.2e}{worst.share:>8.3f}  {worst.case}: {worst.quantity}"
                  f"{'' if worst.step is None else f' at step {worst.step}'}")


# ---- the cases

DEVICE = "cpu"  # where MLX and torch run (--device); float64 references always run on the CPU
MODE = "ieee"  # the float32 matmul precision there, which picks the table's entries


def _data_cases():
    yield "document", document_dataset()
    for n, d in ((64, 2), (1024, 2), (4096, 2), (4096, 8)):
        for seed in range(3):
            yield f"synthetic n={n} d={d} seed={seed}", synthetic_dataset(n, d, seed)


def measure_data(m: Meter) -> None:
    for case, ds in _data_cases():
        sp = apply_split(ds, split_indices(ds.y, seed=0))
        Xtr, Xv = (sp[k][0].astype(np.float32) for k in ("train", "val"))
        out = {s: steps.standardize(s, Xtr, Xv, device=DEVICE) for s in ("mlx", "torch")}
        ref = steps.exact(steps.standardize, Xtr, Xv)
        perm = np.random.default_rng(1).permutation(len(Xtr))
        reorder = steps.standardize("torch", Xtr[perm], Xv, device=DEVICE)
        back = np.empty_like(reorder["train"])
        back[perm] = reorder["train"]
        scale = data_scale(Xtr)
        for part, get in (("train", lambda o: o["train"]), ("val", lambda o: o["others"][0])):
            m.add("data", "float32", "mlx-torch", case, part, get(out["mlx"]), get(out["torch"]), scale=scale)
            m.add("data", "float32", "mlx-f64", case, part, get(out["mlx"]), get(ref), scale=scale)
            m.add("data", "float32", "torch-f64", case, part, get(out["torch"]), get(ref), scale=scale)
        m.add("data", "float32", "torch-reorder", case, "train", back, out["torch"]["train"], scale=scale)


MODEL_SHAPES = ((5, 2, 10), (46, 2, 3), (256, 8, 32), (1024, 2, 256), (4096, 16, 256))
LOW_SHAPES = ((5, 2, 10), (256, 8, 32), (1024, 2, 256))


def _model_case(n: int, d: int, h: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    w = init_weights(d, h, seed)
    y = (X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n) > 0).astype(np.float32)
    return X, y, w


def _permute_hidden(w: dict, perm: np.ndarray) -> dict:
    return {"fc1.weight": w["fc1.weight"][perm], "fc1.bias": w["fc1.bias"][perm],
            "fc2.weight": w["fc2.weight"][:, perm], "fc2.bias": w["fc2.bias"]}


def measure_model(m: Meter, dtype: str, shapes) -> None:
    """Forward logits and the full model's loss and gradients."""
    for n, d, h in shapes:
        for seed in range(6 if h < 8 else 2):  # narrow layers: few terms, more seeds
            case = f"n={n} d={d} h={h} seed={seed}"
            X, y, w = _model_case(n, d, h, seed)
            logits = {s: steps.forward(s, w, X, dtype, DEVICE) for s in ("mlx", "torch")}
            ref = steps.exact(steps.forward, w, X, dtype=dtype)
            m.add("forward", dtype, "mlx-torch", case, "logits", logits["mlx"], logits["torch"])
            m.add("forward", dtype, "mlx-f64", case, "logits", logits["mlx"], ref)
            m.add("forward", dtype, "torch-f64", case, "logits", logits["torch"], ref)
            lg = {s: steps.loss_and_gradients(s, w, X, y, dtype, DEVICE) for s in ("mlx", "torch")}
            lref = steps.exact(steps.loss_and_gradients, w, X, y, dtype=dtype)
            gscales = gradient_scales(steps.rounded_tree(w, dtype), steps.rounded(X, dtype))
            for pair, (a, b) in (("mlx-torch", (lg["mlx"], lg["torch"])), ("mlx-f64", (lg["mlx"], lref)),
                                 ("torch-f64", (lg["torch"], lref))):
                m.add("loss", dtype, pair, case, "model loss", a[0], b[0])
                m.add_tree("gradient", dtype, pair, case, "grad ", a[1], b[1], scales=gscales)
            if dtype == "float32":
                perm = np.random.default_rng(seed + 7).permutation(h)
                m.add("forward", dtype, "torch-reorder", case, "logits (hidden permuted)",
                      steps.forward("torch", _permute_hidden(w, perm), X, dtype, DEVICE), logits["torch"])
                rows = np.random.default_rng(seed + 9).permutation(n)
                loss2, g2 = steps.loss_and_gradients("torch", w, X[rows], y[rows], dtype, DEVICE)
                m.add("loss", dtype, "torch-reorder", case, "model loss (samples permuted)", loss2, lg["torch"][0])
                m.add_tree("gradient", dtype, "torch-reorder", case, "grad (samples permuted) ", g2, lg["torch"][1],
                           scales=gscales)


def _loss_inputs(dtype: str):
    rng = np.random.default_rng(3)
    for n in (5, 256, 4096):
        for scale in (1.0, 10.0):
            x = (rng.standard_normal(n) * scale).astype(np.float32)
            for targets in ("random", "all ones", "all zeros", "correct"):
                y = {"random": (rng.random(n) < 0.5), "all ones": np.ones(n), "all zeros": np.zeros(n),
                     "correct": x > 0}[targets].astype(np.float32)
                yield f"n={n} logits N(0,{scale:g}) targets {targets}", x, y
    for n in (16, 256):  # confidently right: tiny losses, where a float32 formula's absolute error shows
        x = (rng.uniform(5, 15, n) * rng.choice([-1, 1], n)).astype(np.float32)
        yield f"n={n} logits +-(5..15), targets right", x, (x > 0).astype(np.float32)
        yield f"n={n} logits -(5..15), targets 0 (right)", -np.abs(x), np.zeros(n, np.float32)
        yield f"n={n} logits +(5..15), targets 1 (right)", np.abs(x), np.ones(n, np.float32)
    x = np.array([100, -100, 100, -100, 30, -30, 17, -17, 0], np.float32)
    for targets, y in (("mixed", np.array([1, 0, 0, 1, 1, 0, 1, 0, 1], np.float32)),
                       ("all ones", np.ones(9, np.float32)), ("all zeros", np.zeros(9, np.float32))):
        yield f"extreme logits +-100 targets {targets}", x, y


def measure_loss(m: Meter, dtype: str) -> None:
    """BCE on logits and on probabilities: values and gradients with respect to the inputs."""
    for case, x, y in _loss_inputs(dtype):
        p = (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)
        for with_logits, inputs, what in ((True, x, "logits"), (False, p, "probabilities")):
            if dtype != "float32" and not with_logits and np.any(np.abs(steps.rounded(p, dtype) - 0.5) == 0.5):
                continue  # probabilities that round to 0 or 1: their +-1e12 gradients overflow float16
            out = {s: steps.bce(s, inputs, y, with_logits, dtype, DEVICE) for s in ("mlx", "torch")}
            ref = steps.exact(steps.bce, inputs, y, with_logits, dtype=dtype)
            for pair, (a, b) in (("mlx-torch", (out["mlx"], out["torch"])), ("mlx-f64", (out["mlx"], ref)),
                                 ("torch-f64", (out["torch"], ref))):
                m.add("loss", dtype, pair, case, f"BCE on {what}", a[0], b[0])
                m.add("gradient", dtype, pair, case, f"dBCE/d{what}", a[1], b[1],
                      scale=1.0 / len(x) if with_logits else 0.0)
            if dtype == "float32":
                perm = np.random.default_rng(5).permutation(len(x))
                v2, g2 = steps.bce("torch", inputs[perm], y[perm], with_logits, dtype, DEVICE)
                back = np.empty_like(g2)
                back[perm] = g2
                m.add("loss", dtype, "torch-reorder", case, f"BCE on {what}", v2, out["torch"][0])
                m.add("gradient", dtype, "torch-reorder", case, f"dBCE/d{what}", back, out["torch"][1],
                      scale=1.0 / len(x) if with_logits else 0.0)


def measure_adam(m: Meter, k: int = 100) -> None:
    """Adam alone, fed the same gradients on every side: parameters and state after each step."""
    for d, h in ((2, 10), (8, 32)):
        for lr in (1e-3, 1e-2):
            for consistent in (False, True):
                case = f"adam d={d} h={h} lr={lr:g} {'fixed' if consistent else 'random'} signs"
                w = init_weights(d, h, 0)
                grads = steps.adam_gradients(d, h, k, seed=d + h, consistent=consistent)
                run = {s: steps.adam_steps(s, w, grads, lr, device=DEVICE) for s in ("mlx", "torch")}
                ref = steps.exact(steps.adam_steps, w, grads, lr)
                for i in range(k):
                    for pair, (a, b) in (("mlx-torch", (run["mlx"][i], run["torch"][i])),
                                         ("mlx-f64", (run["mlx"][i], ref[i])), ("torch-f64", (run["torch"][i], ref[i]))):
                        m.add_tree("trajectory", "float32", pair, case, "adam weights ", a[0], b[0], step=i + 1, lr=lr)
                        m.add_tree("optimizer_state", "float32", pair, case, "adam state ", a[1], b[1], step=i + 1)


def measure_pipeline_start(m: Meter) -> None:
    """The lockstep's first comparisons: each side standardizes the data itself, then computes
    logits, loss and gradients from its own standardized inputs, so upstream rounding differences
    reach them (the runner's "2 model" and "3 loss" checks)."""
    cases = [(n, hidden, seed) for n, hidden in ((16, 3), (46, 3), (46, 16), (300, 8), (1000, 32)) for seed in range(8)]
    cases += [(46, 3, 517), (10, 7, 697)]  # found by hypothesis (tests/test_properties.py)
    for n, hidden, seed in cases:
        if True:
            case = f"pipeline start, synthetic n={n} hidden={hidden} seed={seed}"
            cfg = RunConfig(epochs=1, hidden=hidden, seed=seed, compiled=False, device=DEVICE)
            splits, weights = prepare(synthetic_dataset(n, seed=seed), cfg)
            out = {name: run_side(name, splits, weights, cfg) for name in ("mlx", "torch")}
            mx_, tr = out["mlx"], out["torch"]
            m.add("data", "float32", "mlx-torch", case, "standardized train", mx_["standardized"]["train"],
                  tr["standardized"]["train"], scale=data_scale(splits["train"][0]))
            effect = InputEffect(weights, mx_["standardized"]["train"], tr["standardized"]["train"], splits["train"][1])
            m.add("forward", "float32", "mlx-torch", case, "initial logits", mx_["initial_logits"], tr["initial_logits"],
                  extra=effect.of("logits"))
            m.add("loss", "float32", "mlx-torch", case, "initial loss", mx_["initial_loss"], tr["initial_loss"],
                  extra=effect.of("loss"))
            m.add_tree("gradient", "float32", "mlx-torch", case, "initial grads ", mx_["initial_grads"],
                       tr["initial_grads"], scales=gradient_scales(weights, tr["standardized"]["train"]),
                       extras=effect.of("grads"))


class StepRecorder:
    """``on_step`` for ``fit``: copies each step's loss (and, every ``every`` steps, the parameters
    and optimizer state) to numpy. Reading values back costs a host synchronization per step, which
    is why the pipelines only do it when asked."""

    def __init__(self, pkg, every: int = 1):
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



TRAJECTORIES = (  # (case, data, config, whether the budget must cover it)
    ("document, 100 full-batch epochs, lr 1e-3", "document", RunConfig(epochs=100), True),
    ("synthetic n=256, h=32, 100 full-batch epochs, lr 1e-3", 256, RunConfig(epochs=100, hidden=32), True),
    ("synthetic n=256, h=32, minibatch 32, 20 epochs (100 steps), lr 1e-3", 256,
     RunConfig(epochs=20, hidden=32, batch_size=32), True),
    ("synthetic n=64, h=8, minibatch 16, 40 epochs (120 steps), lr 1e-3, seed 3", 64,
     RunConfig(epochs=40, hidden=8, batch_size=16, seed=3), True),
    # Not covered: at step 98 a training sample lies 9e-7 from unit 17's ReLU kink, closer than
    # the float32 runs' parameters are to each other (~5e-6), so MLX's run puts it on the other
    # side and the gradient jumps (MLX and torch then differ by 5e-4; torch happens to stay on
    # float64's side). Shown to make the point that such crossings are why the budgets are
    # justified on small learning rates and short runs only.
    ("synthetic n=256, h=32, 100 full-batch epochs, lr 1e-2 (ReLU kink crossing at step 98)", 256,
     RunConfig(epochs=100, hidden=32, learning_rate=1e-2), False),
)


def measure_trajectories(m: Meter, growth_rows: list) -> None:
    """Whole training runs: loss, parameters and Adam state after every step."""
    for case, data, cfg, budget in TRAJECTORIES:
        m.budget = budget
        ds = document_dataset() if data == "document" else synthetic_dataset(data, seed=cfg.seed)
        splits, weights = prepare(ds, cfg)
        rm, rt, r64 = StepRecorder(side("mlx")), StepRecorder(side("torch")), StepRecorder(side("torch"))
        run_side("mlx", splits, weights, cfg, on_step=rm, device=DEVICE)
        torch32 = run_side("torch", splits, weights, cfg, on_step=rt, device=DEVICE)
        rounded = {k: (steps.rounded(X, "float32"), steps.rounded(y, "float32")) for k, (X, y) in splits.items()}
        run_side("torch", rounded, weights, cfg, on_step=r64, dtype="float64", device="cpu")
        terms = GradientTerms(weights, rt.weights, torch32["standardized"]["train"])
        for pair, (ra, rb) in (("mlx-torch", (rm, rt)), ("mlx-f64", (rm, r64)), ("torch-f64", (rt, r64))):
            per_step = []
            for i, (la, lb) in enumerate(zip(ra.losses, rb.losses)):
                k = i + 1
                lr = cfg.learning_rate
                row = m.add("loss", "float32", pair, case, "loss after k steps", la, lb, step=k, lr=lr)
                worst = [row]
                m.add_tree("trajectory", "float32", pair, case, "weights ", ra.weights[k], rb.weights[k], step=k, lr=lr)
                worst += m.rows[-len(rb.weights[k]):]
                m.add_tree("optimizer_state", "float32", pair, case, "state ", ra.states[k], rb.states[k], step=k,
                           scales=adam_state_scales(rb.states[k], terms(k)))
                per_step.append((k, abs(la - lb), max(r.max_abs for r in worst)))
            growth_rows.append((case, pair, per_step))
    m.budget = True


def print_growth(growth_rows: list) -> None:
    print("\n== trajectory growth: largest |difference| of loss and of any parameter at step k")
    ks = (1, 10, 25, 50, 100)
    print(f"  {'pair':<11}" + "".join(f"{'k=' + str(k):>20}" for k in ks) + "  case")
    for case, pair, per_step in growth_rows:
        byk = {k: (dl, dw) for k, dl, dw in per_step}
        cells = "".join(f"{byk[k][0]:>9.1e} /{byk[k][1]:>8.1e}  " if k in byk else f"{'-':>20}" for k in ks)
        print(f"  {pair:<11}{cells}{case}")


SCALES = {"data": "|mean|/std per column", "gradient": "mean|d logit/d theta| (dBCE/dlogits: 1/n)", "trajectory": "lr", "optimizer_state": "sqrt(max v) (m), max v (v)"}


def summarize(m: Meter, mode: str = "ieee") -> int:
    print("\n== summary: per table entry, the worst share of its budget over every case and pair")
    entries: dict[tuple[str, str], list[Spread]] = {}
    for r in m.rows:
        if r.budget:
            entries.setdefault((r.kind, r.dtype), []).append(r)
    bad = 0
    for (kind, dtype), rows in entries.items():
        tol = tolerance(kind, dtype)
        by_pair = {}
        for r in rows:
            if r.share >= by_pair.get(r.pair, r).share:
                by_pair[r.pair] = r
        worst = max(rows, key=lambda r: r.share)
        margin = 1.0 / worst.share if worst.share > 0 else float("inf")
        bad += worst.share > 1.0
        tol = tolerance(kind, dtype, mode)
        print(f"  {kind} {dtype} {mode if dtype == 'float32' else 'ieee'}: rtol {tol.rtol:.2g} atol {tol.atol:.2g}"
              f"{f' + {tol.atol_scale:.2g} x ' + SCALES.get(kind, 'max|ref|') if tol.atol_scale else ''}"
              f"{f' growth {tol.growth:g}/step' if tol.growth else ''}; worst share {worst.share:.3f} "
              f"(margin {margin:.1f}x) from {worst.pair}, {worst.case}: {worst.quantity}"
              f"{'' if worst.step is None else f' at step {worst.step}'}")
        for pair, r in sorted(by_pair.items()):
            print(f"      {pair:<14} share {r.share:.3f}  max abs {max(x.max_abs for x in rows if x.pair == pair):.2e}"
                  f"  scaled {max(x.scaled for x in rows if x.pair == pair):.2e}")
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.spread", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", metavar="PATH", help="write every measurement here")
    p.add_argument("--only", metavar="KINDS", help="comma-separated sections: data,model,loss,adam,pipeline,trajectory,low")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help="run MLX and torch here (gpu: MLX's Metal or CUDA with torch's MPS or CUDA; precision as each "
                        "framework is set: MLX_ENABLE_TF32=0 for IEEE matmuls in MLX)")
    args = p.parse_args(argv)
    global DEVICE, MODE
    from .runner import side

    missing = [n for n in ("mlx", "torch") if args.device == "gpu" and side(n).device.gpu_backend() is None]
    if missing:
        print(f"python -m conformance.spread: error: --device gpu: no GPU backend for {' and '.join(missing)} here; "
              "use --device cpu", file=sys.stderr)
        return 2
    DEVICE = args.device
    MODE = mode = precision_mode(DEVICE)
    print(f"MLX and torch on {DEVICE}, float32 matmuls {mode}; float64 references on the CPU")
    only = set(args.only.split(",")) if args.only else {"data", "model", "loss", "adam", "pipeline", "trajectory", "low"}
    m = Meter()
    start = time.monotonic()
    growth: list = []
    sections = [
        ("data", "standardization (float32)", lambda: measure_data(m)),
        ("model", "forward, model loss and gradients (float32)", lambda: measure_model(m, "float32", MODEL_SHAPES)),
        ("loss", "BCE on logits and probabilities (float32)", lambda: measure_loss(m, "float32")),
        ("adam", "Adam fed identical gradients, 100 steps (float32)", lambda: measure_adam(m)),
        ("pipeline", "the lockstep's first step: each side from its own standardized data (float32)",
         lambda: measure_pipeline_start(m)),
        ("trajectory", "training trajectories (float32)", lambda: measure_trajectories(m, growth)),
    ]
    for dtype in steps.LOW_PRECISION:
        sections.append(("low", f"forward, model loss and gradients ({dtype})", lambda d=dtype: measure_model(m, d, LOW_SHAPES)))
        sections.append(("low", f"BCE ({dtype})", lambda d=dtype: measure_loss(m, d)))
    for key, title, fn in sections:
        if key in only:
            first = len(m.rows)
            t = time.monotonic()
            fn()
            m.section(f"{title}  [{time.monotonic() - t:.1f} s]", first)
    if growth:
        print_growth(growth)
    bad = summarize(m, mode)
    print(f"\n{len(m.rows)} measurements in {time.monotonic() - start:.0f} s; "
          f"{'all within' if not bad else f'{bad} table entries exceeded by'} the table's budgets")
    if args.json:
        from .report import environment, write_json

        write_json(args.json, {"format": "mlx-torch-conformance-spread/1", "environment": environment("cpu"),
                               "measurements": [asdict(r) for r in m.rows]})
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
