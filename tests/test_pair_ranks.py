"""``pair.check(..., ranks=W)`` (issue 21, item 4): a user's model pair checked data-parallel, torch
under DDP and torchrun, MLX under mlx.launch, every batch sharded.

The refusals run before any process starts, so they run in the README's command. The runs start
four processes each and are marked ``distributed`` (``python -m pytest -m distributed``): the
examples conform at two ranks, even and uneven shards; ``all_sum`` without the division (a port's
own ``train_step``) is named at its averaged gradients at step 1; a rank's failure is one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance import pair
from examples import bn, dp, mlp
import pair_models as pm

ROOT = Path(__file__).resolve().parent.parent
distributed = pytest.mark.distributed


def _small(**kw) -> dict:
    return {**mlp.port(), "steps": 2, "ensemble": 0, **kw}


@pytest.mark.parametrize("ranks, match", [(0, "ranks=0: give a whole number"), (True, "ranks=True"),
                                          (1.5, "ranks=1.5"), (65, "from 1 .* to 64")])
def test_ranks_must_be_a_whole_number_of_processes(ranks, match):
    with pytest.raises(pair.PairError, match=match):
        pair.check(**_small(), ranks=ranks)


@pytest.mark.parametrize("kw, match", [
    (dict(shard="blocks"), "shard='blocks': give one of 'sampler', 'contiguous'"),
    (dict(compiled=True), "ranks=2 with compiled=True"),
    (dict(device="gpu"), "ranks=2 runs on the CPU"),
])
def test_settings_the_data_parallel_check_does_not_run_are_refused(kw, match):
    with pytest.raises(pair.PairError, match=match):
        pair.check(**_small(**kw), ranks=2)


def test_running_statistics_are_refused_by_name_with_ranks():
    with pytest.raises(pair.PairError, match=r"ranks=2: the models keep running statistics \(block\.bn1\.running_mean"):
        pair.check(**{**bn.port(), "steps": 2, "ensemble": 0}, ranks=2)


def test_a_batch_with_fewer_rows_than_ranks_is_refused():
    X, y = mlp.port()["batches"][0]
    with pytest.raises(pair.PairError, match=r"ranks=3: a batch has 2 row\(s\), fewer than the ranks; give fewer ranks"):
        pair.check(**_small(batches=[(X[:2], y[:2])]), ranks=3)


def test_what_cannot_reach_the_ranks_is_refused_before_they_start(monkeypatch):
    with pytest.raises(pair.PairError, match=r"ranks=2: .* by pickle, which failed \(.*lambda"):
        pair.check(**_small(inputs=lambda x: x), ranks=2)

    class Local(mlp.MLP):  # defined in a test's __main__-like scope: picklable by name only from __main__
        pass

    Local.__module__, Local.__qualname__ = "__main__", "Local"
    monkeypatch.setattr(sys.modules["__main__"], "Local", Local, raising=False)
    with pytest.raises(pair.PairError, match=r"ranks=2: something given to the check is defined in __main__"):
        pair.check(**_small(mlx_model=Local()), ranks=2)


def test_cli_refuses_ranks_below_one_and_shard_without_ranks(capsys):
    from conformance.pair.cli import main

    for argv, text in ((["--ranks", "0"], "--ranks must be at least 1"), (["--shard", "contiguous"],
                                                                          "--shard needs --ranks 2 or more")):
        assert main([str(ROOT / "examples" / "dp.py"), *argv]) == 2
        err = capsys.readouterr().err
        assert text in err and len(err.strip().splitlines()) == 1, err


def test_the_data_parallel_port_trains_alone_with_one_rank():
    """``examples/dp.py``'s step averages over a group of one: the single-process check conforms."""
    report = pair.check(**{**dp.port(), "ensemble": 2})
    assert report.status == "conforms", report.summary()


@distributed
def test_the_data_parallel_example_conforms_at_two_ranks():
    report = pair.check(**{**dp.port(), "ensemble": 2}, ranks=2)
    assert report.status == "conforms", report.summary() + "\n" + str(report.first_failure() and
                                                                     report.first_failure().message())
    paths = {c.path.rsplit(" / ", 1)[0] for c in report.checks}
    for r in (0, 1):
        assert {f"5 local / rank {r} / averaged gradients", f"5 local / rank {r} / training step",
                f"5 local / rank {r} / local gradients"} <= paths
    assert "8 free-running / mlx ranks hold identical state at every step" in paths
    assert report.free.judged and any("shards here are even" in n for n in report.notes)


@distributed
def test_all_sum_without_the_division_is_named_at_the_averaged_gradients():
    report = pair.check(**{**dp.wrong(), "ensemble": 0}, ranks=2)
    first = report.first_failure()
    assert report.status == "does-not-conform" and first.step == 1, report.summary()
    assert first.path.startswith(f"5 local / rank 0 / {dp.WRONG_NAMES}"), first.path
    assert "mlx=0.00533" in first.message() and "torch=0.00266" in first.message()  # exactly twice DDP's


@distributed
@pytest.mark.parametrize("shard, note", [("contiguous", "uneven, so it differs from the full batch's mean"),
                                         ("sampler", "1 row(s) repeated, as DistributedSampler pads")])
