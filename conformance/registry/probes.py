"""One probe per entry whose behaviour is MLX's own: does the installed MLX still show it?

Each probe is a few lines of MLX and numpy (never torch: ``python -m conformance.registry.drift``
runs against any MLX version without the rest of the project) returning True when the entry's
naive failure happens on the installed MLX, False when it does not, and None when this machine
cannot tell (the entry needs a GPU that is not here). The probes check the MLX side only; each
entry's test in ``tests/pitfalls/`` measures the whole failure against torch. Probes run on MLX's
CPU and must be cheap: the registry test runs them all in the normal test run. This module has
the machinery and the probes of the training steps; ``probes_layers`` those of devices and layers.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
from typing import Callable

Probe = Callable[[], "bool | None"]
PROBES: dict[str, Probe] = {}


def probe(entry_id: str):
    def register(fn: Probe) -> Probe:
        PROBES[entry_id] = fn
        return fn

    return register


def _mx():
    import mlx.core as mx

    mx.set_default_device(mx.cpu)
    return mx


def _default(fn, name: str):
    """A keyword's default (``inspect.Parameter.empty`` when the keyword does not exist)."""
    p = inspect.signature(fn).parameters.get(name)
    return inspect.Parameter.empty if p is None else p.default


# ---------------------------------------------------------------------------------- data, model


@probe("float64-silently-float32")
def _float64_to_float32():
    import numpy as np

    return _mx().array(np.array([0.1], dtype=np.float64)).dtype == _mx().float32


@probe("seed-forward-not-called")
def _module_not_callable():
    import mlx.nn as nn

    return not callable(nn.Module())


@probe("python-int-int32")
def _python_int_int32():
    mx = _mx()
    wrapped = mx.array(49_999) * 50_000 + 49_999
    return mx.array(3).dtype == mx.int32 and wrapped.item() < 0


@probe("module-parameter-registration")
def _hidden_parameters():
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    mx = _mx()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = (nn.Linear(2, 2),)
            self._scale = mx.array(1.0)
            self.centre = mx.array([0.0, 0.0])

    return [k for k, _ in tree_flatten(Net().trainable_parameters())] == ["centre"]


# ---------------------------------------------------------------------------------- loss


@probe("seed-bceloss-missing")
def _no_bceloss():
    import mlx.nn as nn

    return not hasattr(nn, "BCELoss")


@probe("seed-bceloss-on-logits")
def _bce_probability_nan():
    import mlx.nn as nn

    mx = _mx()
    return math.isnan(nn.losses.binary_cross_entropy(mx.array([1.5]), mx.array([1.0]), with_logits=False).item())


@probe("bce-with-logits-default")
def _bce_logits_default():
    import mlx.nn as nn

    return _default(nn.losses.binary_cross_entropy, "with_logits") is True


@probe("shape-n1-vs-n")
def _bce_shape_check():
    import mlx.nn as nn

    mx = _mx()
    try:
        nn.losses.binary_cross_entropy(mx.zeros((3, 1)), mx.zeros((3,)))
    except ValueError:
        return True
    return False


@probe("integer-targets")
def _integer_targets_promoted():
    import mlx.nn as nn
    import numpy as np

    mx = _mx()
    y = mx.array(np.array([0, 1, 1]))
    z = mx.array([0.5, -0.5, 2.0])
    return y.dtype == mx.int64 and (nn.losses.binary_cross_entropy(z, y).item()
                                    == nn.losses.binary_cross_entropy(z, y.astype(mx.float32)).item())


@probe("loss-reduction-none-default")
def _ce_reduction_none():
    import mlx.nn as nn

    return _default(nn.losses.cross_entropy, "reduction") == "none"


def _ce_case():
    mx = _mx()
    return mx.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]]), mx.array([0, 1])


@probe("cross-entropy-class-weights")
def _ce_weights_mean_over_samples():
    import mlx.nn as nn

    mx = _mx()
    logits, y = _ce_case()
    w = mx.array([0.1, 0.3])
    per_sample = nn.losses.cross_entropy(logits, y)
    weighted = nn.losses.cross_entropy(logits, y, weights=w, reduction="mean").item()
    return abs(weighted - mx.mean(w * per_sample).item()) < 1e-6 < abs(weighted - (mx.sum(w * per_sample) / mx.sum(w)).item())


@probe("cross-entropy-ignore-index")
def _ce_no_ignore_index():
    import mlx.nn as nn

    return "ignore_index" not in inspect.signature(nn.losses.cross_entropy).parameters


@probe("kl-div-log-targets")
def _kl_log_targets():
    import mlx.nn as nn

    mx = _mx()
    log_q, log_p = mx.log(mx.array([[0.2, 0.8]])), mx.log(mx.array([[0.5, 0.5]]))
    kl = 0.5 * (math.log(0.5 / 0.2) + math.log(0.5 / 0.8))
    return abs(nn.losses.kl_div_loss(log_q, log_p, reduction="mean").item() - kl) < 1e-6


# ---------------------------------------------------------------------------------- optimizer


@probe("seed-import-mlx-optim")
def _no_mlx_optim():
    return importlib.util.find_spec("mlx.optim") is None


