"""``python -m conformance`` against hostile input: every bad option, path or table is refused
before anything runs, with exit status 2 and one line on stderr that names the flag the user typed;
no file is created or changed. Then the other exits: 3 (a NaN or infinity during the run), 130
(Ctrl-C), and what is written when the run does finish (strict JSON, the umask's mode, the plot's
format), all through ``conformance.cli.main`` in-process except a real Ctrl-C and SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from conformance import cli, footprint, options, runner
from conformance.data import DataError, load_table, split_indices

pytestmark = pytest.mark.cli

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: its kind, mode and (for regular files) checksum."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = os.lstat(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None
        out[str(path.relative_to(folder))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), digest)
    return out


def table(tmp: Path, name: str, text: str | bytes) -> str:
    path = tmp / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return name


CSV = "x1,x2,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))


def _sqlite(tmp: Path) -> str:
    with sqlite3.connect(tmp / "two.db") as c:
        c.execute("CREATE TABLE a (x REAL, y INT)")
        c.execute("CREATE TABLE b (x REAL, y INT)")
    c.close()
    return "two.db"


def _link(tmp: Path) -> str:
    (tmp / "precious.txt").write_text("keep me")
    os.symlink(tmp / "precious.txt", tmp / "link.json")
    return "link.json"


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe.json")
    return "pipe.json"


def _hardlink(tmp: Path) -> list[str]:
    table(tmp, "t.csv", CSV)
    os.link(tmp / "t.csv", tmp / "alias.json")
    return ["--data", "t.csv", "--json", "alias.json"]


# id: (argv, or a function of the temporary folder giving argv; words the one stderr line must hold)
CASES = {
    "epochs 0": (["--epochs", "0"], ["--epochs", "at least 1"]),
    "epochs negative": (["--epochs", "-5"], ["--epochs", "-5"]),
    "epochs fractional": (["--epochs", "5.5"], ["--epochs", "whole number"]),
    "epochs word": (["--epochs", "ten"], ["--epochs", "'ten'"]),
    "epochs infinite": (["--epochs", "1e400"], ["--epochs", "whole number"]),
    "epochs twice": (["--epochs", "5", "--epochs", "6"], ["--epochs", "twice"]),
    "epochs beyond memory": (["--epochs", "1e9"], ["--epochs", "memory", "GB"]),
    "batch size 0": (["--batch-size", "0"], ["--batch-size", "at least 1"]),
    "batch size 1 beyond memory": (["--synthetic", "100000", "--batch-size", "1", "--epochs", "1000"],
                                   ["--batch-size 1", "memory", "larger"]),
    "lr 0": (["--lr", "0"], ["--lr", "positive"]),
    "lr negative": (["--lr", "-0.1"], ["--lr", "positive"]),
    "lr nan": (["--lr", "nan"], ["--lr", "nan"]),
    "lr inf": (["--lr", "inf"], ["--lr", "inf"]),
    "lr rounds to 0 in float32": (["--lr", "1e-300"], ["--lr", "float32"]),
    "lr infinite in float32": (["--lr", "1e39"], ["--lr", "float32"]),
    "lr word": (["--lr", "fast"], ["--lr", "'fast'"]),
    "hidden 0": (["--hidden", "0"], ["--hidden", "at least 1"]),
    "hidden 1e10": (["--hidden", "1e10"], ["--hidden 10000000000", "memory", "TB"]),
    "synthetic 1e11": (["--synthetic", "1e11"], ["--synthetic 100000000000", "memory", "fewer samples"]),
    "synthetic 3e9": (["--synthetic", "3e9"], ["--synthetic 3000000000", "memory"]),
    "synthetic 0": (["--synthetic", "0"], ["--synthetic", "at least 1"]),
    "synthetic too few to split": (["--synthetic", "2"], ["--synthetic 2", "too few", "--val-fraction"]),
    "synthetic and data": (lambda t: ["--data", table(t, "t.csv", CSV), "--synthetic", "10"], ["--data", "--synthetic"]),
    "patience 0": (["--patience", "0"], ["--patience", "at least 1"]),
    "patience without validation": (["--patience", "3", "--val-fraction", "0"], ["--patience", "--val-fraction 0"]),
    "plateau negative": (["--plateau", "-1"], ["--plateau", "at least 0"]),
    "plateau without validation": (["--plateau", "2", "--val-fraction", "0"], ["--plateau", "--val-fraction 0"]),
    "min-delta nan": (["--min-delta", "nan"], ["--min-delta", "nan"]),
    "min-delta negative": (["--min-delta", "-0.1"], ["--min-delta", "at least 0"]),
    "min-delta infinite": (["--min-delta", "inf"], ["--min-delta", "finite"]),
    "min-delta without validation": (["--min-delta", "0.1", "--val-fraction", "0"], ["--min-delta", "--val-fraction 0"]),
    "val-fraction 1": (["--val-fraction", "1"], ["--val-fraction", "below 1"]),
    "val-fraction negative": (["--val-fraction", "-0.1"], ["--val-fraction", "at least 0"]),
    "val-fraction nan": (["--val-fraction", "nan"], ["--val-fraction", "nan"]),
    "test-fraction 0": (["--test-fraction", "0"], ["--test-fraction 0", "no test set"]),
    "test-fraction 1.5": (["--test-fraction", "1.5"], ["--test-fraction", "below 1"]),
    "fractions sum to 1": (["--val-fraction", "0.5", "--test-fraction", "0.5"], ["--val-fraction", "--test-fraction", "sum"]),
    "seed negative": (["--seed", "-1"], ["--seed", "at least 0"]),
    "seed word": (["--seed", "lucky"], ["--seed", "'lucky'"]),
    "every 0": (["--every", "0"], ["--every", "at least 1"]),
    "device unknown": (["--device", "tpu"], ["--device", "'tpu'"]),
    "unknown option": (["--fast"], ["--fast", "unrecognized"]),
    "abbreviated option": (["--epoch", "5"], ["--epoch", "unrecognized"]),
    "positional argument": (["data.csv"], ["data.csv", "unrecognized"]),
    # data options
    "data empty": (["--data", ""], ["--data", "empty"]),
    "data missing": (["--data", "absent.csv"], ["--data absent.csv", "no such file"]),
    "data is a directory": (lambda t: (t / "d.csv").mkdir() or ["--data", "d.csv"], ["--data d.csv", "directory"]),
    "data extension": (lambda t: ["--data", table(t, "t.txt", CSV)], ["--data t.txt", ".csv"]),
    "features empty": (lambda t: ["--data", table(t, "t.csv", CSV), "--features", ""], ["--features", "empty"]),
    "features blank name": (lambda t: ["--data", table(t, "t.csv", CSV), "--features", "x1,,x2"], ["--features", "empty name"]),
    "features unknown": (lambda t: ["--data", table(t, "t.csv", CSV), "--features", "x1,zz"], ["--features", "'zz'"]),
    "features hold the target": (lambda t: ["--data", table(t, "t.csv", CSV), "--features", "x1,y"],
                                 ["--features", "--target", "'y'"]),
    "target empty": (lambda t: ["--data", table(t, "t.csv", CSV), "--target", " "], ["--target", "empty"]),
    "target unknown": (lambda t: ["--data", table(t, "t.csv", CSV), "--target", "label"], ["--target", "'label'"]),
    "target without data": (["--target", "y"], ["--target", "--data"]),
    "table empty": (lambda t: ["--data", _sqlite(t), "--table", ""], ["--table", "empty"]),
    "table without data": (["--table", "t"], ["--table", "--data"]),
    "table on a csv": (lambda t: ["--data", table(t, "t.csv", CSV), "--table", "t"], ["--table", "SQLite"]),
    "table needed": (lambda t: ["--data", _sqlite(t)], ["--table", "2 tables"]),
    "table unknown": (lambda t: ["--data", _sqlite(t), "--table", "zz"], ["--table", "'zz'"]),
    "stratify impossible": (lambda t: ["--data", table(t, "s.csv", "x,y\n1,0\n2,0\n3,0\n4,1\n5,1\n6,0\n"), "--stratify"],
                            ["--stratify", "class 1"]),
    # tables
    "space-separated": (lambda t: ["--data", table(t, "s.csv", "x1 x2 y\n1 2 0\n2 3 1\n")], ["--data s.csv", "comma"]),
    "numeric header": (lambda t: ["--data", table(t, "n.csv", "1,2,0\n2,3,1\n3,4,0\n")], ["--data n.csv", "no header row"]),
    "fractional labels": (lambda t: ["--data", table(t, "p.csv", "x,y\n1,0.3\n2,0.7\n3,0.3\n4,0.7\n5,0.3\n")],
                          ["--data p.csv", "'y'", "0.3", "whole number"]),
    "beyond float32": (lambda t: ["--data", table(t, "b.csv", "x1,x2,y\n1e39,1,0\n1,2,1\n2,3,0\n3,4,1\n4,5,0\n")],
                       ["--data b.csv", "'x1'", "float32"]),
    "standardization overflows": (lambda t: ["--data", table(t, "o.csv", "x1,y\n1e37,0\n2e38,1\n3e37,0\n4e37,1\n5e37,0\n")],
                                  ["--data o.csv", "'x1'", "overflows float32"]),
    "around 1e300": (lambda t: ["--data", table(t, "h.csv", "x1,y\n1e300,0\n2e300,1\n3e300,0\n4e300,1\n5e300,0\n")],
                     ["--data h.csv", "'x1'", "float32"]),
    "json object as a value": (lambda t: ["--data", table(t, "j.json", '[{"x": {"a": 1}, "y": 0}, {"x": 2, "y": 1}]')],
                               ["--data j.json", "'x'", "JSON object"]),
    "utf-16 csv": (lambda t: ["--data", table(t, "u.csv", "x,y\n1,0\n".encode("utf-16"))], ["--data u.csv", "UTF-8"]),
    "header only": (lambda t: ["--data", table(t, "h.csv", "x,y\n")], ["--data h.csv", "no data rows"]),
    "one class": (lambda t: ["--data", table(t, "c.csv", "x,y\n1,1\n2,1\n3,1\n")], ["--data c.csv", "one class"]),
    # outputs
    "json empty": (["--json", ""], ["--json", "empty"]),
    "json stdout": (["--json", "-"], ["--json -", "standard output"]),
    "json a directory": (lambda t: (t / "out").mkdir() or ["--json", "out"], ["--json out", "directory"]),
    "json folder missing": (["--json", "nowhere/r.json"], ["--json nowhere/r.json", "does not exist"]),
    "json inside a file": (lambda t: ["--data", table(t, "t.csv", CSV), "--json", "t.csv/r.json"], ["--json t.csv/r.json"]),
    "json a symlink": (lambda t: ["--json", _link(t)], ["--json link.json", "symbolic link"]),
    "json a fifo": (lambda t: ["--json", _fifo(t)], ["--json pipe.json", "FIFO"]),
    "json a device": (["--json", os.devnull], [f"--json {os.devnull}", "device"]),
    "json is the data": (lambda t: ["--data", table(t, "t.csv", CSV), "--json", "t.csv"], ["--json t.csv", "--data", "input"]),
    "json hard-linked to the data": (_hardlink, ["--json alias.json", "--data"]),
    "json and plot one path": (["--json", "r.out", "--plot", "r.out"], ["--json", "--plot", "same file"]),
    "plot unknown format": (["--plot", "curves.pdf2"], ["--plot curves.pdf2", ".pdf2", ".png"]),
    "plot no extension": (["--plot", "curves"], ["--plot curves", "extension"]),
    "plot is the data": (lambda t: ["--data", table(t, "t.csv", CSV), "--plot", "t.csv"], ["--plot t.csv", "--data"]),
}
if sys.platform.startswith("linux"):
    CASES["json under /proc"] = (["--json", "/proc/conformance/r.json"], ["--json /proc/conformance/r.json"])


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_line_exit_2_and_touches_nothing(tmp_path, monkeypatch, capsys, case):
    argv, words = CASES[case]
    monkeypatch.chdir(tmp_path)
    argv = argv(tmp_path) if callable(argv) else argv
    before = snapshot(tmp_path)
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (case, rc, err, out[-500:])
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("python -m conformance: error: "), lines[0]
    for word in words:
        assert word in lines[0], f"{case}: {word!r} not in {lines[0]!r}"
    assert out == "", out[:500]
    assert snapshot(tmp_path) == before, "a file was created or changed"


@pytest.mark.skipif(IS_ROOT, reason="root writes read-only files and folders")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_output_is_refused(tmp_path, monkeypatch, capsys, what):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "r.json"
    if what == "file":
        target.write_text("{}")
        target.chmod(0o444)
    else:
        target = tmp_path / "ro" / "r.json"
        target.parent.mkdir()
        target.parent.chmod(0o555)
    try:
        assert cli.main(["--json", str(target)]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "--json" in err, err
    finally:
        target.parent.chmod(0o755)


def test_no_python_argument_names_reach_the_user():
    """The data layer's and RunConfig's messages, said in flags: no ``name=`` nor split_indices."""
    import re

    messages = []
    for kwargs in ({"stratify": True}, {"val_fraction": 0.45, "test_fraction": 0.45}):
        try:
            split_indices(np.array([0.0] * 8 + [1.0] * 2), **kwargs)
        except DataError as e:
            messages.append(str(e))
    for y in (np.zeros(2), np.array([0.0, 0, 0, 0, 1, 1])):
        try:
            split_indices(y, stratify=True)
        except DataError as e:
            messages.append(str(e))
    for message in ["the database has 2 tables ('a', 'b'); pass table= to choose one",
                    "target column 'q' not found; the columns are 'x'; pass target= one of them",
                    "feature column 'z' not found; pass features= from those",
                    "table='t' applies only to SQLite files, but this is a csv file; leave table out",
                    "the target column 'y' is also listed among the features; remove it from features= or choose another target=",
                    "epochs must be at least 1, got 0", "learning rate must be positive, got 0",
                    *messages]:
        said = options.flags(message)
        assert not re.search(r"\b[a-z_]+=|split_indices|_fraction\b", said), (message, said)
        assert "--" in said, said


def test_memory_estimate_names_what_makes_the_run_large():
    ordinary = footprint.estimate(5, 2, 10, 100, None)
    assert ordinary.total < 1e9 and footprint.refusal(ordinary, (8e9, "installed")) is None
    for args, option in [(dict(hidden=10**6), "--hidden"), (dict(epochs=10**8), "--epochs"),
                         (dict(n_samples=10**9), "--synthetic"), (dict(batch_size=1, n_samples=10**5), "--batch-size")]:
        est = footprint.estimate(**{"n_samples": 5, "n_features": 2, "hidden": 10, "epochs": 100, "batch_size": None,
                                    **args})
        line = footprint.refusal(est, (8e9, "installed"))
        assert line and line.startswith(option) and "8 GB installed" in line, (args, line)


# ---------------------------------------------------------------------------------------------
# The other exits: 3 (NaN or infinity), 130 (Ctrl-C); and what a finished run writes


@pytest.fixture(scope="module")
def tiny():
    """One real run (the document's data, 2 epochs, uncompiled), for tests of what follows a run."""
    from conformance.data import document_dataset

    cfg = runner.RunConfig(epochs=2, compiled=False)
    return runner.run_both(document_dataset(), cfg)


def _returning(outcome, **changes):
    """A stand-in for ``runner.run_both`` that returns a copy of ``outcome``."""
    import copy

    def run_both(dataset, cfg, on_epoch=None, **kw):
        on_epoch("mlx", {"epoch": 1, "train_loss": 0.7, "val_loss": 0.7, "lr": 1e-3})
        out = copy.copy(outcome)
        out.results = copy.deepcopy(outcome.results)  # the recorders hold modules: shared, not copied
        for key, value in changes.items():
            setattr(out, key, value)
        return out
    return run_both


def test_non_finite_exception_exits_3_with_one_line(tmp_path, monkeypatch, capsys):
    """The engine raises ``runner.NonFinite`` naming step, tensor and side: one line, exit 3, no files."""
    class NonFinite(Exception):
        pass

    def run_both(dataset, cfg, on_epoch=None, **kw):
        on_epoch("mlx", {"epoch": 1, "train_loss": 0.7, "val_loss": 0.7, "lr": 1e-3})
        raise NonFinite("step 7: fc1.weight is NaN on mlx (torch finite)")

    monkeypatch.setattr(runner, "NonFinite", NonFinite, raising=False)
    monkeypatch.setattr(runner, "run_both", run_both)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--json", "r.json", "--plot", "r.png"]) == 3
    out, err = capsys.readouterr()
    assert err.splitlines() == ["python -m conformance: non-finite: step 7: fc1.weight is NaN on mlx (torch finite); "
                                "nothing written"], err
    assert list(tmp_path.iterdir()) == []


def test_outcome_with_non_finite_exits_3_and_writes_strict_json(tmp_path, monkeypatch, capsys, tiny):
    """An outcome carrying ``non_finite`` is reported (the JSON with NaN as null), then exit 3."""
    import copy

    outcome = copy.copy(tiny)
    outcome.results = copy.deepcopy(tiny.results)
    outcome.results["mlx"]["history"]["train_loss"][-1] = float("nan")
    outcome.results["torch"]["history"]["val_loss"][-1] = float("inf")
    stop = runner.NonFinite("mlx", 2, "the training loss", float("nan"))
    monkeypatch.setattr(runner, "run_both", _returning(outcome, non_finite=[stop]))
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o027)
    try:
        rc = cli.main(["--epochs", "2", "--no-compile", "--json", "r.json"])
    finally:
        os.umask(old)
    err = capsys.readouterr().err
    assert rc == 3 and err.splitlines()[-1] == f"python -m conformance: non-finite: {stop}", err
    text = (tmp_path / "r.json").read_text()
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert report["histories"]["mlx"]["train_loss"][-1] is None and report["histories"]["torch"]["val_loss"][-1] is None
    assert '"nan"' not in text.lower() and '"inf' not in text.lower()
    assert report["non_finite"] == str(stop) and report["verdict"]["status"] == "non-finite"
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o640  # 0666 & ~umask, not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


