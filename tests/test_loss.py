"""Step 3: binary cross-entropy on logits and on probabilities, values and gradients.

Against torch and against float64 written out in numpy (PyTorch's documented definitions: the
stable log(1 + e^x) - x y on logits; on probabilities log terms clamped at -100 and the gradient
(p - y) / max(p (1 - p), 1e-12)). Extreme logits (+-100), probabilities exactly 0 and 1, and
all-one and all-zero targets included.
"""

from __future__ import annotations

import numpy as np
import pytest

import references as ref
from conformance import steps
from conformance.runner import side

pytestmark = pytest.mark.loss


def _logit_cases():
    rng = np.random.default_rng(7)
    cases = {}
    for n in (1, 5, 256, 4096):
        for s in (1.0, 10.0):
            x = (rng.standard_normal(n) * s).astype(np.float32)
            cases[f"n={n} logits N(0,{s:g}) random targets"] = (x, (rng.random(n) < 0.5).astype(np.float32))
    x = (rng.standard_normal(256) * 3).astype(np.float32)
    cases["n=256 all-one targets"] = (x, np.ones(256, np.float32))
    cases["n=256 all-zero targets"] = (x, np.zeros(256, np.float32))
    cases["n=256 confident and right"] = (x * 10, (x > 0).astype(np.float32))
    ext = np.array([100, -100, 100, -100, 30, -30, 17, -17, 0], np.float32)
    cases["logits +-100, mixed targets"] = (ext, np.array([1, 0, 0, 1, 1, 0, 1, 0, 1], np.float32))
    cases["logits +-100, all-one targets"] = (ext, np.ones(9, np.float32))
    cases["logits +-100, all-zero targets"] = (ext, np.zeros(9, np.float32))
    return cases


def _probability_cases():
    rng = np.random.default_rng(8)
    cases = {}
    for n in (5, 256):
        p = ref.sigmoid(rng.standard_normal(n) * 2).astype(np.float32)
        cases[f"n={n} probabilities, random targets"] = (p, (rng.random(n) < 0.5).astype(np.float32))
    ends = np.array([0, 1, 0, 1, 1e-30, 1 - 2 ** -24, 0.5, 1e-7], np.float32)
    cases["probabilities 0 and 1, mixed targets"] = (ends, np.array([0, 1, 1, 0, 1, 1, 0, 0], np.float32))
    cases["probabilities 0 and 1, all-one targets"] = (ends, np.ones(8, np.float32))
    cases["probabilities 0 and 1, all-zero targets"] = (ends, np.zeros(8, np.float32))
    p = ref.sigmoid(np.array([20, -20, 40, -40, 16.5], np.float64)).astype(np.float32)  # saturated: 1.0 and 0.0
    cases["sigmoid of large logits (saturated)"] = (p, np.array([1, 0, 0, 1, 1], np.float32))
    return cases


LOGITS, PROBABILITIES = _logit_cases(), _probability_cases()


def _check(conf, case, inputs, targets, with_logits, dtype="float32"):
    what = "logits" if with_logits else "probabilities"
    exact = (ref.bce_with_logits if with_logits else ref.bce)(inputs, targets, dtype)
    got = {name: steps.bce(name, inputs, targets, with_logits, dtype, conf.device) for name in ("mlx", "torch")}
    kw = dict(dtype=dtype)
    # dBCE/dlogit_i = (sigmoid(x_i) - y_i) / n: its parts are of size 1/n (tolerances.gradient_scales);
    # dBCE/dp_i = (p_i - y_i) / max(p_i (1 - p_i), 1e-12) / n does not cancel: rtol alone judges it
    gkw = dict(kw, scale=1.0 / inputs.size if with_logits else 0.0, scale_label="1/n" if with_logits else "none")
    conf.close(got["mlx"][0], got["torch"][0], path=f"BCE on {what} / {case} / value", kind="loss", exact=exact[0], **kw)
    conf.close(got["mlx"][1], got["torch"][1], path=f"BCE on {what} / {case} / d loss / d {what}", kind="gradient",
               exact=exact[1], **gkw)
    for name, (value, grad) in got.items():
        conf.close(value, exact[0], path=f"BCE on {what} / {case} / value", kind="loss", names=(name, "float64"), **kw)
        conf.close(grad, exact[1], path=f"BCE on {what} / {case} / d loss / d {what}", kind="gradient",
                   names=(name, "float64"), **gkw)


@pytest.mark.parametrize("case", list(LOGITS))
def test_bce_with_logits(conf, case):
    _check(conf, case, *LOGITS[case], with_logits=True)


@pytest.mark.parametrize("case", list(PROBABILITIES))
def test_bce_on_probabilities(conf, case):
    _check(conf, case, *PROBABILITIES[case], with_logits=False)


LOW = ["n=5 logits N(0,1) random targets", "n=256 logits N(0,10) random targets", "logits +-100, mixed targets",
       "n=256 all-one targets"]


@pytest.mark.parametrize("dtype", steps.LOW_PRECISION)
@pytest.mark.parametrize("case", LOW)
def test_bce_with_logits_low_precision(conf, dtype, case):
    _check(conf, case, *LOGITS[case], with_logits=True, dtype=dtype)


@pytest.mark.parametrize("dtype", steps.LOW_PRECISION)
def test_bce_on_probabilities_low_precision(conf, dtype):
    """Away from 0 and 1: there the +-1e12 gradients overflow float16."""
    _check(conf, "n=256 probabilities, random targets", *PROBABILITIES["n=256 probabilities, random targets"],
           with_logits=False, dtype=dtype)


@pytest.mark.parametrize("name", ["mlx", "torch"])
@pytest.mark.parametrize("fn", ["bce_with_logits", "bce"])
def test_shape_mismatch_raises_the_same_error(name, fn):
    """(N, 1) against (N,) raises on both sides, saying what to do (and never broadcasts to N x N)."""
    pkg = side(name)
    a, b = pkg.data.to_array(np.full((4, 1), 0.5)), pkg.data.to_array(np.ones(4))
    with pytest.raises(ValueError, match=r"shape \(4, 1\) but targets \(4,\); give both shape \(N,\)"):
        getattr(pkg.loss, fn)(a, b)
