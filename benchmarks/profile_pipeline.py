"""Where the whole pipeline (``run_pipeline``, the benchmark's "pipeline" group) spends its time,
stage by stage, in MLX and in torch.

    python -m benchmarks.profile_pipeline --device gpu --sizes n1m,wide4k --out DIR

Writes ``DIR/pipeline-<device>.md`` (tables) and ``DIR/pipeline-<device>.json`` (every number).

Each side's own ``run_pipeline`` runs unchanged, built as the benchmark builds it (MLX compiled;
torch with ``--torch`` Adam, by default fused, the best torch pipeline on the H200). What is
wrapped is what it calls at its top level, looked up by name in its module, the same names on both
sides (``STAGES``), and the two classes' methods it calls (the scaler's ``fit`` and
``transform``, the model's ``__call__``). A wrapper waits for the device before and after the
call and, in MLX, evaluates what the call returned (``mx.eval``), so a stage's time is its own
work and lazy work cannot move into the next stage. Only outermost calls are timed: the model's
forward inside ``fit`` counts to ``fit``; inside ``fit``, its own calls of ``train_epoch`` and
``evaluate_loss`` (``INNER``, in each side's ``train`` module) are timed as well, call by call, so
the first epoch (MLX: tracing and compiling the step) stands apart from the others. What no stage
covers (building the model, the
dictionaries, the waits' own cost) is "between the stages".

The wrapped runs are timed beside the plain, unwrapped pipeline, rounds interleaved, so the table
says what the waits cost. Medians over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from typing import Callable
from unittest import mock

from . import calls, harness
from .cases import SIZES, Size

# (name in the pipeline module, what it does there): the same on both sides
STAGES: tuple[tuple[str, str], ...] = (
    ("to_array", "data in: numpy splits to framework arrays"),
    ("StandardScaler.fit", "scaler fit on the training split"),
    ("StandardScaler.transform", "standardize the three splits"),
    ("load_weights", "initial weights into the model"),
    ("SimpleNN.__call__", "forward passes outside training (initial and test logits)"),
    ("loss_and_gradients", "initial loss and gradients, exported"),
    ("make_adam", "the optimizer"),
    ("fit", "training: every epoch's steps and validation loss"),
    ("loss_fn", "test loss"),
    ("to_numpy", "results out: device arrays to numpy"),
    ("export_weights", "final weights to numpy"),
    ("export_optimizer_state", "Adam's state to numpy"),
    ("classification_metrics", "accuracy, precision, recall"),
)
# (name in the train module, what it does): timed call by call inside ``fit``
INNER: tuple[tuple[str, str], ...] = (
    ("train_epoch", "an epoch's training steps"),
    ("evaluate_loss", "an epoch's validation loss"),
)
IMPL_MLX = "mlx-compiled"


def _forcer(framework: str, device: str) -> Callable[[object], None]:
    """Make a call's work happen and wait for it: MLX evaluates the arrays the call returned (and
    those an object it returned holds, one level down), then both wait for the device."""
    if framework == "mlx":
        import mlx.core as mx

        def leaves(x, depth=0):
            if isinstance(x, mx.array):
                yield x
            elif isinstance(x, dict):
                for v in x.values():
                    yield from leaves(v, depth)
            elif isinstance(x, (list, tuple)):
                for v in x:
                    yield from leaves(v, depth)
            elif depth == 0 and hasattr(x, "__dict__") and not callable(x):
                for v in vars(x).values():
                    yield from leaves(v, depth + 1)

        def force(result):
            arrays = list(leaves(result))
            if arrays:
                mx.eval(arrays)
            mx.synchronize()
        return force
    from reference_torch import device as tdev

    return lambda result: tdev.synchronize(device)


def _modules(framework: str):
    if framework == "mlx":
        from mlx_reference import data, model, pipeline, train
    else:
        from reference_torch import data, model, pipeline, train
    return pipeline, train, data.StandardScaler, model.SimpleNN


class StageTimer:
    """Patches the stages of one framework's ``run_pipeline`` with timing wrappers while entered."""

    def __init__(self, framework: str, device: str):
        self.framework, self.device = framework, device
        self.force = _forcer(framework, device)
        self.depth = 0
        self.times: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.inner: dict[str, list[float]] = {}

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            if self.depth:  # inside another stage: that stage's time
                return fn(*args, **kwargs)
            self.force(None)
            self.depth += 1
            t0 = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
                self.force(result)
            finally:
                self.depth -= 1
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0
            self.calls[name] = self.calls.get(name, 0) + 1
            return result
        return timed

    def wrap_inner(self, name: str, fn: Callable) -> Callable:
        """Inside ``fit`` (depth 1), each call timed by itself; not part of the stages' sum."""
        def timed(*args, **kwargs):
            if self.depth != 1:
                return fn(*args, **kwargs)
            self.force(None)
            t0 = time.perf_counter()
            result = fn(*args, **kwargs)
            self.force(result)
            self.inner.setdefault(name, []).append(time.perf_counter() - t0)
            return result
        return timed

    def __enter__(self):
        pipeline, train, scaler, model = _modules(self.framework)
        owners = {"StandardScaler": scaler, "SimpleNN": model}
        self.stack = ExitStack()
        for name, _ in STAGES:
            owner_name, _, attr = name.rpartition(".")
            owner = owners[owner_name] if owner_name else pipeline
            self.stack.enter_context(mock.patch.object(owner, attr, self.wrap(name, getattr(owner, attr))))
        for name, _ in INNER:
            self.stack.enter_context(mock.patch.object(train, name, self.wrap_inner(name, getattr(train, name))))
        self.times, self.calls, self.inner = {}, {}, {}
        return self

    def __exit__(self, *exc):
        return self.stack.__exit__(*exc)


