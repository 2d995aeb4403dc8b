"""pytest options of the conformance suite, and its JSON report.

Options (``pytest --help``, group "conformance"):

- ``--device cpu,gpu``: where MLX and torch run: ``cpu``, ``gpu`` (MLX's Metal or CUDA backend with
  torch's MPS or CUDA), a comma-separated list, or ``all`` (every device available here). Default
  ``cpu``. A requested device that is not available here still gets its cases, skipped with the
  reason; ``-m "not gpu"`` deselects the GPU cases.
- ``--precision auto|ieee|tf32``: float32 matmuls on the GPU. torch is set to it; MLX reads
  ``MLX_ENABLE_TF32`` once per process, so MLX must already run in it (``MLX_ENABLE_TF32=0`` for
  ieee) or the run stops with what to do. ``auto`` (default) sets torch to whatever MLX does.
  Checks are judged under the table's entries for the mode in force (``conformance.tolerances``).
- ``--conformance-report=PATH``: write every check the tests judged (``assert_close``,
  ``assert_all``) with the outcome of every test, in the format of ``python -m conformance --json``.
  Write it with ``=``: pytest reads options of a conftest only after choosing its root directory,
  and a bare existing PATH (``--conformance-report out/r.json``) would count as a test path.

This file also keeps the repository root importable when pytest runs from a checkout without an
install (pytest puts a root conftest's directory on ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.sides import torch_cudnn_first

torch_cudnn_first()  # before any test module imports MLX (see conformance.sides)

DEVICES = ("cpu", "gpu")


@dataclass
class Settings:
    devices: list[str]
    unavailable: dict[str, str]  # requested device -> why it cannot run here
    precision: str  # the --precision option
    absent: dict[str, str] = field(default_factory=dict)  # devices "all" left out -> why
    modes: dict[str, str] = field(default_factory=dict)  # device -> float32 matmul mode in force
    report: str | None = None
    checks: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    current: str | None = None
    observer: object = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "MLX against PyTorch conformance")
    group.addoption("--device", default="cpu", metavar="LIST",
                    help="where MLX and torch run: cpu, gpu, a comma-separated list, or all (every available "
                         "device); default cpu. Unavailable devices are skipped with the reason")
    group.addoption("--precision", default="auto", choices=("auto", "ieee", "tf32"),
                    help="float32 matmul precision on the GPU: torch is set to it and MLX must already run in it "
                         "(MLX_ENABLE_TF32=0 for ieee); auto: torch follows MLX. Default auto")
    group.addoption("--conformance-report", metavar="PATH",
                    help="write every judged check and every test's outcome as JSON (the format of "
                         "python -m conformance --json)")


def _gpu_problem() -> str | None:
    """Why the GPU cannot run both frameworks here, or None."""
    from mlx_reference.device import gpu_backend as mlx_gpu
    from reference_torch.device import gpu_backend as torch_gpu

    missing = []
    if mlx_gpu() is None:
        missing.append("MLX has no GPU backend here (neither Metal nor CUDA)")
    if torch_gpu() is None:
        missing.append("torch has no GPU backend here (neither CUDA nor MPS)")
    return "; ".join(missing) or None


def pytest_configure(config: pytest.Config) -> None:
    raw = [d.strip() for d in str(config.getoption("--device")).split(",") if d.strip()]
    unknown = [d for d in raw if d not in (*DEVICES, "all")]
    if unknown or not raw:
        raise pytest.UsageError(f"--device {config.getoption('--device')!r}: unknown device(s) {unknown}; "
                                "use cpu, gpu, a comma-separated list such as cpu,gpu, or all")
    unavailable: dict[str, str] = {}
    if "gpu" in raw or "all" in raw:
        problem = _gpu_problem()
        if problem:
            unavailable["gpu"] = problem
    devices: list[str] = []
    for d in raw:  # "all": what is available; a device named explicitly stays, to be skipped with its reason
        devices += (["cpu"] + ([] if "gpu" in unavailable else ["gpu"])) if d == "all" else [d]
    devices = list(dict.fromkeys(devices))
    settings = Settings(devices=devices, unavailable={d: why for d, why in unavailable.items() if d in devices},
                        precision=config.getoption("--precision"),
                        absent={d: why for d, why in unavailable.items() if d not in devices})
    for device in devices:
        if device not in unavailable:
            settings.modes[device] = _set_precision(device, settings.precision)
    report = config.getoption("--conformance-report")
    if report:
        parent = Path(report).resolve().parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise pytest.UsageError(f"--conformance-report {report}: cannot write in {parent}; choose another path")
        settings.report = report
    config.conformance = settings  # read by tests/conftest.py


def _set_precision(device: str, precision: str) -> str:
    """Put both frameworks' float32 matmuls on ``device`` in the requested mode; return the mode
    the comparisons are judged under."""
    if device == "cpu":
        return "ieee"
    import mlx_reference.device as mlx_device
    import reference_torch.device as torch_device

    target = mlx_device.precision_mode("gpu") if precision == "auto" else precision
    try:
        mlx_device.set_precision_mode(target)
    except RuntimeError as e:
        raise pytest.UsageError(f"--precision {precision}: {e}") from None
    torch_device.set_precision_mode(target)
    from conformance.runner import precision_mode

    return precision_mode("gpu")


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.conformance
    lines = []
    for device in DEVICES:
        if device in s.devices and device in s.unavailable:
            lines.append(f"conformance: {device}: requested, SKIPPED: {s.unavailable[device]}")
        elif device in s.devices:
            lines.append(f"conformance: {device}: float32 matmuls {s.modes[device]}")
        elif device in s.absent:
            lines.append(f"conformance: {device}: not available here ({s.absent[device]})")
        else:
            lines.append(f"conformance: {device}: not requested (--device cpu,gpu or --device all runs it)")
    spec = importlib.util.find_spec("mlx_reference")
    lines.append(f"conformance: mlx_reference from {Path(spec.origin).parent if spec and spec.origin else '?'}")
    return lines


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    s = item.config.conformance
    s.current = item.nodeid
    yield
    s.current = None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    s = _settings
    if s is None or s.report is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        entry = {"test": report.nodeid, "outcome": report.outcome, "duration_s": round(report.duration, 4)}
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            entry["reason"] = str(report.longrepr[2])
        elif report.outcome == "failed":
            entry["message"] = str(getattr(report.longrepr, "reprcrash", None) and report.longrepr.reprcrash.message)
        s.tests.append(entry)


_settings: Settings | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _settings
    _settings = session.config.conformance
    if _settings.report is None:
        return
    from conformance.compare import add_observer

    def record(check) -> None:
        item = check.to_json()
        item["test"] = _settings.current
        _settings.checks.append(item)

    add_observer(record)
    _settings.observer = record


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    s = _settings
    if s is None or s.report is None:
        return
    from conformance.compare import remove_observer
    from conformance.report import report_payload, write_json

    remove_observer(s.observer)
    write_json(s.report, report_payload(
        "pytest", s.checks, [d for d in s.devices if d not in s.unavailable] or ["cpu"],
        options={"device": ",".join(s.devices), "precision": s.precision, "modes": s.modes,
                 "unavailable": s.unavailable, "args": list(session.config.invocation_params.args)},
        tests=s.tests, exitstatus=int(exitstatus),
    ))
