"""The machine-readable conformance report (JSON) and the environment it records.

One format serves ``python -m conformance --json`` and ``pytest --conformance-report``: a list of
checks (each with its path, worst errors, tolerance, reason and verdict) plus versions, device and
precision mode. Files are written whole or not at all (a temporary file renamed into place).
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

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
    """JSON has no NaN or infinity: write them as strings so the file stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as standard JSON, atomically: the file is complete or absent."""
    write_atomic(path, lambda f: json.dump(_clean(payload), f, indent=1, allow_nan=False), text=True)


def write_atomic(path: str | os.PathLike, writer, text: bool = False) -> None:
    """Call ``writer(file)`` on a temporary file beside ``path`` and rename it into place."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w" if text else "wb") as f:
            writer(f)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def checks_payload(checks) -> list[dict]:
    return [c.to_json() for c in checks]
