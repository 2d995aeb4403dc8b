"""``python -m conformance.mutate``: seed each bug of ``conformance.mutants`` into a copy of the
repository and record what catches it.

For every mutant the packages, the tests and what the tests read (``COPIED``) are copied to a
temporary directory, the mutant's text is replaced there (it must occur exactly once, else the
mutant is "stale" and nothing runs), and two detectors run in subprocesses whose ``PYTHONPATH`` is
the copy:

- ``verdict``: ``python -m conformance`` on the runs of ``RUNS`` (the document's pipeline, full
  batch, compiled, judged by an ensemble of 3; a synthetic minibatch run with early stopping and
  a plateau schedule, uncompiled), in one process; recorded: each run's exit status, its first
  failed check (path and step) and every failed check;
- ``suite``: ``pytest -x`` over the test files (``test_harness.py`` first, the slow command-line
  tests last) with ``FRESHNESS`` deselected (the guide's freshness tests: a rendered document that
  no longer matches is drift, not a catch); recorded: the first failing test.

A mutant is caught by a detector when its runs do not all pass (exit status not 0, a failing
test, a crash or a timeout). An ``equivalent`` mutant is reported, not counted. The runner exits 1
when a non-equivalent mutant survives the suite, a mutant's verdict is not the part its entry
expects (``Mutant.verdict``) or a mutant is stale; 2 when the unmutated copy does not pass (then
nothing else runs); else 0. ``--out DIR`` writes ``mutations.json`` and ``MUTATIONS.md`` there.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

from .mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("conformance", "mlx_reference", "reference_torch", "tests", "examples", "docs", "conftest.py", "pyproject.toml",
          "README.md")
# Deselected in the copies: the guide's freshness tests (a rendered document that no longer matches
# the code is drift, not a catch) and the test that every mutant's text is in the tree (gone on purpose).
FRESHNESS = ("tests/test_registry.py::test_guide_is_current", "tests/test_registry.py::test_readme_section_is_current",
             "tests/test_harness.py::test_mutants_are_well_formed_and_current")
FIRST = ("test_bounds.py", "test_harness.py", "test_optimizer.py", "test_loss.py", "test_model.py", "test_gradients.py",
         "test_validation.py", "test_metrics.py", "test_data.py", "test_training.py")
LAST = ("test_registry.py", "test_pitfalls.py", "test_cli.py")
RUNS = {
    "document": ["--epochs", "30", "--ensemble", "3", "--every", "100"],
    "minibatch": ["--synthetic", "64", "--seed", "3", "--batch-size", "10", "--hidden", "8", "--lr", "0.01",
                  "--epochs", "40", "--patience", "5", "--plateau", "1", "--restore-best", "--ensemble", "2",
                  "--no-compile"],
}
PARTS = {  # Mutant.verdict -> the failed checks that count (local and anchor: at a named step)
    "local": ("5 local / ",), "anchor": ("5 anchor / ", "6 anchor / "), "decision": ("6 local / ", "7 local / "),
    "static": ("1 ", "2 ", "3 "), "free": ("8 ",),
}
PACKAGES = ("conformance", "mlx_reference", "reference_torch")
VERDICT_TIMEOUT, SUITE_TIMEOUT = 300, 600  # seconds; each takes well under a minute on 2 cores


# ---- the copy and the mutation ------------------------------------------------------------------------

def make_copy(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)


def apply(mutant: Mutant, dest: Path) -> str | None:
    """Replace the mutant's text in the copy; a sentence saying why not, or None."""
    path = dest / mutant.file
    if not path.exists():
        return f"{mutant.file} does not exist"
    text = path.read_text(encoding="utf-8")
    count = text.count(mutant.old)
    if count != 1:
        return f"the text to replace occurs {count} times in {mutant.file} (must be exactly once): update the mutant"
    path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")
    return None


