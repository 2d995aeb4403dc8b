"""ReLU ties of an arbitrary torch model, arbitrated in float64.

A pre-activation within rounding of 0 may land on either side of ReLU's kink in a float32 run, and
its unit's whole contribution to the gradient appears or vanishes (TF32 pre-activations err by
about 2^-10 of their terms, so in a wide layer many units are such ties). Measured reruns flip some
of them, never reliably the same ones, so a tie is not left to chance (``conformance.bounds`` does
the same for SimpleNN, by derivation):

- ``Ties()`` records every ``aten.relu`` input of a forward pass, in call order (a
  dispatch mode sees functional calls, ``torch.relu(x)``, that module hooks miss);
- a unit is a tie where its exact (float64) pre-activation lies within the float32 reruns' noise of
  that pre-activation of 0;
- ``Ties(force=masks, on=True/False)`` recomputes the float64 step with every tie forced active or
  inactive; the distance of each gradient from the exact one bounds what any subset of flips moves
  it by (to first order, a flip moves it by that unit's contribution, and forcing all of them on or
  off moves it by the sum of those of each sign).
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

RELU = (torch.ops.aten.relu.default, torch.ops.aten.relu_.default)


class Ties(TorchDispatchMode):
    def __init__(self, force: list | None = None, on: bool = True):
        super().__init__()
        self.inputs: list[torch.Tensor] = []
        self.force, self.on, self.i = force, on, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in RELU:
            return func(*args, **kwargs)
        x = args[0]
        if self.force is None:
            self.inputs.append(x.detach().double().clone())
            return func(*args, **kwargs)
        tie = self.force[self.i].to(x.device) if self.i < len(self.force) else None
        self.i += 1
        out = torch.relu(x)
        if tie is not None and tie.shape == x.shape:
            # forced on: a tiny positive output passes the gradient; forced off: zero blocks it
            out = torch.where(tie, x.abs() + torch.finfo(x.dtype).tiny, out) if self.on else torch.where(tie, 0.0, out)
        if func is torch.ops.aten.relu_.default:
            x.copy_(out)
            return x
        return out


def tie_masks(exact: list[torch.Tensor], reruns: list[list[torch.Tensor]], margin: float, rel: float) -> list:
    """Per ReLU call, where the exact input lies within ``margin`` times the reruns' largest
    deviation from it (plus ``rel`` of its size) of 0."""
    masks = []
    for i, x in enumerate(exact):
        dev = torch.zeros_like(x)
        for run in reruns:
            if i < len(run) and run[i].shape == x.shape:
                dev = torch.maximum(dev, (run[i].to(x.device) - x).abs())
        masks.append(x.abs() <= margin * dev + rel * x.abs())
    return masks
