"""One rank of ``pair.check(..., ranks=W)``: the user's torch model under DDP, or the user's MLX
model with its gradients averaged over an ``mx.distributed`` group, on this rank's shard of every
batch (``conformance.distributed.sharding``'s rule).

Started by the frameworks' own launchers (``conformance.distributed.launch``: ``torchrun`` for
torch, ``mlx.launch`` for MLX) as ``<launcher> ... rank.py JOB_DIR SIDE``; reads ``JOB_DIR/job.pkl``
(``conformance.pair.group``), writes ``JOB_DIR/SIDE.rank<r>.pkl`` and, on failure,
``JOB_DIR/SIDE.rank<r>.error`` (one line, then the traceback).

Torch rank r records, per step: its rows, the learning rate, its state before and after the step,
its loss on its rows, its local gradient (on a copy of the model, never through DDP) and the
averaged gradient DDP's backward left. Its perturbed runs (the ensemble) record losses and final
weights. MLX rank r replays every step of torch rank r from its recorded state: its local loss and
gradient, MLX's ``average_gradients`` of torch's local gradients, and its own data-parallel step
(the port's ``train_step`` if it has one, else value_and_grad, ``nn.average_gradients``,
``optimizer.update``), whose averaged gradient is read where it enters ``optimizer.update``; then
it trains freely from the initial state, recording the same.
"""

from __future__ import annotations

import os
import pickle
import sys

if __package__ in (None, ""):  # run as a script by a launcher: import the project from its root, and never
    # from this folder (its select.py would shadow the standard library's select)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def _rows(job: dict, k: int, rank: int) -> tuple[int, np.ndarray]:
    """Step ``k``'s (1-based) batch index and this rank's rows of it."""
    from conformance.distributed import sharding

    b = (k - 1) % len(job["batches"])
    n = len(job["batches"][b][1])
    return b, sharding.shard(np.arange(n), job["ranks"], rank, job["shard"])


def _loss(job: dict):
    from conformance.pair.losses import resolve

    return resolve(job["loss"], job["output"])  # a name is resolved here: named losses hold local functions


def torch_rank(job: dict, rank: int) -> dict:
    import copy

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from conformance.pair.sides import TorchReference

    loss, spec, mapping = _loss(job).torch, job["spec"], job["mapping"]

    def reference(model, lr=None):
        from dataclasses import replace

        ref = TorchReference(model, loss, spec if lr is None else replace(spec, lr=lr), mapping, "cpu")
        ref.wrap(DistributedDataParallel(ref.model, broadcast_buffers=False))
        return ref

    initial = job["torch_model"]
    ref, observer = reference(copy.deepcopy(initial)), TorchReference(copy.deepcopy(initial), loss, spec, mapping)
    steps = []
    for k in range(1, job["steps"] + 1):
        b, rows = _rows(job, k, rank)
        X, y = job["batches"][b]
        before, lr = (ref.weights(), ref.state()), ref.lr
        observer.load(before[0])
        local_loss, local = observer.gradients(X[rows], y[rows])
        value, averaged = ref.step(X[rows], y[rows])
        steps.append({"batch": b, "rows": rows, "lr": lr, "before": before, "after": (ref.weights(), ref.state()),
                      "loss": value, "local_loss": local_loss, "local": local, "averaged": averaged})
    members = []
    for w, lr in job["members"]:
        member = reference(copy.deepcopy(initial), lr)
        member.load(w)
        losses = []
        for k in range(1, job["steps"] + 1):
            b, rows = _rows(job, k, rank)
            X, y = job["batches"][b]
            losses.append(member.step(X[rows], y[rows])[0])
        members.append({"losses": losses, "final": member.weights()})
    dist.barrier()
    return {"steps": steps, "members": members}


class _Seen:
    """The gradient a training step hands ``optimizer.update``: the averaged gradient, read there."""

    def __init__(self, optimizer):
        self.grads, self._update = None, optimizer.update
        optimizer.update = self

    def __call__(self, model, gradients):
        self.grads = gradients
        return self._update(model, gradients)


