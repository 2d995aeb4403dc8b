"""``python -m conformance.distributed.corpus``: the data-parallel verdict on six correct runs,
each ``python -m conformance --ranks 2`` with the options its row names, on the data sets of the
single-process corpus (``conformance.corpus.dataset``: scikit-learn's tables binarized as there).

Every run is a correct port, so every verdict must be CONFORMS (a DOES NOT CONFORM is a false
alarm). The table says, per run, the shards, the steps, how many quantities were judged, the
largest share of a local budget any check used, and the wall time of the whole run (both groups
under their launchers, the verdict, the perturbed torch groups).

    OMP_NUM_THREADS=1 python -m conformance.distributed.corpus [--only NAME,...] [--ranks N] [--out DIR]

writes ``DIR/dp-corpus-ranks<N>.jsonl`` (a line per run, as it finishes) and ``.md`` (the table).
``--pair``: instead, ``pair.check(..., ranks=N)`` on the ports of ``examples/`` (``PAIR_RUNS``: each
correct, so each must conform), written to ``DIR/dp-pair-ranks<N>.jsonl`` and ``.md``.
Exit status 1 if any run did not conform, 2 for an unknown run name, 4 if a group failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..corpus import dataset
from ..runner import RunConfig
from .launch import LaunchError
from .run import GroupConfig, run_data_parallel

C = RunConfig
RUNS = {  # name: (data as conformance.corpus.dataset reads it, run, --shard, the command's options)
    "document": ("document", C(), "sampler", ""),
    "synthetic 200": ("synthetic:200:2", C(), "sampler", "--synthetic 200"),
    "breast cancer contiguous (uneven)": ("cancer", C(), "contiguous", "--shard contiguous"),
    "wine minibatch 16": ("wine", C(batch_size=16), "sampler", "--batch-size 16"),
    "iris minibatch 8 contiguous": ("iris", C(batch_size=8), "contiguous", "--batch-size 8 --shard contiguous"),
    "digits minibatch 64 contiguous (uneven) 20 epochs": ("digits", C(batch_size=64, epochs=20), "contiguous",
                                                          "--batch-size 64 --shard contiguous --epochs 20"),
}


PAIR_RUNS = {  # name: (example, shard rule, odd batch: the example's batches cut to 63 rows)
    "mlp": ("mlp", "sampler", False),
    "mlp odd batches contiguous (uneven)": ("mlp", "contiguous", True),
    "mlp odd batches sampler (padded)": ("mlp", "sampler", True),
    "cnn": ("cnn", "sampler", False),
    "transformer": ("transformer", "sampler", False),
    "rnn": ("rnn", "sampler", False),
    "dp (the port's own averaging step)": ("dp", "sampler", False),
}


def run_pair(name: str, ranks: int) -> dict:
    """``pair.check`` of one example data-parallel, 10 steps, the default ensemble."""
    import importlib

    from ..pair import check

    example, rule, odd = PAIR_RUNS[name]
    spec = dict(importlib.import_module(f"examples.{example}").port())
    if odd:
        spec["batches"] = [(X[:63], y[:63]) for X, y in spec["batches"]]
    spec["steps"] = 10
    t0 = time.perf_counter()
    report = check(spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches"), **spec, ranks=ranks,
                   shard=rule)
    seconds = time.perf_counter() - t0
    local = [c for c in report.checks if c.path.startswith("5 local")]
    worst = max(local, key=lambda c: c.share, default=None)
    first = report.first_failure()
    shards = next((n.split("sharded by ", 1)[1] for n in report.notes if "sharded by " in n), "")
    return {"run": name, "data": example, "options": f"--ranks {ranks} --shard {rule}", "ranks": ranks,
            "status": report.status, "shards": shards, "steps_per_epoch": 1, "steps": report.steps,
            "quantities": len(report.checks), "local_worst_share": None if worst is None else round(float(worst.share), 4),
            "local_worst": None if worst is None else worst.path, "seconds": round(seconds, 1),
            "first_failure": first.message() if first else report.problem}


def run_one(name: str, ranks: int) -> dict:
    spec, cfg, rule, options = RUNS[name]
    t0 = time.perf_counter()
    out = run_data_parallel(dataset(spec), cfg, GroupConfig(ranks=ranks, rule=rule))
    seconds = time.perf_counter() - t0
    local = [c for c in out.checks if " local " in f" {c.path} "]
    worst = max(local, key=lambda c: c.share, default=None)
    first = out.first_failure()
    return {"run": name, "data": spec, "options": options, "ranks": ranks, "status": out.status,
            "shards": f"{rule} {out.plan['sizes']}" + (", uneven" if out.plan["uneven"] else ""),
            "steps_per_epoch": out.plan["steps_per_epoch"], "steps": int(len(out.losses["torch"])),
            "quantities": len(out.checks),
            "local_worst_share": None if worst is None else round(float(worst.share), 4),
            "local_worst": None if worst is None else worst.path, "seconds": round(seconds, 1),
            "first_failure": first.message() if first else None}


def table(rows: list[dict]) -> str:
    lines = ["| run | options | shards (rows a rank) | steps an epoch | steps | quantities | verdict | "
             "local worst share | time (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | `{r['options'] or '(none)'}` | {r['shards']} | {r['steps_per_epoch']} | "
                     f"{r['steps']} | {r['quantities']} | {r['status']} | {r['local_worst_share']} | {r['seconds']} |")
    bad = [r for r in rows if r["status"] != "conforms"]
    lines += ["", f"{len(rows) - len(bad)} of {len(rows)} runs conform" +
              (": " + "; ".join(f"{r['run']}: {r['first_failure']}" for r in bad) if bad else ".")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.distributed.corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="comma-separated run names (default: all of RUNS, or of PAIR_RUNS with --pair)")
    p.add_argument("--ranks", type=int, default=2, help="processes a framework (default 2)")
    p.add_argument("--out", default="results/distributed")
    p.add_argument("--pair", action="store_true", help="pair.check(..., ranks=N) on the examples instead")
    args = p.parse_args(argv)
    runs, run, prefix = (PAIR_RUNS, run_pair, "dp-pair") if args.pair else (RUNS, run_one, "dp-corpus")
    names = args.only.split(",") if args.only else list(runs)
    unknown = [n for n in names if n not in runs]
    if unknown or args.ranks < 1:
        print(f"python -m conformance.distributed.corpus: error: " + (
            f"unknown run(s) {unknown}; see RUNS in conformance/distributed/corpus.py" if unknown
            else f"--ranks {args.ranks}: give a whole number >= 1"), file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{prefix}-ranks{args.ranks}"
    rows = []
    with open(f"{stem}.jsonl.tmp", "w") as log:
        for name in names:
            try:
                row = run(name, args.ranks)
            except (LaunchError, ValueError) as e:  # a group that failed; pair's PairError (one line)
                print(f"python -m conformance.distributed.corpus: {name}: {e}", file=sys.stderr)
                return 4
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(f"{row['status']:>17}  {row['seconds']:7.1f} s  {row['steps']:5d} steps  {row['shards']}  {name}",
                  flush=True)
    Path(f"{stem}.jsonl.tmp").replace(f"{stem}.jsonl")
    Path(f"{stem}.md").write_text(table(rows))
    print(table(rows))
    return 0 if all(r["status"] == "conforms" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
