"""The proofs of the registry's entries on distributed training: one test per entry (see ``helpers``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np

from conformance.compare import assert_close
from conformance.tolerances import gradient_scales
from reference_torch import loss as TL
from .helpers import DOC, WEIGHTS, demonstrates, measured, mlx_model, t_, torch_model

# Each of two processes (the ring backend over localhost) takes its half of four rows and computes
# SimpleNN's gradient of its own mean loss; then all_sum, or nn.average_gradients, combines them.
# The worker imports MLX and numpy only: two interpreters start, and each import costs time.
_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np, mlx.core as mx, mlx.nn as nn
    from mlx.utils import tree_flatten, tree_map, tree_unflatten
    mx.set_default_device(mx.cpu)
    group = mx.distributed.init()
    data = np.load(sys.argv[1])
    model = nn.Sequential(nn.Linear(2, 10), nn.ReLU(), nn.Linear(10, 1))  # SimpleNN, from its initial weights
    model.update(tree_unflatten([(k, mx.array(data[k])) for k in ("layers.0.weight", "layers.0.bias",
                                                                  "layers.2.weight", "layers.2.bias")]))
    rows = slice(2 * group.rank(), 2 * group.rank() + 2)
    loss = lambda m, X, y: nn.losses.binary_cross_entropy(m(X)[:, 0], y, reduction="mean")
    _, grads = nn.value_and_grad(model, loss)(model, mx.array(data["X"][rows]), mx.array(data["y"][rows]))
    summed = tree_map(lambda g: mx.distributed.all_sum(g), grads)
    averaged = nn.average_gradients(grads)
    out = {"size": group.size(), "summed": {k: np.array(v).tolist() for k, v in tree_flatten(summed)},
           "averaged": {k: np.array(v).tolist() for k, v in tree_flatten(averaged)}}
    if group.rank() == 0:
        print("RESULT " + json.dumps(out))
""")
# SimpleNN's names in torch, and in the worker's nn.Sequential
NAMES = {"fc1.weight": "layers.0.weight", "fc1.bias": "layers.0.bias", "fc2.weight": "layers.2.weight",
         "fc2.bias": "layers.2.bias"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _four_rows() -> tuple[np.ndarray, np.ndarray]:
    X, y = DOC["train"]
    Xv, yv = DOC["val"]
    return np.concatenate([X, Xv]), np.concatenate([y, yv])  # the document's 3 + 1 rows: two per process


@demonstrates("all-sum-not-average")
def test_all_sum_not_average(tmp_path):
    X, y = _four_rows()
    np.savez(tmp_path / "rows.npz", X=X, y=y, **{NAMES[k]: v for k, v in WEIGHTS.items()})
    launch = shutil.which("mlx.launch", path=os.path.dirname(sys.executable)) or shutil.which("mlx.launch")
    # MLX installed without its console scripts (pip install --target): its launcher's entry point
    launch = [launch] if launch else [sys.executable, "-c", "import sys; from mlx._distributed_utils.launch import main; "
                                                            "sys.argv[0] = 'mlx.launch'; sys.exit(main())"]
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    run = subprocess.run([*launch, "-n", "2", "--backend", "ring", "--starting-port", str(_free_port()),
                          "--python", sys.executable, str(script), str(tmp_path / "rows.npz")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["size"] == 2

    model = torch_model()  # what DDP computes: the gradient of the mean over all four rows
    TL.loss_fn(model, t_(X), t_(y)).backward()
    expected = {k: p.grad.numpy() for k, p in model.named_parameters()}
    ratio = np.mean([np.linalg.norm(result["summed"][NAMES[k]]) / np.linalg.norm(expected[k]) for k in expected])
    measured("all-sum-not-average", "sum_ratio", ratio)
    scales = gradient_scales(WEIGHTS, X)
    for key in expected:
        assert_close(np.array(result["averaged"][NAMES[key]], dtype=np.float32), expected[key],
                     path=f"average_gradients: {key}",
                     kind="gradient", scale=scales[key][0], scale_label=scales[key][1])


@demonstrates("distributed-sampler-order")
def test_distributed_sampler_order():
    from torch.utils.data import DistributedSampler

    from conformance.distributed import sharding

    n, W = 5, 2
    sampler = [list(DistributedSampler(list(range(n)), num_replicas=W, rank=r, shuffle=False)) for r in range(W)]
    blocks = [np.array_split(np.arange(n), W)[r].tolist() for r in range(W)]  # the naive port
    measured("distributed-sampler-order", "differing", sum(len(set(a) ^ set(b)) for a, b in zip(sampler, blocks)))
    measured("distributed-sampler-order", "total", sum(map(len, sampler)))
    measured("distributed-sampler-order", "padded", sum(map(len, sampler)) - sum(map(len, blocks)))
    assert blocks != sampler
    # the fix: the one rule both data-parallel runs use is the sampler's, on any order
    order = sharding.epoch_order(n, seed=0, epoch=1)
    for r in range(W):
        assert sharding.shard(order, W, r, "sampler").tolist() == order[sampler[r]].tolist()


@demonstrates("uneven-shards-mean-of-means")
def test_uneven_shards_mean_of_means():
    from mlx_reference import loss as ML
    from mlx_reference import data as MD

    X, y = _four_rows()
    X, y = np.concatenate([X, DOC["test"][0]]), np.concatenate([y, DOC["test"][1]])  # the document's five rows
    shards = np.array_split(np.arange(len(y)), 2)  # 3 and 2

    def torch_grads(rows):
        model = torch_model()
        TL.loss_fn(model, t_(X[rows]), t_(y[rows])).backward()
        return {k: p.grad.numpy().astype(np.float64) for k, p in model.named_parameters()}

    full = torch_grads(np.arange(len(y)))
    ddp = {k: np.mean([torch_grads(s)[k] for s in shards], axis=0) for k in full}  # what DDP averages
    flat = lambda g: np.concatenate([g[k].ravel() for k in sorted(g)])  # noqa: E731
    measured("uneven-shards-mean-of-means", "rel_diff", np.linalg.norm(flat(ddp) - flat(full)) / np.linalg.norm(flat(full)))
    # MLX's rule is the same: the mean over processes of each one's shard-mean gradient
    model = mlx_model()
    mine = [ML.loss_and_gradients(model, MD.to_array(X[s]), MD.to_array(y[s]))[1] for s in shards]
    scales = gradient_scales(WEIGHTS, X)
    for key in full:
        assert_close(np.mean([g[key] for g in mine], axis=0).astype(np.float32), ddp[key].astype(np.float32),
                     path=f"mean of shard means: {key}", kind="gradient", scale=scales[key][0],
                     scale_label=scales[key][1])
