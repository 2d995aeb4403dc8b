"""Fixtures of the porting guide's proofs."""

from __future__ import annotations

import pytest

from mlx_reference import device as MDEV


@pytest.fixture(autouse=True)
def _mlx_on_the_cpu(request):
    """The registry's numbers are CPU numbers: run MLX on the CPU (as torch's default device is),
    except in the tests that are about the GPU."""
    if request.node.get_closest_marker("gpu"):
        yield
    else:
        with MDEV.use_device("cpu"):
            yield
