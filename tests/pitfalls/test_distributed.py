"""The proofs of the registry's entries on distributed training: one test per entry (see ``helpers``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conformance.compare import assert_close, compare
from conformance.distributed.launch import free_ports
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
    averaged = nn.average_gradients(grads)  # one all_sum of all four gradients concatenated (32 MiB groups)
    # all_reduce_size only groups the communication: 0 sends each array alone; 64 bytes makes three groups
    ungrouped = nn.average_gradients(grads, all_reduce_size=0)
    small = nn.average_gradients(grads, all_reduce_size=64)
    as_lists = lambda t: {k: np.array(v).tolist() for k, v in tree_flatten(t)}
    out = {"size": group.size(), "summed": as_lists(summed), "averaged": as_lists(averaged),
           "ungrouped": as_lists(ungrouped), "small": as_lists(small)}
    if group.rank() == 0:
        print("RESULT " + json.dumps(out))
""")
# SimpleNN's names in torch, and in the worker's nn.Sequential
NAMES = {"fc1.weight": "layers.0.weight", "fc1.bias": "layers.0.bias", "fc2.weight": "layers.2.weight",
         "fc2.bias": "layers.2.bias"}


def _four_rows() -> tuple[np.ndarray, np.ndarray]:
    X, y = DOC["train"]
    Xv, yv = DOC["val"]
    return np.concatenate([X, Xv]), np.concatenate([y, yv])  # the document's 3 + 1 rows: two per process


