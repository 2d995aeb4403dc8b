"""Time each call correctly: devices, warm-up, rounds, the machine's load, the environment.

The calls themselves are built in ``calls.py`` (each ends with its work finished: MLX evaluated,
torch synchronized). Warm-up calls and compilation happen before the clock starts; the first
call's time is kept as its own figure (``first_call_s``).
"""

from __future__ import annotations

import gc
import math
import os
import platform
import shutil
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from typing import Iterator

import numpy as np

from .calls import Run, build, check_result
from .cases import COMPILED_TORCH, IMPLS, IN_FEATURES, Size


# ---- devices ------------------------------------------------------------------------------


def device_module(framework: str):
    if framework == "mlx":
        import mlx_reference.device as dev
    else:
        import reference_torch.device as dev
    return dev


def unavailable(framework: str, device: str) -> str | None:
    """Why ``framework`` cannot run on ``device`` here, or None when it can."""
    if device == "cpu":
        return None
    dev = device_module(framework)
    if dev.gpu_backend() is None:
        what = "MLX has no GPU backend here (neither Metal nor CUDA)" if framework == "mlx" else \
            "torch has no GPU backend here (neither CUDA nor MPS)"
        return what
    return None


@contextmanager
def on_device(framework: str, device: str) -> Iterator[None]:
    with device_module(framework).use_device(device):
        yield


def timing_context(framework: str, device: str):
    """Where timed calls run. MLX: inside ``use_device`` (MLX runs each op on the default device).
    torch: outside it. Its objects are built on the device inside ``use_device``, but
    ``torch.set_default_device`` (which ``use_device`` calls) routes every torch call through a
    Python function mode, a per-op cost plain torch code does not pay; the timed torch calls
    create nothing without an explicit device, so they need no default device. (The pipeline
    group is the exception: ``run_pipeline`` enters ``use_device`` itself, as the product does.)"""
    return on_device(framework, device) if framework == "mlx" else nullcontext()


def release_memory(framework: str, device: str) -> None:
    """Give cached device memory back between benchmarks (outside every timed region)."""
    gc.collect()
    if framework == "mlx":
        import mlx.core as mx

        mx.clear_cache()
    elif device == "gpu":
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        elif getattr(torch, "mps", None) is not None and torch.backends.mps.is_available():
            torch.mps.empty_cache()


def match_precision(requested: str | None = None) -> str:
    """Make torch's float32 matmul precision match MLX's, and return the mode ("ieee"/"tf32").

    MLX fixes its mode when its CUDA backend starts (``MLX_ENABLE_TF32``); torch follows it.
    """
    import mlx_reference.device as mdev
    import reference_torch.device as tdev

    mode = mdev.precision_mode("gpu") if mdev.gpu_backend() else "ieee"
    if requested is not None and mdev.gpu_backend() == "cuda":
        mdev.set_precision_mode(requested)  # raises with the fix when MLX started in the other mode
        mode = requested
    tdev.set_precision_mode(mode)
    return mode


# ---- rounds and iterations ----------------------------------------------------------------


class TooSlow(Exception):
    """A call too slow for the time budget: the test is skipped with this reason."""


