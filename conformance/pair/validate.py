"""Everything ``pair.check`` is given, checked before anything runs: one ``PairError`` line each.

``arguments`` checks the scalar arguments and the models' types; ``batches`` normalizes the batches
to a list of ``(X, y)`` numpy pairs; ``optimizer`` turns ``pair.Adam``/``AdamW``/``SGD`` or the
port's own MLX optimizer into the specification torch's optimizer is built from (and the MLX
optimizer that is judged); ``dtypes`` refuses what no verdict exists for yet; ``memory`` estimates
what a check holds. ``probe`` (after the weights are moved) runs each side's forward and loss on
the first batch, so a batch that does not fit a model or a loss is named here, not in a traceback
from deep inside torch or MLX; and runs each forward twice, so dropout done functionally (an
attention dropout probability) is found: its masks differ between frameworks.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..optimizers import Optimizer, SGD
from ..optimizers import Adam as AdamSpec, AdamW as AdamWSpec
from .errors import PairError

#: Bytes a check holds per parameter of the torch model, measured: peak resident memory of a check of
#: an MLP 64-h-h-10 (3 steps, ensemble 2; tests/test_memory.py) less the 400 MB ``footprint.BASELINE``.
#: The copies: the reference, its initial copy, the capture's and the ensemble member's, float64 copies
#: for the measured rounding and the layers, the reruns' gradients, MLX's model, gradients and moments,
#: and the flat float64 vectors one local step judges (the optimizer's reach alone adds ~250 MB at
#: 1.1 M parameters). The same check of 1.1 M parameters peaked at 1.11 GB on this machine (640 B a
#: parameter; glibc's arena, mmap-threshold and hugetlb tunables moved it by under 6%) and at 2.25 GB
#: in CI on a machine of the same kind (1690 B; the cause was not found). A refusal must err on the
#: safe side, so the constant covers the larger, rounded up.
PER_PARAMETER = 1800


def arguments(mlx_model, torch_model, steps, ensemble, compiled, device, inputs, train_step, output) -> None:
    import mlx.nn as mnn
    import torch

    if isinstance(mlx_model, torch.nn.Module) and isinstance(torch_model, mnn.Module):
        raise PairError("the models are in the wrong order: pair.check(mlx_model, torch_model, batches, ...) takes the "
                        "MLX model first")
    if not isinstance(mlx_model, mnn.Module):
        raise PairError(f"mlx_model: an mlx.nn.Module is needed, got {type(mlx_model).__name__}")
    if not isinstance(torch_model, torch.nn.Module):
        raise PairError(f"torch_model: a torch.nn.Module is needed, got {type(torch_model).__name__}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1):
        raise PairError(f"steps={steps!r}: give a whole number of training steps, at least 1 (or None: one per batch, "
                        "at least 10)")
    if ensemble is not None and (isinstance(ensemble, bool) or not isinstance(ensemble, numbers.Integral)
                                 or ensemble < 0):
        raise PairError(f"ensemble={ensemble!r}: give a whole number of perturbed torch runs, 0 or more (0: the free "
                        "run is not judged)")
    if not isinstance(compiled, bool):
        raise PairError(f"compiled={compiled!r}: give True or False")
    if device not in ("cpu", "gpu"):
        raise PairError(f"device={device!r}: give 'cpu' or 'gpu'")
    for name, fn in (("inputs", inputs), ("train_step", train_step)):
        if fn is not None and not callable(fn):
            raise PairError(f"{name}=: a function is needed, got {type(fn).__name__}")
    if output is not None and not isinstance(output, (str, int)) and not callable(output):
        raise PairError(f"output={output!r}: give None, a key or attribute name, an index or a function")
    _meta_and_dtypes(mlx_model, torch_model)


def ranks(ranks_, shard, compiled, device) -> None:
    """``ranks=`` and ``shard=``: a whole number of processes a framework, on the CPU (ring and gloo)."""
    from ..distributed.sharding import RULES

    if isinstance(ranks_, bool) or not isinstance(ranks_, numbers.Integral) or not 1 <= ranks_ <= 64:
        raise PairError(f"ranks={ranks_!r}: give a whole number of processes a framework, from 1 (no data-parallel "
                        "run) to 64")
    if shard not in RULES:
        raise PairError(f"shard={shard!r}: give one of {', '.join(map(repr, RULES))}")
    if ranks_ > 1 and compiled:
        raise PairError(f"ranks={ranks_} with compiled=True: the data-parallel check reads the averaged gradient where "
                        "it enters optimizer.update, which a compiled step hides; leave compiled out")
    if ranks_ > 1 and device != "cpu":
        raise PairError(f"ranks={ranks_} runs on the CPU (MLX's ring backend, torch's gloo); device={device!r} with "
                        "several ranks needs NCCL, which the data-parallel check does not run; use device='cpu'")


def device_available(device: str) -> None:
    if device != "gpu":
        return
    from ..sides import missing_gpus

    missing = missing_gpus()
    if missing:
        raise PairError(f"device='gpu': no GPU for {' and '.join(missing)} here; use device='cpu'")


def _meta_and_dtypes(mlx_model, torch_model) -> None:
    import torch
    from mlx.utils import tree_flatten

    for n, t in list(torch_model.named_parameters()) + list(torch_model.named_buffers()):
        if t.device.type == "meta":
            raise PairError(f"torch's {n} is on the meta device (no values): build the torch model with real tensors "
                            "(for example outside torch.device('meta'), or load_state_dict(..., assign=True))")
        if t.is_floating_point() and t.dtype != torch.float32:
            raise PairError(f"torch's {n} is {str(t.dtype).replace('torch.', '')}: the verdict judges float32 models "
                            "only (a float16, bfloat16 or float64 verdict does not exist yet); cast both models with "
                            "model.float() / model.set_dtype(mx.float32)")
    import mlx.core as mx

    for n, a in tree_flatten(mlx_model.parameters()):
        if mx.issubdtype(a.dtype, mx.floating) and a.dtype != mx.float32:
            raise PairError(f"MLX's {n} is {str(a.dtype).replace('mlx.core.', '')}: the verdict judges float32 models "
                            "only (a float16, bfloat16 or float64 verdict does not exist yet); cast it with "
                            "model.set_dtype(mx.float32)")


def _array(v, what: str) -> np.ndarray:
    try:
        a = np.asarray(v.detach().cpu() if hasattr(v, "detach") else v)
    except Exception as e:  # noqa: BLE001 - anything numpy cannot read: said in one line
        raise PairError(f"{what}: not an array ({type(v).__name__}: {e})") from None
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise PairError(f"{what}: numbers are needed, got an array of {a.dtype} ({type(v).__name__})")
    return a


def batches(given) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(X, y)`` or a list of them, as numpy pairs with their first axes checked."""
    if isinstance(given, tuple) and len(given) == 2 and not isinstance(given[0], (tuple, list)):
        given = [given]
    if isinstance(given, (str, bytes, dict)) or not hasattr(given, "__iter__"):
        raise PairError(f"batches: give one (X, y) or a list of (X, y), got {type(given).__name__}")
    out = []
    for i, b in enumerate(list(given)):
        if not isinstance(b, (tuple, list)) or len(b) != 2:
            raise PairError(f"batches[{i}]: give an (X, y) pair, got {type(b).__name__}"
                            + (f" of length {len(b)}" if isinstance(b, (tuple, list)) else ""))
        X, y = _array(b[0], f"batches[{i}] X"), _array(b[1], f"batches[{i}] y")
        if X.ndim == 0 or X.shape[0] == 0:
            raise PairError(f"batches[{i}] X has shape {X.shape}: a batch needs at least one sample on its first axis")
        if y.ndim == 0 or y.shape[0] != X.shape[0]:
            raise PairError(f"batches[{i}]: y has shape {y.shape} but X has {X.shape[0]} samples (shape {X.shape}); "
                            "give one target per sample")
        for name, a in (("X", X), ("y", y)):
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise PairError(f"batches[{i}] {name} holds NaN or infinity at "
                                f"{tuple(int(j) for j in np.argwhere(~np.isfinite(a))[0])}")
        out.append((X, y))
    if not out:
        raise PairError("batches is empty: give one (X, y) or a list of them")
    return out