def _env(dest: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(dest)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("OMP_NUM_THREADS", "1")
    # pytest's plugins are named with -p instead (``_plugins``); MUTATION_COPY: for ``pytest_sessionfinish``
    env.update(PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", HYPOTHESIS_PROFILE="ci", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               MUTATION_COPY=str(dest))
    return env


def foreign_modules(root: Path) -> list[str]:
    """Modules of this project's packages imported from anywhere but ``root``. An editable install
    maps a module the copy lacks to the installed tree: such a run tests the wrong code."""
    top = os.path.realpath(root) + os.sep
    return sorted(f"{name} from {mod.__file__}" for name, mod in list(sys.modules.items())
                  if name.split(".")[0] in PACKAGES and getattr(mod, "__file__", None)
                  and not os.path.realpath(mod.__file__).startswith(top))


def pytest_sessionfinish(session, exitstatus) -> None:
    """Loaded into the suite's pytest with ``-p conformance.mutate``: record foreign modules."""
    copy = os.environ.get("MUTATION_COPY")
    foreign = foreign_modules(Path(copy)) if copy else None
    if foreign:
        Path(copy, "foreign.json").write_text(json.dumps(foreign), encoding="utf-8")


def _plugins(dest: Path) -> list[str]:
    """``-p`` for each installed pytest plugin (autoloading is off in the copy): this project's
    own only when the copy has its module, so that it is the copy's that loads."""
    from importlib.metadata import entry_points

    args = ["-p", "conformance.mutate"]
    for ep in entry_points(group="pytest11"):
        module = ep.value.split(":")[0]
        if module.split(".")[0] in PACKAGES:
            path = dest.joinpath(*module.split("."))
            if not (path.with_suffix(".py").exists() or (path / "__init__.py").exists()):
                continue
        args += ["-p", module]
    return args


def _check_foreign(dest: Path, found: list[str] | None = None) -> None:
    found = found if found is not None else (json.loads((dest / "foreign.json").read_text(encoding="utf-8"))
                                             if (dest / "foreign.json").exists() else [])
    if found:
        raise RuntimeError(f"the run in {dest} imported this project's modules from outside the copy (an editable "
                           f"install of another tree?): {'; '.join(found[:3])}")


def _tail(text: str, n: int = 400) -> str:
    return text[-n:].strip()


# ---- detector 1: the verdict ----------------------------------------------------------------------------

def probe(path: str) -> int:
    """Run ``RUNS`` through the command line in this process (the mutated copy's code) and write
    each run's exit status and first failure to ``path`` as JSON."""
    import conformance
    import conformance.cli as cli
    import conformance.runner as runner

    out: dict = {"imported_from": conformance.__file__, "runs": {}}
    real = runner.run_both
    for name, argv in RUNS.items():
        captured: list = []

        def keep(*args, **kwargs):
            captured.append(real(*args, **kwargs))
            return captured[-1]

        runner.run_both = keep
        record: dict = {"argv": argv}
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                record["exit"] = cli.main(list(argv))
            if captured:
                o = captured[-1]
                first = None if o.non_finite else o.first_failure()
                record.update(status=o.status, non_finite=[str(e) for e in o.non_finite],
                              first=None if first is None else {"path": first.path, "step": first.step,
                                                                "message": first.message()[:500]},
                              failed=[] if o.non_finite else [[c.path, c.step] for c in o.checks if not c.passed])
        except Exception:  # a crash is a catch, but not by a check
            record["error"] = _tail(traceback.format_exc(), 800)
        finally:
            runner.run_both = real
        out["runs"][name] = record
    out["foreign"] = foreign_modules(Path(conformance.__file__).parents[1])
    Path(path).write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    return 0


def run_verdict(dest: Path) -> dict:
    report = dest / "verdict.json"
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "conformance.mutate", "--probe", str(report)], cwd=dest,
                              env=_env(dest), capture_output=True, text=True, timeout=VERDICT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"caught": True, "summary": f"timed out after {VERDICT_TIMEOUT} s", "runs": {}, "seconds": VERDICT_TIMEOUT}
    seconds = round(time.monotonic() - start, 1)
    if proc.returncode != 0 or not report.exists():
        return {"caught": True, "summary": "the probe crashed: " + _tail(proc.stderr, 300), "runs": {}, "seconds": seconds}
    data = json.loads(report.read_text(encoding="utf-8"))
    if not Path(data["imported_from"]).resolve().is_relative_to(dest.resolve()):
        raise RuntimeError(f"the probe imported conformance from {data['imported_from']}, not from the copy {dest}")
    _check_foreign(dest, data["foreign"])
    runs, summary = data["runs"], None
    for name, r in runs.items():
        if "error" in r:
            summary = summary or f"{name}: crashed: {r['error'].splitlines()[-1]}"
        elif r.get("exit") != 0:
            first = r.get("first")
            where = f"{first['path']}" + ("" if first["step"] is None else f" @ step {first['step']}") if first else (
                "; ".join(r.get("non_finite") or []) or ("refused before running" if r.get("status") is None
                                                         else f"status {r['status']}"))
            summary = summary or f"{name}: exit {r['exit']}: {where}"
    return {"caught": summary is not None, "summary": summary or "conforms", "runs": runs, "seconds": seconds}