@probe("seed-adam-signature")
def _adam_no_lr():
    import mlx.optimizers as optim

    return "lr" not in inspect.signature(optim.Adam).parameters


@probe("adam-bias-correction")
def _adam_uncorrected():
    import mlx.optimizers as optim

    return _default(optim.Adam, "bias_correction") in (False, inspect.Parameter.empty)


@probe("lr-float32-state")
def _lr_is_array():
    import mlx.optimizers as optim

    lr = optim.Adam(learning_rate=1e-3).learning_rate
    return isinstance(lr, _mx().array) and lr.dtype == _mx().float32


@probe("reduce-lr-on-plateau-missing")
def _no_plateau():
    import mlx.optimizers as optim

    return not hasattr(optim, "ReduceLROnPlateau")


@probe("adam-weight-decay")
def _adam_no_weight_decay():
    import mlx.optimizers as optim

    return "weight_decay" not in inspect.signature(optim.Adam).parameters


def _first_update(optimizer, gradient: float = 1.0) -> float:
    """The change one update makes to a parameter at 0 fed ``gradient``."""
    mx = _mx()
    return optimizer.apply_gradients({"w": mx.array([gradient])}, {"w": mx.array([0.0])})["w"].item()


@probe("sgd-dampening-first-step")
def _sgd_damped_first_step():
    import mlx.optimizers as optim

    step = _first_update(optim.SGD(learning_rate=1.0, momentum=0.9, dampening=0.5))
    return abs(step + 0.5) < 1e-6  # torch's first step is -1: the buffer starts as the gradient


@probe("adagrad-eps")
def _adagrad_eps():
    import mlx.optimizers as optim

    return _default(optim.Adagrad, "eps") != 1e-10


@probe("adamax-bias-correction")
def _adamax_uncorrected():
    import mlx.optimizers as optim

    return abs(_first_update(optim.Adamax(learning_rate=1.0)) + 0.1) < 1e-6  # torch's: -1


@probe("clip-grad-norm-returns")
def _clip_returns():
    import mlx.optimizers as optim

    mx = _mx()
    grads = {"w": mx.array([3.0, 4.0])}
    result = optim.clip_grad_norm(grads, 1.0)
    return isinstance(result, tuple) and grads["w"].tolist() == [3.0, 4.0]


@probe("schedule-per-update")
def _schedule_per_update():
    import mlx.optimizers as optim

    opt = optim.SGD(learning_rate=optim.step_decay(1.0, 0.5, 1))
    rates = []
    for _ in range(3):
        _first_update(opt)
        rates.append(opt.learning_rate.item())
    return rates == [1.0, 0.5, 0.25]


# ---------------------------------------------------------------------------------- training loop


@probe("seed-zero-grad-backward-step")
def _no_zero_grad():
    import mlx.optimizers as optim

    return not hasattr(optim.Adam(learning_rate=1e-3), "zero_grad") and not hasattr(_mx().array(1.0), "backward")


@probe("compile-dropout-random-state")
def _compiled_dropout_fixed():
    import mlx.nn as nn

    mx = _mx()
    dropout = nn.Dropout(0.5)
    f = mx.compile(lambda x: dropout(x))
    x = mx.ones((64,))
    return mx.array_equal(f(x), f(x)).item()


@probe("compile-retrace-per-shape")
def _retrace_per_shape():
    mx = _mx()
    traces = []

    def f(x):
        traces.append(x.shape)
        return x + 1

    g = mx.compile(f)
    for n in (4, 4, 2, 4):
        mx.eval(g(mx.zeros((n,))))
    return len(traces) == 2


_SHAPELESS_PROBE = """
import numpy as np, mlx.core as mx, mlx.nn as nn
mx.set_default_device(mx.cpu)
layer = nn.Linear(3, 2)
mx.eval(layer.parameters())
f = mx.compile(layer, shapeless=True)
x = mx.array(np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32))
try:
    mx.eval(f(mx.zeros((4, 3))))
    print(float(np.abs(np.array(f(x)) - np.array(layer(x))).max()))
except ValueError:
    print("raises")
"""


@probe("compile-shapeless-linear")
def _shapeless_linear_wrong():
    import subprocess
    import sys

    # a process of its own: the behaviour probed corrupts memory
    run = subprocess.run([sys.executable, "-c", _SHAPELESS_PROBE], capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        return True  # crashed
    out = run.stdout.strip().splitlines()[-1]
    return out != "raises" and float(out) > 1e-4


@probe("seed-torch-no-grad")
def _no_no_grad():
    return not hasattr(_mx(), "no_grad")


@probe("seed-astype-int")
def _astype_int():
    try:
        _mx().array([1]).astype(int)
    except TypeError:
        return True
    return False


@probe("seed-numpy-method")
def _no_numpy_method():
    return not hasattr(_mx().array([1]), "numpy")


@probe("argmax-uint32")
def _argmax_uint32():
    mx = _mx()
    return mx.argmax(mx.array([1.0, 2.0])).dtype == mx.uint32


importlib.import_module(".probes_layers", __package__)  # registers the probes of devices and layers
