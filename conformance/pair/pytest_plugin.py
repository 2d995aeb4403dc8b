"""A pytest fixture for checking your own MLX ports: ``mlx_port``.

Installed with this package, the plugin is found by pytest itself (entry point ``pytest11``);
otherwise add ``pytest_plugins = ["conformance.pair.pytest_plugin"]`` to your ``conftest.py``::

    def test_my_port(mlx_port):
        mlx_port(MyMLXModel(), MyTorchModel(), (X, y), loss="cross_entropy", optimizer=pair.Adam(1e-3))

``mlx_port`` takes ``conformance.pair.check``'s arguments, runs the lockstep and fails the test with
the report's summary and its first failure (``AssertionError``), or with the one line of a
``PairError`` for input the check cannot judge (no traceback); it returns the ``PairReport``. ``--port-device gpu``
runs the pairs on the GPU (MLX's Metal or CUDA with torch's CUDA or MPS).
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("conformance").addoption(
        "--port-device", default="cpu", choices=("cpu", "gpu"),
        help="where the mlx_port fixture runs both models (default cpu)")


@pytest.fixture
def mlx_port(request: pytest.FixtureRequest):
    from .engine import check

    from .errors import PairError

    def run(mlx_model, torch_model, batches, **kwargs):
        kwargs.setdefault("device", request.config.getoption("--port-device", default="cpu"))
        kwargs.setdefault("reproduce", f"python -m pytest {request.node.nodeid}")
        try:
            report = check(mlx_model, torch_model, batches, **kwargs)
        except PairError as e:  # input the check cannot judge: the test fails on one line, no traceback
            pytest.fail(f"mlx_port: {e}", pytrace=False)
        report.assert_conforms()
        return report
    return run
