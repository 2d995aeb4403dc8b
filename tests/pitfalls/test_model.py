"""The proofs of the registry's entries on the model: one test per entry (see ``helpers``)."""

from __future__ import annotations

import math
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from conformance.compare import assert_close
from mlx_reference import data as MD
from .helpers import DOC, demonstrates, m_, measured, mlx_model, run_seed, seed_model_called_properly, torch_logits


@demonstrates("seed-forward-not-called")
def test_seed_forward_not_called():
    ns = run_seed(1, 2)
    model = ns["SimpleNN"]()
    with pytest.raises(TypeError, match="'SimpleNN' object is not callable"):
        model(ns["X_train"])

    X = DOC["train"][0]
    assert_close(MD.to_numpy(mlx_model()(m_(X))), torch_logits(X), path="SimpleNN logits", kind="forward")


@demonstrates("seed-relu-module-per-call")
def test_seed_relu_module_per_call():
    seed_model = seed_model_called_properly()
    X = m_(DOC["train"][0])
    np.testing.assert_array_equal(np.array(seed_model(X))[:, 0], np.array(mlx_model()(X)))

    x = mx.zeros((4, 10))
    mx.eval(x)

    def per_call(fn, n=2000):
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                fn(x)
            best = min(best, (time.perf_counter() - t0) / n)
        return best

    overhead = per_call(lambda v: nn.ReLU()(v)) - per_call(nn.relu)
    measured("seed-relu-module-per-call", "overhead_us", overhead * 1e6)
    assert overhead > 0
    assert_close(MD.to_numpy(mlx_model()(X)), torch_logits(DOC["train"][0]), path="SimpleNN logits", kind="forward")


