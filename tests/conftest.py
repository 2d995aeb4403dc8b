"""Fixtures of the conformance suite: the device matrix, the precision mode, and ``conf``, the
one way a test judges a comparison (``conformance.compare`` under the tolerance table, with the
command that reproduces the test). Hypothesis profiles: "dev" by default, "ci" (derandomized)
when the environment sets ``CI``, "thorough" (300 examples a test) for a long hunt;
``HYPOTHESIS_PROFILE`` picks one by name. Tests marked ``slow`` (millions of rows) or ``distributed`` (process groups) are left out
unless ``-m`` names them: ``python -m pytest -m slow`` runs them alone, ``-m "slow or not slow"``
everything.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings

from conformance.compare import Check, assert_all, assert_close, compare_tree
from conformance.tolerances import adam_state_scales

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
               print_blob=True)
settings.register_profile("dev", max_examples=12, **_COMMON)
settings.register_profile("ci", max_examples=12, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=300, **_COMMON)  # HYPOTHESIS_PROFILE=thorough: minutes
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``slow``, ``hf`` (the transformers/mlx-lm pairs, the [hf] extra) and ``distributed``
    (process groups) tests unless the ``-m`` expression mentions them."""
    for marker in ("slow", "hf", "distributed"):
        if marker in (config.getoption("markexpr") or ""):
            continue
        left = [item for item in items if item.get_closest_marker(marker)]
        if left:
            config.hook.pytest_deselected(items=left)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]


def _settings(config):
    return config.conformance  # set by the root conftest.py from --device and --precision


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that takes ``device`` runs once per requested device; one that cannot run here
    is skipped with the reason, and GPU cases carry the ``gpu`` marker."""
    if "device" not in metafunc.fixturenames:
        return
    s = _settings(metafunc.config)
    params = []
    for device in s.devices:
        marks = [pytest.mark.gpu] if device == "gpu" else []
        if device in s.unavailable:
            marks.append(pytest.mark.skip(reason=f"--device {device}: {s.unavailable[device]}"))
        params.append(pytest.param(device, id=device, marks=marks))
    metafunc.parametrize("device", params)


@dataclass(frozen=True)
class Conformance:
    """Where a test runs, and how it judges: every comparison of the suite goes through here."""

    device: str
    mode: str  # float32 matmul precision in force on ``device``: "ieee" or "tf32"
    reproduce: str

    def close(self, actual, expected, *, path: str, kind: str, **kwargs) -> Check:
        """``assert_close`` under the table's tolerance for ``kind`` (and ``dtype``, ``step``)."""
        kwargs.setdefault("mode", self.mode)
        return assert_close(actual, expected, path=path, kind=kind, device=self.device, reproduce=self.reproduce,
                            **kwargs)

    def tree(self, actual: dict, expected: dict, *, path: str, kind: str, context: str | None = None,
             **kwargs) -> list[Check]:
        """``compare_tree`` + ``assert_all``: every tensor of two dicts (Adam's state is judged
        with ``adam_state_scales``)."""
        kwargs.setdefault("mode", self.mode)
        if kind == "optimizer_state" and "scales" not in kwargs:
            kwargs["scales"] = adam_state_scales(expected)
        checks = compare_tree(actual, expected, path=path, kind=kind, device=self.device, reproduce=self.reproduce,
                              **kwargs)
        assert_all(checks, context)
        return checks

    def decision(self, actual, expected, *, path: str, **kwargs) -> Check:
        """Decisions, counts and exchanged values: identical (the table's exact entry)."""
        return self.close(actual, expected, path=path, kind="decision", **kwargs)


def _reproduce(request: pytest.FixtureRequest, device: str) -> str:
    s = _settings(request.config)
    parts = ["python -m pytest", shlex.quote(request.node.nodeid), f"--device {device}"]
    if device == "gpu" and s.precision != "auto":
        parts.append(f"--precision {s.precision}")
    if os.environ.get("MLX_ENABLE_TF32") is not None:
        parts.insert(0, f"MLX_ENABLE_TF32={os.environ['MLX_ENABLE_TF32']}")
    return " ".join(parts)


@pytest.fixture
def conf(request: pytest.FixtureRequest, device: str) -> Conformance:
    return Conformance(device, _settings(request.config).modes.get(device, "ieee"), _reproduce(request, device))


@pytest.fixture
def conf_cpu(request: pytest.FixtureRequest) -> Conformance:
    """For tests of framework-free logic (scheduler decisions, early stopping, metrics from
    counts) that run on the CPU whatever ``--device`` says."""
    return Conformance("cpu", "ieee", _reproduce(request, "cpu"))