def verdict_part(mutant: Mutant, verdict: dict) -> bool | None:
    """Whether a run that did not conform failed a check of the part the mutant's entry expects
    (a local step check or an anchor: at a named step); None when the entry expects nothing."""
    if mutant.verdict is None or mutant.equivalent:
        return None
    prefixes = PARTS[mutant.verdict]
    for r in verdict.get("runs", {}).values():
        if r.get("exit") and any(path.startswith(prefixes) and (step is not None or mutant.verdict not in ("local", "anchor"))
                                 for path, step in r.get("failed", [])):
            return True
    return False


# ---- detector 2: the test suite ---------------------------------------------------------------------------

def test_files(dest: Path) -> list[str]:
    files = sorted(p.relative_to(dest).as_posix() for p in (dest / "tests").rglob("test_*.py"))
    rank = lambda f: (0, FIRST.index(Path(f).name)) if Path(f).name in FIRST and Path(f).parent.name == "tests" else (  # noqa: E731
        2, LAST.index(Path(f).name)) if Path(f).name in LAST and Path(f).parent.name == "tests" else (1, 0)
    return sorted(files, key=lambda f: (rank(f), f))


def run_suite(dest: Path) -> dict:
    junit = dest / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *_plugins(dest), f"--junitxml={junit}",
           *[f"--deselect={t}" for t in FRESHNESS], *test_files(dest)]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=dest, env=_env(dest), capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"caught": True, "summary": f"timed out after {SUITE_TIMEOUT} s", "seconds": SUITE_TIMEOUT}
    seconds = round(time.monotonic() - start, 1)
    _check_foreign(dest)
    first = _first_failure(junit)
    if proc.returncode == 0:
        return {"caught": False, "summary": "all passed", "seconds": seconds, "tests": _count(junit)}
    if first is None:
        first = f"pytest exit {proc.returncode}: " + _tail(proc.stdout + proc.stderr, 300).replace("\n", " ")
    return {"caught": True, "summary": first, "seconds": seconds, "exit": proc.returncode, "tests": _count(junit)}


def _first_failure(junit: Path) -> str | None:
    if not junit.exists():
        return None
    for case in ET.parse(junit).getroot().iter("testcase"):
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None:
                module = case.get("classname", "").replace(".", "/")
                name = case.get("name") or ""
                test = f"{module}.py::{name}" if module and name else f"{module}.py" if module else name or "?"
                message = (el.get("message") or el.text or "").strip().splitlines()
                return f"{test}: {message[0][:160] if message else tag}"
    return None


def _count(junit: Path) -> int | None:
    if not junit.exists():
        return None
    return sum(1 for _ in ET.parse(junit).getroot().iter("testcase"))


# ---- one mutant, all mutants -----------------------------------------------------------------------------

def run_one(mutant: Mutant | None, detectors: tuple[str, ...], keep: bool = False) -> dict:
    """Copy, mutate (``None``: the unmutated baseline), run the detectors; the result as a dict."""
    dest = Path(tempfile.mkdtemp(prefix=f"mutant-{mutant.id.replace('/', '-') if mutant else 'baseline'}-"))
    start = time.monotonic()
    out: dict = {"id": mutant.id if mutant else "baseline"}
    try:
        make_copy(dest)
        problem = apply(mutant, dest) if mutant else None
        if problem:
            return {**out, "stale": problem}
        if "verdict" in detectors:
            out["verdict"] = run_verdict(dest)
        if "suite" in detectors:
            out["suite"] = run_suite(dest)
    finally:
        out["seconds"] = round(time.monotonic() - start, 1)
        if keep:
            out["copy"] = str(dest)
        else:
            shutil.rmtree(dest, ignore_errors=True)
    return out


