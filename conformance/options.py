"""The command line's options: parsed strictly, checked as a user expects, and every message said in
the flags the user typed (the data layer and ``RunConfig`` speak Python: ``table=``,
``val_fraction``, ``stratify=True``; ``flags`` translates them)."""

from __future__ import annotations

import argparse
import math
import re

import numpy as np

F32_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32, 1.2e-38
F32_MAX = float(np.finfo(np.float32).max)


class UsageError(Exception):
    """Bad command-line input: one line, exit status 2."""


def whole(text: str) -> int:
    """An argparse type: a whole number, also written as 1e6 or 1_000_000."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not math.isfinite(x) or x != int(x):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(x)


def number(text: str) -> float:
    """An argparse type: a real number (NaN and infinity are parsed, and refused by ``check``)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


class Once(argparse.Action):
    """Store an option's value, refusing the option given twice (the second would silently win)."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = namespace.__dict__.setdefault("_given", {})
        if self.dest in seen:
            raise argparse.ArgumentError(self, f"given twice ({seen[self.dest]!r} and {values!r}); give it once")
        seen[self.dest] = values
        setattr(namespace, self.dest, values)


def _at_least(flag: str, value, low) -> None:
    if value is not None and value < low:
        raise UsageError(f"{flag} must be at least {low}, got {value}")


def check(args) -> None:
    """Refuse, with one line naming the flag, any option value or combination that makes no sense."""
    for flag, value in (("--data", args.data), ("--target", args.target), ("--table", args.table),
                        ("--json", args.json), ("--plot", args.plot)):
        if value is not None and not value.strip():
            raise UsageError(f"{flag} is empty; give a {'column or table name' if flag in ('--target', '--table') else 'path'}"
                             f" or leave {flag} out")
    if args.features is not None:
        names = [f.strip() for f in args.features.split(",")]
        if not any(names):
            raise UsageError("--features is empty; give comma-separated column names, or leave it out for all the "
                             "columns but the target")
        if not all(names):
            raise UsageError(f"--features {args.features!r} has an empty name; give comma-separated column names")
    if args.data is not None and args.synthetic is not None:
        raise UsageError("give --data or --synthetic, not both")
    if args.data is None:
        for flag, value in (("--target", args.target), ("--features", args.features), ("--table", args.table)):
            if value is not None:
                raise UsageError(f"{flag} needs --data (it names a column or table of the file)")
    _at_least("--synthetic", args.synthetic, 1)
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--hidden", args.hidden),
                        ("--patience", args.patience), ("--every", args.every)):
        _at_least(flag, value, 1)
    _at_least("--plateau", args.plateau, 0)
    _at_least("--ranks", getattr(args, "ranks", None), 1)
    for flag, value in (("--backend", args.backend), ("--shard", args.shard)):
        if value is not None and getattr(args, "ranks", None) is None:
            raise UsageError(f"{flag} needs --ranks (it sets up the data-parallel run)")
    _at_least("--seed", args.seed, 0)
    for flag, value in (("--val-fraction", args.val_fraction), ("--test-fraction", args.test_fraction)):
        if not (0.0 <= value < 1.0):  # NaN fails too
            raise UsageError(f"{flag} must be at least 0 and below 1, got {value}")
    if args.val_fraction + args.test_fraction >= 1.0:
        raise UsageError(f"--val-fraction {args.val_fraction:g} and --test-fraction {args.test_fraction:g} add up to "
                         f"{args.val_fraction + args.test_fraction:g}, leaving nothing to train on; make their sum less than 1")
    if args.test_fraction == 0.0:
        raise UsageError("--test-fraction 0 leaves no test set, and the run ends by comparing accuracy, precision and "
                         "recall on it; give a fraction above 0 (default 0.2)")
    if args.val_fraction == 0.0:
        for flag, value in (("--patience", args.patience), ("--plateau", args.plateau)):
            if value is not None:
                raise UsageError(f"{flag} watches the validation loss, but --val-fraction 0 leaves no validation set; "
                                 f"give --val-fraction above 0 or leave {flag} out")
        if args.min_delta:
            raise UsageError("--min-delta applies to the validation loss, but --val-fraction 0 leaves no validation "
                             "set; give --val-fraction above 0 or leave --min-delta out")
    if not math.isfinite(args.lr) or args.lr <= 0:
        raise UsageError(f"--lr must be a positive finite number, got {args.lr}")
    if args.lr < F32_TINY or args.lr > F32_MAX:
        rounded = float(np.float32(args.lr))
        raise UsageError(f"--lr {args.lr:g} is {'0 or subnormal' if rounded < F32_TINY else 'infinite'} in float32, in "
                         f"which both frameworks train; give a rate between {F32_TINY:.2g} and {F32_MAX:.2g}")
    if not math.isfinite(args.min_delta) or args.min_delta < 0:
        raise UsageError(f"--min-delta must be a finite number of at least 0, got {args.min_delta}")


# Python spellings of the data layer's and RunConfig's messages, and the flags a user typed.
_FLAGS = [
    (re.compile(r"split_indices: "), ""),
    (re.compile(r"\buse stratify=False, a larger (test|val) fraction, or more data"),
     r"leave out --stratify, give a larger --\1-fraction, or use more data"),
    (re.compile(r"\buse stratify=False, a zero val/test fraction, or more data"),
     "leave out --stratify, set --val-fraction or --test-fraction to 0, or use more data"),
    (re.compile(r"\buse stratify=False\b"), "leave out --stratify"),
    (re.compile(r"\bstratify=True\b"), "--stratify"),
    (re.compile(r"\bstratify=False\b"), "no --stratify"),
    (re.compile(r"\b(val|test)_fraction="), r"--\1-fraction "),
    (re.compile(r"\b(val|test)_fraction\b"), r"--\1-fraction"),
    (re.compile(r"\bval/test fractions?\b"), "--val-fraction/--test-fraction"),
    (re.compile(r"\ba zero val/test fraction\b"), "--val-fraction 0 or --test-fraction 0"),
    (re.compile(r"\btable=(?=\S)"), "--table "),
    (re.compile(r"\b(target|features|table)=(?!\S)"), r"--\1"),
    (re.compile(r"\b(target|features|table)="), r"--\1 "),
    (re.compile(r"\bpass --(target|features|table) one of them\b"), r"give --\1 one of them"),
    (re.compile(r"\bpass --(target|features|table) from those\b"), r"give --\1 from those"),
    (re.compile(r"\bpass --table to choose one\b"), "give --table to choose one"),
    (re.compile(r"^epochs\b"), "--epochs"),
    (re.compile(r"^batch size\b"), "--batch-size"),
    (re.compile(r"^learning rate\b"), "--lr"),
    (re.compile(r"^hidden width\b"), "--hidden"),
    (re.compile(r"^patience\b"), "--patience"),
    (re.compile(r"^min_delta\b"), "--min-delta"),
]


def flags(message: str) -> str:
    """A message of the data layer or ``RunConfig.validate`` in the command line's words."""
    for pattern, replacement in _FLAGS:
        message = pattern.sub(replacement, message)
    return message