def mlx_rank(job: dict, rank: int, group) -> dict:
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten, tree_unflatten

    from conformance.pair.sides import MLXPort

    model, loss, mapping = job["mlx_model"], _loss(job).mlx, job["mapping"]
    grad = nn.value_and_grad(model, loss)

    def averaged_step(model, optimizer, X, y):  # the idiomatic data-parallel step
        value, grads = grad(model, X, y)
        optimizer.update(model, nn.average_gradients(grads, group=group))
        return value

    port = MLXPort(model, loss, job["spec"], mapping, False, job["inputs"], job["train_step"] or averaged_step,
                   "cpu", job["mlx_optimizer"])
    seen = _Seen(port.optimizer)

    def applied() -> dict:
        if seen.grads is None:
            raise RuntimeError("train_step: no gradients reached optimizer.update(model, grads); the data-parallel "
                               "check reads the averaged gradient there")
        out = mapping.mlx_to_torch({k: np.array(v) for k, v in tree_flatten(seen.grads)})
        seen.grads = None
        return out

    def step(k: int, before: tuple, lr: float) -> dict:
        b, rows = _rows(job, k, rank)
        X, y = job["batches"][b]
        Xc, yc = port.arrays(X[rows], y[rows])
        local_loss, local = port.gradients(before[0], Xc, yc)
        port.load(*before, lr)
        value, w1, s1 = port.step(Xc, yc)
        return {"batch": b, "rows": rows, "loss": value, "local_loss": local_loss, "local": local,
                "averaged": applied(), "after": (w1, s1)}

    with open(os.path.join(job["dir"], f"torch.rank{rank}.pkl"), "rb") as f:
        reference = pickle.load(f)["steps"]
    replay = []
    for k, rec in enumerate(reference, start=1):
        out = step(k, rec["before"], rec["lr"])
        tree = tree_unflatten([(k_, mx.array(v)) for k_, v in mapping.torch_to_mlx(rec["local"]).items()])
        out["average_of_reference"] = mapping.mlx_to_torch(
            {k_: np.array(v) for k_, v in tree_flatten(nn.average_gradients(tree, group=group))})
        replay.append(out)
    port.load(job["w0"], job["zero"], job["spec"].lr)  # the free run: from the start, nothing reloaded after
    free = []
    for k in range(1, job["steps"] + 1):
        b, rows = _rows(job, k, rank)
        X, y = job["batches"][b]
        value, w1, s1 = port.step(*port.arrays(X[rows], y[rows]))
        g = applied()
        free.append({"batch": b, "rows": rows, "loss": value, "averaged": g, "local": g, "after": (w1, s1)})
    return {"replay": replay, "steps": free}


def main(job_dir: str, side_name: str) -> None:
    with open(os.path.join(job_dir, "job.pkl"), "rb") as f:
        paths = pickle.load(f)  # the parent's import path first: the job's classes live in its modules
        for p in reversed(paths):
            if p not in sys.path:
                sys.path.insert(0, p)
        job = {**pickle.load(f), **pickle.load(f)}  # the user's objects, then the run's settings and data
    job["dir"] = job_dir
    from conformance.pair.engine import build_mapping

    job["torch_model"], job["mapping"] = build_mapping(job["torch_model"], job["mlx_model"], job["names"], job["rules"])
    if side_name == "torch":
        import torch.distributed as dist

        dist.init_process_group("gloo")
        rank, size = dist.get_rank(), dist.get_world_size()
    else:
        import mlx.core as mx

        group = mx.distributed.init(strict=True, backend="ring")
        rank, size = group.rank(), group.size()
    if size != job["ranks"]:
        raise RuntimeError(f"the launcher started {size} process(es), the job asks for {job['ranks']}")
    out = torch_rank(job, rank) if side_name == "torch" else mlx_rank(job, rank, group)
    if side_name == "torch":
        dist.destroy_process_group()
    out.update(rank=rank, size=size)
    from conformance.distributed.worker import write_records

    write_records(job_dir, side_name, rank, out)


if __name__ == "__main__":
    from conformance.distributed.worker import run_rank

    run_rank(main)
