"""``python -m conformance``: the document's pipeline in MLX and in PyTorch, compared step by step.

Exit status: 0 every check conforms; 1 some check does not (a real difference); 2 bad input or
usage (one line on stderr, nothing run, nothing written); 3 a NaN or infinity appeared during the
run on either side; 4 (--ranks) a process of a data-parallel group failed or timed out, named in one
line; 130 interrupted by Ctrl-C (143 by SIGTERM), nothing written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from . import footprint, options
from .console import print_report
from .data import DataError, document_dataset, load_table, split_sizes, synthetic_dataset
from .options import UsageError, flags, number, whole
from .outputs import OutputError, check_outputs, commit

PROG = "python -m conformance"
PROGRESS_AFTER = 2.0  # seconds of a stage before progress lines start (then at most one a second)
CONFORMS, DIFFERS, USAGE, NON_FINITE, INTERRUPTED, TERMINATED = 0, 1, 2, 3, 130, 143
GROUP_FAILED = 4  # --ranks: a process of a data-parallel group failed or ran out of time


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{message} (see {PROG} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG, allow_abbrev=False,
        description="Run the seed document's training pipeline in MLX and in PyTorch from the same data and "
                    "initial weights, and compare every step (data, logits, loss, gradients, Adam, each training "
                    "step, learning-rate and early-stopping decisions, metrics) under the tolerance table.",
        epilog="Exit status: 0 every check conforms; 1 some check does not; 2 bad input or usage (one line on "
               "stderr, nothing written); 3 a NaN or infinity appeared during the run; 4 (--ranks) a process of a "
               "data-parallel group failed or timed out; 130 interrupted (Ctrl-C), nothing written. Your own port: "
               "python -m conformance pair SPEC checks an MLX model against its PyTorch original "
               "(python -m conformance pair --help).",
    )
    once = dict(action=options.Once)
    d = p.add_argument_group("data (default: the document's five samples)")
    d.add_argument("--data", metavar="PATH", **once,
                   help="a table: .csv (header row; comma-separated, or semicolons/tabs/bars detected), .json (list "
                        "of records), .sqlite/.sqlite3/.db, .npz")
    d.add_argument("--synthetic", metavar="N", type=whole, **once,
                   help="instead of --data: N seeded synthetic samples (two Gaussian blobs)")
    d.add_argument("--target", metavar="NAME", **once,
                   help="the label column (default: y, target or label, else the last column)")
    d.add_argument("--features", metavar="A,B,...", **once,
                   help="comma-separated feature columns (default: all other columns)")
    d.add_argument("--table", metavar="NAME", **once, help="the SQLite table (default: the only table)")
    d.add_argument("--val-fraction", type=number, default=0.2, metavar="F", **once,
                   help="share of samples for validation, 0 <= F < 1 (default 0.2; 0: no validation, so no "
                        "--patience, --plateau or --min-delta)")
    d.add_argument("--test-fraction", type=number, default=0.2, metavar="F", **once,
                   help="share of samples for the test, 0 < F < 1 (default 0.2)")
    d.add_argument("--stratify", action="store_true", help="keep the class balance in every split")
    t = p.add_argument_group("training (default: the document's: 100 epochs, Adam 1e-3, full batch)")
    t.add_argument("--epochs", type=whole, default=100, metavar="N", **once, help="epochs to train (default 100)")
    t.add_argument("--batch-size", type=whole, metavar="N", **once,
                   help="minibatches of N in a shuffled order (default: full batch)")
    t.add_argument("--lr", type=number, default=1e-3, metavar="LR", **once,
                   help="Adam's learning rate, a normal float32 above 0 (default 1e-3)")
    t.add_argument("--hidden", type=whole, default=10, metavar="N", **once, help="hidden width of SimpleNN (default 10)")
    t.add_argument("--patience", type=whole, metavar="N", **once,
                   help="early stopping: training stops at the end of the Nth consecutive epoch whose validation "
                        "loss is not below the best so far minus --min-delta (default: never stop early)")
    t.add_argument("--min-delta", type=number, default=0.0, metavar="D", **once,
                   help="a validation loss counts as an improvement (for --patience, and for the best epoch that "
                        "--restore-best restores) only when below the best so far minus D (default 0)")
    t.add_argument("--plateau", type=whole, metavar="N", **once,
                   help="multiply the learning rate by 0.1 once MORE than N consecutive epochs (that is, at the "
                        "(N+1)th) bring no validation loss below the best x (1 - 1e-4), as torch's "
                        "ReduceLROnPlateau(patience=N); the count then restarts (default: off)")
    t.add_argument("--seed", type=whole, default=0, metavar="N", **once,
                   help="one seed for the split, the initial weights and the shuffle (default 0)")
    t.add_argument("--no-compile", action="store_true", help="run MLX's training step uncompiled")
    t.add_argument("--restore-best", action="store_true",
                   help="evaluate the test set with the best validation epoch's weights (default: the last epoch's, "
                        "as the document does and Keras' restore_best_weights=False)")
    t.add_argument("--split", choices=("auto", "project", "sklearn", "document"), default="auto", **once,
                   help="how rows are split: auto (default: the document's own train_test_split(test_size=0.2, "
                        "random_state=42) for its five samples, else project), project (seeded, "
                        "conformance.data.split_indices), sklearn (exactly scikit-learn's train_test_split rows, "
                        "random_state = --seed), document (the document's, on any data)")
    v = p.add_argument_group("the verdict")
    v.add_argument("--ensemble", type=whole, metavar="K", **once,
                   help="perturbed torch runs that judge MLX's free run (default 6; 0: the free run is reported "
                        "but not judged)")
    v.add_argument("--local-every", type=whole, default=1, metavar="N", **once,
                   help="run the local step checks at every N-th training step (default 1: every step)")
    g = p.add_argument_group("data-parallel (default: one process a framework)")
    g.add_argument("--ranks", type=whole, metavar="N", **once,
                   help="train data-parallel on N processes a framework (MLX's group under mlx.launch, torch's DDP "
                        "under torchrun, one framework at a time) and judge every MLX rank against torch's")
    g.add_argument("--backend", choices=("ring", "gloo", "nccl"), **once,
                   help="with --ranks: ring (MLX) and gloo (torch) on CPUs, the default; nccl for both on NVIDIA GPUs")
    g.add_argument("--shard", choices=("sampler", "contiguous"), **once,
                   help="with --ranks: how each epoch's shuffled rows are shared out: sampler (default: "
                        "DistributedSampler's interleave, padded by repeating the first rows) or contiguous blocks "
                        "(uneven when the ranks do not divide the rows)")
    r = p.add_argument_group("where and what to report")
    r.add_argument("--device", choices=("cpu", "gpu"), default="cpu", **once,
                   help="cpu, or gpu: MLX's Metal or CUDA backend with torch's MPS or CUDA (default cpu)")
    r.add_argument("--every", type=whole, default=10, metavar="N", **once,
                   help="print the losses every N epochs (default 10)")
    r.add_argument("--json", metavar="PATH", **once,
                   help="write the machine-readable report here (strict JSON: NaN and infinity are null); not an "
                        "input, not --plot's path, not a link, FIFO or device")
    r.add_argument("--plot", metavar="PATH", **once,
                   help="write both loss curves and their difference here, in the format of the extension "
                        "(.png, .pdf, .svg, ...: any matplotlib writes)")
    return p


class _Terminated(Exception):
    """SIGTERM, turned into an exception so that the run ends the way Ctrl-C ends it."""


class _Run:
    """One invocation: what it has reached (for the interrupt line) and what it writes."""

    def __init__(self, argv: list[str] | None):
        self.argv = list(sys.argv[1:] if argv is None else argv)
        self.stage, self.epoch, self.epochs, self.side = "starting", 0, 0, None
        self.written: list[str] = []
        self.estimate = 0.0  # bytes the run was estimated to hold
        self.warnings: list = []  # Python warnings raised during the run (main() records them)
        self.start = self.last = time.monotonic()

    # progress, at most once a second, after the first PROGRESS_AFTER seconds of a stage
    def _due(self) -> bool:
        now = time.monotonic()
        if now - self.start > PROGRESS_AFTER and now - self.last > min(1.0, PROGRESS_AFTER):
            self.last = now
            return True
        return False

    def reading(self, done: int, total: int) -> None:
        if self._due():
            print(f"  reading {Path(self.source).name}: {100 * done / max(total, 1):.0f}% of {total / 1e6:.0f} MB "
                  f"({time.monotonic() - self.start:.0f} s)", file=sys.stderr, flush=True)

    def on_epoch(self, name: str, record: dict) -> None:
        self.side, self.epoch = name, record["epoch"]
        if self._due():
            print(f"  {name}: epoch {record['epoch']}/{self.epochs}  train loss {record['train_loss']:.6f}  "
                  f"({time.monotonic() - self.start:.0f} s)", file=sys.stderr, flush=True)

    def where(self) -> str:
        """How far the run got: "at epoch 37 of 100 (torch)", "while reading the data", ..."""
        if self.stage == "training":
            return f"at epoch {self.epoch} of {self.epochs}" + (f" ({self.side})" if self.side else "")
        return {"reading": "while reading the data", "writing": "while writing the outputs",
                "comparing": f"while comparing, after epoch {self.epoch} of {self.epochs}",
                "reporting": "while printing the report"}.get(self.stage, "before the run")

    def interrupted(self, how: str) -> str:
        if self.written:
            return f"{PROG}: {how} after writing {' and '.join(self.written)}"
        return f"{PROG}: {how} {self.where()}; nothing written"

    def main(self) -> int:
        args = build_parser().parse_args(self.argv)
        options.check(args)
        check_outputs({"--json": args.json, "--plot": args.plot}, {"--data": args.data})
        if args.plot:
            _check_plot(args.plot)
        self.epochs = args.epochs
        dataset = self._dataset(args)
        cfg = _config(args)
        env, outcome = self._run(args, dataset, cfg)
        self.stage = "reporting"
        _stdout(lambda: print_report(outcome, env))
        non_finite = "; ".join(str(e) for e in outcome.non_finite)
        self._write(args, dataset, cfg, outcome, non_finite)
        if non_finite:
            print(f"{PROG}: non-finite: {non_finite}", file=sys.stderr)
            return NON_FINITE
        return CONFORMS if outcome.passed else DIFFERS

    def _dataset(self, args):
        self.stage, self.start = "reading", time.monotonic()
        if args.data is not None:
            self.source = args.data
            features = [f.strip() for f in args.features.split(",")] if args.features is not None else None
            try:
                dataset = load_table(args.data, target=args.target, features=features, table=args.table,
                                     progress=self.reading)
            except DataError as e:
                raise UsageError(f"--data {flags(str(e))}") from None
        else:
            n = args.synthetic if args.synthetic is not None else 5
            _memory(self, n, 2, args, n_train=None, data_option="--synthetic")
            dataset = synthetic_dataset(args.synthetic, seed=args.seed) if args.synthetic is not None else document_dataset()
        try:  # the split the data cannot support, said before anything runs
            from .runner import RunConfig, split_of

            n_train = split_sizes(dataset.n_samples, args.val_fraction, args.test_fraction)[0]
            split_of(dataset, RunConfig(val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed,
                                        stratify=args.stratify, split=args.split))
        except DataError as e:
            where = f"--synthetic {args.synthetic}" if args.synthetic is not None else (
                f"--data {args.data}" if args.data is not None else "the document's data")
            raise UsageError(f"{where}: {flags(str(e))}") from None
        if args.data is not None:
            _memory(self, dataset.n_samples, dataset.n_features, args, n_train=n_train, data_option="--data")
        return dataset

    def _run(self, args, dataset, cfg):
        _check_device(args.device)
        from . import runner
        from .report import environment

        env = environment(args.device)
        self.stage, self.start = "training", time.monotonic()
        try:
            if args.ranks is not None:
                outcome = _data_parallel(args, dataset, cfg, shlex.join([PROG, *self.argv]))
            else:
                outcome = runner.run_both(dataset, cfg, on_epoch=self.on_epoch, reproduce=shlex.join([PROG, *self.argv]))
        except runner.NonFinite as e:  # run_both records NaN in its outcome; this guards anything it lets through
            raise _NonFinite(str(e)) from None
        self.stage = "comparing"
        outcome.every = args.every
        return env, outcome

    def _write(self, args, dataset, cfg, outcome, non_finite) -> None:
        """Both outputs staged beside their paths, then renamed into place together."""
        if not (args.json or args.plot):
            return
        self.stage = "writing"
        from .report import dump_json, report_payload
        from .runner import config_dict
        from .outputs import stage

        staged, names = [], []
        current = ""
        try:
            if args.json:
                current = f"--json {args.json}"
                extra = {"non_finite": str(non_finite)} if non_finite else {}
                payload = report_payload(
                    "cli", outcome.checks, [args.device], config=config_dict(cfg),
                    data={"source": dataset.source, "n_samples": dataset.n_samples, "features": list(dataset.feature_names),
                          "target": dataset.target_name, "notes": list(dataset.notes), "split": outcome.split_sizes},
                    histories={k: v["history"] for k, v in outcome.results.items()},
                    metrics={k: v["metrics"] for k, v in outcome.results.items()},
                    warnings=_warning_records(self.warnings), verdict=outcome.verdict(), **extra)
                staged.append(stage(args.json, lambda f: dump_json(payload, f), text=True))
                names.append("--json")
            if args.plot:
                from .plot import stage_plot

                current = f"--plot {args.plot}"
                staged.append(stage_plot({k: v["history"] for k, v in outcome.results.items()}, args.plot,
                                         title=f"MLX vs PyTorch on {dataset.source} ({cfg.device})",
                                         envelope=outcome.envelope()))
                names.append("--plot")
        except BaseException as e:
            for s in staged:
                s.discard()
            if isinstance(e, OSError):  # a disk that filled up, a folder removed during the run
                raise OutputError(f"{current}: could not be written ({e.strerror or e}); nothing written") from None
            raise
        try:
            commit(staged, names)
        except OSError as e:
            raise OutputError(f"{' and '.join(names)}: could not be renamed into place ({e.strerror or e}); "
                              "nothing written") from None
        paths = [path for path in (args.json, args.plot) if path]
        self.written = [f"{name} {path}" for name, path in zip(names, paths)]
        for name, path in zip(names, paths):
            _stdout(lambda: print(f"{'report' if name == '--json' else 'plot'} written to {path}"))


def _data_parallel(args, dataset, cfg, reproduce: str):
    from .distributed import launch, sharding
    from .distributed.run import GroupConfig, run_data_parallel

    group = GroupConfig(ranks=args.ranks, backend=args.backend, rule=args.shard or "sampler")
    try:
        return run_data_parallel(dataset, cfg, group, reproduce=reproduce)
    except sharding.ShardError as e:
        raise UsageError(str(e)) from None
    except launch.LaunchError as e:
        raise _GroupFailed(str(e)) from None


class _GroupFailed(Exception):
    """A process of a data-parallel group failed: the side, the rank and its error, one line."""


class _NonFinite(Exception):
    """The engine stopped at a NaN or infinity; the message names the step, the tensor and the side."""


def _check_plot(path: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib; pip install matplotlib") from None
    from .plot import check_plot

    try:
        check_plot(path)
    except ValueError as e:
        raise UsageError(f"--plot {path}: {e}") from None


def _memory(run: _Run, n: int, d: int, args, n_train: int | None, data_option: str) -> None:
    est = footprint.estimate(n, d, args.hidden, args.epochs, args.batch_size, n_train=n_train, data_option=data_option)
    run.estimate = est.total
    refusal = footprint.refusal(est)
    if refusal:
        raise UsageError(refusal)


def _config(args):
    from .runner import RunConfig

    cfg = RunConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, hidden=args.hidden,
        patience=args.patience, min_delta=args.min_delta, seed=args.seed,
        plateau=None if args.plateau is None else {"patience": args.plateau},
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, stratify=args.stratify,
        device=args.device, compiled=not args.no_compile, ensemble=args.ensemble, local_every=args.local_every,
        restore_best=args.restore_best, split=args.split,
    )
    try:
        cfg.validate()
    except ValueError as e:
        raise UsageError(flags(str(e))) from None
    return cfg


def _check_device(device: str) -> None:
    from .sides import missing_gpus, side

    if device != "gpu":
        return
    missing = missing_gpus()
    if missing:
        raise UsageError(f"--device gpu: no GPU for {' and '.join(missing)} here; run with --device cpu")
    # Compare like with like: torch's float32 matmuls follow the mode MLX runs in (TF32 on CUDA
    # unless MLX_ENABLE_TF32=0, which MLX reads once, before its first matmul).
    side("torch").device.set_precision_mode(side("mlx").device.precision_mode("gpu"))


def _stdout(write) -> None:
    """Print to stdout; a reader that went away (``| head``) does not stop the run or its outputs."""
    try:
        write()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        os.close(devnull)


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    run = _Run(argv)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            run.warnings = caught
            status = run.main()
        _explain(caught)
        return status
    except (UsageError, OutputError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return USAGE
    except MemoryError:
        print(f"{PROG}: error: ran out of memory {run.where()} (estimated before the run: {footprint.gb(run.estimate)}); "
              "use fewer samples (--synthetic, --data), a smaller --hidden, fewer --epochs or a larger --batch-size; "
              "nothing written", file=sys.stderr)
        return USAGE
    except _NonFinite as e:
        print(f"{PROG}: non-finite: {e}; nothing written", file=sys.stderr)
        return NON_FINITE
    except _GroupFailed as e:
        print(f"{PROG}: error: {e}; nothing written", file=sys.stderr)
        return GROUP_FAILED
    except KeyboardInterrupt:
        print(run.interrupted("interrupted"), file=sys.stderr)
        return INTERRUPTED
    except _Terminated:
        print(run.interrupted("terminated"), file=sys.stderr)
        return TERMINATED
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _warning_records(caught) -> list[dict]:
    return [{"category": w.category.__name__, "message": str(w.message), "where": f"{w.filename}:{w.lineno}"}
            for w in caught]


def _explain(caught: list[warnings.WarningMessage]) -> None:
    """Each distinct warning of the run, once, on stderr, said for what it is."""
    seen = set()
    for w in caught:
        key = (w.category.__name__, str(w.message))
        if key in seen:
            continue
        seen.add(key)
        origin = "/".join(Path(w.filename).parts[-3:])
        print(f"{PROG}: note: a {w.category.__name__} was raised during the run ({origin}:{w.lineno}: {w.message}); "
              "it is not part of the verdict, which compares the values both frameworks computed", file=sys.stderr)