def assess(mutant: Mutant, result: dict) -> list[str]:
    """What is wrong with this mutant's result (empty: as its entry says)."""
    if "stale" in result:
        return [f"stale: {result['stale']}"]
    if mutant.equivalent:
        return []
    problems = []
    if "suite" in result and not result["suite"]["caught"]:
        problems.append("survived the test suite")
    if "verdict" in result:
        part = verdict_part(mutant, result["verdict"])
        if part is False:
            problems.append(f"the verdict failed no {mutant.verdict} check")
    return problems


def _cell(text: str | None, width: int = 110) -> str:
    text = (text or "").replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[:width - 1] + "…"


def _verdict_cell(mutant: Mutant, v: dict | None) -> str:
    if v is None:
        return "not run"
    if not v["caught"]:
        return "conforms (missed)" if mutant.verdict else "conforms"
    met = verdict_part(mutant, v)
    return ("" if met is not False else f"**no {mutant.verdict} check failed:** ") + v["summary"]


def markdown(results: list[dict], command: str, elapsed: float, detectors: tuple[str, ...]) -> str:
    by_id = {m.id: m for m in MUTANTS}
    rows = [(by_id[r["id"]], r) for r in results if r["id"] in by_id]
    try:
        from .report import versions

        v = versions()
        env = f"mlx {v.get('mlx')}, torch {v.get('torch')}, Python {v.get('python')}"
    except Exception:  # the table is still worth writing
        env = f"Python {platform.python_version()}"
    lines = [
        "# Mutation testing: what catches a seeded bug", "",
        f"Made by `{command}` on {datetime.date.today().isoformat()} ({platform.machine()}, {os.cpu_count()} CPUs, "
        f"{env}) in {elapsed / 60:.1f} minutes. The mutants are data in `conformance/mutants.py`; "
        "`python -m conformance.mutate --help` says how the runner works.", "",
        "Each mutant is one exact text replacement in a copy of the repository. *Verdict*: "
        f"`python -m conformance` on the document's pipeline and on a synthetic minibatch run "
        f"(`{' '.join(RUNS['minibatch'])}`): the first run that did not conform, its exit status and first failed "
        "check, with the step. *Suite*: `pytest -x` (test_harness.py first, the command-line tests last, the guide's "
        "freshness tests deselected): the first failing test. *Expected*: the part of the verdict the mutant's entry "
        "says must catch it (local: a step check naming step and tensor; decision: a local decision or evaluation "
        "check; anchor: torch judged against float64 or Adam's formula; static; free: the free-running judge; -: the "
        "suite only).", "",
        "## Totals", "",
        "| package | mutants | equivalent | stale | caught by the suite | caught by the verdict | verdict as expected |",
        "|---|---|---|---|---|---|---|",
    ]
    for pkg in ("mlx_reference", "reference_torch", "conformance", None):
        sel = [(m, r) for m, r in rows if pkg is None or m.package == pkg]
        if not sel:
            continue
        lv = [(m, r) for m, r in sel if not m.equivalent and "stale" not in r]
        suite = [r for _, r in lv if "suite" in r]
        verdict = [r for _, r in lv if "verdict" in r]
        expected = [(m, r) for m, r in lv if m.verdict and "verdict" in r]
        lines.append(
            f"| {pkg or '**all**'} | {len(sel)} | {sum(1 for m, _ in sel if m.equivalent)} | "
            f"{sum(1 for _, r in sel if 'stale' in r)} | "
            + (f"{sum(r['suite']['caught'] for r in suite)} of {len(suite)}" if suite else "not run") + " | "
            + (f"{sum(r['verdict']['caught'] for r in verdict)} of {len(verdict)}" if verdict else "not run") + " | "
            + (f"{sum(verdict_part(m, r['verdict']) is True for m, r in expected)} of {len(expected)}"
               if expected else "-") + " |")
    lines += ["", "## Mutants", "", "| mutant | file | the bug | expected | verdict: first catch | suite: first failing test |",
              "|---|---|---|---|---|---|"]
    for m, r in rows:
        if "stale" in r:
            verdict_cell, suite_cell = "**stale**: " + r["stale"], ""
        else:
            verdict_cell = _verdict_cell(m, r.get("verdict"))
            s = r.get("suite")
            suite_cell = "not run" if s is None else s["summary"] if s["caught"] else (
                "passed (equivalent)" if m.equivalent else "**SURVIVED**")
        lines.append(f"| `{m.id}` | `{m.file}` | {_cell(m.bug, 90)} | {m.verdict or '-'} | {_cell(verdict_cell)} | "
                     f"{_cell(suite_cell)} |")
    equivalent = [(m, r) for m, r in rows if m.equivalent]
    if equivalent:
        lines += ["", "## Equivalent mutants", ""]
        for m, r in equivalent:
            caught = [d for d in ("verdict", "suite") if r.get(d, {}).get("caught")]
            lines.append(f"- `{m.id}`: {m.equivalent}." + (f" (Yet caught by the {' and '.join(caught)}: the argument "
                                                          "or a test is wrong.)" if caught else ""))
    problems = [(m.id, p) for m, r in rows for p in assess(m, r)]
    lines += ["", "## Problems", ""] + ([f"- `{i}`: {p}" for i, p in problems] or ["None: every non-equivalent mutant "
                                                                                  "is caught as its entry says."])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.mutate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--only", metavar="IDS", help="comma-separated mutant ids (default: all)")
    parser.add_argument("--detector", choices=("verdict", "suite", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="mutants run at once (default 1)")
    parser.add_argument("--out", metavar="DIR", help="write mutations.json and MUTATIONS.md here")
    parser.add_argument("--markdown", metavar="PATH", help="write the markdown table here too (docs/MUTATIONS.md)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--keep", action="store_true", help="keep each mutated copy (its path is in the JSON)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated copy's run")
    parser.add_argument("--probe", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        return probe(args.probe)
    if args.list:
        for m in MUTANTS:
            print(f"{m.id:<44} {m.file:<30} {m.verdict or '-':<9} {'EQUIVALENT: ' if m.equivalent else ''}{m.bug}")
        return 0
    selected = list(MUTANTS)
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(wanted) - {m.id for m in MUTANTS})
        if unknown:
            parser.error(f"unknown mutant ids: {', '.join(unknown)} (see --list)")
        selected = [m for m in MUTANTS if m.id in wanted]
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    detectors = ("verdict", "suite") if args.detector == "both" else (args.detector,)
    command = " ".join(["python -m conformance.mutate", *(argv if argv is not None else sys.argv[1:])])
    start = time.monotonic()
    if not args.no_baseline:
        base = run_one(None, detectors)
        bad = [d for d in detectors if base[d]["caught"]]
        print(f"baseline (unmutated): " + "; ".join(f"{d}: {base[d]['summary']}" for d in detectors)
              + f" ({base['seconds']:.0f} s)", flush=True)
        if bad:
            print("the unmutated copy does not pass: fix that first; no mutant was run", file=sys.stderr)
            return 2
    results: dict[str, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, m, detectors, args.keep): m for m in selected}
        for i, fut in enumerate(concurrent.futures.as_completed(futures), start=1):
            m = futures[fut]
            r = results[m.id] = fut.result()
            parts = [f"stale: {r['stale']}"] if "stale" in r else [
                f"{d}: {r[d]['summary'] if r[d]['caught'] else 'passed (equivalent)' if m.equivalent else 'SURVIVED' if d == 'suite' else 'conforms'}"
                for d in detectors]
            problems = assess(m, r)
            print(f"[{i}/{len(selected)}] {m.id} ({r['seconds']:.0f} s): " + "; ".join(parts)
                  + (f"  <-- {'; '.join(problems)}" if problems else ""), flush=True)
    ordered = [results[m.id] for m in selected]
    elapsed = time.monotonic() - start
    text = markdown(ordered, command, elapsed, detectors)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "mutations.json").write_text(json.dumps({"command": command, "seconds": round(elapsed),
                                                        "detectors": detectors, "results": ordered}, indent=1,
                                                       default=str), encoding="utf-8")
        (out / "MUTATIONS.md").write_text(text, encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    problems = [(m.id, p) for m in selected for p in assess(m, results[m.id])]
    print(f"{len(selected)} mutants in {elapsed / 60:.1f} minutes; {len(problems)} problem(s)")
    for i, p in problems:
        print(f"  {i}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
