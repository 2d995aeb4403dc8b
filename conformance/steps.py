"""Each step of the document computed by one side, from numpy inputs to numpy outputs.

``side`` is ``"mlx"`` or ``"torch"``; every function runs that side's own code (the code under
test: ``mlx_reference`` or ``reference_torch``), on ``device`` and in ``dtype``. The tests and
``python -m conformance.spread`` call these to get the same quantity from both frameworks with
nothing else differing; ``exact(fn, ...)`` runs the same function in torch float64 on the CPU,
from the inputs rounded to ``dtype`` first, so it measures the arithmetic's error and not the
rounding of the inputs that both sides share.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .sides import rounded, side as package  # noqa: F401  (rounded: re-exported)

LOW_PRECISION = ("bfloat16", "float16")


def rounded_tree(tree: dict, dtype: str) -> dict:
    return {k: rounded(v, dtype) for k, v in tree.items()}


def exact(fn: Callable, *args, dtype: str = "float32", **kwargs):
    """``fn("torch", *args, dtype="float64", device="cpu")`` with array arguments first rounded to
    ``dtype``: the exact value (to float64) of what a ``dtype`` computation approximates."""
    def r(a):
        if isinstance(a, dict):
            return {k: r(v) for k, v in a.items()}
        if isinstance(a, (list, tuple)):
            return type(a)(r(v) for v in a)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            return rounded(a, dtype)
        return a
    return fn("torch", *r(args), dtype="float64", device="cpu", **{k: r(v) for k, v in kwargs.items()})


def standardize(side: str, train: np.ndarray, *others: np.ndarray, dtype: str = "float32",
                device: str = "cpu") -> dict:
    """``StandardScaler`` fit on ``train``; ``{"mean", "scale", "train", "others": [...]}`` as numpy."""
    pkg = package(side)
    with pkg.device.use_device(device):
        scaler = pkg.data.StandardScaler().fit(pkg.data.to_array(train, dtype))
        out = lambda a: pkg.data.to_numpy(scaler.transform(pkg.data.to_array(a, dtype)))  # noqa: E731
        return {"mean": pkg.data.to_numpy(scaler.mean_), "scale": pkg.data.to_numpy(scaler.scale_),
                "train": out(train), "others": [out(o) for o in others]}


def _model(pkg, weights: dict, dtype: str):
    hidden, in_features = np.shape(weights["fc1.weight"])
    model = pkg.model.to_dtype(pkg.model.SimpleNN(in_features, hidden), dtype)
    return pkg.model.load_weights(model, weights)


def forward(side: str, weights: dict, X: np.ndarray, dtype: str = "float32", device: str = "cpu") -> np.ndarray:
    """SimpleNN's logits for ``X`` from ``weights``."""
    pkg = package(side)
    with pkg.device.use_device(device):
        model = _model(pkg, weights, dtype)
        model.eval()
        x = pkg.data.to_array(X, dtype)
        if side == "torch":
            import torch

            with torch.no_grad():
                return pkg.data.to_numpy(model(x))
        return pkg.data.to_numpy(model(x))


def weights_round_trip(side: str, weights: dict, dtype: str = "float32", device: str = "cpu") -> dict:
    """``export_weights(load_weights(SimpleNN, weights))``."""
    pkg = package(side)
    with pkg.device.use_device(device):
        return pkg.model.export_weights(_model(pkg, weights, dtype))


def bce(side: str, inputs: np.ndarray, targets: np.ndarray, with_logits: bool = True, dtype: str = "float32",
        device: str = "cpu") -> tuple[float, np.ndarray]:
    """The side's ``bce_with_logits`` (or ``bce`` on probabilities) and its gradient with respect to
    the inputs."""
    pkg = package(side)
    fn = pkg.loss.bce_with_logits if with_logits else pkg.loss.bce
    with pkg.device.use_device(device):
        x, y = pkg.data.to_array(inputs, dtype), pkg.data.to_array(targets, dtype)
        if side == "torch":
            x.requires_grad_(True)
            value = fn(x, y)
            value.backward()
            return float(pkg.data.to_numpy(value)), pkg.data.to_numpy(x.grad)
        import mlx.core as mx

        value, grad = mx.value_and_grad(lambda a: fn(a, y))(x)
        return float(pkg.data.to_numpy(value)), pkg.data.to_numpy(grad)


def loss_and_gradients(side: str, weights: dict, X: np.ndarray, y: np.ndarray, dtype: str = "float32",
                       device: str = "cpu") -> tuple[float, dict]:
    """The full model's training loss and every parameter's gradient (the side's ``loss_and_gradients``)."""
    pkg = package(side)
    with pkg.device.use_device(device):
        model = _model(pkg, weights, dtype)
        return pkg.loss.loss_and_gradients(model, pkg.data.to_array(X, dtype), pkg.data.to_array(y, dtype))