def profile_pipeline(size: Size, device: str, torch_impl: str, rounds: int, quiet_s: float = 0.0) -> dict:
    """Per side: median seconds of each stage, of the wrapped run, and of the plain run."""
    from .cases import IMPLS

    out: dict = {"size": size.id, "device": device, "impls": {}}
    runs = {}
    for impl in (IMPL_MLX, torch_impl):
        framework = IMPLS[impl][0]
        with harness.on_device(framework, device):
            runs[impl] = (framework, calls.build("pipeline", impl, device, size))
    samples = {impl: {"plain": [], "wrapped": [], "stages": [], "inner": []} for impl in runs}
    for impl, (framework, run) in runs.items():  # warm-up: compile, caches, both forms
        run()
        with StageTimer(framework, device):
            run()
    for _ in range(rounds):
        if quiet_s:
            harness.wait_for_quiet(quiet_s)
        for impl, (framework, run) in runs.items():
            t0 = time.perf_counter()
            run()
            samples[impl]["plain"].append(time.perf_counter() - t0)
            with StageTimer(framework, device) as timer:
                t0 = time.perf_counter()
                run()
                samples[impl]["wrapped"].append(time.perf_counter() - t0)
            samples[impl]["stages"].append((dict(timer.times), dict(timer.calls)))
            samples[impl]["inner"].append({k: list(v) for k, v in timer.inner.items()})
    for impl, s in samples.items():
        stages = {}
        for name, _ in STAGES:
            ts = [t.get(name, 0.0) for t, _ in s["stages"]]
            stages[name] = {"median_s": statistics.median(ts), "calls": s["stages"][-1][1].get(name, 0)}
        inner = {}
        for name, _ in INNER:
            per_run = [r.get(name, []) for r in s["inner"]]
            if all(per_run):
                inner[name] = {"first_s": statistics.median(r[0] for r in per_run),
                               "rest_s": statistics.median(t for r in per_run for t in r[1:]) if len(per_run[0]) > 1 else None,
                               "calls": len(per_run[-1])}
        wrapped = statistics.median(s["wrapped"])
        out["impls"][impl] = {
            "plain_s": statistics.median(s["plain"]), "plain_min_s": min(s["plain"]),
            "wrapped_s": wrapped, "stages": stages, "inner": inner, "rounds": rounds,
            "between_s": statistics.median(
                [w - sum(t.values()) for w, (t, _) in zip(s["wrapped"], s["stages"])]),
        }
    for _, (framework, _) in runs.items():
        harness.release_memory(framework, device)
    return out