def optimizer(given) -> tuple[Optimizer, object | None]:
    """The specification both optimizers follow, and the port's own MLX optimizer (None: built from it)."""
    import mlx.optimizers as optim

    if given is None:
        return AdamSpec(), None
    if isinstance(given, Optimizer):
        try:
            given.make_mlx()
        except ValueError as e:
            raise PairError(f"optimizer: {e}") from None
        return given, None
    if isinstance(given, str):
        raise PairError(f"optimizer={given!r}: give pair.Adam(lr), pair.AdamW(lr) or pair.SGD(lr, momentum=...), or "
                        "your MLX optimizer (mlx.optimizers.Adam, AdamW or SGD)")
    if type(given).__module__.startswith("torch"):
        raise PairError(f"optimizer: a torch optimizer ({type(given).__name__}) is bound to one model's parameters; "
                        "give pair.Adam(lr)/AdamW/SGD (both sides' optimizers are built from it) or your MLX optimizer")
    if isinstance(given, optim.Optimizer):
        return _from_mlx(given), given
    raise PairError(f"optimizer: give pair.Adam, pair.AdamW, pair.SGD or an MLX optimizer, got {type(given).__name__}")


def _from_mlx(opt) -> Optimizer:
    """The torch-side specification of an MLX Adam, AdamW or SGD, refusing settings torch cannot mirror."""
    import mlx.optimizers as optim

    name = type(opt).__name__
    if getattr(opt, "_schedulers", None):
        raise PairError(f"optimizer: MLX's {name} has a learning-rate schedule; give a fixed learning rate (a schedule "
                        "is not compared yet)")
    lr = float(np.asarray(opt.learning_rate))
    if isinstance(opt, optim.Adam):  # AdamW is an Adam
        torch_name = "AdamW" if isinstance(opt, optim.AdamW) else "Adam"
        if not getattr(opt, "bias_correction", True):
            raise PairError(f"optimizer: MLX's {name} was built with bias_correction=False (MLX's default), torch's "
                            f"{torch_name} always corrects the bias, so the first steps are up to 3x torch's: build "
                            f"optim.{name}(..., bias_correction=True)")
        betas, eps = tuple(float(b) for b in opt.betas), float(opt.eps)
        if isinstance(opt, optim.AdamW):
            return AdamWSpec(lr, betas, eps, float(opt.weight_decay))
        return AdamSpec(lr, betas, eps)
    if isinstance(opt, optim.SGD):
        return SGD(lr, float(opt.momentum), float(opt.dampening), bool(opt.nesterov), float(opt.weight_decay))
    raise PairError(f"optimizer: MLX's {name} has no torch twin the verdict knows; use Adam, AdamW or SGD")


