"""Where one training step spends its time, per operation (CPU) or per kernel (GPU), in MLX and
in torch, and what MLX-side remedies buy.

    python -m benchmarks.profile_step --device cpu --sizes n64k --out DIR
    python -m benchmarks.profile_step --device gpu --sizes doc5,n1m,wide4k --out DIR

Writes ``DIR/profile-<device>.md`` (tables) and ``DIR/profile-<device>.json`` (every number).

- **Stages** (both devices): the step written out as its operations (fc1, ReLU, fc2, the loss, each
  gradient, Adam), each run by itself and waited for (``mx.eval``; torch: synchronized), in MLX and
  in torch, from the benchmark's data and weights; with each matmul's FLOP/s and each pass's bytes
  per second. Their sum is set beside the measured uncompiled step, so the split can be trusted as
  far as the two agree. This is how MLX's CPU is profiled: it has no profiler.
- **Kernels** (GPU): ``torch.profiler`` records, through CUPTI, every CUDA kernel the process
  launches, whichever library launches it: MLX's CUDA backend (which records its kernels into CUDA
  graphs of up to ``MLX_MAX_OPS_PER_BUFFER`` operations and launches those) as well as torch's.
  Each implementation is profiled in its own window, after its warm-up, so every kernel in a window
  is that implementation's: per step, the number of kernels, their summed time (GPU busy) against
  the wall time, and the kernels that take the most. If a window records no kernel, the table says
  so (then the stages are the only split).
- **torch's own operator profile** (CPU): ``torch.profiler``'s self time per ``aten`` operator of the
  real step, textbook and best variant.
- **Another BLAS** (CPU, ``--blas PATH``): MLX's Linux CPU wheel calls ``cblas_sgemm`` from a
  bundled reference BLAS; the compiled step in fresh processes with ``PATH`` preloaded, against
  without.
- **Remedies** (both): the compiled MLX step with the model's layers written as MLX expressions
  compilation can fuse (fc1, whose inner dimension is 2, as two broadcast multiply-adds; fc2,
  whose output is one column, as a product and a row sum), timed beside the unchanged step in
  interleaved rounds, and checked to compute the same loss.

Rounds of different implementations are interleaved, so a change in the machine's load touches
all of them alike; medians are reported, with the minimum beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import calls, harness
from .cases import IN_FEATURES, SIZES, Size


# ---- timing -------------------------------------------------------------------------------------


def interleaved(runs: dict[str, Callable[[], object]], rounds: int, warmup: int = 2, quiet_s: float = 0.0) -> dict:
    """Median and minimum seconds of each run, rounds interleaved (run A, run B, ..., repeat)."""
    for run in runs.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        if quiet_s:
            harness.wait_for_quiet(quiet_s)
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {k: {"median_s": statistics.median(v), "min_s": min(v), "rounds": len(v)} for k, v in times.items()}


def rounds_for(seconds_per_call: float, budget_s: float = 3.0, least: int = 5, most: int = 200) -> int:
    return int(min(most, max(least, budget_s / max(seconds_per_call, 1e-6))))


# ---- the step as its stages ---------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    run: Callable[[], object]
    flops: float = 0.0
    bytes: float = 0.0
    matmul: str | None = None  # the shape, for matmuls


def _stage_specs(N: int, H: int) -> list[tuple[str, float, float, str | None]]:
    """(name, FLOPs, least bytes moved, matmul shape) of each stage, float32."""
    d, F = IN_FEATURES, 4
    return [
        ("fc1: X W1ᵀ + b1", 2 * N * d * H + N * H, F * (N * d + N * H + d * H), f"({N}×{d}) @ ({d}×{H})"),
        ("ReLU", N * H, F * 2 * N * H, None),
        ("fc2: A1 W2ᵀ + b2", 2 * N * H + N, F * (N * H + N), f"({N}×{H}) @ ({H}×1)"),
        ("BCE with logits, mean", 8 * N, F * 2 * N, None),
        ("dBCE/dlogits = (σ(z) − y)/N", 4 * N, F * 3 * N, None),
        ("dW2 = dzᵀ A1", 2 * N * H, F * (N + N * H), f"(1×{N}) @ ({N}×{H})"),
        ("db2 = Σ dz", N, F * N, None),
        ("dA1 = dz W2", N * H, F * (N + N * H), f"({N}×1) @ (1×{H})"),
        ("ReLU backward: dZ1 = dA1 · [Z1 > 0]", N * H, F * 3 * N * H, None),
        ("dW1 = dZ1ᵀ X", 2 * N * d * H, F * (N * H + N * d), f"({H}×{N}) @ ({N}×{d})"),
        ("db1 = Σ rows of dZ1", N * H, F * N * H, None),
        ("Adam update (4 parameters)", 13 * (H * d + 2 * H + 1), F * 7 * (H * d + 2 * H + 1), None),
    ]


def mlx_stages(size: Size) -> list[Stage]:
    """The MLX step's operations, as ``nn.Linear``, ``nn.relu``, ``binary_cross_entropy`` and
    ``Adam`` compute them, each evaluated by itself on the default device."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_unflatten

    from mlx_reference import model as mm
    from mlx_reference import optim as mo

    Xn, yn = calls.step_data(size.id, size.n)
    w = calls.weights_for(size.hidden)
    X, y = mx.array(Xn), mx.array(yn)
    W1, b1, W2, b2 = (mx.array(w[k]) for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"))
    N = size.n
    mx.eval(X, y, W1, b1, W2, b2)
    v: dict = {}

    def keep(name, fn):
        def run():
            v[name] = fn()
            mx.eval(v[name])
            return v[name]
        return run

    model = mm.load_weights(mm.SimpleNN(IN_FEATURES, size.hidden), w)
    opt = mo.make_adam(model)
    grads = tree_unflatten([(k, mx.array(np.asarray(a) * 1e-3)) for k, a in w.items()])
    mx.eval(grads, model.parameters(), opt.state)

    def adam():
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)

    fns = [
        keep("Z1", lambda: mx.addmm(b1, X, W1.T)),
        keep("A1", lambda: nn.relu(v["Z1"])),
        keep("z", lambda: mx.addmm(b2, v["A1"], W2.T).squeeze(-1)),
        keep("loss", lambda: nn.losses.binary_cross_entropy(v["z"], y, with_logits=True, reduction="mean")),
        keep("dz", lambda: ((mx.sigmoid(v["z"]) - y) / N)[:, None]),
        keep("dW2", lambda: v["dz"].T @ v["A1"]),
        keep("db2", lambda: v["dz"].sum(0)),
        keep("dA1", lambda: v["dz"] @ W2),
        keep("dZ1", lambda: mx.where(v["Z1"] > 0, v["dA1"], 0.0)),
        keep("dW1", lambda: v["dZ1"].T @ X),
        keep("db1", lambda: v["dZ1"].sum(0)),
        adam,
    ]
    return [Stage(name, fn, flops, nbytes, mm_) for (name, flops, nbytes, mm_), fn in zip(_stage_specs(N, size.hidden), fns)]