def measure(benchmark, run: Run, budget_s: float, target_s: float, predicted: tuple[float, str] | None = None,
            quiet_s: float = 0.0, min_round_s: float = 1e-3, compiles: bool = False) -> tuple[object, dict]:
    """Warm up ``run`` (untimed), then time it with ``benchmark.pedantic``.

    - ``predicted``: (seconds per call, how it was predicted), from the same group at a smaller
      size; when that many seconds times the minimum calls cannot fit ``budget_s``, the call is
      skipped before it runs (``TooSlow``);
    - the first call (compilation, kernel JIT, allocations) is timed on its own: ``first_call_s``;
      when it alone takes more than half the budget, the benchmark is skipped, unless ``compiles``
      (``mx.compile``, ``torch.compile``): then compiling is what the first call does, and the
      budget counts from the second call on;
    - more warm-up calls until 2 more calls (1 after a first call of a second or more) and 0.1 s,
      or 10 calls; their median is the estimate;
    - iterations per round so that a round lasts at least ``min_round_s`` (timer resolution and
      per-round overhead stay far below the figure); rounds so that the timed part lasts about
      ``target_s``: at least 5 rounds (3 for calls over 0.5 s), at most 2 000;
    - ``quiet_s`` > 0: one call per round, and before the rounds and between them (every 50 ms)
      wait, up to ``quiet_s`` in all, while other processes hold the CPUs (``QuietGate``); the
      load during the rounds is recorded either way.

    With ``--benchmark-disable`` the call runs once, untimed, without warm-up.
    """
    if benchmark.disabled:
        result = benchmark.pedantic(run, rounds=1, iterations=1)
        return result, {"mode": "disabled: one untimed call"}
    if predicted is not None and predicted[0] * 5 > budget_s:
        if math.isinf(predicted[0]):
            raise TooSlow(predicted[1])
        raise TooSlow(f"one call would take at least {predicted[0]:.2g} s ({predicted[1]}): two warm-up calls "
                      f"and 3 rounds do not fit the budget of {budget_s:g} s per benchmark (--bench-budget)")
    start = time.perf_counter()
    result = run()
    first = time.perf_counter() - start
    if compiles:
        start = time.perf_counter()
    elif first * 2 > budget_s:  # a slow first call may be compilation: the next call decides, if it fits
        raise TooSlow(f"its first call took {first:.2g} s, more than half the budget of {budget_s:g} s "
                      "per benchmark (--bench-budget)")
    times: list[float] = []
    warm_start = time.perf_counter()
    warmups = 1 if first >= 1.0 and not compiles else 2
    while len(times) < warmups or (len(times) < 10 and time.perf_counter() - warm_start < 0.1):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start + statistics.median(times) * 3 > budget_s:
            break
    estimate = statistics.median(times)
    min_rounds = 5 if estimate < 0.5 else 3
    left = budget_s - (time.perf_counter() - start)
    if estimate * min_rounds > left:
        raise TooSlow(f"one call takes {estimate:.2g} s: {min_rounds} rounds do not fit the budget of "
                      f"{budget_s:g} s per benchmark (--bench-budget)")
    # with a quiet gate, every round is one call (pytest-benchmark runs a setup hook only then)
    iterations = 1 if quiet_s > 0 else max(1, math.ceil(min_round_s / estimate))
    rounds = int(min(max(target_s / (estimate * iterations), min_rounds), 2000,
                     max(left / (estimate * iterations), min_rounds)))
    gate = QuietGate(quiet_s) if quiet_s > 0 else None
    if gate:
        gate.wait()
    load = CpuLoad()
    result = benchmark.pedantic(run, rounds=rounds, iterations=iterations, warmup_rounds=0, setup=gate)
    external = gate.external() if gate else load.external()
    if result is None:  # pedantic returns the last result; keep the warm-up's otherwise
        result = run()
    info = {"first_call_s": first, "warmup_calls": 1 + len(times), "estimate_s": estimate,
            "rounds": rounds, "iterations": iterations, "external_cpu_load": external}
    if gate:
        info.update(quiet_gate_pauses=gate.pauses, waited_for_quiet_s=round(gate.waited, 2))
    return result, info


class QuietGate:
    """pytest-benchmark ``setup`` hook (outside the timed region): every 50 ms of rounds, look at
    what other processes did with the CPUs since the last look; if they held more than 10%,
    pause until they leave (at most ``max_wait_s`` in all). Only rounds that straddle the start
    of someone else's work can still be disturbed. ``external()`` is the other processes' share
    of the CPUs while rounds ran (pauses excluded)."""

    def __init__(self, max_wait_s: float, threshold: float = 0.1, window_s: float = 0.05):
        self.max_wait_s, self.threshold, self.window_s = max_wait_s, threshold, window_s
        self.waited, self.pauses = 0.0, 0
        self.round_time = self.busy_time = 0.0
        self.load = CpuLoad()

    def wait(self) -> None:
        if self.waited < self.max_wait_s:
            self.waited += wait_for_quiet(self.max_wait_s - self.waited, self.threshold)
        self.load = CpuLoad()

    def _close_window(self) -> float | None:
        elapsed = time.perf_counter() - self.load.start[0]
        busy = self.load.external()
        if busy is not None:
            self.round_time += elapsed
            self.busy_time += busy * elapsed
        return busy

    def __call__(self) -> None:
        if time.perf_counter() - self.load.start[0] < self.window_s:
            return
        busy = self._close_window()
        if busy is not None and busy > self.threshold:
            self.pauses += 1
            self.wait()
        else:
            self.load = CpuLoad()

    def external(self) -> float | None:
        self._close_window()
        self.load = CpuLoad()
        return round(self.busy_time / self.round_time, 3) if self.round_time > 0 else None


