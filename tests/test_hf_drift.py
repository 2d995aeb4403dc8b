"""The versions the hf pairs were tested with (pyproject.toml's [hf] extra): when an installed
version moves, this says which one and from what, so the matrix (docs/ARCHITECTURES.md) and the
findings are rerun before they are trusted. Needs the ``[hf]`` extra; marked ``hf``."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.hf
ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    line = re.search(r"^hf = \[(.*)\]$", text, re.M).group(1)
    return dict(re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"', line))


def test_the_extra_pins_what_the_matrix_names():
    pins = _pins()
    assert set(pins) == {"mlx-lm", "transformers", "peft"}, pins
    doc = (ROOT / "docs" / "ARCHITECTURES.md").read_text()
    for name in ("mlx-lm", "transformers"):
        assert f"{name} {pins[name]}" in doc, f"docs/ARCHITECTURES.md does not name {name} {pins[name]}"


@pytest.mark.parametrize("name", ["mlx-lm", "transformers", "peft", "mlx", "torch"])
def test_installed_versions_are_the_tested_ones(name):
    pytest.importorskip(name.replace("-", "_"), reason="needs the [hf] extra (pip install -e '.[hf]')")
    tested = {**_pins(), "mlx": "0.32.4", "torch": "2.13.0"}[name]
    installed = version(name).split("+")[0]
    assert installed == tested, (f"{name} moved from {tested} (tested) to {installed}: rerun python -m "
                                 "conformance.pair.hf.matrix and tests -m hf, then update the pins")
