"""The benchmark matrix: sizes, timed groups, implementations, and each group's work model.

Work models count, for one timed call, the floating-point operations and two byte figures
(float32, 4 bytes an element):

- ``bytes_min``: the least a step must move to and from memory: its inputs read once, its
  outputs written once, the parameters and Adam's moments read and written once per step.
  A perfectly fused kernel that keeps activations on chip would move only this.
- ``bytes_unfused``: what an implementation that materializes every activation moves (fc1's
  pre-activation and ReLU output, their gradients, each written once and read where used): the
  traffic that eager PyTorch and MLX really have, an estimate for comparison, not a floor.

FLOPs count a multiply-add as 2 and an elementwise operation as 1. SimpleNN is
``Linear(d, H)``, ReLU, ``Linear(H, 1)`` with ``d = 2`` input features; ``N`` is the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.data import split_sizes

F32 = 4  # bytes of a float32
IN_FEATURES = 2  # the document's two features


@dataclass(frozen=True)
class Size:
    """One point of the size axis."""

    id: str
    n: int  # samples (the whole set; the step groups use all of them as one batch)
    hidden: int  # SimpleNN's hidden width
    batch_size: int  # minibatch of the "epoch" group
    epochs: int  # epochs of the "pipeline" group
    label: str

    @property
    def work(self) -> int:
        """Activation elements of one full-batch step (n x hidden): the plot's x axis."""
        return self.n * self.hidden

    @property
    def n_params(self) -> int:
        return n_params(self.hidden)


SIZES: dict[str, Size] = {s.id: s for s in (
    Size("doc5", 5, 10, 2, 100, "the document's 5 samples, hidden 10 (pipeline: its 3/1/1 split, 100 epochs)"),
    Size("n1k", 1024, 10, 256, 100, "1 024 samples, hidden 10"),
    Size("n64k", 65536, 10, 256, 10, "65 536 samples, hidden 10"),
    Size("n1m", 1_000_000, 10, 256, 10, "1 000 000 samples, hidden 10"),
    Size("wide1k", 16384, 1024, 256, 10, "wide: 16 384 samples, hidden 1 024"),
    Size("wide4k", 65536, 4096, 256, 10, "wide: 65 536 samples, hidden 4 096"),
)}
QUICK_SIZES = ("doc5", "n1k")

# Each timed group, in the document's order; "first_call" is the one-off cost of a new step.
GROUPS: dict[str, str] = {
    "forward": "forward pass (logits of all N samples)",
    "loss_and_grad": "loss and gradients of all parameters",
    "adam_update": "one Adam update from precomputed gradients",
    "train_step": "one full training step (loss, gradients, Adam update)",
    "epoch": "one epoch of minibatch training (shuffled order, batch_size per size)",
    "pipeline": "the whole pipeline: numpy data in, standardize, train (epochs per size), validate, metrics out",
    "first_call": "the first training step of a fresh process (trace, compile, kernel JIT, run)",
}
# "adam_update" depends only on the parameter count: it is measured at the first selected size
# of each hidden width (doc5, wide1k, wide4k in the full matrix).

# Implementations: (framework, variant). torch's variants are built in torch_variants.py:
# "torch-eager" is the reference as written (Adam foreach=False, the textbook loop); the others
# are torch as its users run it.
IMPLS: dict[str, tuple[str, str]] = {
    "mlx-compiled": ("mlx", "compiled"),
    "mlx-eager": ("mlx", "eager"),
    "torch-eager": ("torch", "eager"),
    "torch-foreach": ("torch", "foreach"),
    "torch-fused": ("torch", "fused"),
    "torch-compile": ("torch", "compile"),
    "torch-compile-ro": ("torch", "compile-ro"),
}
TORCH_IMPLS = tuple(i for i, (f, _) in IMPLS.items() if f == "torch")
COMPILED_TORCH = ("torch-compile", "torch-compile-ro")
_MLX = ("mlx-compiled", "mlx-eager")
# Which implementations each group times. Groups without an optimizer (forward, loss and
# gradients) do not tell Adam's variants apart; the one Adam update does not tell torch.compile of
# the loss from its fused Adam. The pipeline is the product's run_pipeline with the variant's Adam
# (its loss stays the reference's: run_pipeline is not compiled).
GROUP_IMPLS: dict[str, tuple[str, ...]] = {
    "forward": _MLX + ("torch-eager",) + COMPILED_TORCH,
    "loss_and_grad": _MLX + ("torch-eager",) + COMPILED_TORCH,
    "adam_update": _MLX + ("torch-eager", "torch-foreach", "torch-fused"),
    "train_step": tuple(IMPLS),
    "epoch": tuple(IMPLS),
    "pipeline": _MLX + ("torch-eager", "torch-foreach", "torch-fused"),
    "first_call": _MLX + ("torch-eager",) + COMPILED_TORCH,
}
DEVICES = ("cpu", "gpu")


def n_params(hidden: int, d: int = IN_FEATURES) -> int:
    """Parameters of SimpleNN(d, hidden): fc1 weight and bias, fc2 weight and bias."""
    return hidden * d + hidden + hidden + 1


# ---- per-sample and per-parameter counts --------------------------------------------------


def _forward_flops(N: int, H: int, d: int = IN_FEATURES) -> float:
    # fc1 matmul 2dH, bias H, ReLU H, fc2 matmul 2H, bias 1
    return N * (2 * d * H + 4 * H + 1)


def _loss_flops(N: int) -> float:
    # BCE with logits, stable form: max, |z|, exp, log1p, z*y, two subtractions, the mean
    return 8.0 * N


