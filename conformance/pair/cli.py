"""``python -m conformance pair SPEC``: check one model port in lockstep.

SPEC is a Python file (or a dotted module) that defines ``port()`` returning the arguments of
``conformance.pair.check``: ``torch_model``, ``mlx_model``, ``batches`` and, as needed, ``loss``,
``optimizer``, ``inputs``, ``rules``, ``names``, ``compiled``. The files in ``examples/`` are such
specs; ``--wrong`` checks their ``wrong()`` port instead.

Exit status: 0 conforms, 1 does not conform, 2 bad usage or the models cannot be paired (the line
says why), 3 NaN or infinity during the run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

PROG = "python -m conformance pair"


def _load(spec: str):
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise FileNotFoundError(f"{spec}: no such file; give a Python file that defines port()")
        root = path.resolve().parent
        package = root.name if (root / "__init__.py").exists() else None
        if package:  # examples/cnn.py imports its siblings relatively: load it as examples.cnn
            sys.path.insert(0, str(root.parent))
            return importlib.import_module(f"{package}.{path.stem}")
        sys.path.insert(0, str(root))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Check an MLX model port against its PyTorch original in "
                                "lockstep: weight transfer, every layer's output, every training step, the free run.")
    p.add_argument("spec", help="a Python file or module defining port() (see examples/)")
    p.add_argument("--wrong", action="store_true", help="check the spec's wrong() port instead of port()")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="training steps (default: the batches, at least 10)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--ensemble", type=int, default=None, metavar="K", help="perturbed torch runs judging the free run (default 6; 0: none)")
    p.add_argument("--compiled", action="store_true", help="compile MLX's training step with mx.compile")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if args.steps is not None and args.steps < 1:
        print(f"{PROG}: error: --steps must be at least 1, got {args.steps}", file=sys.stderr)
        return 2
    try:
        module = _load(args.spec)
    except (FileNotFoundError, ModuleNotFoundError, SyntaxError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    make = getattr(module, "wrong" if args.wrong else "port", None)
    if make is None:
        print(f"{PROG}: error: {args.spec} defines no {'wrong' if args.wrong else 'port'}(); see examples/", file=sys.stderr)
        return 2
    from ..console import HEADER, row
    from ..report import write_json
    from .engine import check

    spec = dict(make())
    if args.compiled:
        spec["compiled"] = True
    report = check(spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches"), steps=args.steps,
                   device=args.device, ensemble=args.ensemble, reproduce=" ".join([PROG, *(argv or sys.argv[2:])]), **spec)
    print(f"MLX port against PyTorch: {args.spec}{' (wrong port)' if args.wrong else ''}, {report.steps} steps, "
          f"{args.device}, matmuls mlx {report.modes['mlx']} / torch {report.modes['torch']}")
    if report.mapping is not None:
        print("mapping  " + "; ".join(f"{p.torch_path or '(root)'} -> {p.mlx_path or '(root)'} ({p.rule.name})"
                                      for p in report.mapping.pairs))
    if report.checks:
        print()
        print(HEADER)
        print("-" * len(HEADER))
        for c in report.checks:
            print(row(c))
    print()
    print(report.summary())
    first = None if report.passed or report.problem or report.non_finite else report.first_failure()
    if first is not None:
        print(f"  first: {first.message()}")
    if args.json:
        write_json(args.json, report.to_json())
        print(f"report written to {args.json}")
    return report.exit_status