def render(report: dict) -> str:
    from .summarize import fmt_time

    lines = ["# The whole pipeline, stage by stage: " + report["device"], "",
             f"Command: `{report['command']}`", "",
             f"Environment: MLX {report['versions'].get('mlx')}, torch {report['versions'].get('torch')}, "
             f"{report['cpu_name']} ({report['cpu_count']} CPUs)"
             + (f", {report['gpu_name']}; float32 matmul precision {report['precision']}" if report["gpu_name"] else "")
             + ".", "",
             "Each stage waited for before and after (MLX: its results evaluated); medians over the rounds. "
             "A stage's calls: how often the pipeline makes it; a dash: not called under that name (the torch "
             "variant's Adam replaces `make_adam`, so its cost is between the stages). The rows marked · split "
             "`fit` and are not added again.", ""]
    for r in report["sizes"]:
        size = SIZES[r["size"]]
        (mi, m), (ti, t) = list(r["impls"].items())
        lines += [f"## {size.id}: {size.label}; {size.epochs} epochs, full batch, "
                  f"{m['rounds']} rounds", "",
                  f"| stage | calls | {mi} | {ti} | MLX − torch |", "|---|---:|---:|---:|---:|"]
        for name, what in STAGES:
            a, b = m["stages"][name], t["stages"][name]

            def cell(x):  # a dash: not called under this name (a variant replaced it)
                return fmt_time(x["median_s"]) if x["calls"] else "–"
            diff = f"{(a['median_s'] - b['median_s']) * 1e3:+.2f} ms" if a["calls"] and b["calls"] else "–"
            lines.append(f"| {what} (`{name}`) | {max(a['calls'], b['calls'])} | {cell(a)} | {cell(b)} | {diff} |")
            if name == "fit":
                for iname, iwhat in INNER:
                    ia, ib = m["inner"].get(iname), t["inner"].get(iname)
                    if not (ia and ib):
                        continue
                    lines.append(f"| · inside `fit`: the first {iwhat[3:] if iwhat.startswith('an ') else iwhat} "
                                 f"(`{iname}`, call 1) | 1 | {fmt_time(ia['first_s'])} | {fmt_time(ib['first_s'])} | "
                                 f"{(ia['first_s'] - ib['first_s']) * 1e3:+.2f} ms |")
                    if ia["rest_s"] is not None and ib["rest_s"] is not None:
                        lines.append(f"| · inside `fit`: {iwhat}, each later call (`{iname}`) | {ia['calls'] - 1} | "
                                     f"{fmt_time(ia['rest_s'])} | {fmt_time(ib['rest_s'])} | "
                                     f"{(ia['rest_s'] - ib['rest_s']) * 1e3:+.2f} ms |")
        lines += [f"| between the stages | | {fmt_time(m['between_s'])} | {fmt_time(t['between_s'])} | "
                  f"{(m['between_s'] - t['between_s']) * 1e3:+.2f} ms |",
                  f"| **the wrapped pipeline** | | {fmt_time(m['wrapped_s'])} | {fmt_time(t['wrapped_s'])} | "
                  f"{(m['wrapped_s'] - t['wrapped_s']) * 1e3:+.2f} ms |",
                  f"| the plain pipeline (as benchmarked) | | {fmt_time(m['plain_s'])} | {fmt_time(t['plain_s'])} | "
                  f"{(m['plain_s'] - t['plain_s']) * 1e3:+.2f} ms |", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--sizes", default="n64k", help="comma list of size ids (benchmarks/cases.py)")
    parser.add_argument("--torch", default="torch-fused", choices=("torch-eager", "torch-foreach", "torch-fused"),
                        help="the torch pipeline's Adam (the pipeline group has no torch.compile variant)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quiet", type=float, default=0.0,
                        help="before each round, wait up to this many seconds while other processes hold the CPUs")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    unknown = [s for s in args.sizes.split(",") if s not in SIZES]
    if unknown:
        print(f"profile_pipeline: --sizes: unknown size {unknown[0]!r}; choose from {', '.join(SIZES)}", file=sys.stderr)
        return 2
    if args.rounds < 1:
        print("profile_pipeline: --rounds must be at least 1", file=sys.stderr)
        return 2
    for framework in ("mlx", "torch"):
        why = harness.unavailable(framework, args.device)
        if why:
            print(f"profile_pipeline: {why}", file=sys.stderr)
            return 2
    precision = harness.match_precision()
    env = harness.environment()
    report = {"device": args.device,
              "command": "python -m benchmarks.profile_pipeline " + " ".join(argv if argv is not None else sys.argv[1:]),
              "versions": env["versions"], "cpu_name": env["cpu_name"], "cpu_count": env["cpu_count"],
              "gpu_name": env["gpu"]["torch_device_name"] if args.device == "gpu" else None,
              "precision": precision if args.device == "gpu" else "ieee", "sizes": []}
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"pipeline-{args.device}")
    for size_id in args.sizes.split(","):
        t0 = time.perf_counter()
        report["sizes"].append(profile_pipeline(SIZES[size_id], args.device, args.torch, args.rounds, args.quiet))
        print(f"pipeline at {size_id}: {time.perf_counter() - t0:.1f} s", flush=True)
        with open(stem + ".json", "w") as f:
            json.dump(report, f, indent=1, default=str)
    with open(stem + ".md", "w") as f:
        f.write(render(report))
    print(f"wrote {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