@pytest.mark.parametrize("sides, named", [(("mlx",), "mlx"), (("torch",), "torch"), (("mlx", "torch"), "torch")])
def test_a_run_that_turns_nan_exits_3_naming_step_quantity_and_side(tmp_path, monkeypatch, capsys, sides, named):
    """No stub: the training loss made NaN from the third step on, on MLX's side, torch's, or both
    (NaN on both sides is not agreement); the run stops at the first (torch runs first), exit 3,
    status non-finite, one line naming the side, the quantity and the step."""
    from conformance.sides import side

    for name in sides:
        train = side(name).train  # the training step looks loss_fn up in its own module
        real, calls = train.loss_fn, [0]

        def poisoned(model, X, y, real=real, calls=calls):
            calls[0] += 1
            return real(model, X, y) * (float("nan") if calls[0] >= 3 else 1.0)

        monkeypatch.setattr(train, "loss_fn", poisoned)
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["--epochs", "5", "--no-compile", "--ensemble", "0", "--json", "r.json"])
    err = capsys.readouterr().err
    assert rc == 3, err
    assert f"non-finite: {named}: the training loss is nan at training step" in err.splitlines()[-1], err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"]["status"] == "non-finite" and report["verdict"]["exit_status"] == 3


def test_a_port_whose_both_sides_turn_nan_is_never_agreement():
    """The same for ``conformance.pair``: a loss that turns NaN on both sides from its eleventh call
    (after the six of the first batch's probes, counting the rounding reruns': the reference's step 2)."""
    import importlib

    from conformance import pair

    spec = dict(importlib.import_module("examples.mlp").port())
    real = pair.loss_named(spec.pop("loss"))
    calls = [0]

    def poison(fn):
        def loss(m, X, y):
            calls[0] += 1
            return fn(m, X, y) * (float("nan") if calls[0] >= 11 else 1.0)
        return loss

    report = pair.check(spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches"), steps=4, ensemble=0,
                        **{**spec, "loss": pair.Loss(poison(real.mlx), poison(real.torch), real.name)})
    assert not report.passed and report.status == "non-finite" and report.exit_status == 3, report.summary()
    assert "torch: the training loss is nan" in report.summary(), report.summary()


