"""The two sides of a model pair, driven step by step in torch's names and layouts.

``TorchReference`` trains the torch model (the reference) and reads its weights, optimizer state
and gradients back. ``MLXPort`` is the candidate as the local checker drives it
(``conformance.local``): load any state (torch names and layouts, through the ``Mapping``), compute
gradients, apply given gradients, take one training step, read everything back.

The MLX training step is the idiomatic one (``nn.value_and_grad``, ``optimizer.update``, one
``mx.eval`` of loss, parameters and state; ``mx.compile`` with the state as inputs and outputs when
``compiled``), unless the port passes its own ``train_step(model, optimizer, X, y) -> loss``.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from ..optimizers import Optimizer
from .errors import PairError
from .mapping import Mapping


def _np(x) -> np.ndarray:
    return np.array(x, copy=True)


def _scalar(value, side: str) -> float:
    shape = tuple(getattr(value, "shape", ()))
    if not hasattr(value, "shape") or int(np.prod(shape)) != 1:
        what = f"shape {shape}" if hasattr(value, "shape") else type(value).__name__
        raise PairError(f"the {side} loss returned {what}, not a scalar: return its mean (each side's loss is a "
                        "scalar mean over the batch)")
    return float(value.item())


class TorchReference:
    """The torch model and its optimizer, stepped on batches; state read back under torch's names."""

    def __init__(self, model, loss: Callable, optimizer: Optimizer, mapping: Mapping, device: str = "cpu"):
        import torch

        self.model, self.loss, self.spec, self.mapping = model, loss, optimizer, mapping
        self.device = torch.device(device)
        self.model.to(self.device)
        self.optimizer = optimizer.make_torch(self.model.parameters())
        self.t = 0
        self.forward_model = self.model  # what the training step calls: the model, or DDP wrapping it

    def wrap(self, wrapper) -> None:
        """Train through ``wrapper`` (``DistributedDataParallel(self.model)``: its backward averages
        the ranks' gradients); weights and state are still read from the model under torch's names."""
        self.forward_model = wrapper

    def tensor(self, a):
        import torch

        a = np.asarray(a)
        t = torch.as_tensor(a, device=self.device)
        return t.long() if a.dtype.kind in "iu" else t.float()

    def weights(self) -> dict[str, np.ndarray]:
        state = self.model.state_dict()
        return {n: state[n].detach().cpu().numpy().copy() for n in self.mapping.torch_names}

    def state(self) -> dict[str, np.ndarray]:
        out = {"step": np.float64(self.t)}
        for n, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            s = self.optimizer.state.get(p, {})
            for suffix in self.spec.suffixes:
                key = suffix[1:]
                out[n + suffix] = s[key].detach().cpu().numpy().copy() if key in s and s[key] is not None \
                    else np.zeros(tuple(p.shape), np.float32)
        return out

    def load(self, weights: dict, state: dict | None = None) -> None:
        import torch

        with torch.no_grad():
            current = self.model.state_dict()
            for n, v in weights.items():
                current[n].copy_(torch.as_tensor(np.asarray(v)))
        if state is not None:
            self.t = int(np.asarray(state["step"]))
            for n, p in self.model.named_parameters():
                if not p.requires_grad:
                    continue
                if self.t == 0:
                    self.optimizer.state.pop(p, None)
                    continue
                s = {"step": torch.tensor(float(self.t))} if self.spec.kind != "sgd" else {}
                for suffix in self.spec.suffixes:
                    s[suffix[1:]] = torch.as_tensor(np.asarray(state[n + suffix]), device=p.device).clone()
                self.optimizer.state[p] = s

    def step(self, X, y) -> tuple[float, dict[str, np.ndarray]]:
        """One training step on (X, y); returns the loss and the gradients it used."""
        self.model.train()
        self.optimizer.zero_grad()
        loss = self.loss(self.forward_model, self.tensor(X), self.tensor(y))
        loss.backward()
        grads = {n: p.grad.detach().cpu().numpy().copy() for n, p in self.model.named_parameters() if p.requires_grad}
        self.optimizer.step()
        self.t += 1
        return float(loss.detach().cpu()), grads

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def gradients(self, X, y) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and gradients at the current weights on (X, y) through the model itself (never
        its wrapper: no averaging), no step taken."""
        self.model.train()
        self.model.zero_grad()
        loss = self.loss(self.model, self.tensor(X), self.tensor(y))
        loss.backward()
        grads = {n: p.grad.detach().cpu().numpy().copy() for n, p in self.model.named_parameters() if p.requires_grad}
        self.model.zero_grad()
        return float(loss.detach().cpu()), grads

    def loss_value(self, X, y) -> float:
        """The loss in training mode at the current weights, no step taken (``PairError`` if not a scalar)."""
        import torch

        self.model.train()
        with torch.no_grad():
            loss = self.loss(self.model, self.tensor(X), self.tensor(y))
        return _scalar(loss, "torch")

    def deterministic(self, X, y) -> bool:
        """Whether two identical training-mode losses agree bit for bit (dropout drawn inside the
        forward makes them differ); the weights and running statistics are restored after."""
        saved = self.weights()
        try:
            return self.loss_value(X, y) == self.loss_value(X, y)
        finally:
            self.load(saved)


class MLXPort:
    """The MLX model, its optimizer and its training step, restarted from any (torch-named) state."""

    def __init__(self, model, loss: Callable, optimizer: Optimizer, mapping: Mapping, compiled: bool = False,
                 inputs: Callable | None = None, train_step: Callable | None = None, device: str = "cpu",
                 mlx_optimizer=None):
        import mlx.core as mx
        import mlx.nn as nn

        self.model, self.loss, self.spec, self.mapping = model, loss, optimizer, mapping
        self.inputs, self.device, self.name = inputs or (lambda x: x), device, "mlx"
        self.optimizer = mlx_optimizer if mlx_optimizer is not None else optimizer.make_mlx()  # the port's own, if given
        self.optimizer.init(model.trainable_parameters())
        self._grad = loss_and_grad = nn.value_and_grad(model, loss)
        if train_step is None:
            def step(X, y):
                value, grads = loss_and_grad(model, X, y)
                self.optimizer.update(model, grads)
                return value
        else:
            def step(X, y):
                return train_step(model, self.optimizer, X, y)
        if compiled:
            state = [model.state, self.optimizer.state]
            step = partial(mx.compile, inputs=state, outputs=state)(step)
        self._step = step

    def on_device(self):
        from contextlib import nullcontext

        import mlx.core as mx

        class _Ctx:
            def __enter__(s):
                s.prev = mx.default_device()
                mx.set_default_device(mx.gpu if self.device == "gpu" else mx.cpu)

            def __exit__(s, *a):
                mx.set_default_device(s.prev)
        return _Ctx() if self.device in ("cpu", "gpu") else nullcontext()

    def loss_value(self, X, y) -> float:
        """The loss in training mode at the current weights, no step taken (``PairError`` if not a scalar)."""
        import mlx.core as mx

        with self.on_device():
            self.model.train()
            value = self.loss(self.model, X, y)
            mx.eval(value)
        return _scalar(value, "mlx")

    def deterministic(self, X, y) -> bool:
        """Whether two identical training-mode losses agree bit for bit; the weights are restored after."""
        saved = self.weights()
        try:
            return self.loss_value(X, y) == self.loss_value(X, y)
        finally:
            with self.on_device():
                self.set_weights(saved)

    def arrays(self, X, y):
        import mlx.core as mx

        X, y = np.asarray(self.inputs(np.asarray(X))), np.asarray(y)
        with self.on_device():
            return mx.array(X.astype(np.float32) if X.dtype.kind == "f" else X), \
                mx.array(y.astype(np.int32) if y.dtype.kind in "iu" else y.astype(np.float32))

    def set_weights(self, weights: dict) -> None:
        import mlx.core as mx
        from mlx.utils import tree_flatten, tree_unflatten

        current = dict(tree_flatten(self.model.parameters()))
        mapped = self.mapping.torch_to_mlx(weights)
        self.model.update(tree_unflatten([(k, mx.array(np.asarray(v), dtype=current[k].dtype)) for k, v in mapped.items()
                                          if k in current]))
        mx.eval(self.model.parameters())

    def weights(self) -> dict[str, np.ndarray]:
        from mlx.utils import tree_flatten

        return self.mapping.mlx_to_torch({k: _np(v) for k, v in tree_flatten(self.model.parameters())})

    def state(self) -> dict[str, np.ndarray]:
        from mlx.utils import tree_flatten

        flat = dict(tree_flatten(self.optimizer.state))
        out = {"step": np.float64(int(self.optimizer.step.item()))}
        keys = self.spec.mlx_state_keys
        trainable = [k for k, _ in tree_flatten(self.model.trainable_parameters())]
        for suffix in self.spec.suffixes:
            per = {k: _np(flat[f"{k}.{keys[suffix]}"]) for k in trainable if f"{k}.{keys[suffix]}" in flat}
            out.update({n + suffix: v for n, v in self.mapping.mlx_to_torch(per).items()})
        return out

    def load(self, weights: dict, state: dict, lr: float) -> None:
        import mlx.core as mx
        from mlx.utils import tree_flatten

        with self.on_device():
            self.set_weights(weights)
            keys = self.spec.mlx_state_keys
            trainable = {k for k, _ in tree_flatten(self.model.trainable_parameters())}
            for suffix in self.spec.suffixes:
                per = {n[: -len(suffix)]: v for n, v in state.items() if n.endswith(suffix)}
                for path, v in self.mapping.torch_to_mlx(per).items():
                    if path not in trainable:  # frozen arrays (BatchNorm's running statistics) have no moments
                        continue
                    node = self.optimizer.state
                    for part in path.split("."):
                        node = node[int(part)] if isinstance(node, list) else node[part]
                    node[keys[suffix]] = mx.array(np.asarray(v), dtype=mx.float32)
            self.optimizer.state["step"] = mx.array(int(np.asarray(state["step"])), dtype=mx.uint64)
            self.optimizer.learning_rate = lr

    def gradients(self, weights: dict, X, y) -> tuple[float, dict]:
        import mlx.core as mx
        from mlx.utils import tree_flatten

        with self.on_device():
            self.set_weights(weights)
            self.model.train()
            value, grads = self._grad(self.model, X, y)
            mx.eval(value, grads)
            return float(value.item()), self.mapping.mlx_to_torch({k: _np(v) for k, v in tree_flatten(grads)})

    def apply(self, gradients: dict) -> tuple[dict, dict]:
        import mlx.core as mx
        from mlx.utils import tree_unflatten

        with self.on_device():
            mapped = self.mapping.torch_to_mlx(gradients)
            self.optimizer.update(self.model, tree_unflatten([(k, mx.array(np.asarray(v))) for k, v in mapped.items()]))
            mx.eval(self.model.parameters(), self.optimizer.state)
            return self.weights(), self.state()

    def step(self, X, y) -> tuple[float, dict, dict]:
        import mlx.core as mx

        with self.on_device():
            self.model.train()
            value = self._step(X, y)
            mx.eval(value, self.model.parameters(), self.optimizer.state)
            return float(value.item()), self.weights(), self.state()