def wait_for_quiet(max_wait_s: float, threshold: float = 0.1, window_s: float = 0.3) -> float:
    """Sleep in windows of ``window_s`` until other processes use less than ``threshold`` of the
    CPUs over one window, or ``max_wait_s`` has passed. Returns the seconds waited."""
    start = time.perf_counter()
    while True:
        load = CpuLoad()
        time.sleep(window_s)
        busy = load.external()
        waited = time.perf_counter() - start
        if busy is None or busy < threshold or waited >= max_wait_s:
            return round(waited - window_s, 2) if waited >= window_s else 0.0


class CpuLoad:
    """How busy other processes kept this machine's CPUs while the rounds ran (Linux).

    ``external()`` is the CPU time of everything but this process, as a fraction of all cores
    over the interval: 0 on a quiet machine; 0.5 on 2 cores means another process held one core
    (then timings on the CPU are not trustworthy). None where /proc/stat is missing.
    """

    def __init__(self):
        self.start = (time.perf_counter(), self._busy(), self._own())

    @staticmethod
    def _busy() -> float | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system

    def external(self) -> float | None:
        wall0, busy0, own0 = self.start
        wall, busy, own = time.perf_counter() - wall0, self._busy(), self._own() - own0
        if busy is None or busy0 is None or wall <= 0:
            return None
        return round(max(0.0, (busy - busy0 - own) / (wall * (os.cpu_count() or 1))), 3)


# ---- the environment ----------------------------------------------------------------------