#: Bytes a data-parallel check (``ranks=``) keeps per parameter, step and rank: the records the parent
#: reads back, counted (not measured): torch's state before and after (weights and two moments each),
#: its local and averaged gradients; MLX's replayed local gradient, averages and state after, and its
#: free run's state and averaged gradient: 18 float32 copies.
PER_RANK_STEP = 18 * 4


def memory(torch_model, batches_: list, steps: int, ranks: int = 1) -> None:
    """Refuse a check whose estimate exceeds the memory available, with the estimate."""
    from ..footprint import BASELINE, PER_STEP, available_memory, gb

    n = sum(int(p.numel()) for p in torch_model.parameters()) + sum(int(b.numel()) for b in torch_model.buffers())
    data = sum(X.nbytes + y.nbytes for X, y in batches_)
    total = BASELINE + PER_PARAMETER * n + 8 * data + PER_STEP * steps
    if ranks > 1:
        total += PER_RANK_STEP * n * steps * ranks
    have = available_memory()
    if have is not None and total > have[0]:
        per_rank = f", {PER_RANK_STEP} B a parameter, step and rank in the data-parallel records" if ranks > 1 else ""
        raise PairError(f"this check would hold about {gb(total)} ({n:,} parameters at {PER_PARAMETER} B each in the "
                        f"copies it keeps{per_rank}, {gb(data)} of batches) but {gb(have[0])} is available ({have[1]}); "
                        "check a smaller configuration of the model" + (" or fewer steps" if ranks > 1 else ""))


def probe(port, ref, batches_: list, inputs_given: bool) -> None:
    """Each side's forward and loss on the first batch, at the same weights (``PairError`` naming what
    does not fit), and each forward twice in training mode (a difference: randomness, refused)."""
    X, y = batches_[0]
    hint = ("; images in torch's NCHW layout need inputs=pair.channels_last for MLX's NHWC"
            if X.ndim >= 3 and not inputs_given else "")
    try:
        Xc, yc = port.arrays(X, y)
    except Exception as e:  # noqa: BLE001 - the user's inputs= function
        raise PairError(f"inputs=: the function failed on batches[0] X of shape {X.shape}: {_line(e)}") from None
    for side, run in (("torch", lambda: ref.loss_value(X, y)), ("mlx", lambda: port.loss_value(Xc, yc))):
        try:
            value = run()
        except PairError:
            raise
        except Exception as e:  # noqa: BLE001 - the user's model or loss: one line, not their traceback
            raise PairError(f"the {side} model or loss failed on batches[0] (X {X.shape} {X.dtype}, y {y.shape} "
                            f"{y.dtype}): {_line(e)}" + (hint if side == "mlx" else "")) from None
        if not np.isfinite(value):
            raise PairError(f"the {side} loss on batches[0] is {value} at torch's initial weights: look for NaN or "
                            "infinity in the initial weights or the batch, or a loss that takes the log of 0")


def randomness(port, ref, X, y) -> list[str]:
    """Which sides' training-mode loss differs between two identical calls (dropout inside the forward)."""
    out = []
    if not ref.deterministic(X, y):
        out.append("torch")
    if not port.deterministic(*port.arrays(X, y)):
        out.append("mlx")
    return out


def _line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]