def adam_steps(side: str, weights: dict, gradients: Sequence[dict], learning_rate: float = 1e-3,
               betas: tuple[float, float] | None = None, eps: float | None = None, dtype: str = "float32",
               device: str = "cpu") -> list[tuple[dict, dict]]:
    """Adam (the side's ``make_adam``; ``betas`` and ``eps`` passed only when given, so the side's
    defaults are what runs otherwise) applied to ``weights`` with the given gradient of each step;
    after every step the weights and the optimizer state (the side's ``export_optimizer_state``)."""
    pkg = package(side)
    out = []
    options = {k: v for k, v in (("betas", betas), ("eps", eps)) if v is not None}
    with pkg.device.use_device(device):
        model = _model(pkg, weights, dtype)
        opt = pkg.optim.make_adam(model, learning_rate, **options)
        if side == "torch":
            params = dict(model.named_parameters())
            for g in gradients:
                for k, p in params.items():
                    p.grad = pkg.data.to_array(g[k], dtype).reshape(p.shape)
                opt.step()
                out.append((pkg.model.export_weights(model), pkg.optim.export_optimizer_state(opt, model)))
        else:
            import mlx.core as mx
            from mlx.utils import tree_unflatten

            for g in gradients:
                opt.update(model, tree_unflatten([(k, pkg.data.to_array(v, dtype)) for k, v in g.items()]))
                mx.eval(model.parameters(), opt.state)
                out.append((pkg.model.export_weights(model), pkg.optim.export_optimizer_state(opt, model)))
    return out


def adam_gradients(in_features: int, hidden: int, k: int, seed: int, consistent: bool = False) -> list[dict]:
    """``k`` steps of SimpleNN-shaped gradients whose elements span 1e-8..1 in magnitude (so
    Adam's eps matters for some and not for others), with random signs each step, or signs fixed
    for the whole run when ``consistent`` (the updates then add up coherently)."""
    rng = np.random.default_rng(seed)
    shapes = {"fc1.weight": (hidden, in_features), "fc1.bias": (hidden,), "fc2.weight": (1, hidden), "fc2.bias": (1,)}
    signs = {name: rng.choice([-1.0, 1.0], size=s) for name, s in shapes.items()}
    return [{name: ((signs[name] if consistent else rng.choice([-1.0, 1.0], size=s))
                    * 10.0 ** rng.uniform(-8, 0, size=s)).astype(np.float32) for name, s in shapes.items()}
            for _ in range(k)]


def classification_metrics(side: str, logits: np.ndarray, targets: np.ndarray, device: str = "cpu") -> dict:
    """The side's ``classification_metrics`` and ``predict`` (as ``"predicted"``)."""
    pkg = package(side)
    with pkg.device.use_device(device):
        lg, tg = pkg.data.to_array(logits, "float32"), pkg.data.to_array(targets, "float32")
        out = dict(pkg.metrics.classification_metrics(lg, tg))
        out["predicted"] = np.asarray(pkg.data.to_numpy(pkg.metrics.predict(lg)))
        return out


def early_stopping(side: str, val_losses: Sequence[float], patience: int | None, min_delta: float = 0.0) -> dict:
    """Feed ``val_losses`` (epochs 1, 2, ...) to the side's ``EarlyStopping`` as ``fit`` does, with
    a model whose ``fc2.bias`` holds the epoch number; returns the stopping epoch (None if it ran
    through), the best epoch and the epoch whose weights ``restore_best`` put back."""
    pkg = package(side)
    model = pkg.model.SimpleNN(1, 1)
    marker = {"fc1.weight": np.zeros((1, 1), np.float32), "fc1.bias": np.zeros(1, np.float32),
              "fc2.weight": np.zeros((1, 1), np.float32)}
    stopper = pkg.validate.EarlyStopping(patience, min_delta)
    stopped = None
    for epoch, loss in enumerate(val_losses, start=1):
        pkg.model.load_weights(model, {**marker, "fc2.bias": np.array([epoch], np.float32)})
        if stopper.step(float(loss), model, epoch):
            stopped = epoch
            break
    pkg.model.load_weights(model, {**marker, "fc2.bias": np.array([-1.0], np.float32)})
    stopper.restore_best(model)
    restored = float(pkg.model.export_weights(model)["fc2.bias"][0])
    return {"stopped_epoch": stopped, "best_epoch": stopper.best_epoch,
            "restored_epoch": None if restored == -1.0 else int(restored)}


def plateau_learning_rates(side: str, metrics: Sequence[float], learning_rate: float = 1e-3, **kwargs) -> list[float]:
    """The learning rate after each ``ReduceLROnPlateau.step(metric)`` (the side's scheduler driving
    the side's Adam); the rate is read from the optimizer, where the training step reads it."""
    pkg = package(side)
    model = pkg.model.SimpleNN(1, 1)
    opt = pkg.optim.make_adam(model, learning_rate)
    sched = pkg.optim.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in metrics:
        sched.step(float(m))
        out.append(pkg.optim.get_learning_rate(opt))
    return out
