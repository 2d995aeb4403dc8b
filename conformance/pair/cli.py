"""``python -m conformance pair SPEC``: check one model port in lockstep.

SPEC is a Python file (or a dotted module) that defines ``port()`` returning a dict of the arguments
of ``conformance.pair.check``: ``torch_model``, ``mlx_model``, ``batches`` and, as needed, ``loss``,
``optimizer``, ``inputs``, ``output``, ``rules``, ``names``, ``compiled``, ``train_step``. The files
in ``examples/`` are such specs; ``--wrong`` checks their ``wrong()`` port instead.

Exit status: 0 conforms; 1 does not conform (a real difference); 2 anything that is not a verdict:
bad usage, a spec that cannot be loaded (it raises, exits, or returns the wrong thing), input
``check`` refuses, or models that cannot be paired (one line on stderr, or the report's NOT
COMPARABLE line; nothing written); 3 NaN or infinity during the run; 4 (``--ranks``) a rank's process
failed or ran past its timeout (one line naming it, nothing written); 130 interrupted by Ctrl-C (143
by SIGTERM), nothing written.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import signal
import sys
import threading
from pathlib import Path

from ..options import Once, UsageError, whole
from ..outputs import OutputError, check_outputs, commit, stage
from .errors import PairError, RankError

PROG = "python -m conformance pair"
USAGE, RANK, INTERRUPTED, TERMINATED = 2, 4, 130, 143
KEYS = {"torch_model", "mlx_model", "batches", "loss", "optimizer", "inputs", "output", "rules", "names", "compiled",
        "train_step", "steps", "ensemble"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{message} (see {PROG} --help)")


class _Terminated(BaseException):
    pass


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, allow_abbrev=False,
                description="Check an MLX model port against its PyTorch original in lockstep: weight transfer, every "
                            "layer's output, every training step, the free run.",
                epilog="Exit status: 0 conforms; 1 does not conform; 2 bad usage, a spec that cannot be loaded, input "
                       "the check refuses, or models that cannot be paired (nothing written); 3 NaN or infinity "
                       "during the run; 4 --ranks: a rank's process failed; 130 interrupted (Ctrl-C; 143 SIGTERM), "
                       "nothing written.")
    once = dict(action=Once)
    p.add_argument("spec", help="a Python file or module defining port() (see examples/)")
    p.add_argument("--wrong", action="store_true", help="check the spec's wrong() port instead of port()")
    p.add_argument("--steps", type=whole, metavar="N", **once, help="training steps (default: the batches, at least 10)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu", **once)
    p.add_argument("--ensemble", type=whole, metavar="K", **once,
                   help="perturbed torch runs judging the free run (default 6; 0: none)")
    p.add_argument("--compiled", action="store_true", help="compile MLX's training step with mx.compile")
    p.add_argument("--ranks", type=whole, metavar="N", **once,
                   help="check data-parallel: N processes a framework (torch DDP under torchrun, MLX under "
                        "mlx.launch), each batch sharded (default 1: one process)")
    p.add_argument("--shard", choices=("sampler", "contiguous"), **once,
                   help="how --ranks cuts each batch: DistributedSampler's interleave and padding (default), or "
                        "contiguous blocks")
    p.add_argument("--json", metavar="PATH", **once, help="write the report as JSON (whole or not at all)")
    return p


def _load(spec: str):
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise UsageError(f"{spec}: no such file; give a Python file that defines port()")
        root = path.resolve().parent
        package = root.name if (root / "__init__.py").exists() else None
        if package:  # examples/cnn.py imports its siblings relatively: load it as examples.cnn
            sys.path.insert(0, str(root.parent))
            return importlib.import_module(f"{package}.{path.stem}")
        sys.path.insert(0, str(root))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules.setdefault(path.stem, module)  # so its classes pickle by name (--ranks sends them to the ranks)
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def _spec(args) -> dict:
    """The spec's port() (or wrong()) arguments; ``UsageError`` for any way the spec can fail."""
    what = "wrong" if args.wrong else "port"
    try:
        module = _load(args.spec)
        make = getattr(module, what, None)
        if not callable(make):
            raise UsageError(f"{args.spec} defines no {what}(); see examples/")
        spec = make()
    except UsageError:
        raise
    except SystemExit as e:
        raise UsageError(f"{args.spec}: exited (SystemExit {e.code!r}) while loading or in {what}(); a spec must "
                         f"return {what}()'s arguments, not exit") from None
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - the user's code: one line, never their traceback
        text = str(e).strip().splitlines()
        raise UsageError(f"{args.spec}: {type(e).__name__} while loading or in {what}(): "
                         f"{text[0] if text else ''}") from None
    if not isinstance(spec, dict):
        raise UsageError(f"{args.spec}: {what}() returned {type(spec).__name__}; return a dict of pair.check's "
                         "arguments (torch_model, mlx_model, batches, ...)")
    missing = [k for k in ("torch_model", "mlx_model", "batches") if k not in spec]
    unknown = sorted(set(spec) - KEYS)
    if missing or unknown:
        raise UsageError(f"{args.spec}: {what}() " + (f"lacks {', '.join(missing)}" if missing else "")
                         + ("; " if missing and unknown else "")
                         + (f"returns unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})"
                            if unknown else ""))
    return dict(spec)


