"""Which entries apply to the installed MLX, and which no longer behave as registered:
``python -m conformance.registry.drift``.

Every entry records the MLX versions its naive failure happens on (``Entry.mlx_versions``: "all",
">=0.21.1", "<0.32.1", or both bounds joined by a comma). ``conformance.registry.probes`` holds,
for each entry whose behaviour is MLX's own, a probe: a few lines of MLX (never torch) that return
True when the installed MLX still shows the behaviour, False when it does not, and None when it
cannot tell here (a GPU entry on a machine without that GPU). ``check()`` runs every probe and sets
its answer against the registered versions:

- ``ok``: applies and reproduces, or does not apply and does not reproduce;
- ``DRIFT``: applies to this version by the registry but no longer reproduces (MLX changed: the
  entry's versions need an upper bound), or reproduces outside its registered versions;
- ``cannot tell``: the probe needs a device that is not here.

``tests/test_registry.py`` runs this against the pinned MLX in the normal test run, so an MLX
upgrade that changes a registered behaviour fails the suite and names the entries; run this
command against any other MLX version (it needs MLX and numpy only, not torch or this project's
other packages: ``PYTHONPATH=. python -m conformance.registry.drift``) to see which entries apply
to it. Exit status: 0 without drift, 1 with.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from functools import lru_cache

_CLAUSE = re.compile(r"^(>=|<)(\d+(?:\.\d+)*)$")


def parse(spec: str) -> list[tuple[str, tuple[int, ...]]]:
    """``"all"`` -> []; ``">=0.21.1,<0.32.1"`` -> [(">=", (0, 21, 1)), ("<", (0, 32, 1))]."""
    if spec.strip() == "all":
        return []
    clauses = []
    for part in spec.split(","):
        m = _CLAUSE.match(part.strip())
        if not m:
            raise ValueError(f"MLX version range {spec!r}: each clause is '>=X.Y.Z' or '<X.Y.Z', joined by ','")
        clauses.append((m.group(1), version_tuple(m.group(2))))
    if len({op for op, _ in clauses}) != len(clauses):
        raise ValueError(f"MLX version range {spec!r}: at most one lower and one upper bound")
    return clauses


def version_tuple(version: str) -> tuple[int, ...]:
    """``"0.32.4"`` -> (0, 32, 4); a suffix such as ``.dev20260101`` or ``rc1`` is ignored."""
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0])[:3])


def applies(spec: str, version: str) -> bool:
    v = version_tuple(version)
    return all(v >= bound if op == ">=" else v < bound for op, bound in parse(spec))


def describe(spec: str) -> str:
    """The range in words, for the guide."""
    words = {">=": "{} and later", "<": "before {}"}
    clauses = parse(spec)
    if not clauses:
        return "every version"
    return ", ".join(words[op].format(".".join(map(str, bound))) for op, bound in clauses)


@dataclass(frozen=True)
class Finding:
    entry_id: str
    versions: str
    applies: bool
    reproduces: bool | None  # None: the probe cannot tell on this machine
    error: str | None = None  # the probe itself raised (counts as drift: the API it uses has changed)

    @property
    def verdict(self) -> str:
        if self.error:
            return "DRIFT"
        if self.reproduces is None:
            return "cannot tell"
        return "ok" if self.reproduces == self.applies else "DRIFT"

    @property
    def drifted(self) -> bool:
        return self.verdict == "DRIFT"

    def message(self, version: str) -> str:
        if self.error:
            return f"{self.entry_id}: its probe raised on mlx {version}: {self.error}"
        if self.applies and not self.reproduces:
            return (f"{self.entry_id}: registered for MLX {describe(self.versions)}, but mlx {version} no longer "
                    "shows it: give its mlx_versions an upper bound (and say what changed in its history)")
        return (f"{self.entry_id}: registered for MLX {describe(self.versions)}, but mlx {version} shows it: "
                "widen its mlx_versions")


def installed_version() -> str:
    import mlx.core as mx

    return mx.__version__


@lru_cache(maxsize=1)
def probe_results() -> dict[str, tuple[bool | None, str | None]]:
    """Every probe's answer on the installed MLX (run once a process): id -> (result, error)."""
    from .probes import PROBES

    results = {}
    for entry_id, probe in PROBES.items():
        try:
            results[entry_id] = (probe(), None)
        except Exception as exc:  # noqa: BLE001 - a probe that breaks is itself a finding
            results[entry_id] = (None, f"{type(exc).__name__}: {exc}")
    return results


def check(version: str | None = None) -> list[Finding]:
    """Every probe's answer on the installed MLX set against the registered versions; ``version``
    overrides the version the ranges are read at (for tests of this module)."""
    from . import ENTRIES

    version = version or installed_version()
    results = probe_results()
    return [Finding(e.id, e.mlx_versions, applies(e.mlx_versions, version), *results[e.id])
            for e in ENTRIES if e.id in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.registry.drift", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    version = installed_version()
    findings = check()
    width = max(len(f.entry_id) for f in findings)
    print(f"mlx {version}: {len(findings)} entries with a probe")
    print(f"{'entry':<{width}}  {'registered MLX versions':<28} {'applies':<8} {'reproduces':<11} verdict")
    for f in findings:
        shown = "?" if f.reproduces is None else ("yes" if f.reproduces else "no")
        print(f"{f.entry_id:<{width}}  {describe(f.versions):<28} {'yes' if f.applies else 'no':<8} {shown:<11} "
              f"{f.verdict}")
    drifted = [f for f in findings if f.drifted]
    for f in drifted:
        print(f.message(version), file=sys.stderr)
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
