"""The loss of a model pair: the same mean loss on both sides, on the selected output.

``loss_named(name, output=None)``:

- ``"cross_entropy"``: class indices (integers, ``0 <= y < C``) against logits with the classes on
  the last axis; any leading axes (a sequence's tokens) are flattened, so ``y`` has the logits'
  shape without the last axis;
- ``"bce_with_logits"``: 0/1 (or probability) targets of the logits' shape, on logits;
- ``"mse"``: targets of the output's shape.

Each reads the model's output through ``select`` (``output=``: a tuple's first element, an output
object's ``logits`` by default). The torch side checks the targets first (dtype, shape, class
range) and raises ``PairError`` naming what does not fit. ``Loss(mlx=..., torch=...)`` is a custom
loss: each a function ``(model, X, y) -> scalar mean``, given the model itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import PairError
from .select import select

NAMES = ("cross_entropy", "bce_with_logits", "mse")


@dataclass(frozen=True)
class Loss:
    """The same loss on both sides: ``mlx(model, X, y)`` and ``torch(model, X, y)``, each a scalar mean."""

    mlx: Callable
    torch: Callable
    name: str = "custom"


def _targets(name: str, z, y) -> None:
    """torch's logits ``z`` and targets ``y``: refuse what the named loss cannot read."""
    shape, ys = tuple(z.shape), tuple(y.shape)
    if name == "cross_entropy":
        if y.is_floating_point():
            raise PairError(f"loss='cross_entropy' takes class indices, but y is {str(y.dtype)[6:]}: give integer "
                            "labels (y.astype(int)), or use loss='bce_with_logits' for 0/1 targets")
        if ys != shape[:-1]:
            raise PairError(f"loss='cross_entropy': y has shape {ys} but the logits are {shape} (classes on the last "
                            f"axis): y needs shape {shape[:-1]}")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= shape[-1]:
            raise PairError(f"loss='cross_entropy': y holds class {lo if lo < 0 else hi} but the model has {shape[-1]} "
                            f"classes (0 to {shape[-1] - 1})")
        return
    if not y.is_floating_point():
        y = y.float()
    if ys != shape:
        raise PairError(f"loss={name!r}: y has shape {ys} but the model's output is {shape}: give targets of the "
                        "output's shape (for example y[:, None] for one logit per sample)")


def loss_named(name: str, output=None) -> Loss:
    """The named loss (see the module's docstring) on the output ``output`` selects."""
    import mlx.core as mx
    import mlx.nn as nn
    import torch.nn.functional as F

    if name not in NAMES:
        raise PairError(f"loss={name!r}: name one of {', '.join(NAMES)}, or pass pair.Loss(mlx=..., torch=...)")

    def t_out(m, X, y):
        z = select(m(X), output, "torch")
        _targets(name, z, y)
        return z, y if name == "cross_entropy" else y.float()

    def m_out(m, X):
        return select(m(X), output, "mlx")

    if name == "cross_entropy":
        def torch_loss(m, X, y):
            z, y = t_out(m, X, y)
            return F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1))

        return Loss(lambda m, X, y: mx.mean(nn.losses.cross_entropy(m_out(m, X), y)), torch_loss, name)
    if name == "bce_with_logits":
        return Loss(lambda m, X, y: mx.mean(nn.losses.binary_cross_entropy(m_out(m, X), y, with_logits=True)),
                    lambda m, X, y: F.binary_cross_entropy_with_logits(*t_out(m, X, y)), name)
    return Loss(lambda m, X, y: mx.mean(nn.losses.mse_loss(m_out(m, X), y)),
                lambda m, X, y: F.mse_loss(*t_out(m, X, y)), name)


def resolve(loss, output) -> Loss:
    """``loss`` as a ``Loss``: a name, or a ``Loss`` (its functions read the output themselves)."""
    if isinstance(loss, str):
        return loss_named(loss, output)
    if isinstance(loss, Loss):
        if not (callable(loss.mlx) and callable(loss.torch)):
            raise PairError("loss: pair.Loss(mlx=..., torch=...) needs two functions (model, X, y) -> scalar mean")
        return loss
    raise PairError(f"loss: give a name ({', '.join(NAMES)}) or pair.Loss(mlx=..., torch=...), got "
                    f"{type(loss).__name__}")
