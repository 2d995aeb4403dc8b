"""``python -m conformance``: the document's pipeline in MLX and in PyTorch, compared step by step.

Exit status: 0 when every check conforms, 1 when any does not, 2 for bad input or usage, 3 when NaN or
infinity appeared during the run (on either side).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .data import DataError, document_dataset, load_table, split_indices, synthetic_dataset
from .console import print_report

PROG = "python -m conformance"


class UsageError(Exception):
    """Bad command-line input: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{message} (see {PROG} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Run the seed document's training pipeline in MLX and in PyTorch from the same data and "
                    "initial weights, and compare every step (data, logits, loss, gradients, Adam, each training "
                    "step, learning-rate and early-stopping decisions, metrics) under the tolerance table.",
        epilog="Exit status: 0 every check conforms, 1 some check does not, 2 bad input or usage, 3 NaN or infinity during the run.",
    )
    d = p.add_argument_group("data (default: the document's five samples)")
    d.add_argument("--data", metavar="PATH", help="a table: .csv (header row), .json (list of records), .sqlite/.sqlite3/.db, .npz")
    d.add_argument("--synthetic", metavar="N", type=int, help="instead of --data: N seeded synthetic samples (two Gaussian blobs)")
    d.add_argument("--target", metavar="NAME", help="the label column (default: y, target or label, else the last column)")
    d.add_argument("--features", metavar="A,B,...", help="comma-separated feature columns (default: all other columns)")
    d.add_argument("--table", metavar="NAME", help="the SQLite table (default: the only table)")
    d.add_argument("--val-fraction", type=float, default=0.2, metavar="F", help="share of samples for validation (default 0.2)")
    d.add_argument("--test-fraction", type=float, default=0.2, metavar="F", help="share of samples for the test (default 0.2)")
    d.add_argument("--stratify", action="store_true", help="keep the class balance in every split")
    t = p.add_argument_group("training (default: the document's: 100 epochs, Adam 1e-3, full batch)")
    t.add_argument("--epochs", type=int, default=100, metavar="N")
    t.add_argument("--batch-size", type=int, metavar="N", help="minibatches of N in a shuffled order (default: full batch)")
    t.add_argument("--lr", type=float, default=1e-3, metavar="LR", help="Adam's learning rate (default 1e-3)")
    t.add_argument("--hidden", type=int, default=10, metavar="N", help="hidden width of SimpleNN (default 10)")
    t.add_argument("--patience", type=int, metavar="N", help="stop after N epochs without validation improvement (default: never)")
    t.add_argument("--min-delta", type=float, default=0.0, metavar="D", help="improvement smaller than D does not count (default 0)")
    t.add_argument("--plateau", type=int, metavar="N", help="reduce the learning rate x0.1 after N epochs without improvement (ReduceLROnPlateau)")
    t.add_argument("--seed", type=int, default=0, help="one seed for the split, the initial weights and the shuffle (default 0)")
    t.add_argument("--no-compile", action="store_true", help="run MLX's training step uncompiled")
    v = p.add_argument_group("the verdict")
    v.add_argument("--ensemble", type=int, metavar="K", help="perturbed torch runs that judge MLX's free run "
                   "(default 6; 0: the free run is reported but not judged)")
    v.add_argument("--local-every", type=int, default=1, metavar="N",
                   help="run the local step checks at every N-th training step (default 1: every step)")
    r = p.add_argument_group("where and what to report")
    r.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help="cpu, or gpu: MLX's Metal or CUDA backend with torch's MPS or CUDA (default cpu)")
    r.add_argument("--every", type=int, default=10, metavar="N", help="print the losses every N epochs (default 10)")
    r.add_argument("--json", metavar="PATH", help="write the machine-readable report here")
    r.add_argument("--plot", metavar="PATH", help="write a PNG of both loss curves and their difference here")
    return p


def _config(args):
    from .runner import RunConfig

    if args.every < 1:
        raise UsageError(f"--every must be at least 1, got {args.every}")
    cfg = RunConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, hidden=args.hidden,
        patience=args.patience, min_delta=args.min_delta, seed=args.seed,
        plateau=None if args.plateau is None else {"patience": args.plateau},
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, stratify=args.stratify,
        device=args.device, compiled=not args.no_compile, ensemble=args.ensemble, local_every=args.local_every,
    )
    try:
        cfg.validate()
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.plateau is not None and args.plateau < 0:
        raise UsageError(f"--plateau must be >= 0, got {args.plateau}")
    return cfg