def test_ctrl_c_in_process_says_the_epoch_and_writes_nothing(tmp_path, monkeypatch, capsys):
    def run_both(dataset, cfg, on_epoch=None, **kw):
        for epoch in (1, 2, 3):
            on_epoch("torch", {"epoch": epoch, "train_loss": 0.7, "val_loss": 0.7, "lr": 1e-3})
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_both", run_both)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--epochs", "40", "--json", "r.json"]) == 130
    assert capsys.readouterr().err.splitlines() == [
        "python -m conformance: interrupted at epoch 3 of 40 (torch); nothing written"]
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory) -> Path:
    """A table that takes the CLI about a second to read (numpy only: no framework is loaded yet)."""
    path = tmp_path_factory.mktemp("long") / "long.csv"
    path.write_text("x1,x2,y\n" + "".join(f"{i},{i * 7 % 13},{i % 2}\n" for i in range(300_000)))
    return path


@pytest.mark.parametrize("sig, status, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_real_signal_mid_run(tmp_path, long_csv, sig, status, said):
    """A real Ctrl-C (or SIGTERM) while the data is read: its exit status, the one line on stderr,
    no traceback, no file. (Where in the run it lands is the in-process test's business.)"""
    code = ("import conformance.cli as c, conformance.data.csv_reader as r; c.PROGRESS_AFTER = 0; r._CHUNK_ROWS = 1000; "
            f"raise SystemExit(c.main(['--data', {str(long_csv)!r}, '--json', 'r.json']))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # a process started in the background (nohup, CI's shells) inherits SIGINT ignored, and Python
    # then leaves it ignored: give the child the default disposition, as a terminal would
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stderr.readline()  # the first progress line: reading has begun
        assert "reading long.csv" in first, first
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, (proc.returncode, err)
    lines = [line for line in err.splitlines() if not line.startswith("  ")]  # progress lines are indented
    assert lines == [f"python -m conformance: {said} while reading the data; nothing written"], err
    assert "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []


def test_outputs_written_together_in_their_formats(tmp_path, monkeypatch, capsys, tiny):
    """--plot's format follows its extension; a replaced report keeps its mode; warnings are said."""
    stand_in = _returning(tiny)

    def run_both(*a, **kw):
        with np.errstate(over="warn"):
            np.float32(3e38) * np.float32(10)  # a numpy RuntimeWarning during the run
        return stand_in(*a, **kw)

    monkeypatch.setattr(runner, "run_both", run_both)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text("old")
    (tmp_path / "r.json").chmod(0o604)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # main() must record the warning whatever the caller's filters
        rc = cli.main(["--epochs", "2", "--no-compile", "--json", "r.json", "--plot", "curves.pdf"])
    out, err = capsys.readouterr()
    assert rc == 0, out[-1500:]
    assert (tmp_path / "curves.pdf").read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o604
    assert json.loads((tmp_path / "r.json").read_text())["warnings"][0]["category"] == "RuntimeWarning"
    assert "report written to r.json" in out and "plot written to curves.pdf" in out
    assert err.count("\n") == 1 and "note: a RuntimeWarning" in err and "overflow" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.pdf", "r.json"]


def test_out_of_memory_and_a_full_disk_are_one_line(tmp_path, monkeypatch, capsys, tiny):
    """A MemoryError mid-run, and a disk that fills while the report is written: exit 2, one line,
    no file left behind (not even a temporary one)."""
    def run_both(dataset, cfg, on_epoch=None, **kw):
        on_epoch("torch", {"epoch": 4, "train_loss": 0.7, "val_loss": 0.7, "lr": 1e-3})
        raise MemoryError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "run_both", run_both)
    assert cli.main(["--epochs", "9", "--json", "r.json"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "ran out of memory at epoch 4 of 9 (torch)" in err[0] and "--hidden" in err[0], err

    from conformance import outputs

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner, "run_both", _returning(tiny))
    monkeypatch.setattr(outputs.os, "fsync", full)
    assert cli.main(["--epochs", "2", "--json", "r.json"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["python -m conformance: error: --json r.json: could not be written (No space left on device); "
                   "nothing written"], err
    assert list(tmp_path.iterdir()) == []


def test_a_closed_stdout_does_not_stop_the_report(tmp_path, monkeypatch, tiny):
    """``python -m conformance --json r.json | head -1``: stdout goes away, the report is still written."""
    class Closed:
        def write(self, s):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise OSError("no file descriptor")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "run_both", _returning(tiny))
    monkeypatch.setattr(sys, "stdout", Closed())
    assert cli.main(["--epochs", "2", "--no-compile", "--json", "r.json"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is True


def test_large_csv_reports_progress(tmp_path, monkeypatch):
    """``load_table``'s progress callback sees the bytes read grow to the file's size."""
    import conformance.data.csv_reader as csv_reader

    monkeypatch.setattr(csv_reader, "_CHUNK_ROWS", 100)
    path = tmp_path / "t.csv"
    path.write_text("x1,y\n" + "".join(f"{i},{i % 2}\n" for i in range(1000)))
    seen = []
    ds = load_table(path, progress=lambda done, total: seen.append((done, total)))
    assert ds.n_samples == 1000 and len(seen) >= 10
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