def blas_libraries() -> list[str]:
    """BLAS/LAPACK libraries mapped into this process (Linux), e.g. MLX's reference libblas."""
    try:
        with open("/proc/self/maps") as f:
            names = {os.path.basename(line.split()[-1]) for line in f if line.rstrip().endswith(".so") or ".so." in line}
    except OSError:
        return []
    keys = ("blas", "lapack", "mkl", "openblas", "accelerate", "dnnl", "cublas")
    return sorted(n for n in names if any(k in n.lower() for k in keys))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def environment() -> dict:
    """Versions, devices, thread counts: the same for every result of a session."""
    import mlx.core as mx
    import torch

    import mlx_reference.device as mdev
    import reference_torch.device as tdev

    info = {
        "versions": {
            "python": platform.python_version(), "mlx": mx.__version__, "torch": torch.__version__,
            "numpy": np.__version__, "torch_cuda": torch.version.cuda,
            "platform": platform.platform(),
        },
        "cpu_name": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": {
            "torch_intra_op": torch.get_num_threads(),
            "torch_inter_op": torch.get_num_interop_threads(),
            "mlx": "MLX has no thread-count setting: CPU ops run on its CPU stream's thread; "
                   "matmuls call the linked BLAS (see blas)",
            "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                    if k in os.environ},
        },
        "blas": blas_libraries(),
        # MLX's CPU backend fuses a compiled graph's elementwise ops into C++ kernels it builds
        # with g++ (cached under $TMPDIR/mlx); without g++ on PATH, mx.compile still runs, unfused
        "mlx_cpu_kernel_compiler": shutil.which("g++"),
        "gpu": {
            "mlx_backend": mdev.gpu_backend(), "torch_backend": tdev.gpu_backend(),
            "mlx_device_name": _safe(lambda: mdev.device_name("gpu")) if mdev.gpu_backend() else None,
            "torch_device_name": _safe(lambda: tdev.device_name("gpu")) if tdev.gpu_backend() else None,
        },
        "env": {k: os.environ[k] for k in ("MLX_ENABLE_TF32", "CUDA_VISIBLE_DEVICES") if k in os.environ},
    }
    try:
        info["loadavg_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def describe(framework: str, device: str) -> dict:
    """Backend and device name of one framework on one device."""
    dev = device_module(framework)
    name = cpu_name() if device == "cpu" else _safe(lambda: dev.device_name(device))
    return {"backend": dev.backend(device), "device_name": name}


def _safe(fn, default: str = "unknown"):
    """A descriptive value that must never fail a benchmark (e.g. a device name query)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        return f"{default} ({type(e).__name__}: {e})"


def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python() -> str:
    return sys.executable


# ---- one benchmark test -------------------------------------------------------------------


def predict(settings, group: str, size: Size, impl: str, device: str, w) -> tuple[float, str] | None:
    """A lower-bound guess of one call's seconds, from what this session measured already:

    - the same group at the largest smaller size whose time per optimizer step was at least
      20 ms (so fixed per-call costs do not dominate it), times the work ratio (the larger of
      the FLOP and unfused-byte ratios);
    - for "epoch" and "pipeline", the training step at the same size: an epoch does at least a
      full-batch step's arithmetic, the pipeline ``epochs`` steps on its training split (60%);
      when that step was itself too slow for the budget, so are they.

    None when nothing applies; ``inf`` (with the reason) when the training step was too slow.
    """
    guesses: list[tuple[float, str]] = []
    usable = [(s, w0, t) for s, w0, t in settings.history.get((group, impl, device), [])
              if t / max(w0.steps, 1) >= 0.02 and w0.flops < w.flops]
    if usable:
        size_id, w0, t = max(usable, key=lambda h: h[1].flops)
        factor = max(w.flops / w0.flops, w.bytes_unfused / w0.bytes_unfused)
        guesses.append((t * factor, f"extrapolated from {t:.2g} s at {size_id} times the work ratio {factor:.3g}"))
    if group in ("epoch", "pipeline"):
        slow = settings.too_slow.get(("train_step", size.id, impl, device))
        if slow:
            return math.inf, f"one training step at this size was already too slow ({slow})"
        step = [t for s, _, t in settings.history.get(("train_step", impl, device), []) if s == size.id]
        if step:
            factor = 1.0 if group == "epoch" else size.epochs * 0.6
            guesses.append((step[0] * factor, f"{factor:g} x the training step's {step[0]:.2g} s at this size"))
    return max(guesses) if guesses else None


def run_benchmark(group: str, benchmark, bench_case, bench_info, settings) -> None:
    """Build, warm up, time and check one cell of the matrix; skip it with the reason when the
    device is missing or the call is too slow for the budget."""
    import pytest

    from .cases import SIZES, work

    impl, device, size_id, _ = bench_case
    info, reason = bench_info
    size = SIZES[size_id]
    framework = IMPLS[impl][0]
    benchmark.group = f"{group} {size_id}"
    if reason:
        benchmark.skipped = True
        pytest.skip(reason)
    w = work(group, size)
    benchmark.extra_info.update(info)
    benchmark.extra_info.update(
        group=group, size=size_id, size_label=size.label, n=size.n, hidden=size.hidden,
        in_features=IN_FEATURES, n_params=size.n_params,
        batch_size=size.batch_size if group == "epoch" else size.n,
        epochs=size.epochs if group == "pipeline" else None, **w.as_dict())
    key = (group, impl, device)
    if settings.deadline is not None and not settings.disabled and time.monotonic() - settings.started > settings.deadline:
        benchmark.skipped = True
        pytest.skip(f"the session ran past --bench-deadline={settings.deadline:g} s")
    predicted = predict(settings, group, size, impl, device, w)
    run = None
    try:
        with on_device(framework, device):
            run = build(group, impl, device, size)
        with timing_context(framework, device):
            result, timing = measure(benchmark, run, settings.budgets[device], settings.target, predicted, settings.quiet,
                                     compiles=impl in ("mlx-compiled",) + COMPILED_TORCH)
            check_result(result)
            result = None
    except TooSlow as e:
        benchmark.skipped = True
        settings.too_slow[(group, size_id, impl, device)] = str(e)
        pytest.skip(f"{group} at {size_id} ({impl} on {device}): {e}")
    finally:
        run = None
        release_memory(framework, device)
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is not None:
        settings.history.setdefault(key, []).append((size_id, w, stats.median))
    benchmark.extra_info.update(timing)
