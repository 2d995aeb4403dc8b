"""The data-parallel averaging bound (``conformance.distributed.verdict.averaging_bound``): it holds
for float32 averages of W gradients against float64, and the check built on it fails just outside."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.distributed.verdict import averaging_bound
from conformance.ledger import Ledger, Segments
from conformance.local import LocalChecker, Shadow


@pytest.fixture(scope="module")
def checker():
    shadow = Shadow("mlx", 2, 10, 1e-3, False, "cpu")
    return LocalChecker(shadow, None, None, Ledger(), {"mlx": "ieee", "torch": "ieee"})


@pytest.mark.parametrize("W", [2, 3, 8])
def test_float32_average_within_bound(checker, W):
    rng = np.random.default_rng(W)
    g = [(rng.standard_normal(4096) * 10.0 ** rng.uniform(-6, 0, 4096)).astype(np.float32) for _ in range(W)]
    exact = np.sum([x.astype(np.float64) for x in g], axis=0) / W
    total = np.zeros(4096, np.float32)
    for x in g:  # a W-term float32 sum, then the division (nn.average_gradients' order)
        total = total + x
    summed_then_divided = total / np.float32(W)
    divided_then_summed = np.sum([x / np.float32(W) for x in g], axis=0, dtype=np.float32)  # DDP's order
    bound = averaging_bound(checker, g)
    for got in (summed_then_divided, divided_then_summed):
        assert np.all(np.abs(got.astype(np.float64) - exact) <= bound)


def test_averaging_check_fails_just_outside(checker):
    g = [np.array([0.3, -1e-3, 2.0], np.float32), np.array([0.1, 4e-3, -1.0], np.float32)]
    allow = 2 * averaging_bound(checker, g)
    G = (g[0].astype(np.float64) + g[1]) / 2
    seg = Segments([""], [(3,)])
    led = Ledger()
    assert led.judge("inside", "gradient", seg, G + 0.99 * allow, G, allow, 1, "averaging")
    assert not led.judge("outside", "gradient", seg, G + 1.01 * allow, G, allow, 1, "averaging")
    assert not led.judge("all_sum", "gradient", seg, 2 * G, G, allow, 1, "averaging")  # the sum, undivided
