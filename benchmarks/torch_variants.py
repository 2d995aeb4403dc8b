"""PyTorch as its users run it: the reference's model and loss with the optimizer and compiler
settings people use, beside the reference's textbook form.

``reference_torch.optim.make_adam`` builds Adam with ``foreach=False``, the per-parameter loop,
kept that way in the reference because it reads like the update's formula. No one chooses it for
speed. The variants here differ from it in how the same arithmetic is executed, never in what is
computed (``test_torch_variants.py`` checks that, step by step, under the project's tolerance
table):

- ``torch-eager``: the reference as written: ``make_adam`` (``foreach=False``), eager model.
- ``torch-foreach``: ``Adam(foreach=True)``: every parameter's update as one batched call per
  operation (``torch._foreach_*``). torch's default on CUDA; on the CPU the default is the loop
  (``torch.optim.optimizer._default_to_fused_or_foreach``), so this is asked for explicitly.
- ``torch-fused``: ``Adam(fused=True)``: the whole update of all parameters in one kernel (CUDA,
  MPS) or one fused loop (CPU).
- ``torch-compile``: the loss (model forward and BCE) under ``torch.compile`` (default mode,
  ``fullgraph=True``), so Inductor generates the forward and backward kernels; Adam fused, eager.
- ``torch-compile-ro``: the same with ``mode="reduce-overhead"``: the compiled forward and
  backward are replayed as CUDA graphs. CUDA only: on other devices that mode adds nothing to the
  default mode.

Compilation happens on the first call (outside the timed rounds; the ``first_call`` group times
it in a fresh process, with Inductor's on-disk cache empty and filled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Variant:
    adam: dict  # keyword arguments of torch.optim.Adam besides lr, betas and eps
    compile_mode: str | None  # torch.compile mode of the loss, or None (eager)
    label: str

    @property
    def compiled(self) -> bool:
        return self.compile_mode is not None


VARIANTS: dict[str, Variant] = {
    "torch-eager": Variant({"foreach": False}, None,
                           "torch eager, Adam foreach=False (the reference's textbook loop)"),
    "torch-foreach": Variant({"foreach": True}, None, "torch eager, Adam foreach=True (torch's default on CUDA)"),
    "torch-fused": Variant({"fused": True}, None, "torch eager, Adam fused=True"),
    "torch-compile": Variant({"fused": True}, "default", "torch.compile (loss and model, default mode), Adam fused=True"),
    "torch-compile-ro": Variant({"fused": True}, "reduce-overhead",
                                "torch.compile mode=\"reduce-overhead\" (CUDA graphs), Adam fused=True"),
}
TEXTBOOK = "torch-eager"


def not_applicable(impl: str, device: str, backend: str | None) -> str | None:
    """Why ``impl`` is not run on ``device`` (whose torch backend is ``backend``), or None."""
    if impl == "torch-compile-ro" and (device == "cpu" or backend != "cuda"):
        return ('mode="reduce-overhead" adds CUDA graphs to the default mode; without CUDA it is the default '
                "mode (torch-compile)")
    return None


def make_adam(model, impl: str, learning_rate: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
              eps: float = 1e-8):
    """``torch.optim.Adam`` of the variant: the reference's own ``make_adam`` for the textbook,
    else the same hyperparameters with the variant's execution flags."""
    import torch

    from reference_torch import optim as to

    if impl == TEXTBOOK:
        return to.make_adam(model, learning_rate, betas, eps)
    return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=betas, eps=eps, **VARIANTS[impl].adam)


def _compile(fn: Callable, impl: str) -> Callable:
    """``fn`` under ``torch.compile`` with the variant's mode, from an empty in-memory cache.

    Every compiled benchmark starts from ``torch._dynamo.reset()``: each builds a new model, and a
    function recompiled for more models than ``torch._dynamo.config.cache_size_limit`` would fall
    back to eager without a word; ``fullgraph=True`` makes any graph break an error rather than a
    partly eager run. Inductor's on-disk cache is kept (the ``first_call`` group measures both)."""
    import torch

    mode = VARIANTS[impl].compile_mode
    torch._dynamo.reset()
    compiled = torch.compile(fn, mode=mode, fullgraph=True)
    if mode != "reduce-overhead":
        return compiled

    def call(*args):
        # a new iteration: CUDA-graph outputs of the last one may be overwritten from here on
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(*args)
    return call


def compiled_forward(model, impl: str) -> Callable:
    """``forward(X)``: the model's logits under the variant's ``torch.compile``."""
    def forward(X):
        return model(X)
    return _compile(forward, impl)


def compiled_loss(model, impl: str) -> Callable:
    """``loss(X, y)``: the reference's ``loss_fn`` on ``model``, under the variant's
    ``torch.compile`` for compiled variants."""
    from reference_torch import loss as tl

    def loss(X, y):
        return tl.loss_fn(model, X, y)
    return _compile(loss, impl) if VARIANTS[impl].compiled else loss


def make_train_step(model, optimizer, impl: str) -> Callable:
    """``train_step(X, y) -> loss``: the reference's ``make_train_step`` for eager variants (only
    the optimizer differs); for compiled ones the same four lines around the compiled loss."""
    from reference_torch import train as tt

    if not VARIANTS[impl].compiled:
        return tt.make_train_step(model, optimizer)
    loss_fn = compiled_loss(model, impl)

    def train_step(X, y):
        optimizer.zero_grad()
        loss = loss_fn(X, y)
        loss.backward()
        optimizer.step()
        return loss.detach()
    return train_step
