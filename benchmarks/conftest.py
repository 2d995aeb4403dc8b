"""Options, parametrization and fixtures of the benchmark suite.

    python -m pytest benchmarks                                   # the CPU matrix
    python -m pytest benchmarks --bench-device cpu,gpu --benchmark-json OUT.json
    python -m pytest benchmarks --benchmark-disable -q            # CI: every benchmark once, quick sizes

Options (besides pytest-benchmark's own ``--benchmark-*``):

--bench-device      cpu, gpu or cpu,gpu (default cpu); "all": every device present. A device a
                    framework lacks is skipped with the reason (e.g. torch without CUDA/MPS).
--bench-sizes       comma list of size ids from benchmarks/cases.py, or "all" (default: all;
                    with --bench-quick or --benchmark-disable: doc5,n1k)
--bench-impls       comma list of implementations from benchmarks/cases.py (mlx-compiled,
                    mlx-eager, torch-eager, torch-foreach, torch-fused, torch-compile,
                    torch-compile-ro), or "all" (default). Each group times those of them it
                    applies to (cases.GROUP_IMPLS); torch-compile-ro only on CUDA. With
                    --benchmark-disable, torch's compiled variants run at the first size only
                    (each compilation costs seconds on a CPU)
--bench-quick       the quick matrix: sizes doc5,n1k and no cold-cache first-call runs
--bench-budget      seconds one benchmark may take, warm-up included (default 30), or per
                    device, e.g. cpu=15,gpu=40: a call too slow for it is skipped, and the skip
                    says how long one call took (or would take, extrapolated from smaller sizes)
--bench-deadline    seconds after which every benchmark still to run is skipped (default: none),
                    a safety net for a machine lent for a fixed time
--bench-time        seconds of timed rounds to aim for per benchmark (default 0.5)
--bench-quiet       for a shared machine: one call per round, and before and between rounds
                    pause while other processes hold the CPUs, up to this many seconds per
                    benchmark (default 0: no pauses; the load during the rounds is recorded in
                    every result either way)
--bench-precision   ieee or tf32: float32 matmul precision on CUDA for both frameworks. MLX
                    reads MLX_ENABLE_TF32 once when it starts, so this sets it before MLX is
                    imported and fails if MLX already started in the other mode. Default: MLX's
                    own (tf32 on CUDA unless MLX_ENABLE_TF32=0); torch is made to match.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from benchmarks.cases import COMPILED_TORCH, DEVICES, GROUP_IMPLS, GROUPS, IMPLS, QUICK_SIZES, SIZES


def pytest_addoption(parser):
    group = parser.getgroup("bench", "MLX vs PyTorch benchmarks (benchmarks/)")
    group.addoption("--bench-device", default="cpu", help="cpu, gpu, cpu,gpu or all (default: cpu)")
    group.addoption("--bench-sizes", default=None, help=f"comma list of {','.join(SIZES)} or all")
    group.addoption("--bench-impls", default="all", help=f"comma list of {','.join(IMPLS)} or all")
    group.addoption("--bench-quick", action="store_true", help="quick matrix: doc5,n1k, no cold first-call runs")
    group.addoption("--bench-budget", default="30", help="seconds per benchmark, warm-up included: 30, or cpu=15,gpu=40")
    group.addoption("--bench-deadline", type=float, default=None,
                    help="seconds after which the remaining benchmarks of the session are skipped (a safety net)")
    group.addoption("--bench-time", type=float, default=0.5, help="seconds of timed rounds per benchmark")
    group.addoption("--bench-quiet", type=float, default=0.0,
                    help="pause before and between rounds while other processes hold the CPUs, up to this many seconds per benchmark")
    group.addoption("--bench-precision", choices=("ieee", "tf32"), default=None,
                    help="float32 matmul precision on CUDA (sets MLX_ENABLE_TF32 before MLX starts)")


class Settings:
    def __init__(self, config):
        disabled = bool(config.getoption("benchmark_disable", False))
        self.quick = bool(config.getoption("--bench-quick")) or (disabled and config.getoption("--bench-sizes") is None)
        sizes = config.getoption("--bench-sizes")
        if sizes in (None, "all"):
            self.sizes = list(QUICK_SIZES) if self.quick and sizes is None else list(SIZES)
        else:
            self.sizes = [s.strip() for s in sizes.split(",") if s.strip()]
            unknown = [s for s in self.sizes if s not in SIZES]
            if unknown:
                raise pytest.UsageError(f"--bench-sizes: unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
        impls = config.getoption("--bench-impls")
        self.impls = list(IMPLS) if impls == "all" else [i.strip() for i in impls.split(",") if i.strip()]
        unknown = [i for i in self.impls if i not in IMPLS]
        if unknown or not self.impls:
            raise pytest.UsageError(f"--bench-impls: unknown implementation(s) {', '.join(unknown) or impls!r}; "
                                    f"choose from {', '.join(IMPLS)} or all")
        devices = config.getoption("--bench-device")
        self.devices = list(DEVICES) if devices == "all" else [d.strip() for d in devices.split(",") if d.strip()]
        unknown = [d for d in self.devices if d not in DEVICES]
        if unknown or not self.devices:
            raise pytest.UsageError(f"--bench-device: unknown device(s) {', '.join(unknown) or devices!r}; use cpu, gpu, cpu,gpu or all")
        self.budgets = _budgets(config.getoption("--bench-budget"))
        self.deadline = config.getoption("--bench-deadline")
        self.target = config.getoption("--bench-time")
        self.precision = config.getoption("--bench-precision")
        self.quiet = config.getoption("--bench-quiet")
        self.disabled = disabled
        self.started = time.monotonic()
        self.history: dict = {}  # (group, impl, device) -> [(size, work, median)], for predictions
        self.too_slow: dict = {}  # (group, size, impl, device) -> why it was skipped


def _budgets(text: str) -> dict[str, float]:
    """"30" -> the same for every device; "cpu=15,gpu=40" -> per device (unnamed devices: 30)."""
    try:
        if "=" not in text:
            return {d: float(text) for d in DEVICES}
        out = {d: 30.0 for d in DEVICES}
        for part in text.split(","):
            device, value = part.split("=")
            if device.strip() not in DEVICES:
                raise ValueError(device)
            out[device.strip()] = float(value)
        return out
    except ValueError:
        raise pytest.UsageError(f"--bench-budget {text!r}: give seconds (30) or seconds per device (cpu=15,gpu=40)") from None


def pytest_configure(config):
    settings = Settings(config)
    config._bench = settings
    if settings.precision is not None:
        flag = "0" if settings.precision == "ieee" else "1"
        if "mlx.core" in sys.modules and os.environ.get("MLX_ENABLE_TF32", "1") != flag:
            raise pytest.UsageError(f"--bench-precision {settings.precision}: MLX started before this option "
                                    f"could set MLX_ENABLE_TF32={flag}; set it in the environment instead")
        os.environ["MLX_ENABLE_TF32"] = flag


def _cases(group: str, settings: Settings):
    sizes = list(settings.sizes)
    if group == "adam_update":  # Adam's work depends only on the parameters: one size per hidden width
        widths: dict[int, str] = {}
        for s in sizes:
            widths.setdefault(SIZES[s].hidden, s)
        sizes = list(widths.values())
    if group == "first_call":
        sizes = [s for s in sizes if s == "doc5"] or sizes[:1]
    impls = [i for i in GROUP_IMPLS[group] if i in settings.impls]
    for size in sizes:
        for device in settings.devices:
            for impl in impls:
                if impl in COMPILED_TORCH and settings.disabled and size != sizes[0]:
                    continue  # CI: each compilation costs seconds on a CPU; one size shows the code runs
                if impl == "torch-compile-ro" and device == "cpu":
                    continue  # reduce-overhead is CUDA graphs; on the CPU it is the default mode
                if group == "first_call" and (impl.startswith("mlx") or impl in COMPILED_TORCH):
                    caches = ("warm",) if settings.quick else ("cold", "warm")
                    for cache in caches:
                        yield pytest.param((impl, device, size, cache), id=f"{size}-{device}-{impl}-{cache}-cache")
                else:
                    yield pytest.param((impl, device, size, None), id=f"{size}-{device}-{impl}")


def pytest_generate_tests(metafunc):
    if "bench_case" in metafunc.fixturenames:
        group = metafunc.function.__name__.removeprefix("test_")
        if group not in GROUPS:
            raise pytest.UsageError(f"{metafunc.function.__name__}: a benchmark test is named test_<group>, group one of {', '.join(GROUPS)}")
        metafunc.parametrize("bench_case", list(_cases(group, metafunc.config._bench)))
    if "variant_device" in metafunc.fixturenames:  # test_torch_variants.py: the session's devices
        metafunc.parametrize("variant_device", metafunc.config._bench.devices)


@pytest.fixture(scope="session")
def settings(request) -> Settings:
    return request.config._bench


@pytest.fixture(scope="session")
def precision_mode(settings) -> str:
    """The float32 matmul precision of this whole session, with torch matched to MLX."""
    from benchmarks.harness import match_precision

    return match_precision(settings.precision)


@pytest.fixture(scope="session")
def device_peaks(request, settings, precision_mode) -> dict:
    """Per device: peak FLOP/s and bandwidth (published or measured) and one-op latency.
    Measured once a session, only when benchmarks are timed."""
    peaks: dict = {}
    request.config._bench_peaks = peaks
    if settings.disabled:
        return peaks
    from benchmarks import harness, peaks as probes

    if settings.quiet > 0:
        harness.wait_for_quiet(settings.quiet)
    # a failing probe costs the summary its floors, never the run its results
    if "cpu" in settings.devices:
        try:
            peaks["cpu"] = probes.probe_cpu()
        except Exception as e:  # noqa: BLE001
            peaks["cpu"] = {"error": f"{type(e).__name__}: {e}"}
    if "gpu" in settings.devices:
        mlx_ok = harness.unavailable("mlx", "gpu") is None
        torch_ok = harness.unavailable("torch", "gpu") is None
        if mlx_ok or torch_ok:
            env = harness.environment()["gpu"]
            name = env["torch_device_name"] or env["mlx_device_name"]
            try:
                peaks["gpu"] = probes.probe_gpu(precision_mode, torch_ok, mlx_ok, name)
            except Exception as e:  # noqa: BLE001
                peaks["gpu"] = {"error": f"{type(e).__name__}: {e}"}
            peaks["gpu"]["device_name"] = name
    return peaks


@pytest.fixture
def bench_info(bench_case, settings, precision_mode, device_peaks):
    """The common extra_info of one result (versions, device, dtype, precision, threads, peaks)."""
    from benchmarks import harness

    impl, device, size_id, cache = bench_case
    framework, variant = IMPLS[impl]
    env = harness.environment()
    info = {
        "framework": framework, "variant": variant, "impl": impl, "device": device,
        "dtype": "float32", "precision_mode": precision_mode if device == "gpu" else "ieee",
        "session_precision_mode": precision_mode,
        "versions": env["versions"], "threads": env["threads"], "blas": env["blas"],
        "cpu_count": env["cpu_count"],
    }
    reason = harness.unavailable(framework, device)
    if framework == "torch":
        from benchmarks import torch_variants as tv

        info["variant_label"] = tv.VARIANTS[impl].label
        if reason is None:
            import reference_torch.device as tdev

            reason = tv.not_applicable(impl, device, tdev.backend(device))
    if reason is None:
        info.update(harness.describe(framework, device))
    if device in device_peaks:
        p = device_peaks[device]
        info["peak"] = {k: p.get(k) for k in ("flops_peak", "flops_source", "bw_peak", "bw_source")}
        info["peak"]["latency_s"] = p.get("latency_s", {}).get(framework)
    return info, reason


_SKIPS: list[dict] = []


def pytest_runtest_logreport(report):
    """Keep every skipped benchmark's reason, so the JSON (and the summary) can say why a cell is empty."""
    if report.skipped and "test_bench_" in report.nodeid:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPS.append({"test": report.nodeid.split("::")[-1], "reason": reason.removeprefix("Skipped: ")})


def pytest_benchmark_update_machine_info(config, machine_info):
    """Session-wide facts in the JSON: the environment, the peaks, the options, the command."""
    from benchmarks import harness

    settings = getattr(config, "_bench", None)
    if settings is None:
        return
    machine_info["bench"] = {
        "environment": harness.environment(),
        "peaks": getattr(config, "_bench_peaks", {}),
        "options": {"devices": settings.devices, "sizes": settings.sizes, "impls": settings.impls, "quick": settings.quick,
                    "budget_s": settings.budgets, "deadline_s": settings.deadline, "time_s": settings.target, "precision": settings.precision},
        "command": "python -m pytest " + " ".join(config.invocation_params.args),
        "skipped": list(_SKIPS),
    }
    try:
        machine_info["bench"]["loadavg_at_end"] = os.getloadavg()
    except OSError:
        pass