def torch_stages(size: Size, device: str) -> list[Stage]:
    """The same operations in torch (``F.linear``, ``relu``, ``binary_cross_entropy_with_logits``,
    the textbook Adam), each synchronized."""
    import torch
    import torch.nn.functional as F

    from reference_torch import device as tdev
    from reference_torch import model as tm
    from reference_torch import optim as to

    Xn, yn = calls.step_data(size.id, size.n)
    w = calls.weights_for(size.hidden)
    dev = "cpu" if device == "cpu" else tdev.gpu_backend()
    X, y = torch.as_tensor(Xn, device=dev), torch.as_tensor(yn, device=dev)
    W1, b1, W2, b2 = (torch.as_tensor(w[k], device=dev) for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"))
    N = size.n
    v: dict = {}
    sync = lambda: tdev.synchronize(device)  # noqa: E731

    def keep(name, fn):
        def run():
            v[name] = fn()
            sync()
            return v[name]
        return run

    with tdev.use_device(device):
        model = tm.load_weights(tm.SimpleNN(IN_FEATURES, size.hidden), w)
        opt = to.make_adam(model)
        for p in model.parameters():
            p.grad = torch.full_like(p, 1e-3)

    def adam():
        opt.step()
        sync()

    fns = [
        keep("Z1", lambda: F.linear(X, W1, b1)),
        keep("A1", lambda: torch.relu(v["Z1"])),
        keep("z", lambda: F.linear(v["A1"], W2, b2).squeeze(-1)),
        keep("loss", lambda: F.binary_cross_entropy_with_logits(v["z"], y)),
        keep("dz", lambda: ((torch.sigmoid(v["z"]) - y) / N)[:, None]),
        keep("dW2", lambda: v["dz"].T @ v["A1"]),
        keep("db2", lambda: v["dz"].sum(0)),
        keep("dA1", lambda: v["dz"] @ W2),
        keep("dZ1", lambda: torch.ops.aten.threshold_backward(v["dA1"], v["Z1"], 0.0)),
        keep("dW1", lambda: v["dZ1"].T @ X),
        keep("db1", lambda: v["dZ1"].sum(0)),
        adam,
    ]
    return [Stage(name, fn, flops, nbytes, mm_) for (name, flops, nbytes, mm_), fn in zip(_stage_specs(N, size.hidden), fns)]


def profile_stages(size: Size, device: str, quiet_s: float) -> dict:
    """Each stage of each framework, interleaved; and the uncompiled steps they add up to."""
    with harness.on_device("mlx", device):
        ms = mlx_stages(size)
        mlx_step = calls.build("train_step", "mlx-eager", device, size)
    with harness.on_device("torch", device):
        ts = torch_stages(size, device)
        torch_step = calls.build("train_step", "torch-eager", device, size)
    runs = {}
    for m, t in zip(ms, ts):
        runs[("mlx", m.name)] = m.run
        runs[("torch", t.name)] = t.run
    runs[("mlx", "the whole step, uncompiled")] = mlx_step
    runs[("torch", "the whole step, textbook")] = torch_step
    with harness.on_device("mlx", device):
        for run in runs.values():  # in order: each stage reads the one before
            run()
        t0 = time.perf_counter()
        mlx_step()
        torch_step()
        per_round = time.perf_counter() - t0
        timed = interleaved({f"{f}|{n}": r for (f, n), r in runs.items()}, rounds_for(3 * per_round), quiet_s=quiet_s)
    rows = []
    for m in ms:
        row = {"stage": m.name, "flops": m.flops, "bytes": m.bytes, "matmul": m.matmul}
        for f in ("mlx", "torch"):
            row[f] = timed[f"{f}|{m.name}"]
        rows.append(row)
    steps = {"mlx": timed["mlx|the whole step, uncompiled"], "torch": timed["torch|the whole step, textbook"]}
    return {"size": size.id, "device": device, "stages": rows, "steps": steps}


# ---- remedies: MLX expressions compilation can fuse ----------------------------------------------


def remedy_models():
    """SimpleNN with its layers written as MLX expressions (same parameters, same function)."""
    import mlx.nn as nn

    from mlx_reference import model as mm

    class BroadcastFc1(mm.SimpleNN):
        """fc1 (inner dimension 2) as broadcast multiply-adds: mx.compile fuses them with the ReLU."""

        def __call__(self, x):
            w, b = self.fc1.weight, self.fc1.bias
            h = b + sum(x[:, i:i + 1] * w[:, i] for i in range(w.shape[1]))
            return self.fc2(nn.relu(h)).squeeze(-1)

    class BroadcastBoth(mm.SimpleNN):
        """fc1 as above, and fc2 (one output column) as a product and a row sum."""

        def __call__(self, x):
            w, b = self.fc1.weight, self.fc1.bias
            h = nn.relu(b + sum(x[:, i:i + 1] * w[:, i] for i in range(w.shape[1])))
            return (h * self.fc2.weight[0]).sum(-1) + self.fc2.bias[0]

    return {"mlx-compiled": mm.SimpleNN, "mlx-compiled, fc1 as broadcasts": BroadcastFc1,
            "mlx-compiled, fc1 and fc2 as broadcasts": BroadcastBoth}


def profile_remedies(size: Size, device: str, quiet_s: float) -> dict:
    import mlx.core as mx

    from mlx_reference import data as md
    from mlx_reference import optim as mo
    from mlx_reference import train as mt
    from mlx_reference import model as mm

    Xn, yn = calls.step_data(size.id, size.n)
    runs, losses = {}, {}
    with harness.on_device("mlx", device):
        X, y = md.to_array(Xn), md.to_array(yn)
        for name, cls in remedy_models().items():
            model = mm.load_weights(cls(IN_FEATURES, size.hidden), calls.weights_for(size.hidden))
            opt = mo.make_adam(model)
            step = mt.make_train_step(model, opt, compiled=True)

            def run(step=step, model=model, opt=opt, name=name):
                loss = step(X, y)
                mx.eval(loss, model.parameters(), opt.state)
                losses.setdefault(name, float(loss))
                return loss
            runs[name] = run
        runs["mlx-compiled"]()
        t0 = time.perf_counter()
        runs["mlx-compiled"]()
        timed = interleaved(runs, rounds_for(len(runs) * (time.perf_counter() - t0)), quiet_s=quiet_s)
    base = losses["mlx-compiled"]
    for name, t in timed.items():
        t["first_loss"] = losses[name]
        t["first_loss_rel_diff"] = abs(losses[name] - base) / abs(base)
        t["speedup"] = timed["mlx-compiled"]["median_s"] / t["median_s"]
    return {"size": size.id, "device": device, "remedies": timed}


def time_compiled_step(size: Size, device: str, seconds: float = 3.0, quiet_s: float = 0.0) -> dict:
    """The unchanged compiled MLX step in this process: median and minimum of interleaved rounds."""
    with harness.on_device("mlx", device):
        run = calls.build("train_step", "mlx-compiled", device, size)
        run()
        t0 = time.perf_counter()
        run()
        return interleaved({"step": run}, rounds_for(time.perf_counter() - t0, seconds), quiet_s=quiet_s)["step"]


def profile_preloaded_blas(size: Size, blas: str, blocks: int, quiet_s: float) -> dict:
    """MLX's Linux CPU wheel calls ``cblas_sgemm`` from its bundled reference BLAS; a BLAS loaded
    first (``LD_PRELOAD``) answers those calls instead. The compiled step, in fresh processes,
    alternately without and with ``blas`` preloaded (``blocks`` processes each)."""
    import subprocess

    results: dict[str, list[dict]] = {"bundled reference BLAS": [], f"LD_PRELOAD={blas}": []}
    for _ in range(blocks):
        for name in results:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join([harness.repo_root()] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
            if name.startswith("LD_PRELOAD"):
                env["LD_PRELOAD"] = blas
            cmd = [harness.python(), "-m", "benchmarks.profile_step", "--time-step", size.id, "--quiet", str(quiet_s),
                   "--out", "-"]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=harness.repo_root(), check=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    out = {}
    for name, runs in results.items():
        out[name] = {"median_s": statistics.median(r["median_s"] for r in runs), "min_s": min(r["min_s"] for r in runs),
                     "blas": sorted({b for r in runs for b in r["blas"]})}
    base = out["bundled reference BLAS"]["median_s"]
    for r in out.values():
        r["speedup"] = base / r["median_s"]
    return {"size": size.id, "device": "cpu", "preload": out}


# ---- kernels, through CUPTI (GPU) ---------------------------------------------------------------


def profile_kernels(size: Size, impls: list[str], steps: int, quiet_s: float) -> dict:
    """Per implementation: wall time per step (unprofiled) and, in its own profiler window, every
    CUDA kernel, memcpy and memset per step."""
    import tempfile

    import torch
    from torch.profiler import ProfilerActivity, profile

    from .cases import IMPLS
    from .torch_variants import not_applicable
    import reference_torch.device as tdev

    out = {}
    for impl in impls:
        framework = IMPLS[impl][0]
        if framework == "torch" and not_applicable(impl, "gpu", tdev.backend("gpu")):
            continue
        with harness.on_device(framework, "gpu"):
            run = calls.build("train_step", impl, "gpu", size)
        with harness.timing_context(framework, "gpu"):
            t0 = time.perf_counter()
            run()  # compile, JIT
            first = time.perf_counter() - t0
            for _ in range(3):
                run()
            t0 = time.perf_counter()
            run()
            wall = interleaved({impl: run}, rounds_for(time.perf_counter() - t0), warmup=0, quiet_s=quiet_s)[impl]
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                for _ in range(steps):
                    run()
                torch.cuda.synchronize()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "trace.json")
            prof.export_chrome_trace(path)
            with open(path) as f:
                trace = json.load(f)
        kernels: dict[str, dict] = {}
        for e in trace.get("traceEvents", []):
            if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"):
                k = kernels.setdefault(e["name"], {"count": 0, "total_us": 0.0, "cat": e["cat"]})
                k["count"] += 1
                k["total_us"] += float(e.get("dur", 0.0))
        busy = sum(k["total_us"] for k in kernels.values()) * 1e-6 / steps
        out[impl] = {"first_call_s": first, "wall": wall, "steps_profiled": steps,
                     "kernels_per_step": sum(k["count"] for k in kernels.values()) / steps,
                     "gpu_busy_s_per_step": busy, "kernels": kernels}
        del run
        harness.release_memory(framework, "gpu")
    return {"size": size.id, "device": "gpu", "impls": out}


# ---- torch's operator profile (CPU) -------------------------------------------------------------


def profile_torch_ops(size: Size, impls: list[str], steps: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    out = {}
    for impl in impls:
        with harness.on_device("torch", "cpu"):
            run = calls.build("train_step", impl, "cpu", size)
        for _ in range(3):
            run()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                run()
        ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        out[impl] = [{"op": e.key, "count_per_step": e.count / steps, "self_us_per_step": e.self_cpu_time_total / steps}
                     for e in ops if e.self_cpu_time_total > 0][:15]
    return {"size": size.id, "device": "cpu", "impls": out}


# ---- the report ---------------------------------------------------------------------------------


def _t(s: float) -> str:
    from .summarize import fmt_time

    return fmt_time(s)


def _rate(x: float, unit: str) -> str:
    from .summarize import fmt_rate

    return fmt_rate(x, unit)


def render(report: dict) -> str:
    lines = [f"# One training step, profiled: {report['device']}", "", f"Command: `{report['command']}`", "",
             f"Environment: MLX {report['versions']['mlx']}, torch {report['versions']['torch']}, "
             f"{report['cpu_name']} ({report['cpu_count']} CPUs){', ' + report['gpu_name'] if report.get('gpu_name') else ''}; "
             f"float32 matmul precision {report['precision']}.", ""]
    for st in report.get("stages", []):
        lines += [f"## Stages at {st['size']} ({SIZES[st['size']].label}), each run by itself and waited for", "",
                  "| stage | matmul | MLX | MLX rate | torch | torch rate | MLX / torch |", "|---|---|---:|---:|---:|---:|---:|"]
        tm = tt = 0.0
        for r in st["stages"]:
            m, t = r["mlx"]["median_s"], r["torch"]["median_s"]
            tm, tt = tm + m, tt + t
            rate = (lambda s: _rate(r["flops"] / s, "FLOP/s")) if r["matmul"] else (lambda s: _rate(r["bytes"] / s, "B/s"))
            lines.append(f"| {r['stage']} | {r['matmul'] or ''} | {_t(m)} | {rate(m)} | {_t(t)} | {rate(t)} | {m / t:.2f} |")
        sm, stt = st["steps"]["mlx"]["median_s"], st["steps"]["torch"]["median_s"]
        lines += [f"| sum of the stages | | {_t(tm)} | | {_t(tt)} | | {tm / tt:.2f} |",
                  f"| the whole step (MLX uncompiled; torch textbook) | | {_t(sm)} | | {_t(stt)} | | {sm / stt:.2f} |", ""]
    for rm in report.get("remedies", []):
        lines += [f"## MLX remedies at {rm['size']}: the compiled step with layers as fusable expressions", "",
                  "| step | median | min | speedup | first loss, relative difference |", "|---|---:|---:|---:|---:|"]
        for name, r in rm["remedies"].items():
            lines.append(f"| {name} | {_t(r['median_s'])} | {_t(r['min_s'])} | {r['speedup']:.2f}× | {r['first_loss_rel_diff']:.1e} |")
        lines.append("")
    for pb in report.get("blas", []):
        lines += [f"## MLX's compiled step at {pb['size']} with another BLAS (fresh processes, alternating)", "",
                  "| BLAS | median | min | speedup | BLAS libraries loaded |", "|---|---:|---:|---:|---|"]
        for name, r in pb["preload"].items():
            lines.append(f"| {name} | {_t(r['median_s'])} | {_t(r['min_s'])} | {r['speedup']:.2f}× | "
                         f"{', '.join(r['blas'])} |")
        lines.append("")
    for kp in report.get("kernels", []):
        lines += [f"## CUDA kernels per training step at {kp['size']} ({SIZES[kp['size']].label})", "",
                  "| implementation | wall per step | GPU busy per step | kernels per step | busy / wall | first call |",
                  "|---|---:|---:|---:|---:|---:|"]
        for impl, r in kp["impls"].items():
            w = r["wall"]["median_s"]
            busy = r["gpu_busy_s_per_step"]
            lines.append(f"| {impl} | {_t(w)} | {_t(busy)} | {r['kernels_per_step']:.1f} | "
                         f"{busy / w:.0%} | {_t(r['first_call_s'])} |")
        lines.append("")
        for impl, r in kp["impls"].items():
            if not r["kernels"]:
                lines += [f"{impl}: CUPTI recorded no kernel in this window.", ""]
                continue
            steps = r["steps_profiled"]
            top = sorted(r["kernels"].items(), key=lambda kv: -kv[1]["total_us"])[:12]
            lines += [f"{impl}, the kernels that take the most (per step):", "",
                      "| kernel | calls | time | mean |", "|---|---:|---:|---:|"]
            for name, k in top:
                label = name if len(name) <= 90 else name[:87] + "..."
                lines.append(f"| `{label}` | {k['count'] / steps:.1f} | {_t(k['total_us'] * 1e-6 / steps)} | "
                             f"{_t(k['total_us'] * 1e-6 / k['count'])} |")
            lines.append("")
    for op in report.get("torch_ops", []):
        lines += [f"## torch's operators at {op['size']} (torch.profiler, self CPU time per step)", ""]
        for impl, rows in op["impls"].items():
            lines += [f"{impl}:", "", "| operator | calls | self time |", "|---|---:|---:|"]
            lines += [f"| `{r['op']}` | {r['count_per_step']:.1f} | {_t(r['self_us_per_step'] * 1e-6)} |" for r in rows]
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--sizes", default="n64k", help="comma list of size ids (benchmarks/cases.py)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=10, help="steps in each profiler window")
    parser.add_argument("--quiet", type=float, default=0.0,
                        help="before each round, wait up to this many seconds while other processes hold the CPUs")
    parser.add_argument("--parts", default="stages,remedies,kernels,ops", help="which parts to run")
    parser.add_argument("--blas", default=None,
                        help="CPU: also time the compiled MLX step with this BLAS library preloaded (LD_PRELOAD)")
    parser.add_argument("--time-step", default=None, help=argparse.SUPPRESS)  # a child of --blas
    parser.add_argument("--impls", default="mlx-compiled,mlx-eager,torch-eager,torch-fused,torch-compile,torch-compile-ro",
                        help="implementations for the kernel and operator profiles")
    args = parser.parse_args(argv)
    if args.time_step:  # one child process of --blas: print the compiled step's time as JSON
        result = time_compiled_step(SIZES[args.time_step], "cpu", quiet_s=args.quiet)
        print(json.dumps({**result, "blas": harness.blas_libraries()}))
        return 0
    sizes = [SIZES[s] for s in args.sizes.split(",")]
    parts = set(args.parts.split(","))
    impls = args.impls.split(",")
    for framework in ("mlx", "torch"):
        why = harness.unavailable(framework, args.device)
        if why:
            print(f"profile_step: {why}", file=sys.stderr)
            return 2
    precision = harness.match_precision()
    env = harness.environment()
    report: dict = {"device": args.device, "command": "python -m benchmarks.profile_step " + " ".join(argv or sys.argv[1:]),
                    "versions": env["versions"], "cpu_name": env["cpu_name"], "cpu_count": env["cpu_count"],
                    "gpu_name": env["gpu"]["torch_device_name"] if args.device == "gpu" else None,
                    "precision": precision if args.device == "gpu" else "ieee", "blas_libraries": env["blas"],
                    "stages": [], "remedies": [], "blas": [], "kernels": [], "torch_ops": []}
    os.makedirs(args.out, exist_ok=True)
    for size in sizes:
        for part, fn in (("stages", lambda: profile_stages(size, args.device, args.quiet)),
                         ("remedies", lambda: profile_remedies(size, args.device, args.quiet)),
                         ("blas", lambda: profile_preloaded_blas(size, args.blas, 3, args.quiet)),
                         ("kernels", lambda: profile_kernels(size, impls, args.steps, args.quiet)),
                         ("ops", lambda: profile_torch_ops(size, [i for i in impls if i.startswith("torch")
                                                                  and i != "torch-compile-ro"], args.steps))):
            if part == "blas":
                if not args.blas or args.device != "cpu":
                    continue
            elif part not in parts or (part == "kernels" and args.device != "gpu") or (part == "ops" and args.device != "cpu"):
                continue
            t0 = time.perf_counter()
            try:
                result = fn()
            except Exception as e:  # noqa: BLE001  (one failed part must not lose the others)
                result = {"size": size.id, "error": f"{type(e).__name__}: {e}"}
            print(f"{part} at {size.id}: {time.perf_counter() - t0:.1f} s", flush=True)
            report["torch_ops" if part == "ops" else part].append(result)
            with open(os.path.join(args.out, f"profile-{args.device}.json"), "w") as f:
                json.dump(report, f, indent=1, default=str)
    with open(os.path.join(args.out, f"profile-{args.device}.md"), "w") as f:
        f.write(render({**report, **{k: [r for r in report[k] if "error" not in r] for k in
                                     ("stages", "remedies", "blas", "kernels", "torch_ops")}}))
    errors = [r for k in ("stages", "remedies", "blas", "kernels", "torch_ops") for r in report[k] if "error" in r]
    for r in errors:
        print(f"profile_step: {r['size']}: {r['error']}", file=sys.stderr)
    print(f"wrote {os.path.join(args.out, f'profile-{args.device}.md')}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
