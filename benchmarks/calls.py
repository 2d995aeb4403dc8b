"""The timed calls: each benchmark's one call, built from the product's own functions.

Every call ends with its work finished: MLX is lazy, so each MLX call evaluates its outputs (for a
training step: the loss, the parameters and Adam's state) inside the timed function; torch on a
GPU queues work asynchronously, so each torch call ends with
``reference_torch.device.synchronize(device)`` (which checks the backend, CUDA or MPS, not a
device object).

The timed code is the product: ``mlx_reference`` and ``reference_torch`` (the model, loss, Adam,
``make_train_step``, ``train_epoch``, ``run_pipeline``). Where a group is a part of a step (the
forward pass, the loss and gradients, one Adam update) it is composed from the same public
functions a step uses. torch's variants (``torch_variants.py``) change the optimizer's execution
flags or compile the reference's loss; the textbook variant is the reference as written.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from functools import lru_cache, partial
from typing import Callable
from unittest import mock

import numpy as np

from .cases import IMPLS, IN_FEATURES, Size

Run = Callable[[], object]
ADAM_GRAD_SAMPLES = 1024


# ---- data and weights (numpy, shared by both frameworks) ----------------------------------


@lru_cache(maxsize=2)
def step_data(size_id: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardized float32 features and 0/1 labels for the step groups (all n samples)."""
    from conformance.data import document_dataset, synthetic_dataset

    ds = document_dataset() if size_id == "doc5" else synthetic_dataset(n, IN_FEATURES, seed=0)
    X = (ds.X - ds.X.mean(axis=0)) / ds.X.std(axis=0)
    return X.astype(np.float32), ds.y.astype(np.float32)


@lru_cache(maxsize=1)
def pipeline_inputs(size_id: str, n: int, hidden: int):
    """The pipeline's splits (numpy, float64, from conformance) and initial weights."""
    from conformance.data import apply_split, document_dataset, split_indices, synthetic_dataset
    from conformance.weights import init_weights

    ds = document_dataset() if size_id == "doc5" else synthetic_dataset(n, IN_FEATURES, seed=0)
    splits = apply_split(ds, split_indices(ds.y, 0.2, 0.2, seed=0))
    return splits, init_weights(IN_FEATURES, hidden, seed=0)


def weights_for(hidden: int) -> dict[str, np.ndarray]:
    from conformance.weights import init_weights

    return init_weights(IN_FEATURES, hidden, seed=0)


# ---- the timed calls ----------------------------------------------------------------------


def build(group: str, impl: str, device: str, size: Size) -> Run:
    """The timed call of ``group`` for ``impl`` on ``device`` at ``size``; call inside ``on_device``."""
    framework, variant = IMPLS[impl]
    if framework == "mlx":
        return _build_mlx(group, variant == "compiled", device, size)
    return _build_torch(group, impl, device, size)


def _build_mlx(group: str, compiled: bool, device: str, size: Size) -> Run:
    import mlx.core as mx
    import mlx.nn as nn

    from mlx_reference import data as md
    from mlx_reference import loss as ml
    from mlx_reference import model as mm
    from mlx_reference import optim as mo
    from mlx_reference import pipeline as mp
    from mlx_reference import train as mt

    if group == "pipeline":
        splits, weights = pipeline_inputs(size.id, size.n, size.hidden)

        def run_pipeline():
            return mp.run_pipeline(splits, weights, epochs=size.epochs, patience=None, seed=0,
                                   compiled=compiled, device=device)
        return run_pipeline

    Xn, yn = step_data(size.id, size.n)
    X, y = md.to_array(Xn), md.to_array(yn)
    model = mm.load_weights(mm.SimpleNN(IN_FEATURES, size.hidden), weights_for(size.hidden))
    optimizer = mo.make_adam(model)
    mx.eval(X, y, model.parameters(), optimizer.state)

    if group == "forward":
        forward = (lambda X: model(X))
        if compiled:
            forward = mx.compile(forward, inputs=model.state)

        def run_forward():
            logits = forward(X)
            mx.eval(logits)
            return logits
        return run_forward

    if group == "loss_and_grad":
        loss_and_grad = nn.value_and_grad(model, ml.loss_fn)
        fn = (lambda X, y: loss_and_grad(model, X, y))
        if compiled:
            # value_and_grad swaps the model's parameters for traced ones while it runs, so the
            # model's state is an output of the compiled function as well as an input
            fn = mx.compile(fn, inputs=model.state, outputs=model.state)

        def run_loss_and_grad():
            loss, grads = fn(X, y)
            mx.eval(loss, grads)
            return loss
        return run_loss_and_grad

    if group == "adam_update":
        # Adam's work depends only on the parameters: gradients from at most 1 024 samples will do
        _, grads = nn.value_and_grad(model, ml.loss_fn)(model, X[:ADAM_GRAD_SAMPLES], y[:ADAM_GRAD_SAMPLES])
        mx.eval(grads)

        def update(grads):
            optimizer.update(model, grads)

        if compiled:
            state = [model.state, optimizer.state]
            update = partial(mx.compile, inputs=state, outputs=state)(update)

        def run_adam_update():
            update(grads)
            mx.eval(model.parameters(), optimizer.state)
            return optimizer.step
        return run_adam_update

    step = mt.make_train_step(model, optimizer, compiled=compiled)
    if group in ("train_step", "first_call"):
        def run_train_step():
            loss = step(X, y)
            mx.eval(loss, model.parameters(), optimizer.state)
            return loss
        return run_train_step

    if group == "epoch":
        order = np.random.default_rng(0).permutation(size.n)

        def run_epoch():
            total = mt.train_epoch(step, model, optimizer, X, y, size.batch_size, order)
            mx.eval(total, model.parameters(), optimizer.state)
            return total
        return run_epoch
    raise KeyError(group)