def test_an_odd_batch_conforms_under_either_rule_and_the_report_says_which(shard, note):
    batches = [(X[:63], y[:63]) for X, y in mlp.port()["batches"][:2]]
    report = pair.check(**_small(batches=batches, steps=3, ensemble=2), ranks=2, shard=shard)
    assert report.status == "conforms", report.summary()
    assert any(note in n for n in report.notes), report.notes


@distributed
def test_a_rank_that_fails_is_one_line_naming_it(tmp_path):
    """``pair.RankError`` (a ``PairError``) in Python; exit 4 and one line from the command line."""
    with pytest.raises(pair.RankError, match=r"ranks=2: mlx rank \d: ZeroDivisionError: .*\(traceback in "):
        pair.check(**_small(train_step=pm.failing_step), ranks=2)
    spec = tmp_path / "failing.py"
    spec.write_text("from examples import mlp\nimport pair_models as pm\n\n"
                    "def port():\n    return {**mlp.port(), 'steps': 2, 'ensemble': 0, 'train_step': pm.failing_step}\n")
    proc = subprocess.run([sys.executable, "-m", "conformance", "pair", str(spec), "--ranks", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])})
    assert proc.returncode == 4 and not proc.stdout, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert len(proc.stderr.strip().splitlines()) == 1 and "mlx rank" in proc.stderr and "ZeroDivisionError" in proc.stderr


@distributed
def test_cli_checks_a_standalone_spec_data_parallel(tmp_path):
    """A spec file outside any package: its classes reach the ranks by name (its folder on their path)."""
    spec = tmp_path / "myport.py"
    spec.write_text(textwrap.dedent("""
        import mlx.nn as nn
        import torch
        from torch import nn as tnn
        from examples._data import digits

        class TorchNet(tnn.Module):
            def __init__(self):
                super().__init__()
                self.fc = tnn.Linear(64, 10)

            def forward(self, x):
                return self.fc(x)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 10)

            def __call__(self, x):
                return self.fc(x)

        def port():
            torch.manual_seed(0)
            return dict(torch_model=TorchNet(), mlx_model=Net(), batches=digits(2, 32), steps=3)
    """))
    proc = subprocess.run([sys.executable, "-m", "conformance", "pair", str(spec), "--ranks", "2", "--ensemble", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "CONFORMS" in proc.stdout and "data-parallel: 2 ranks" in proc.stdout


@distributed
def test_cli_names_the_trap_and_exits_1():
    proc = subprocess.run([sys.executable, "-m", "conformance", "pair", "examples/dp.py", "--ranks", "2", "--wrong",
                           "--ensemble", "0"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "DOES NOT CONFORM: first 5 local / rank 0 / averaged gradients" in proc.stdout


def test_the_data_parallel_records_count_in_the_memory_estimate(monkeypatch):
    """The same check refused with ranks=2 where it fits alone: the records grow with steps and ranks."""
    from conformance import footprint
    from conformance.footprint import BASELINE
    from conformance.pair.validate import PER_PARAMETER, PER_RANK_STEP

    spec = _small(steps=1000)
    n = sum(p.numel() for p in spec["torch_model"].parameters())
    alone = BASELINE + PER_PARAMETER * n + 8 * sum(X.nbytes + y.nbytes for X, y in spec["batches"])
    limit = alone + 1000 * footprint.PER_STEP + PER_RANK_STEP * n * 1000  # fits one rank's records, not two
    monkeypatch.setattr(footprint, "available_memory", lambda: (limit, "a test's limit"))
    with pytest.raises(pair.PairError, match=r"72 B a parameter, step and rank .* or fewer steps"):
        pair.check(**spec, ranks=2)
    from conformance.pair import validate

    validate.memory(spec["torch_model"], spec["batches"], 1000, 1)  # one process: the same check fits


@distributed
def test_a_loss_that_becomes_non_finite_is_the_non_finite_verdict():
    report = pair.check(**_small(optimizer=pair.SGD(1e30), steps=3), ranks=2)
    assert report.status == "non-finite" and report.exit_status == 3, report.summary()
    assert "rank 0's training loss" in report.summary() or "rank 1's training loss" in report.summary()


@pytest.mark.hf  # with the [hf] extra's tests (-m hf; it starts four processes too)
def test_an_mlx_lm_model_against_transformers_conforms_at_two_ranks():
    """mlx-lm's llama against transformers' (a tiny random config), data-parallel: the rank processes
    rebuild the transformers adaptation (names, norms, rope, tie) from the pickled models."""
    pytest.importorskip("mlx_lm", reason="needs the [hf] extra (pip install -e '.[hf]')")
    pytest.importorskip("transformers", reason="needs the [hf] extra (pip install -e '.[hf]')")
    from conformance.pair.hf import zoo

    mlx_model, torch_model = zoo.build("llama")
    report = pair.check(mlx_model, torch_model, zoo.tokens(), loss="causal_lm", steps=3, ensemble=2, ranks=2)
    assert report.status == "conforms", report.summary()
    assert any(c.path.startswith("5 local / rank 1 / averaged gradients") for c in report.checks)
