"""``python -m conformance``, ``python -m conformance.spread`` and the pytest report: the commands
a user runs, and the one JSON format the CLI and ``pytest --conformance-report`` share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cli, spread
from conformance.report import FORMAT
from conformance.runner import side

pytestmark = pytest.mark.cli

ROOT = Path(__file__).resolve().parents[1]
CHECK_KEYS = {"path", "kind", "dtype", "mode", "device", "step", "rtol", "atol", "tolerance", "passed", "n_total",
              "n_mismatched", "max_abs", "max_rel", "worst_index", "actual_value", "expected_value", "share_of_budget"}


def _check_report(report: dict, source: str) -> None:
    assert report["format"] == FORMAT and report["source"] == source, (report["format"], report["source"])
    env = report["environment"]
    assert env["versions"]["mlx"] and env["versions"]["torch"], env["versions"]
    for device, frameworks in env["devices"].items():
        for name in ("mlx", "torch"):
            assert frameworks[name]["precision_mode"] in ("ieee", "tf32"), (device, frameworks)
    assert report["checks"], "the report lists no checks"
    for c in report["checks"]:
        missing = CHECK_KEYS - set(c) - ({"message"} if c["passed"] else set())
        assert not missing, f"check {c.get('path')} lacks {sorted(missing)}"
        assert c["tolerance"] in report["tolerances"] or c["kind"] in ("decision", "exchange"), c["tolerance"]
    assert all(len(t["reason"]) > 40 for t in report["tolerances"].values())
    assert report["summary"]["checks"] >= len(report["checks"])
    assert report["passed"] == all(c["passed"] for c in report["checks"])


def test_document_pipeline_conforms(capfd):
    """The README's first command: the document's pipeline, 100 epochs, compiled, exit 0."""
    rc = cli.main([])
    out = capfd.readouterr().out
    assert rc == 0 and "CONFORMS: all" in out, out[out.find("DOES NOT CONFORM"):][:2000] or out[-2000:]


def test_json_report(tmp_path, capfd):
    path = tmp_path / "report.json"
    rc = cli.main(["--synthetic", "64", "--epochs", "5", "--batch-size", "16", "--no-compile", "--json", str(path)])
    report = json.loads(path.read_text())
    assert rc == 0, report["summary"]["first_failure"]
    _check_report(report, "cli")
    assert report["config"]["batch_size"] == 16 and set(report["histories"]) == {"mlx", "torch"}
    assert report["environment"]["device"] == "cpu"


def test_usage_errors_exit_2(capsys):
    assert cli.main(["--epochs", "0"]) == 2
    assert "epochs must be at least 1" in capsys.readouterr().err


@pytest.mark.skipif(all(side(n).device.gpu_backend() for n in ("mlx", "torch")), reason="a GPU is available here")
def test_gpu_without_a_gpu_says_so(capsys):
    assert cli.main(["--device", "gpu"]) == 2
    assert "no GPU" in capsys.readouterr().err


def test_spread_holds_on_this_machine(capsys):
    """The measurements the table cites (the quick sections) are within the table here."""
    assert spread.main(["--only", "data,loss"]) == 0, capsys.readouterr().out[-3000:]


def test_pytest_conformance_report(tmp_path):
    """``pytest --conformance-report`` writes the CLI's format: every judged check with its test,
    every test's outcome; a requested GPU that is not here is skipped with the reason."""
    path = tmp_path / "pytest-report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_metrics.py", "-k", "random",
           "--device", "cpu,gpu", f"--conformance-report={path}"]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(path.read_text())
    _check_report(report, "pytest")
    assert all(c["test"].startswith("tests/test_metrics.py::") for c in report["checks"])
    outcomes = {t["test"]: t for t in report["tests"]}
    assert any(t["outcome"] == "passed" for t in outcomes.values())
    if "gpu" in report["options"]["unavailable"]:
        skipped = [t for t in outcomes.values() if t["outcome"] == "skipped"]
        assert skipped and all("--device gpu" in t["reason"] for t in skipped), skipped


@pytest.mark.parametrize("ext", [".csv", ".json", ".sqlite", ".npz"])
def test_every_table_format_conforms(tmp_path, capfd, ext):
    """``--data`` on each format the README names runs both pipelines and conforms (exit 0)."""
    from conformance.data import synthetic_dataset, write_table

    path = tmp_path / f"table{ext}"
    write_table(synthetic_dataset(40, n_features=3, seed=5), path)
    rc = cli.main(["--data", str(path), "--epochs", "5", "--no-compile"])
    out = capfd.readouterr().out
    assert rc == 0 and "CONFORMS: all" in out, out[-2000:]
    assert f"table{ext}: 40 samples, 3 features" in out, out[:600]


BAD_INPUTS = {
    # name: (file content or None for no file, file name, extra args, words the one line must hold)
    "missing file": (None, "absent.csv", [], ["absent.csv", "no such file"]),
    "unknown extension": ("a,b\n", "table.txt", [], ["table.txt", ".csv"]),
    "ragged row": ("x1,x2,y\n1,2,0\n3,1\n", "ragged.csv", [], ["ragged.csv", "row 2", "fields"]),
    "header only": ("x1,x2,y\n", "empty.csv", [], ["empty.csv", "no data rows"]),
    "non-numeric cell": ("x1,x2,y\n1,2,0\n2,abc,1\n3,4,0\n", "words.csv", [], ["words.csv", "row 2", "'x2'", "abc"]),
    "NaN": ("x1,x2,y\n1,2,0\n2,nan,1\n3,4,0\n", "nan.csv", [], ["nan.csv", "row 2", "'x2'"]),
    "three classes": ("x1,y\n1,0\n2,1\n3,2\n", "three.csv", [], ["three.csv", "3 distinct values"]),
    "missing target": ("x1,x2,y\n1,2,0\n", "t.csv", ["--target", "label"], ["t.csv", "'label'"]),
    "bad JSON": ('[{"x1": 1, "y": 0}', "bad.json", [], ["bad.json", "JSON"]),
    "too few samples": ("x1,y\n1,0\n2,1\n", "two.csv", [], ["two.csv", "samples"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_no_report(tmp_path, capsys, case):
    content, name, extra, words = BAD_INPUTS[case]
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    report = tmp_path / "report.json"
    rc = cli.main(["--data", str(path), "--json", str(report), *extra])
    err = capsys.readouterr().err
    assert rc == 2, (case, rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], f"{case}: {word!r} not in {lines[0]!r}"
    assert not report.exists() and not list(tmp_path.glob(".report.json*")), "a report was written for bad input"
