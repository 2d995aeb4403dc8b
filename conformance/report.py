"""The machine-readable conformance report (JSON) and the environment it records.

One format serves ``python -m conformance --json`` and ``pytest --conformance-report``: a list of
checks (each with its path, worst errors, tolerance, reason and verdict) plus versions, device and
precision mode. Files are written whole or not at all (``conformance.outputs``: a temporary file
renamed into place, with the umask's mode). The JSON is strict: NaN and infinity are ``null``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from importlib import metadata
from typing import Any, Sequence

from .outputs import write_atomic

FORMAT = "mlx-torch-conformance/1"


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that decide the numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("mlx", "mlx-metal", "mlx-cuda-13", "mlx-cpu", "torch", "numpy", "scikit-learn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def environment(device: str) -> dict[str, Any]:
    """Where the run happened: machine, versions and each framework's backend and precision mode."""
    from .runner import side  # imports the frameworks only when a report is made

    env: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(), "versions": versions(),
                           "device": device, "MLX_ENABLE_TF32": os.environ.get("MLX_ENABLE_TF32")}
    for name in ("mlx", "torch"):
        dev = side(name).device
        env[name] = {"backend": dev.backend(device), "device_name": dev.device_name(device),
                     "precision_mode": dev.precision_mode(device)}
    return env


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they are written as ``null`` (never as strings inside numeric
    arrays), numpy scalars and arrays as numbers and lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def dump_json(payload: dict, f) -> None:
    """``payload`` as strict JSON (NaN and infinity as null) into the text file ``f``."""
    json.dump(_clean(payload), f, indent=1, allow_nan=False)
    f.write("\n")


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as strict JSON, atomically: the file is complete or absent."""
    write_atomic(path, lambda f: dump_json(payload, f), text=True)


def checks_payload(checks) -> list[dict]:
    """Checks as JSON objects (``Check.to_json``); dicts (already converted) pass through."""
    return [c if isinstance(c, dict) else c.to_json() for c in checks]


_STEP = re.compile(r" / step \d+ /")


def fold_steps(items: list[dict]) -> list[dict]:
    """One entry per quantity: the checks of one tensor at every training step (paths that differ
    only in " / step N /") fold into their first failure, or when all pass their worst step (by
    share of budget), with ``steps`` (how many), ``failed_steps`` and ``first_failed_step``."""
    groups: dict[tuple, list[dict]] = {}
    for c in items:
        groups.setdefault((c.get("test"), _STEP.sub(" / step k /", c["path"])), []).append(c)
    out = []
    for (_, path), group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        failed = [c for c in group if not c["passed"]]
        pick = dict(min(failed, key=lambda c: c["step"] or 0) if failed else max(group, key=lambda c: c["share_of_budget"]))
        pick.update(path=path, steps=len(group), failed_steps=len(failed),
                    first_failed_step=pick["step"] if failed else None)
        out.append(pick)
    return out


def _slim(c: dict) -> dict:
    """A check for the report: the tolerance's reason is in the report's table (``tolerance``
    names the entry) and the sentence only where the check failed."""
    c = dict(c)
    c["tolerance"] = f"{c['kind']}/{c['dtype']}/{c['mode'] if c['dtype'] == 'float32' else 'ieee'}"
    c.pop("reason", None)
    if c.get("passed"):
        c.pop("message", None)
    return c


def tolerance_table() -> dict:
    from .tolerances import table

    return {f"{k}/{d}/{m}": {"rtol": t.rtol, "atol": t.atol, "atol_scale": t.atol_scale, "scale_of": t.scale_of,
                             "growth": t.growth, "reason": t.reason} for (k, d, m), t in table().items()}


def report_payload(source: str, checks, devices: Sequence[str], **extra: Any) -> dict:
    """The conformance report, one format for ``python -m conformance --json`` and ``pytest
    --conformance-report``: ``format``, ``source`` ("cli" or "pytest"), ``environment`` (versions,
    platform, and each device's backends and precision modes), ``passed``, ``summary`` (counts,
    the first failure, the worst check of each kind by share of its budget), ``checks`` (each
    quantity's check, a tensor's training steps folded into its first failure or worst step:
    path, kind, dtype, precision mode, device, worst element and errors, rtol and atol, verdict,
    and the sentence of a failure), ``tolerances`` (the table, with every entry's reason), then
    whatever ``extra`` the source adds (the CLI: config, data, histories, metrics; pytest: the
    options and the outcome of every test)."""
    devices = list(devices) or ["cpu"]
    env = environment(devices[0])
    env["devices"] = {d: ({k: env[k] for k in ("mlx", "torch")} if d == devices[0]
                          else {k: v for k, v in environment(d).items() if k in ("mlx", "torch")}) for d in devices}
    env["device"] = ",".join(devices)
    items = checks_payload(checks)
    failed = [c for c in items if not c["passed"]]
    worst: dict[str, dict] = {}
    for c in items:
        if c.get("problem") is None and (c["kind"] not in worst or c["share_of_budget"] > worst[c["kind"]]["share_of_budget"]):
            worst[c["kind"]] = c
    return {
        "format": FORMAT, "source": source, "environment": env, "passed": not failed,
        "summary": {"checks": len(items), "failed": len(failed),
                    "first_failure": failed[0]["message"] if failed else None,
                    "worst_by_kind": {k: {"path": c["path"], "share_of_budget": c["share_of_budget"], "max_abs": c["max_abs"],
                                          "rtol": c["rtol"], "atol": c["atol"], **({"test": c["test"]} if "test" in c else {})}
                                      for k, c in sorted(worst.items())}},
        "checks": [_slim(c) for c in fold_steps(items)], "tolerances": tolerance_table(), **extra,
    }
