"""Summarize conformance reports: the worst agreement per quantity, device, comparison and mode.

    python -m conformance.agreement DIR_OR_FILES...

Reads reports written by ``pytest --conformance-report=...`` or ``python -m conformance --json``
(for example the ``suite-<mode>.json`` and ``cli-<mode>.json`` that ``scripts/gpu_suite.sh``
writes) and prints a Markdown table per report: for each (device, comparison, kind, dtype, mode)
the number of checks and failures, the largest absolute and relative error, and the largest share
of its tolerance a check used (1.0 = at the limit). Relative errors of elements near zero are
large by nature; the share of budget is the figure to read first.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def _num(v) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def summarize(report: dict) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for c in report.get("checks", []):
        names = c.get("names") or ["mlx", "torch"]
        key = (c.get("device") or report.get("environment", {}).get("device", "?"), f"{names[0]} vs {names[1]}",
               c.get("kind"), c.get("dtype"), c.get("mode"))
        r = rows.setdefault(key, {"checks": 0, "failed": 0, "max_abs": 0.0, "max_rel": 0.0, "share": 0.0})
        r["checks"] += 1
        r["failed"] += 0 if c.get("passed") else 1
        for field, src in (("max_abs", "max_abs"), ("max_rel", "max_rel"), ("share", "share_of_budget")):
            v = _num(c.get(src))
            if math.isfinite(v):
                r[field] = max(r[field], v)
    return [dict(zip(("device", "comparison", "kind", "dtype", "mode"), k), **v) for k, v in sorted(rows.items(), key=str)]


def render(path: Path, report: dict) -> str:
    env = report.get("environment", {})
    v = env.get("versions", {})
    lines = [f"### {path.name}", "",
             f"source {report.get('source')}, devices {env.get('device')}, MLX_ENABLE_TF32={env.get('MLX_ENABLE_TF32')}, "
             f"mlx {v.get('mlx')}, torch {v.get('torch')}; {report.get('summary', {}).get('checks')} checks, "
             f"{report.get('summary', {}).get('failed')} failed; passed: {report.get('passed')}", "",
             "| device | comparison | kind | dtype | mode | checks | failed | max abs err | max rel err | max share of budget |",
             "|---|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in summarize(report):
        lines.append(f"| {r['device']} | {r['comparison']} | {r['kind']} | {r['dtype']} | {r['mode']} | {r['checks']} | "
                     f"{r['failed']} | {r['max_abs']:.2e} | {r['max_rel']:.2e} | {r['share']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m conformance.agreement DIR_OR_REPORT.json ...", file=sys.stderr)
        return 2
    paths: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            paths += sorted(q for q in p.glob("*.json") if q.name.startswith(("suite-", "cli-")))
        elif p.is_file():
            paths.append(p)
        else:
            print(f"python -m conformance.agreement: {a}: no such file or directory", file=sys.stderr)
            return 2
    if not paths:
        print("python -m conformance.agreement: no suite-*.json or cli-*.json reports found", file=sys.stderr)
        return 2
    for p in paths:
        try:
            report = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            print(f"python -m conformance.agreement: {p}: not a readable JSON report ({e})", file=sys.stderr)
            return 2
        print(render(p, report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
