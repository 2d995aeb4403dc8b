"""mlx_reference.distributed on a real group of two ring processes, in the README's test command
(about two seconds): ``average_gradients`` and one data-parallel training step on the document's
weights, each rank on its shard by the sharding rule, against torch's mean of the shards' mean
gradients (DDP's rule) computed here in one process. The full data-parallel runs, against torch's
DDP group, are ``tests/test_data_parallel.py`` (marked ``distributed``); this file is what the
mutation runner's suite (which leaves that marker out) sees of the MLX side's averaging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conformance.compare import assert_close, compare
from conformance.distributed import launch, sharding
from conformance.tolerances import gradient_scales
from conformance.weights import init_weights
from reference_torch import loss as TL, model as TM

WEIGHTS = init_weights(2, 10, seed=0)
X = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0], [5.0, 5.0]], dtype=np.float32)
Y = np.array([0.0, 0.0, 1.0, 1.0, 1.0], dtype=np.float32)

_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np, mlx.core as mx
    mx.set_default_device(mx.cpu)
    from conformance.distributed import sharding
    from mlx_reference import distributed as D, model as M, optim as O, data as MD
    data = np.load(sys.argv[1])
    group = D.init_group("ring")
    rank, size = D.rank_and_size(group)
    weights = {k: data[k] for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")}
    rows = sharding.batches(len(data["y"]), size, rank, 0, 1, None, "sampler", True)[0]
    averaged = D.average_gradients({"g": np.full(3, rank + 1.0, np.float32)}, group)["g"]
    model = M.load_weights(M.to_dtype(M.SimpleNN(2, 10), "float32"), weights)
    opt = O.make_adam(model, 1e-3)
    step = D.make_train_step(model, opt, group, compiled=False)
    loss, grads = step(MD.to_array(data["X"][rows]), MD.to_array(data["y"][rows]))
    from mlx.utils import tree_flatten
    mx.eval(loss, grads)
    out = {"rank": rank, "rows": rows.tolist(), "averaged": averaged.tolist(),
           "grads": {k: np.array(v).tolist() for k, v in tree_flatten(grads)}}
    print("RESULT " + json.dumps(out), flush=True)
""")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ring")
    np.savez(tmp / "job.npz", X=X, y=Y, **WEIGHTS)
    (tmp / "worker.py").write_text(_WORKER)
    cmd = launch.command("mlx", 2, "ring", str(tmp))  # the launcher's own command line, our script in its place
    cmd = cmd[:cmd.index(launch.WORKER)] + [str(tmp / "worker.py"), str(tmp / "job.npz")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": launch.ROOT}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    found = [json.loads(line[7:]) for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    return sorted(found, key=lambda r: r["rank"])


def test_average_gradients_divides_by_the_group(ranks):
    assert len(ranks) == 2
    for r in ranks:  # ranks hold 1 and 2: the mean is 1.5, the sum would be 3
        assert r["averaged"] == [1.5, 1.5, 1.5]


def test_a_step_applies_the_mean_of_the_shard_means(ranks):
    shards = [sharding.batches(len(Y), 2, r, 0, 1, None, "sampler", True)[0] for r in range(2)]
    assert [r["rows"] for r in ranks] == [s.tolist() for s in shards]

    def torch_grads(rows):
        model = TM.load_weights(TM.to_dtype(TM.SimpleNN(2, 10), "float32"), WEIGHTS)
        TL.loss_fn(model, _t(X[rows]), _t(Y[rows])).backward()
        return {k: p.grad.numpy() for k, p in model.named_parameters()}

    expected = {k: np.mean([torch_grads(s)[k] for s in shards], axis=0) for k in WEIGHTS}
    scales = gradient_scales(WEIGHTS, X)
    for r in ranks:
        for k in WEIGHTS:
            got = np.array(r["grads"][k], dtype=np.float32)
            assert_close(got, expected[k], path=f"rank {r['rank']} averaged {k}", kind="gradient",
                         scale=scales[k][0], scale_label=scales[k][1])
            assert not compare(2 * got, expected[k], path="the undivided sum", kind="gradient", scale=scales[k][0],
                               scale_label=scales[k][1]).passed


def _t(a):
    import torch

    return torch.from_numpy(np.asarray(a))
