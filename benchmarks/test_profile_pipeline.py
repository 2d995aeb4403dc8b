"""``profile_pipeline``'s stage split can be trusted: the wrappers change nothing the pipeline
computes, both sides make the same calls, and the stages account for the wrapped run's time.

On the CPU at the document's size (about 2 s); the GPU split is measured with the command line.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import calls, harness
from benchmarks import profile_pipeline as pp
from benchmarks.cases import IMPLS, SIZES

DOC5 = SIZES["doc5"]


def _runs(framework_impls=("mlx-compiled", "torch-eager")):
    out = {}
    for impl in framework_impls:
        framework = IMPLS[impl][0]
        with harness.on_device(framework, "cpu"):
            out[impl] = (framework, calls.build("pipeline", impl, "cpu", DOC5))
    return out


def test_the_wrappers_change_nothing_and_both_sides_make_the_same_calls():
    runs = _runs()
    counts = {}
    for impl, (framework, run) in runs.items():
        plain = run()
        with pp.StageTimer(framework, "cpu") as timer:
            wrapped = run()
        # bitwise: waiting and evaluating early reorders no arithmetic
        for name, w in plain["final_weights"].items():
            np.testing.assert_array_equal(wrapped["final_weights"][name], w, err_msg=f"{impl} {name}")
        assert wrapped["metrics"] == plain["metrics"], impl
        assert wrapped["history"]["val_loss"] == plain["history"]["val_loss"], impl
        assert set(timer.calls) == {name for name, _ in pp.STAGES}, (impl, timer.calls)
        assert [len(timer.inner[name]) for name, _ in pp.INNER] == [DOC5.epochs, DOC5.epochs], impl
        counts[impl] = timer.calls
    # the mirror: the same stages, called as often, on both sides
    assert counts["mlx-compiled"] == counts["torch-eager"]
    assert counts["mlx-compiled"]["to_array"] == 6 and counts["mlx-compiled"]["SimpleNN.__call__"] == 2


def test_the_stages_account_for_the_run():
    report = pp.profile_pipeline(DOC5, "cpu", "torch-fused", rounds=2)
    for impl, r in report["impls"].items():
        stages = sum(s["median_s"] for s in r["stages"].values())
        assert 0 < stages <= r["wrapped_s"], impl
        # fit is most of a 100-epoch run; the inner rows split it and stay within it
        fit = r["stages"]["fit"]["median_s"]
        assert fit > 0.5 * stages, impl
        inner = r["inner"]["train_epoch"]
        assert inner["first_s"] + inner["rest_s"] * (inner["calls"] - 1) <= fit * 1.05, impl
    # the fused variant replaces make_adam inside the run: reported as not called, not as 0 s
    assert report["impls"]["torch-fused"]["stages"]["make_adam"]["calls"] == 0
    assert "| – | –" in pp.render({"device": "cpu", "command": "x", "versions": {}, "cpu_name": "c", "cpu_count": 2,
                                   "gpu_name": None, "precision": "ieee", "sizes": [report]})


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "n2k", "--out", "x"], "--sizes: unknown size 'n2k'"),
    (["--rounds", "0", "--out", "x"], "--rounds must be at least 1"),
])
def test_bad_arguments_say_what_to_do(argv, message, capsys, tmp_path):
    assert pp.main(argv[:-1] + [str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "out").exists()