@pytest.fixture(scope="module")
def ring_result(tmp_path_factory):
    """Two MLX processes on the ring backend, each with its half of four rows: their all_sum and
    average_gradients (three groupings), from rank 0. Started once for the entries that use it."""
    tmp_path = tmp_path_factory.mktemp("ring")
    X, y = _four_rows()
    np.savez(tmp_path / "rows.npz", X=X, y=y, **{NAMES[k]: v for k, v in WEIGHTS.items()})
    launch = shutil.which("mlx.launch", path=os.path.dirname(sys.executable)) or shutil.which("mlx.launch")
    # MLX installed without its console scripts (pip install --target): its launcher's entry point
    launch = [launch] if launch else [sys.executable, "-c", "import sys; from mlx._distributed_utils.launch import main; "
                                                            "sys.argv[0] = 'mlx.launch'; sys.exit(main())"]
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    run = subprocess.run([*launch, "-n", "2", "--backend", "ring", "--starting-port", str(free_ports(2)),
                          "--python", sys.executable, str(script), str(tmp_path / "rows.npz")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["size"] == 2
    return result


@demonstrates("all-sum-not-average")
def test_all_sum_not_average(ring_result):
    result = ring_result
    X, y = _four_rows()

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


@demonstrates("average-gradients-grouping")
def test_average_gradients_grouping(ring_result):
    result = ring_result
    # all_reduce_size only decides how many all_sum calls carry the gradients: the same sums, each
    # element added once across the two processes in the same order, so the same bits
    for key in NAMES.values():
        grouped = np.array(result["averaged"][key], dtype=np.float32)
        for other in ("ungrouped", "small"):
            assert np.array_equal(grouped, np.array(result[other][key], dtype=np.float32)), (key, other)
    measured("average-gradients-grouping", "max_diff", max(
        float(np.max(np.abs(np.array(result["averaged"][k]) - np.array(result[o][k]))))
        for k in NAMES.values() for o in ("ungrouped", "small")))
    # and the harness can tell the average from the sum it would be without the division
    assert not np.array_equal(np.array(result["averaged"]["layers.0.weight"]),
                              np.array(result["summed"]["layers.0.weight"]))


@demonstrates("per-rank-seeds")
def test_per_rank_seeds():
    import mlx.core as mx
    import mlx.nn as mnn
    import torch

    from conformance.distributed import sharding

    n, W = 20, 2
    ranks = range(W)

    def rows(seed_of):  # every rank's rows of epoch 1, full batch
        return [set(sharding.batches(n, W, r, seed_of(r), 1, None, "sampler", True)[0].tolist()) for r in ranks]

    shared, own = rows(lambda r: 0), rows(lambda r: 0 + r)
    assert shared[0].isdisjoint(shared[1]) and shared[0] | shared[1] == set(range(n))
    measured("per-rank-seeds", "overlap", len(own[0] & own[1]))
    measured("per-rank-seeds", "missed", n - len(own[0] | own[1]))

    def mlx_mask(seed):
        mx.random.seed(seed)
        drop = mnn.Dropout(0.5)
        drop.train()
        return np.array(drop(mx.ones((1000,)))) != 0

    def torch_mask(seed):
        torch.manual_seed(seed)
        return (torch.nn.functional.dropout(torch.ones(1000), 0.5, training=True) != 0).numpy()

    for mask in (mlx_mask, torch_mask):  # seeded alike, the ranks draw the same mask; seeded by rank, not
        assert np.array_equal(mask(0), mask(0))
    measured("per-rank-seeds", "mlx_masks_differ", float(np.mean(mlx_mask(0) != mlx_mask(1))))
    measured("per-rank-seeds", "torch_masks_differ", float(np.mean(torch_mask(0) != torch_mask(1))))
    # and the two frameworks' masks from one seed are not the same either: no lockstep with dropout on
    assert not np.array_equal(mlx_mask(0), torch_mask(0))


@demonstrates("accumulation-before-average")
def test_accumulation_before_average():
    from mlx_reference import data as MD
    from mlx_reference import loss as ML

    X, y = _four_rows()
    k, W = 2, 2  # rank r holds rows 2r and 2r + 1: k micro-batches of one row each
    micro = [[np.array([2 * r + j]) for j in range(k)] for r in range(W)]
    model = mlx_model()
    g = [[ML.loss_and_gradients(model, MD.to_array(X[m]), MD.to_array(y[m]))[1] for m in micro[r]] for r in range(W)]
    keys = sorted(g[0][0])
    accumulated = {key: np.mean([np.sum([g[r][j][key] for j in range(k)], axis=0) for r in range(W)], axis=0)
                   for key in keys}  # sum the k micro-batches on each rank, then average over the ranks
    per_micro = {key: np.sum([np.mean([g[r][j][key] for r in range(W)], axis=0) for j in range(k)], axis=0) / k
                 for key in keys}  # average every micro-batch over the ranks, then the mean of the k
    torch_m = torch_model()  # DDP's step on the whole shard of each rank, averaged: the mean over four rows
    TL.loss_fn(torch_m, t_(X), t_(y)).backward()
    expected = {key: p.grad.numpy() for key, p in torch_m.named_parameters()}
    flat = lambda t: np.concatenate([np.asarray(t[key], np.float64).ravel() for key in keys])  # noqa: E731
    measured("accumulation-before-average", "ratio", np.linalg.norm(flat(accumulated)) / np.linalg.norm(flat(expected)))
    scales = gradient_scales(WEIGHTS, X)
    for key in keys:
        assert not compare(accumulated[key].astype(np.float32), expected[key], path=f"unscaled: {key}",
                           kind="gradient", scale=scales[key][0], scale_label=scales[key][1]).passed
        for label, value in (("accumulated / k", accumulated[key] / k), ("per micro-batch", per_micro[key])):
            assert_close(value.astype(np.float32), expected[key], path=f"{label}: {key}", kind="gradient",
                         scale=scales[key][0], scale_label=scales[key][1])


@demonstrates("batchnorm-statistics-per-rank")
def test_batchnorm_statistics_per_rank():
    import mlx.core as mx
    import mlx.nn as mnn
    import torch

    x = np.random.default_rng(0).normal(1.0, 2.0, size=(16, 3)).astype(np.float32)
    x[8:] += 1.5  # the second rank's rows come from elsewhere (a contiguous shard of sorted data)
    shards = (slice(0, 8), slice(8, 16))

    def torch_bn(rows):
        bn = torch.nn.BatchNorm1d(3)
        bn.train()
        with torch.no_grad():
            return bn(torch.from_numpy(x[rows])).numpy(), bn.running_mean.numpy(), bn.running_var.numpy()

    def mlx_bn(rows):
        bn = mnn.BatchNorm(3)
        bn.train()
        out = bn(mx.array(x[rows]))
        return np.array(out), np.array(bn.running_mean), np.array(bn.running_var)

    full = torch_bn(slice(0, 16))[0]
    per_rank = np.concatenate([torch_bn(s)[0] for s in shards])
    measured("batchnorm-statistics-per-rank", "rel_diff", np.linalg.norm(per_rank - full) / np.linalg.norm(full))
    assert not compare(per_rank, full, path="per-rank BatchNorm vs full batch", kind="forward").passed
    for s in shards:  # MLX's BatchNorm on a rank's rows is torch's on the same rows: both per rank
        (t_out, t_mean, t_var), (m_out, m_mean, m_var) = torch_bn(s), mlx_bn(s)
        assert_close(m_out, t_out, path=f"BatchNorm on rows {s.start}-{s.stop - 1}", kind="forward")
        assert_close(m_mean, t_mean, path=f"running_mean, rows {s.start}-{s.stop - 1}", kind="forward")
        assert_close(m_var, t_var, path=f"running_var, rows {s.start}-{s.stop - 1}", kind="forward")
    # the ranks' running statistics differ from each other: a group that keeps them per rank diverges
    measured("batchnorm-statistics-per-rank", "running_mean_gap",
             float(np.max(np.abs(torch_bn(shards[0])[1] - torch_bn(shards[1])[1]))))
