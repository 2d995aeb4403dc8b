"""Turn one pytest-benchmark JSON into Markdown tables and plots.

    python -m benchmarks.summarize BENCH.json --out DIR [--archive]

Writes ``DIR/summary.md`` (environment, per-group tables of medians with their spread, MLX/torch
ratios, GPU/CPU speedups, the GPU crossover size, achieved throughput against the device's
limits and the floor each size could reach, the first-call costs, key figures),
``DIR/train_step.png`` (time per training step against size, one line per framework, variant
and device, log scales) and ``DIR/groups.png`` (the same for every group).

Every ratio is computed from this one file: one run, one machine. Medians are of rounds (a round
is one call, or the mean of a few calls for calls under a millisecond); the spread shown is half
the interquartile range relative to the median (±%). MLX is set against the best torch variant
of the same group, size and device (the fastest of the textbook loop, foreach and fused Adam,
torch.compile and its reduce-overhead mode, as far as the group times them); the textbook variant
stays in every table as its own column.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys

from benchmarks.cases import GROUPS, IMPLS, SIZES, TORCH_IMPLS

DEVICES = ("cpu", "gpu")
SERIES = ("doc5", "n1k", "n64k", "n1m")  # hidden 10, growing n: where the crossover is looked for
NOISY = 0.15  # other processes' share of the CPU above which a result is flagged


# ---- reading --------------------------------------------------------------------------------


class Result:
    def __init__(self, bench: dict):
        e = bench["extra_info"]
        s = bench["stats"]
        self.extra = e
        self.group, self.size, self.impl, self.device = e["group"], e["size"], e["impl"], e["device"]
        self.cache = e.get("cache") if self.group == "first_call" else None
        self.median = s["median"]
        self.q1, self.q3 = s.get("q1", s["median"]), s.get("q3", s["median"])
        self.min, self.max = s["min"], s["max"]
        self.rounds, self.iterations = s["rounds"], s.get("iterations", 1)
        self.load = e.get("external_cpu_load")

    @property
    def spread(self) -> float:
        return (self.q3 - self.q1) / 2 / self.median if self.median > 0 else 0.0

    @property
    def noisy(self) -> bool:
        return self.load is not None and self.load > NOISY


def load(path: str) -> tuple[dict, list[Result]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        data = json.load(f)
    results = [Result(b) for b in data.get("benchmarks", []) if "group" in b.get("extra_info", {})]
    return data, results


def index(results: list[Result]) -> dict:
    """(group, size, impl, device) -> Result; first-call results keyed with their cache too."""
    out = {}
    for r in results:
        key = (r.group, r.size, r.impl, r.device) if r.group != "first_call" else (r.group, r.size, r.impl, r.device, r.cache)
        out[key] = r
    return out


# ---- formatting -------------------------------------------------------------------------------


def fmt_time(t: float | None) -> str:
    if t is None or not math.isfinite(t):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if t >= scale:
            v = t / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{t * 1e9:.2g} ns"


def fmt_cell(r: Result | None) -> str:
    if r is None:
        return "–"
    flag = " †" if r.noisy else ""
    return f"{fmt_time(r.median)} ±{r.spread * 100:.0f}%{flag}"


def fmt_ratio(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.2f}" if x < 10 else f"{x:.0f}" if x < 1000 else f"{x:.2g}"


def fmt_rate(x: float | None, unit: str) -> str:
    if x is None or not math.isfinite(x) or x <= 0:
        return "–"
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def ratio(a: Result | None, b: Result | None) -> float | None:
    return a.median / b.median if a and b and b.median > 0 else None


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or ("l" + "r" * (len(header) - 1))
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ---- analysis ---------------------------------------------------------------------------------


def present(results: list[Result]) -> tuple[list[str], list[str], list[str]]:
    sizes = [s for s in SIZES if any(r.size == s for r in results)]
    devices = [d for d in DEVICES if any(r.device == d for r in results)]
    impls = [i for i in IMPLS if any(r.impl == i for r in results)]
    return sizes, devices, impls


def crossover(idx: dict, group: str, cpu_of, gpu_of, margin: float = 0.05) -> str:
    """Where the GPU starts to win along the hidden-10 series: the first size from which the GPU
    is faster by more than ``margin`` at every larger size; where the GPU/CPU time ratio crosses
    1 between that size and the one before it, n is interpolated there (log-log)."""
    pts = []
    for s in SERIES:
        c, g = cpu_of(s), gpu_of(s)
        if c is not None and g is not None:
            pts.append((SIZES[s].n, g / c, s))
    if not pts:
        return "–"
    wins = [r < 1 - margin for _, r, _ in pts]
    if all(wins):
        return f"GPU faster at every size (already at {pts[0][2]}: {1 / pts[0][1]:.2f}×)"
    if not wins[-1]:
        return f"no crossover up to {pts[-1][2]} (GPU/CPU time {pts[-1][1]:.2f} there)"
    k = max(i for i, w in enumerate(wins) if not w) + 1  # first index from which the GPU always wins
    (n0, r0, s0), (n1, r1, s1) = pts[k - 1], pts[k]
    where = f"between {s0} and {s1}"
    if r0 > 1 > r1:
        t = math.log(r0) / (math.log(r0) - math.log(r1))
        where += f": n ≈ {math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0))):,.0f}"
    return f"{where} (GPU/CPU time {r0:.2f} at {s0}, {r1:.2f} at {s1})"


def best(idx: dict, group: str, size: str, device: str, impls: list[str]) -> float | None:
    times = [idx[(group, size, i, device)].median for i in impls if (group, size, i, device) in idx]
    return min(times) if times else None


def best_torch(idx: dict, group: str, size: str, device: str) -> Result | None:
    """The fastest torch variant measured for this group, size and device (None: none measured)."""
    found = [idx[(group, size, i, device)] for i in TORCH_IMPLS if (group, size, i, device) in idx]
    return min(found, key=lambda r: r.median) if found else None


def short(impl: str) -> str:
    """A variant's name in tables: torch-eager is the reference's textbook loop."""
    return "torch textbook (foreach=False)" if impl == "torch-eager" else impl


def variant(impl: str) -> str:
    """The torch variant alone: textbook, foreach, fused, compile, compile-ro."""
    return "textbook" if impl == "torch-eager" else impl.removeprefix("torch-")


def peaks_of(r: Result) -> dict:
    return r.extra.get("peak") or {}


def floors(r: Result) -> dict:
    p = peaks_of(r)
    fp, bw, lat = p.get("flops_peak"), p.get("bw_peak"), p.get("latency_s")
    e = r.extra
    out = {"gflops": e["flops"] / r.median, "gbs_min": e["bytes_min"] / r.median,
           "gbs_unfused": e["bytes_unfused"] / r.median}
    if fp and bw:
        out["pct_flops"] = out["gflops"] / fp
        out["pct_bw_unfused"] = out["gbs_unfused"] / bw
        out["roofline"] = max(e["flops"] / fp, e["bytes_min"] / bw)
        out["unfused"] = max(e["flops"] / fp, e["bytes_unfused"] / bw)
        out["bound"] = "compute" if e["flops"] / fp >= e["bytes_min"] / bw else "memory"
    if lat:
        out["latency"] = lat
    return out


# ---- the report -------------------------------------------------------------------------------


def environment_section(data: dict, results: list[Result]) -> str:
    mi = data.get("machine_info", {})
    bench = mi.get("bench", {})
    env = bench.get("environment", {})
    v = env.get("versions", {})
    th = env.get("threads", {})
    gpu = env.get("gpu", {})
    opts = bench.get("options", {})
    precisions = sorted({r.extra.get("session_precision_mode", "?") for r in results})
    lines = [
        f"- Date: {data.get('datetime', '?')}; command: `{bench.get('command', '?')}`",
        f"- Versions: Python {v.get('python')}, MLX {v.get('mlx')}, torch {v.get('torch')}"
        f" (CUDA {v.get('torch_cuda')}), numpy {v.get('numpy')}, pytest-benchmark {data.get('version')}; {v.get('platform')}",
        f"- CPU: {env.get('cpu_name')} ({env.get('cpu_count')} logical CPUs); torch threads: "
        f"{th.get('torch_intra_op')} intra-op, {th.get('torch_inter_op')} inter-op; MLX: {th.get('mlx')}; "
        f"BLAS libraries loaded: {', '.join(env.get('blas') or []) or '?'}; g++ for MLX's fused CPU kernels: "
        f"{env.get('mlx_cpu_kernel_compiler') or 'none (mx.compile on the CPU runs unfused)'}",
        f"- GPU: MLX backend {gpu.get('mlx_backend') or 'none'} ({gpu.get('mlx_device_name') or '–'}), "
        f"torch backend {gpu.get('torch_backend') or 'none'} ({gpu.get('torch_device_name') or '–'})",
        f"- float32 everywhere; float32 matmul precision mode of this run (GPU): {', '.join(precisions)}"
        f"{' (MLX_ENABLE_TF32=' + env.get('env', {}).get('MLX_ENABLE_TF32') + ')' if env.get('env', {}).get('MLX_ENABLE_TF32') else ''}",
        f"- Options: devices {opts.get('devices')}, sizes {opts.get('sizes')}, budget {opts.get('budget_s')} s "
        f"per benchmark, {opts.get('time_s')} s of rounds per benchmark",
        f"- Machine load: load average {_fmt_load(bench.get('environment', {}).get('loadavg_at_start'))} at start, "
        f"{_fmt_load(bench.get('loadavg_at_end'))} at end; results marked † ran while other processes held "
        f"more than {NOISY:.0%} of the CPUs ({sum(r.noisy for r in results)} of {len(results)})",
    ]
    for dev, p in (bench.get("peaks") or {}).items():
        lines.append(f"- Limits, {dev}: {fmt_rate(p.get('flops_peak'), 'FLOP/s')} ({p.get('flops_source')}); "
                     f"{fmt_rate(p.get('bw_peak'), 'B/s')} ({p.get('bw_source')}); one-op latency "
                     + ", ".join(f"{k} {fmt_time(t)}" for k, t in (p.get("latency_s") or {}).items()))
    return "\n".join(lines)


def _fmt_load(x) -> str:
    return "?" if not x else "/".join(f"{v:.2f}" for v in x)


def group_section(idx: dict, group: str, sizes: list[str], devices: list[str], impls: list[str]) -> str:
    """Per device, one table: every implementation's median, the best torch variant, and MLX's
    ratios to it; with two devices, a table of GPU speedups after them."""
    present_here = [i for i in impls if any((group, s, i, d) in idx for s in sizes for d in devices)]
    mlx_impls = [i for i in present_here if i.startswith("mlx")]
    has_torch = any(i in TORCH_IMPLS for i in present_here)
    parts = []
    for d in devices:
        header = ["size"] + [short(i) for i in present_here]
        if has_torch:
            header += ["best torch"]
            header += [f"{i.replace('-', ' ')} / best torch" for i in mlx_impls]
        rows = []
        for s in sizes:
            if not any((group, s, i, d) in idx for i in present_here):
                continue
            row = [s] + [fmt_cell(idx.get((group, s, i, d))) for i in present_here]
            if has_torch:
                b = best_torch(idx, group, s, d)
                row.append(f"{variant(b.impl)} {fmt_time(b.median)}" if b else "–")
                row += [fmt_ratio(ratio(idx.get((group, s, i, d)), b)) for i in mlx_impls]
            rows.append(row)
        if rows:
            parts.append(f"{d.upper()}:\n\n" + table(header, rows))
    if len(devices) == 2:
        header = ["size"] + [f"GPU speedup {short(i)}" for i in present_here] + ["GPU speedup, best of each"]
        rows = []
        for s in sizes:
            if not any((group, s, i, d) in idx for i in present_here for d in devices):
                continue
            row = [s] + [fmt_ratio(ratio(idx.get((group, s, i, "cpu")), idx.get((group, s, i, "gpu")))) for i in present_here]
            c, g = best(idx, group, s, "cpu", present_here), best(idx, group, s, "gpu", present_here)
            row.append(fmt_ratio(c / g) if c and g else "–")
            rows.append(row)
        parts.append("GPU speedup (CPU time ÷ GPU time):\n\n" + table(header, rows))
    return "\n\n".join(parts)


def crossover_section(idx: dict, sizes: list[str], impls: list[str]) -> str:
    rows = []
    for group in GROUPS:
        if group == "first_call":
            continue
        for i in impls:
            rows.append([group, i, crossover(idx, group, lambda s, i=i: _m(idx, (group, s, i, "cpu")),
                                             lambda s, i=i: _m(idx, (group, s, i, "gpu")))])
        rows.append([group, "best of each device", crossover(idx, group, lambda s: best(idx, group, s, "cpu", impls),
                                                             lambda s: best(idx, group, s, "gpu", impls))])
    return table(["group", "implementation",
                  "where the GPU starts to win by more than 5% (hidden 10, n = 5 … 1 000 000)"], rows, "lll")


def _m(idx, key):
    r = idx.get(key)
    return r.median if r else None


def throughput_section(results: list[Result], groups: tuple[str, ...]) -> str:
    rows = []
    order = {g: k for k, g in enumerate(GROUPS)}
    szo = {s: k for k, s in enumerate(SIZES)}
    imo = {s: k for k, s in enumerate(IMPLS)}
    for r in sorted((r for r in results if r.group in groups),
                    key=lambda r: (order[r.group], r.device, szo[r.size], imo[r.impl])):
        f = floors(r)
        rows.append([
            r.group, r.device, r.size, r.impl, fmt_time(r.median),
            fmt_rate(f["gflops"], "FLOP/s") + (f" ({f['pct_flops']:.2%})" if "pct_flops" in f else ""),
            fmt_rate(f["gbs_unfused"], "B/s") + (f" ({f['pct_bw_unfused']:.1%})" if "pct_bw_unfused" in f else ""),
            (f"{fmt_time(f['roofline'])} ({f['bound']})" if "roofline" in f else "–"),
            fmt_ratio(r.median / f["roofline"]) + "×" if "roofline" in f else "–",
            fmt_time(f.get("unfused")), (fmt_ratio(r.median / f["unfused"]) + "×") if f.get("unfused") else "–",
            fmt_time(f.get("latency")),
        ])
    return table(["group", "device", "size", "implementation", "median", "achieved FLOP/s (of peak)",
                  "achieved B/s, unfused traffic (of peak)", "roofline floor", "× floor",
                  "unfused floor", "× unfused floor", "one-op latency"], rows, "llllrrrrrrrr")


def first_call_section(idx: dict, results: list[Result]) -> str:
    rows = []
    for r in sorted((r for r in results if r.group == "first_call"),
                    key=lambda r: (r.device, list(SIZES).index(r.size), list(IMPLS).index(r.impl), str(r.cache))):
        steady = idx.get(("train_step", r.size, r.impl, r.device))
        rows.append([r.device, r.size, r.impl, str(r.cache).split(" ")[0] if _cached(r) else "none", fmt_time(r.median),
                     fmt_time(r.extra.get("second_call_s")), fmt_time(steady.median) if steady else "–",
                     fmt_ratio(r.median / steady.median) + "×" if steady else "–"])
    return table(["device", "size", "implementation", "kernel cache", "first step", "second step (same process)",
                  "steady step (median)", "first ÷ steady"], rows, "llllrrrr")


def key_figures(idx: dict, sizes: list[str], devices: list[str], impls: list[str]) -> str:
    lines = []
    g = "train_step"
    for d in devices:
        gains = [(s, ratio(idx.get((g, s, "mlx-eager", d)), idx.get((g, s, "mlx-compiled", d)))) for s in sizes]
        gains = [(s, x) for s, x in gains if x]
        if gains:
            lines.append(f"- {d}: mx.compile speeds MLX's training step by " +
                         ", ".join(f"{x:.2f}× at {s}" for s, x in gains))
        mt = [(s, idx.get((g, s, "mlx-compiled", d)), best_torch(idx, g, s, d)) for s in sizes]
        mt = [(s, m, b) for s, m, b in mt if m and b]
        if mt:
            lines.append(f"- {d}: MLX compiled / best torch variant, time per training step: " +
                         ", ".join(f"{ratio(m, b):.2f} at {s} ({variant(b.impl)})" for s, m, b in mt) + " (below 1: MLX faster)")
        tb = [(s, ratio(idx.get((g, s, "torch-eager", d)), best_torch(idx, g, s, d))) for s in sizes]
        tb = [(s, x) for s, x in tb if x]
        if tb and any(i in impls for i in TORCH_IMPLS if i != "torch-eager"):
            lines.append(f"- {d}: torch's textbook loop (foreach=False) / its best variant: " +
                         ", ".join(f"{x:.2f} at {s}" for s, x in tb))
    for d in devices:
        fc = sorted((r for r in idx.values() if r.group == "first_call" and r.device == d),
                    key=lambda r: (list(IMPLS).index(r.impl), str(r.cache)))
        if fc:
            lines.append(f"- {d}: first training step of a fresh process at {fc[0].size}: " + ", ".join(
                f"{r.impl}{' (' + str(r.cache).split(' ')[0] + ' cache)' if _cached(r) else ''} "
                f"{fmt_time(r.median)}" for r in fc))
        # compiling pays back its extra first-call cost after this many steps at the first-call size
        for comp_impl, what in (("mlx-compiled", "mx.compile"), ("torch-compile", "torch.compile"),
                                ("torch-compile-ro", 'torch.compile "reduce-overhead"')):
            mlx = comp_impl.startswith("mlx")
            for cache in ("cold", "warm"):
                comp = next((r for r in fc if r.impl == comp_impl and str(r.cache) == cache), None)
                # the uncompiled first call: MLX eager with the same cache; torch eager (no cache)
                eager = next((r for r in fc if r.impl == ("mlx-eager" if mlx else "torch-eager")
                              and (not mlx or str(r.cache) == cache)), None)
                if not (comp and eager):
                    continue
                sc = idx.get(("train_step", comp.size, comp_impl, d))
                # the steady step it competes with: MLX eager; the best eager torch variant
                refs = ("mlx-eager",) if mlx else ("torch-eager", "torch-foreach", "torch-fused")
                se = min((idx[k] for k in (("train_step", comp.size, i, d) for i in refs) if k in idx),
                         key=lambda r: r.median, default=None)
                extra = max(comp.median - eager.median, 0.0)
                if not (sc and se):
                    continue
                if se.median > sc.median:
                    steps = extra / (se.median - sc.median)
                    lines.append(f"- {d}: with a {cache} cache, {what}'s extra first-call cost ({fmt_time(extra)}) is "
                                 f"paid back after {steps:,.0f} training step{'' if round(steps) == 1 else 's'} at "
                                 f"{comp.size} (against {se.impl})")
                else:
                    lines.append(f"- {d}: with a {cache} cache, {what}'s first call costs {fmt_time(extra)} more, and "
                                 f"its step at {comp.size} is not faster than {se.impl}'s ({fmt_time(sc.median)} "
                                 f"against {fmt_time(se.median)}): it never pays back there")
    if len(devices) == 2:
        lines.append(f"- GPU crossover, training step, best of each device: "
                     f"{crossover(idx, g, lambda s: best(idx, g, s, 'cpu', impls), lambda s: best(idx, g, s, 'gpu', impls))}")
    return "\n".join(lines)


def _cached(r: Result) -> bool:
    return r.impl.startswith("mlx") or r.impl in ("torch-compile", "torch-compile-ro")


def render(data: dict, results: list[Result], png_names: tuple[str, str] | None) -> str:
    idx = index(results)
    sizes, devices, impls = present(results)
    out = ["# Benchmark summary", "", environment_section(data, results), "",
           "Cells: median time of one call ±half the interquartile range (relative). Best torch: the fastest "
           "torch variant of that group, size and device (textbook: the reference's Adam foreach=False; foreach, "
           "fused: Adam's faster paths; compile, compile-ro: torch.compile of the loss, default and "
           "reduce-overhead mode, fused Adam). MLX / best torch: ratio of times (below 1: MLX faster). GPU speedup: CPU time ÷ GPU time (above 1: GPU faster). "
           "A dash: not measured (device absent, or skipped: the run's output says why).", ""]
    for s in sizes:
        out.append(f"- `{s}`: {SIZES[s].label}; epoch batch {SIZES[s].batch_size}; pipeline {SIZES[s].epochs} epochs")
    out.append("")
    out += ["## Key figures", "", key_figures(idx, sizes, devices, impls), ""]
    for group, what in GROUPS.items():
        if group == "first_call" or not any(r.group == group for r in results):
            continue
        out += [f"## {group}: {what}", "", group_section(idx, group, sizes, devices, impls), ""]
    if len(devices) == 2:
        out += ["## Where the GPU starts to win", "", crossover_section(idx, sizes, impls), ""]
    if any(r.group == "first_call" for r in results):
        out += ["## First call: " + GROUPS["first_call"], "", first_call_section(idx, results), ""]
    out += ["## Throughput against the device's limits: training step", "",
            "Achieved FLOP/s = the step's floating-point operations ÷ median time; the percentage is of "
            "the device's peak (see Limits). Unfused traffic: the bytes an implementation that writes every "
            "activation moves (benchmarks/cases.py), ÷ median time, and its share of peak bandwidth. "
            "Roofline floor = max(FLOPs ÷ peak FLOP/s, least bytes ÷ peak bandwidth): the time a perfect "
            "implementation could reach; × floor: how far the median is from it. Unfused floor: the same "
            "with the unfused traffic. One-op latency: the least any call costs on that device and framework.",
            "", throughput_section(results, ("train_step",)), ""]
    skipped = data.get("machine_info", {}).get("bench", {}).get("skipped") or []
    if skipped:
        out += ["## Skipped, and why", "", table(["benchmark", "reason"], [[f"`{k['test']}`", k["reason"]] for k in skipped], "ll"), ""]
    if png_names:
        out += ["## Plots", "", f"![time per training step]({png_names[0]})", "", f"![every group]({png_names[1]})", ""]
    return "\n".join(out)


def throughput_report(results: list[Result]) -> str:
    groups = tuple(g for g in GROUPS if g != "first_call")
    return "# Throughput and floors, every group\n\n" + throughput_section(results, groups) + "\n"


# ---- plots ------------------------------------------------------------------------------------

COLORS = {"mlx-compiled": "tab:blue", "mlx-eager": "tab:cyan", "torch-eager": "tab:red",
          "torch-foreach": "tab:orange", "torch-fused": "tab:brown", "torch-compile": "tab:purple",
          "torch-compile-ro": "tab:pink"}
STYLES = {"cpu": "--", "gpu": "-"}
MARKERS = {"cpu": "o", "gpu": "s"}


def _plot_group(ax, idx, group, sizes, devices, impls):
    xs_all = sorted({SIZES[s].work for s in sizes})
    for d in devices:
        for i in impls:
            pts = [(SIZES[s].work, idx[(group, s, i, d)]) for s in sizes if (group, s, i, d) in idx]
            pts.sort(key=lambda p: p[0])
            if not pts:
                continue
            x = [p[0] for p in pts]
            y = [p[1].median for p in pts]
            lo = [p[1].median - p[1].q1 for p in pts]
            hi = [p[1].q3 - p[1].median for p in pts]
            ax.errorbar(x, y, yerr=[lo, hi], color=COLORS.get(i), linestyle=STYLES[d], marker=MARKERS[d],
                        markersize=4, capsize=2, label=f"{i} {d}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xs_all)
    labels = [next(s for s in sizes if SIZES[s].work == x) for x in xs_all]
    # the wide sizes sit close to n1m on this axis: their labels go on a second line
    ax.set_xticklabels([s if SIZES[s].hidden == 10 else "\n" + s for s in labels], fontsize=7)
    ax.minorticks_off()
    ax.grid(True, which="major", alpha=0.3)


def plots(idx: dict, results: list[Result], out_dir: str, title: str) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes, devices, impls = present(results)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    _plot_group(ax, idx, "train_step", sizes, devices, impls)
    ax.set_xlabel("size (x axis: samples × hidden width, log)")
    ax.set_ylabel("time per training step (s, log)")
    ax.set_title(f"One training step: {title}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    first = "train_step.png"
    fig.savefig(os.path.join(out_dir, first), dpi=130)
    plt.close(fig)

    groups = [g for g in GROUPS if g != "first_call" and any(r.group == g for r in results)]
    cols = 3
    rows = max(1, math.ceil(len(groups) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for k, g in enumerate(groups):
        ax = axes[k // cols][k % cols]
        _plot_group(ax, idx, g, sizes, devices, impls)
        ax.set_title(g, fontsize=9)
        ax.set_ylabel("s per call")
    for k in range(len(groups), rows * cols):
        axes[k // cols][k % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if labels:  # a run cut short may have timed nothing in the first group
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    second = "groups.png"
    fig.savefig(os.path.join(out_dir, second), dpi=110)
    plt.close(fig)
    return first, second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.summarize", description=__doc__.split("\n\n")[0])
    parser.add_argument("json", help="pytest-benchmark's --benchmark-json output (one run)")
    parser.add_argument("--out", required=True, help="directory for summary.md, throughput.md and the PNGs")
    parser.add_argument("--no-plot", action="store_true", help="tables only")
    parser.add_argument("--archive", action="store_true",
                        help="also write DIR/bench.json.gz: the JSON without per-round data, small enough to keep")
    args = parser.parse_args(argv)
    try:
        data, results = load(args.json)
    except (OSError, ValueError, KeyError) as e:
        print(f"summarize: cannot read {args.json}: {e}", file=sys.stderr)
        return 2
    if not results:
        print(f"summarize: {args.json} holds no timed results of this suite (was it run with --benchmark-disable?)",
              file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    env = data.get("machine_info", {}).get("bench", {}).get("environment", {})
    v = env.get("versions", {})
    gpu = env.get("gpu", {}).get("torch_device_name") or env.get("gpu", {}).get("mlx_device_name")
    title = f"{env.get('cpu_name', '?')}{' + ' + gpu if gpu else ''}; MLX {v.get('mlx')}, torch {v.get('torch')}"
    pngs = None if args.no_plot else plots(index(results), results, args.out, title)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(render(data, results, pngs))
    with open(os.path.join(args.out, "throughput.md"), "w") as f:
        f.write(throughput_report(results))
    if args.archive:
        for bench in data.get("benchmarks", []):
            bench.get("stats", {}).pop("data", None)
        with gzip.open(os.path.join(args.out, "bench.json.gz"), "wt") as f:
            json.dump(data, f)
    print(f"wrote {os.path.join(args.out, 'summary.md')}, throughput.md" + ("" if args.no_plot else f", {pngs[0]}, {pngs[1]}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