def _build_torch(group: str, impl: str, device: str, size: Size) -> Run:
    import torch

    from reference_torch import data as td
    from reference_torch import device as tdev
    from reference_torch import loss as tl
    from reference_torch import model as tm
    from reference_torch import pipeline as tp
    from reference_torch import train as tt

    from . import torch_variants as tv

    sync = partial(tdev.synchronize, device)  # a no-op on the CPU; CUDA/MPS: wait for the queue

    if group == "pipeline":
        splits, weights = pipeline_inputs(size.id, size.n, size.hidden)
        # the product's run_pipeline, whose Adam comes from the variant (the textbook: unchanged)
        adam = None if impl == tv.TEXTBOOK else partial(_variant_adam, impl)

        def run_pipeline():
            with ExitStack() as stack:
                if adam is not None:
                    stack.enter_context(mock.patch.object(tp, "make_adam", adam))
                out = tp.run_pipeline(splits, weights, epochs=size.epochs, patience=None, seed=0, device=device)
            sync()
            return out
        return run_pipeline

    Xn, yn = step_data(size.id, size.n)
    X, y = td.to_array(Xn), td.to_array(yn)  # on the default device set by use_device
    model = tm.load_weights(tm.SimpleNN(IN_FEATURES, size.hidden), weights_for(size.hidden))
    optimizer = tv.make_adam(model, impl)
    compiled = tv.VARIANTS[impl].compiled
    sync()

    if group == "forward":
        forward = tv.compiled_forward(model, impl) if compiled else model

        def run_forward():
            with torch.no_grad():
                logits = forward(X)
            sync()
            return logits
        return run_forward

    if group == "loss_and_grad":
        loss_fn = tv.compiled_loss(model, impl)  # the reference's loss_fn, compiled or not

        def run_loss_and_grad():
            model.zero_grad(set_to_none=True)
            loss = loss_fn(X, y)
            loss.backward()
            sync()
            return loss.detach()
        return run_loss_and_grad

    if group == "adam_update":
        model.zero_grad(set_to_none=True)
        # .grad stays set: every timed call is one optimizer.step(); Adam's work depends only on
        # the parameters, so gradients from at most 1 024 samples will do
        tl.loss_fn(model, X[:ADAM_GRAD_SAMPLES], y[:ADAM_GRAD_SAMPLES]).backward()
        sync()

        def run_adam_update():
            optimizer.step()
            sync()
            return model.fc2.bias
        return run_adam_update

    step = tv.make_train_step(model, optimizer, impl)
    if group in ("train_step", "first_call"):
        def run_train_step():
            loss = step(X, y)
            sync()
            return loss
        return run_train_step

    if group == "epoch":
        order = np.random.default_rng(0).permutation(size.n)

        def run_epoch():
            total = tt.train_epoch(step, model, optimizer, X, y, size.batch_size, order)
            sync()
            return total
        return run_epoch
    raise KeyError(group)


def _variant_adam(impl: str, model, learning_rate: float = 1e-3, *args, **kwargs):
    from . import torch_variants as tv

    return tv.make_adam(model, impl, learning_rate, *args, **kwargs)


def check_result(result) -> None:
    """Not a timing assertion: the call computed something finite (so the suite cannot rot)."""
    if isinstance(result, dict):  # the pipeline
        values = [float(result["test_loss"])] + [float(np.max(np.abs(v))) for v in result["final_weights"].values()]
        assert set(result["metrics"]) >= {"accuracy", "precision", "recall"}, "pipeline returned no metrics"
    else:
        values = [float(np.max(np.abs(np.asarray(_host(result)))))]
    assert all(math.isfinite(v) for v in values), f"non-finite result {values}"


def _host(x):
    if hasattr(x, "detach"):
        return x.detach().float().cpu().numpy()
    return np.array(x)