def _print_report(args, report) -> None:
    from ..console import COLUMNS, table
    from .verdict import SECTIONS

    print(f"MLX port against PyTorch: {args.spec}{' (wrong port)' if args.wrong else ''}, {report.steps} steps of "
          f"{report.optimizer}, {args.device}, matmuls mlx {report.modes['mlx']} / torch {report.modes['torch']}")
    if report.mapping is not None:
        print("mapping  " + "; ".join(f"{p.torch_path or '(root)'} -> {p.mlx_path or '(root)'} "
                                      f"({p.rule.name if p.rule else 'parameterless'})" for p in report.mapping.compared))
    if report.checks:
        print()
        print("sections " + "; ".join(f"{k} {v}" for k, v in SECTIONS.items()))
        print("columns  " + COLUMNS)
        print()
        for line in table(report.checks):
            print(line)
    print()
    for note in report.notes:
        print(f"note     {note}")
    print(report.summary())
    first = None if report.passed or report.problem or report.non_finite else report.first_failure()
    if first is not None:
        print(f"  first: {first.message()}")


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    where = {"at": "before the check started"}
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        return _main(argv, where)
    except RankError as e:  # --ranks: a process of a group failed (the main command's exit 4)
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return RANK
    except (UsageError, OutputError, PairError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted {where['at']}; nothing written", file=sys.stderr)
        return INTERRUPTED
    except _Terminated:
        print(f"{PROG}: terminated {where['at']}; nothing written", file=sys.stderr)
        return TERMINATED
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _main(argv, where: dict) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help
        return USAGE if e.code else 0
    check_outputs({"--json": args.json}, {"SPEC": args.spec if args.spec.endswith(".py") else None})
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {args.steps}")
    if args.ensemble is not None and args.ensemble < 0:
        raise UsageError(f"--ensemble must be 0 or more, got {args.ensemble}")
    if args.ranks is not None and args.ranks < 1:
        raise UsageError(f"--ranks must be at least 1, got {args.ranks}")
    if args.shard is not None and (args.ranks or 1) == 1:
        raise UsageError("--shard needs --ranks 2 or more")
    where["at"] = f"while loading {args.spec}"
    spec = _spec(args)
    from .engine import check

    if args.compiled:
        spec["compiled"] = True
    for key, value in (("steps", args.steps), ("ensemble", args.ensemble), ("ranks", args.ranks),
                       ("shard", args.shard)):
        if value is not None:
            spec[key] = value
    where["at"] = "before the first training step"
    report = check(spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches"), device=args.device,
                   reproduce=" ".join([PROG, *(argv if argv is not None else sys.argv[2:])]),
                   progress=lambda text: where.update(at=f"at {text}"), **spec)
    staged = None
    if args.json:
        from ..report import dump_json

        staged = stage(args.json, lambda f: dump_json(report.to_json(), f), text=True)
    if report.status == "not-comparable":
        if staged is not None:
            staged.discard()
        print(f"{PROG}: {report.summary()}", file=sys.stderr)
        return USAGE
    _print_report(args, report)
    if staged is not None:
        commit([staged], ["--json"])
        print(f"report written to {args.json}")
    return report.exit_status
