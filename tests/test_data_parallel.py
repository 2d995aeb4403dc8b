"""Data-parallel conformance (issue 21): MLX's group under mlx.launch against torch's DDP group
under torchrun, two ranks each, on this machine's CPU (ring and gloo).

The correct port conforms; each trap of porting data-parallel training, seeded into MLX's
processes only (a ``sitecustomize`` on their ``PYTHONPATH`` that patches the port as the bug
would be written), must be named by the check it names here, at the step and rank it names. A
failing process surfaces as one line naming the side and the rank; a group past its timeout is
stopped. Marked ``distributed`` (each run starts four processes): ``python -m pytest -m distributed``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conformance.data import document_dataset, synthetic_dataset
from conformance.distributed import launch
from conformance.distributed.run import GroupConfig, run_data_parallel
from conformance.runner import RunConfig

pytestmark = pytest.mark.distributed

BUGS = {
    # nn.average_gradients replaced by all_sum without the division: twice DDP's gradient
    "all-sum": """
        import mlx.core as mx, mlx.nn as nn
        from mlx.utils import tree_map
        nn.average_gradients = lambda g, group=None, **kw: tree_map(lambda a: mx.distributed.all_sum(a, group=group), g)
    """,
    # a manual contiguous split where torch's DistributedSampler interleaves
    "contiguous-split": """
        from conformance.distributed import sharding
        _shard = sharding.shard
        sharding.shard = lambda order, ranks, rank, rule: _shard(order, ranks, rank, "contiguous")
    """,
    # each rank shuffles with its own seed (seed + rank), so the ranks' shards overlap
    "per-rank-seed": """
        from conformance.distributed import sharding
        _batches = sharding.batches
        sharding.batches = lambda n, ranks, rank, seed, *a, **k: _batches(n, ranks, rank, seed + rank, *a, **k)
    """,
    # uneven shards averaged by samples (sum of the ranks' sums over all rows) where DDP averages
    # the ranks' means: the full batch's gradient, not DDP's
    "sample-weighted": """
        import mlx.core as mx, mlx.nn as nn
        from mlx.utils import tree_map
        import mlx_reference.distributed as D
        from mlx_reference.loss import bce_with_logits
        def make_train_step(model, optimizer, group, compiled=True):
            grad = nn.value_and_grad(model, lambda m, X, y: bce_with_logits(m(X), y) * X.shape[0])
            def step(X, y):
                total = mx.distributed.all_sum(mx.array(float(X.shape[0])), group=group)
                loss, g = grad(model, X, y)
                g = tree_map(lambda a: mx.distributed.all_sum(a, group=group) / total, g)
                optimizer.update(model, g)
                return loss / X.shape[0], g
            return step
        D.make_train_step = make_train_step
    """,
    "crash-rank-1": """
        import os
        if os.environ.get("MLX_RANK") == "1":
            import mlx_reference.distributed as D
            def init_group(backend="any"):
                raise RuntimeError("seeded failure in rank 1")
            D.init_group = init_group
    """,
}


def _bug(tmp_path, name: str) -> dict:
    d = tmp_path / name
    d.mkdir()
    (d / "sitecustomize.py").write_text(textwrap.dedent(BUGS[name]))
    return {"PYTHONPATH": str(d)}


def _run(dataset, tmp_path=None, bug=None, ensemble=0, rule="sampler", **cfg):
    config = RunConfig(ensemble=ensemble, **cfg)
    group = GroupConfig(ranks=2, rule=rule, timeout=240, mlx_env=_bug(tmp_path, bug) if bug else None,
                        work_dir=str(tmp_path) if tmp_path else None)
    return run_data_parallel(dataset, config, group)


def test_document_conforms_rank_by_rank():
    outcome = _run(document_dataset(), ensemble=6)
    assert outcome.status == "conforms", outcome.first_failure().message()
    paths = {c.path for c in outcome.checks}
    for r in (0, 1):  # a verdict per rank, and the group's
        for what in ("local gradients", "averaging, same gradients", "averaged gradients", "training step",
                     "Adam, same averaged gradients", "mlx's own loop: the rows of its batch"):
            assert any(p.startswith(f"5 local / rank {r} / {what}") for p in paths), (r, what)
    assert any("identical state" in p for p in paths)
    assert outcome.free.judged and len(outcome.free.members) == 6
    assert any(n.startswith("averaging in force") and "even" in n for n in outcome.notes)


@pytest.mark.parametrize("bug,dataset,rule,expected", [
    ("all-sum", "document", "sampler", ("5 local / rank 0 / averaging, same gradients", 1)),
    ("contiguous-split", "document", "sampler", ("5 local / rank 0 / mlx's own loop: the rows of its batch", 1)),
    ("per-rank-seed", "document", "sampler", ("5 local / rank 1 / mlx's own loop: the rows of its batch", 1)),
    ("sample-weighted", "synthetic 25", "contiguous", ("5 local / rank 0 / averaged gradients", 1)),
])
def test_seeded_trap_is_named(tmp_path, bug, dataset, rule, expected):
    data = document_dataset() if dataset == "document" else synthetic_dataset(25, seed=0)
    outcome = _run(data, tmp_path, bug, rule=rule, epochs=3)
    assert outcome.status == "does-not-conform"
    first = outcome.first_failure()
    assert first.path.startswith(expected[0]) and first.step == expected[1], first.message()


def test_uneven_shards_say_the_rule_in_force():
    outcome = _run(synthetic_dataset(25, seed=0), rule="contiguous", epochs=5)
    assert outcome.status == "conforms", outcome.first_failure().message()
    assert any("averaging in force" in n and "uneven" in n for n in outcome.notes)


def test_a_failing_rank_is_one_line(tmp_path):
    with pytest.raises(launch.LaunchError) as e:
        _run(document_dataset(), tmp_path, "crash-rank-1", epochs=1)
    message = str(e.value)
    assert message.startswith("mlx rank 1: RuntimeError: seeded failure in rank 1") and "\n" not in message


def test_a_group_past_its_timeout_is_stopped(tmp_path):
    (tmp_path / "job.pkl").write_bytes(b"")  # the workers would fail; the timeout comes first
    with pytest.raises(launch.LaunchError, match="ran past its timeout of 0.01 s"):
        launch.run_group("torch", 2, "gloo", str(tmp_path), timeout=0.01)


@pytest.mark.parametrize("argv,flag", [
    (["--backend", "ring"], "--backend needs --ranks"),
    (["--ranks", "2", "--patience", "3"], "--patience is not supported with --ranks"),
    (["--ranks", "9"], "--ranks 9: the training set has 4 row(s)"),
])
def test_cli_refuses_in_one_line(argv, flag):
    run = subprocess.run([sys.executable, "-m", "conformance", *argv], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert flag in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_a_taken_store_port_is_retried_on_another(tmp_path, monkeypatch):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    chosen = []
    free = launch.free_ports

    def first_taken(count, *a, **k):  # the first store port handed to torchrun is one another process holds
        chosen.append(port if not chosen and count == 1 else free(count, *a, **k))
        return chosen[-1]

    monkeypatch.setattr(launch, "free_ports", first_taken)
    try:
        outcome = _run(document_dataset(), tmp_path, epochs=1)
    finally:
        taken.close()
    assert outcome.status == "conforms", outcome.first_failure().message()
    assert chosen[0] == port and chosen[1] != port, chosen  # torch's EADDRINUSE, then a new port; then MLX's ring


def test_a_failure_other_than_the_port_is_not_retried(tmp_path, monkeypatch):
    starts = []
    command = launch.command
    monkeypatch.setattr(launch, "command", lambda *a, **k: starts.append(1) or command(*a, **k))
    (tmp_path / "job.pkl").write_bytes(b"not a pickle")  # every torch rank fails reading its job
    with pytest.raises(launch.LaunchError, match="torch rank 0: UnpicklingError"):
        launch.run_group("torch", 2, "gloo", str(tmp_path), timeout=120)
    assert len(starts) == 1