def _dataset(args):
    if args.data and args.synthetic is not None:
        raise UsageError("give --data or --synthetic, not both")
    if args.data:
        features = [f.strip() for f in args.features.split(",")] if args.features else None
        if features is not None and not all(features):
            raise UsageError(f"--features {args.features!r} has an empty name; give comma-separated column names")
        return load_table(args.data, target=args.target, features=features, table=args.table)
    if args.target or args.features or args.table:
        raise UsageError("--target, --features and --table need --data")
    if args.synthetic is not None:
        return synthetic_dataset(args.synthetic, seed=args.seed)
    return document_dataset()


def _check_output(path: str | None, option: str) -> None:
    if path is None:
        return
    parent = Path(path).parent
    if Path(path).is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: directory {parent} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} {path}: cannot write in {parent}; choose another path")


def _check_device(device: str) -> None:
    from .runner import side

    if device != "gpu":
        return
    missing = [f"{n} ({'no Metal or CUDA backend' if n == 'mlx' else 'no CUDA or MPS'})"
               for n in ("mlx", "torch") if side(n).device.gpu_backend() is None]
    if missing:
        raise UsageError(f"--device gpu: no GPU for {' and '.join(missing)} here; run with --device cpu")
    # Compare like with like: torch's float32 matmuls follow the mode MLX runs in (TF32 on CUDA
    # unless MLX_ENABLE_TF32=0, which MLX reads once, before its first matmul).
    side("torch").device.set_precision_mode(side("mlx").device.precision_mode("gpu"))


class _Progress:
    """Progress on stderr for runs longer than a couple of seconds, at most once a second."""

    def __init__(self, epochs: int):
        self.epochs, self.start, self.last = epochs, time.monotonic(), 0.0

    def __call__(self, name: str, record: dict) -> None:
        now = time.monotonic()
        if now - self.start > 2.0 and now - self.last > 1.0:
            self.last = now
            print(f"  {name}: epoch {record['epoch']}/{self.epochs}  train loss {record['train_loss']:.6f}  "
                  f"({now - self.start:.0f} s)", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        cfg = _config(args)
        _check_output(args.json, "--json")
        _check_output(args.plot, "--plot")
        dataset = _dataset(args)
        _check_device(args.device)
        if args.plot:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise UsageError("--plot needs matplotlib; pip install matplotlib") from None
        from .report import environment, report_payload, write_json
        from .runner import config_dict, run_both

        env = environment(args.device)
        reproduce = " ".join([PROG, *(argv if argv is not None else sys.argv[1:])])
        try:  # the split the data cannot support, said before anything runs, naming the data
            split_indices(dataset.y, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.stratify)
        except DataError as e:
            raise UsageError(f"{dataset.source}: {e}") from None
        outcome = run_both(dataset, cfg, on_epoch=_Progress(cfg.epochs), reproduce=reproduce)
        outcome.every = args.every
    except (UsageError, DataError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    print_report(outcome, env)
    if outcome.non_finite:
        for e in outcome.non_finite:
            print(f"{PROG}: non-finite: {e}", file=sys.stderr)
    if args.json:
        write_json(args.json, report_payload(
            "cli", outcome.checks, [args.device], config=config_dict(cfg),
            data={"source": dataset.source, "n_samples": dataset.n_samples, "features": list(dataset.feature_names),
                  "target": dataset.target_name, "notes": list(dataset.notes), "split": outcome.split_sizes},
            histories={k: v["history"] for k, v in outcome.results.items()},
            metrics={k: v["metrics"] for k, v in outcome.results.items()},
            verdict=outcome.verdict(),
        ))
        print(f"report written to {args.json}")
    if args.plot and outcome.results.get("mlx") and outcome.results.get("torch"):
        from .plot import plot_histories

        plot_histories({k: v["history"] for k, v in outcome.results.items()}, args.plot,
                       title=f"MLX vs PyTorch on {dataset.source} ({cfg.device})")
        print(f"plot written to {args.plot}")
    return outcome.exit_status