def _backward_flops(N: int, H: int, d: int = IN_FEATURES) -> float:
    # dlogit = (sigmoid(z) - y) / N: 4; db2: 1; dW2 = dz^T A1: 2H; dA1 = dz W2: H;
    # ReLU mask: H; db1: H; dW1 = dZ1^T X: 2dH
    return N * (2 * d * H + 5 * H + 5)


def _adam_flops(P: int) -> float:
    # m = b1 m + (1-b1) g: 3; v = b2 v + (1-b2) g^2: 4; sqrt(v)/sqrt(bc2) + eps: 3; p -= lr/bc1 m/denom: 3
    return 13.0 * P


def _forward_bytes_unfused(N: int, H: int, d: int = IN_FEATURES) -> float:
    # read X (d); write Z1 (H); ReLU reads Z1, writes A1 (2H); fc2 reads A1 (H), writes z (1)
    return F32 * N * (d + 4 * H + 1)


def _backward_bytes_unfused(N: int, H: int, d: int = IN_FEATURES) -> float:
    # loss: read z, y, write dz (3); dW2 reads A1 (H); dA1 written (H); ReLU mask reads dA1 and
    # Z1, writes dZ1 (3H); dW1 reads dZ1 and X (H + d); db1 reads dZ1 (H)
    return F32 * N * (7 * H + d + 3)


@dataclass(frozen=True)
class Work:
    flops: float
    bytes_min: float
    bytes_unfused: float
    steps: int = 1  # optimizer steps in one call

    def as_dict(self) -> dict:
        return {"flops": self.flops, "bytes_min": self.bytes_min, "bytes_unfused": self.bytes_unfused,
                "steps": self.steps}


def _train_step_work(N: int, H: int, d: int = IN_FEATURES) -> Work:
    P = n_params(H, d)
    flops = _forward_flops(N, H, d) + _loss_flops(N) + _backward_flops(N, H, d) + _adam_flops(P)
    # inputs X, y read once; parameters and both moments read and written once
    bytes_min = F32 * (N * (d + 1) + 6 * P)
    bytes_unfused = _forward_bytes_unfused(N, H, d) + _backward_bytes_unfused(N, H, d) + F32 * N + F32 * 8 * P
    return Work(flops, bytes_min, bytes_unfused)


def work(group: str, size: Size) -> Work:
    """The work of one timed call of ``group`` at ``size``."""
    N, H, d = size.n, size.hidden, IN_FEATURES
    P = n_params(H, d)
    if group == "forward":
        return Work(_forward_flops(N, H, d), F32 * (N * d + P + N), _forward_bytes_unfused(N, H, d) + F32 * P)
    if group == "loss_and_grad":
        flops = _forward_flops(N, H, d) + _loss_flops(N) + _backward_flops(N, H, d)
        bytes_min = F32 * (N * (d + 1) + 2 * P)
        return Work(flops, bytes_min, _forward_bytes_unfused(N, H, d) + _backward_bytes_unfused(N, H, d) + F32 * 2 * P)
    if group == "adam_update":
        return Work(_adam_flops(P), F32 * 7 * P, F32 * 7 * P)
    if group in ("train_step", "first_call"):
        return _train_step_work(N, H, d)
    if group == "epoch":
        B = min(size.batch_size, N)
        full, rest = divmod(N, B)
        steps = [B] * full + ([rest] if rest else [])
        parts = [_train_step_work(b, H, d) for b in steps]
        # gathering a batch reads its rows of X and y and the int64 indices, and writes the copy
        gather_min = F32 * N * (d + 1)
        gather_unfused = N * (8 + 2 * F32 * (d + 1))
        return Work(sum(p.flops for p in parts), sum(p.bytes_min for p in parts) + gather_min,
                    sum(p.bytes_unfused for p in parts) + gather_unfused, steps=len(steps))
    if group == "pipeline":
        n_train, n_val, n_test = split_sizes(N, 0.2, 0.2)  # the pipeline's split (doc5: 3 / 1 / 1)
        step = _train_step_work(n_train, H, d)
        val = Work(_forward_flops(n_val, H, d) + _loss_flops(n_val), F32 * (n_val * (d + 1) + P),
                   _forward_bytes_unfused(n_val, H, d) + F32 * 3 * n_val)
        # standardize: mean and variance over train (3 passes), transform all (2 ops an element)
        scaler_flops = 3.0 * n_train * d + 2.0 * N * d
        scaler_bytes = F32 * (2 * n_train * d + 2 * N * d)
        # before training: initial logits and loss and gradients on train; after: test logits,
        # test loss, metrics
        extra = work("loss_and_grad", Size("", n_train, H, 1, 1, ""))
        test = _forward_flops(n_test, H, d) * 2 + _loss_flops(n_test) + 8.0 * n_test
        flops = scaler_flops + extra.flops + _forward_flops(n_train, H, d) + size.epochs * (step.flops + val.flops) + test
        bytes_min = (F32 * N * (d + 1)  # data in
                     + scaler_bytes + extra.bytes_min + size.epochs * (step.bytes_min + val.bytes_min)
                     + F32 * n_test * (d + 1))
        bytes_unfused = (F32 * N * (d + 1) + scaler_bytes + extra.bytes_unfused
                         + size.epochs * (step.bytes_unfused + val.bytes_unfused)
                         + 2 * _forward_bytes_unfused(n_test, H, d))
        return Work(flops, bytes_min, bytes_unfused, steps=size.epochs)
    raise KeyError(f"unknown group {group!r}; choose one of {', '.join(GROUPS)}")
