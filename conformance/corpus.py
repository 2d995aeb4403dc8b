"""``python -m conformance.corpus``: the verdict on a corpus of real runs that it was not tuned on.

Each run is a table (scikit-learn's breast cancer, wine, digits and iris, binarized where they
have more classes; moons, circles and make_classification; the seeded synthetic problem; the
document's five samples) with a training setting (hidden 8 to 1 024, full batch and minibatch,
lr 1e-3 to 1e-2, 100 to 6 000 steps, early stopping and the plateau schedule on and off). Every
run here is a correct port, so every verdict must be CONFORMS: a DOES NOT CONFORM is a false
alarm of the tool. The table says, per run, how many steps were checked locally, the largest
share of a local budget any check used, whether and from which step the run was sensitive to
rounding, and the time.

    python -m conformance.corpus [--device cpu|gpu] [--only NAME,...] [--quick] [--out DIR]

writes ``DIR/corpus-<device>-<mode>.jsonl`` (a line per run, as it finishes) and ``.md`` (the
table). ``--quick`` runs the ten cheapest. Exit status 1 if any run did not conform.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


from .data import Dataset, document_dataset, synthetic_dataset
from .runner import RunConfig, run_both


def _sk(name: str) -> Dataset:
    from sklearn import datasets as D

    if name == "cancer":
        d = D.load_breast_cancer()
        return Dataset(d.data, d.target, tuple(d.feature_names), "malignant", "sklearn breast_cancer")
    if name == "wine":  # class 0 against the rest
        d = D.load_wine()
        return Dataset(d.data, (d.target == 0).astype(float), tuple(d.feature_names), "class_0", "sklearn wine (0 vs rest)")
    if name == "digits":  # 0-4 against 5-9
        d = D.load_digits()
        return Dataset(d.data, (d.target >= 5).astype(float), tuple(f"px{i}" for i in range(64)), "ge5", "sklearn digits (>= 5)")
    if name == "iris":  # versicolor against the rest: not linearly separable
        d = D.load_iris()
        return Dataset(d.data, (d.target == 1).astype(float), tuple(d.feature_names), "versicolor", "sklearn iris (versicolor)")
    kind, n, noise = name.split(":")
    n, noise = int(n), float(noise)
    if kind == "moons":
        X, y = D.make_moons(n, noise=noise, random_state=0)
    elif kind == "circles":
        X, y = D.make_circles(n, noise=noise, factor=0.5, random_state=0)
    else:
        X, y = D.make_classification(n, n_features=int(noise), n_informative=max(2, int(noise) // 3), random_state=0)
    return Dataset(X, y.astype(float), tuple(f"x{i}" for i in range(X.shape[1])), "y", f"sklearn {kind} (n={n})")


C = RunConfig
RUNS = {  # name: (data, config)
    "document": ("document", C()),
    "document lr 1e-2 patience 5": ("document", C(learning_rate=1e-2, patience=5)),
    "cancer full batch": ("cancer", C()),
    "cancer mb32 patience 5 plateau 3 stratified": ("cancer", C(batch_size=32, patience=5, plateau={"patience": 3}, stratify=True)),
    "cancer h256 mb32 300 epochs": ("cancer", C(hidden=256, batch_size=32, epochs=300)),
    "cancer h64 lr 1e-2 500 epochs": ("cancer", C(hidden=64, learning_rate=1e-2, epochs=500)),
    "cancer h1024 full batch": ("cancer", C(hidden=1024)),
    "cancer mb64 lr 1e-2 plateau 2 uncompiled": ("cancer", C(batch_size=64, learning_rate=1e-2, plateau={"patience": 2}, compiled=False)),
    "wine mb16 lr 5e-3 200 epochs plateau 5": ("wine", C(batch_size=16, learning_rate=5e-3, epochs=200, plateau={"patience": 5})),
    "wine h128 lr 1e-2 300 epochs": ("wine", C(hidden=128, learning_rate=1e-2, epochs=300)),
    "wine lr 1e-2 patience 3 min_delta 1e-3": ("wine", C(learning_rate=1e-2, patience=3, min_delta=1e-3)),
    "digits h64 mb64 30 epochs": ("digits", C(hidden=64, batch_size=64, epochs=30)),
    "digits h256 mb128 lr 5e-3 patience 3": ("digits", C(hidden=256, batch_size=128, learning_rate=5e-3, patience=3)),
    "digits h32 lr 1e-2 200 epochs": ("digits", C(hidden=32, learning_rate=1e-2, epochs=200)),
    "moons 400": ("moons:400:0.2", C()),
    "moons 400 h32 mb8 lr 1e-2": ("moons:400:0.2", C(hidden=32, batch_size=8, learning_rate=1e-2)),
    "moons 1000 h1024 200 epochs": ("moons:1000:0.2", C(hidden=1024, epochs=200)),
    "moons 400 mb8 200 epochs": ("moons:400:0.2", C(batch_size=8, epochs=200)),
    "moons 1000 noise .3 mb100 lr 1e-2 200 epochs": ("moons:1000:0.3", C(batch_size=100, learning_rate=1e-2, epochs=200)),
    "circles h16 lr 1e-2 1000 epochs": ("circles:400:0.1", C(hidden=16, learning_rate=1e-2, epochs=1000)),
    "circles h64 mb32 lr 5e-3 patience 10 plateau 3": ("circles:400:0.1", C(hidden=64, batch_size=32, learning_rate=5e-3, patience=10, plateau={"patience": 3})),
    "circles h512 300 epochs": ("circles:400:0.1", C(hidden=512, epochs=300)),
    "classification 1000x10 h128 mb50 50 epochs": ("classification:1000:10", C(hidden=128, batch_size=50, epochs=50)),
    "classification 2000x20 h256 mb128 50 epochs": ("classification:2000:20", C(hidden=256, batch_size=128, epochs=50)),
    "iris lr 1e-2 1000 epochs": ("iris", C(learning_rate=1e-2, epochs=1000)),
    "iris h32 mb16 lr 5e-3 300 epochs patience 20": ("iris", C(hidden=32, batch_size=16, learning_rate=5e-3, epochs=300, patience=20)),
    "synthetic 4096 h32 mb256 30 epochs": ("synthetic:4096:3", C(hidden=32, batch_size=256, epochs=30)),
    "synthetic 10000 lr 1e-2 300 epochs": ("synthetic:10000:2", C(learning_rate=1e-2, epochs=300)),
    "synthetic 256 h1024 mb32 lr 1e-2 40 epochs": ("synthetic:256:2", C(hidden=1024, batch_size=32, learning_rate=1e-2, epochs=40)),
    "synthetic 64 h8 mb4 lr 1e-2 500 epochs": ("synthetic:64:2", C(hidden=8, batch_size=4, learning_rate=1e-2, epochs=500)),
    "synthetic 2000 d8 h64 500 epochs uncompiled": ("synthetic:2000:8", C(hidden=64, epochs=500, compiled=False)),
    "synthetic 20000 h16 mb1000 lr 1e-2 20 epochs": ("synthetic:20000:2", C(hidden=16, batch_size=1000, learning_rate=1e-2, epochs=20)),
}
QUICK = ("document", "document lr 1e-2 patience 5", "cancer full batch", "cancer mb32 patience 5 plateau 3 stratified",
         "wine lr 1e-2 patience 3 min_delta 1e-3", "moons 400", "iris lr 1e-2 1000 epochs", "digits h64 mb64 30 epochs",
         "synthetic 64 h8 mb4 lr 1e-2 500 epochs", "circles h64 mb32 lr 5e-3 patience 10 plateau 3")
GPU = ("document", "cancer mb32 patience 5 plateau 3 stratified", "cancer h256 mb32 300 epochs", "cancer h1024 full batch",
       "wine mb16 lr 5e-3 200 epochs plateau 5", "digits h256 mb128 lr 5e-3 patience 3", "moons 400 h32 mb8 lr 1e-2",
       "moons 1000 h1024 200 epochs", "circles h512 300 epochs", "iris lr 1e-2 1000 epochs",
       "synthetic 256 h1024 mb32 lr 1e-2 40 epochs", "synthetic 20000 h16 mb1000 lr 1e-2 20 epochs")
GPU_EXTRA = {  # sizes the CPU here cannot afford
    "synthetic 65536 h1024 100 epochs": ("synthetic:65536:2", C(hidden=1024, epochs=100)),
    "cancer h256 mb32 300 epochs lr 1e-2": ("cancer", C(hidden=256, batch_size=32, epochs=300, learning_rate=1e-2)),
    "synthetic 65536 h256 mb4096 lr 1e-2 50 epochs": ("synthetic:65536:2", C(hidden=256, batch_size=4096, learning_rate=1e-2, epochs=50)),
}


def dataset(spec: str) -> Dataset:
    if spec == "document":
        return document_dataset()
    if spec.startswith("synthetic:"):
        _, n, d = spec.split(":")
        return synthetic_dataset(int(n), n_features=int(d), seed=0)
    return _sk(spec)


def run_one(name: str, spec: str, cfg: RunConfig, device: str) -> dict:
    cfg = RunConfig(**{**vars(cfg), "device": device})
    t0 = time.perf_counter()
    out = run_both(dataset(spec), cfg)
    seconds = time.perf_counter() - t0
    checks = out.checks
    local = [c for c in checks if " local " in f" {c.path} "]
    worst = max(local, key=lambda c: c.share, default=None)
    first = out.first_failure() if not out.non_finite else None
    return {"run": name, "data": spec, "device": device, "modes": out.modes, "status": out.status,
            "parts": out.verdict()["parts"], "steps": int(len(out.losses.get("torch", []))),
            "local_worst_share": None if worst is None else round(float(worst.share), 4),
            "local_worst": None if worst is None else worst.path,
            "chaos_step": out.free.chaos_step, "seconds": round(seconds, 1),
            "first_failure": first.message() if first else None,
            "non_finite": [str(e) for e in out.non_finite],
            "config": {k: v for k, v in vars(cfg).items() if v != getattr(RunConfig(), k)}}


def table(rows: list[dict]) -> str:
    lines = ["| run | steps | verdict | local worst share | sensitive from step | time (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['steps']} | {r['status']} | {r['local_worst_share']} | "
                     f"{r['chaos_step'] or '-'} | {r['seconds']} |")
    bad = [r for r in rows if r["status"] != "conforms"]
    lines.append("")
    lines.append(f"{len(rows) - len(bad)} of {len(rows)} runs conform" + (": " + "; ".join(
        f"{r['run']}: {r['first_failure'] or r['non_finite']}" for r in bad) if bad else "."))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    p.add_argument("--only", help="comma-separated run names")
    p.add_argument("--quick", action="store_true", help="the ten cheapest runs")
    p.add_argument("--gpu-extra", action="store_true", help="add the large runs meant for a GPU")
    p.add_argument("--gpu-subset", action="store_true", help="the runs chosen for a GPU session (GPU), plus --gpu-extra's")
    p.add_argument("--no-compile", action="store_true", help="run every MLX step uncompiled (no compile time)")
    p.add_argument("--out", default="results/corpus")
    args = p.parse_args(argv)
    runs = dict(RUNS, **(GPU_EXTRA if args.gpu_extra or args.gpu_subset else {}))
    if args.gpu_subset:
        names = list(GPU) + list(GPU_EXTRA)
    else:
        names = args.only.split(",") if args.only else list(QUICK if args.quick else runs)
    unknown = [n for n in names if n not in runs]
    if unknown:
        print(f"python -m conformance.corpus: error: unknown run(s) {unknown}; see RUNS in conformance/corpus.py", file=sys.stderr)
        return 2
    from .sides import precision_mode, side, torch_cudnn_first

    torch_cudnn_first()
    if args.device == "gpu":  # torch's float32 matmuls follow MLX's mode, as the command line does
        side("torch").device.set_precision_mode(side("mlx").device.precision_mode("gpu"))
    if args.no_compile:
        runs = {k: (s, RunConfig(**{**vars(c), "compiled": False})) for k, (s, c) in runs.items()}
    mode = precision_mode(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"corpus-{args.device}-{mode}{'-quick' if args.quick else ''}"
    rows = []
    with open(f"{stem}.jsonl", "w") as log:
        for name in names:
            spec, cfg = runs[name]
            row = run_one(name, spec, cfg, args.device)
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(f"{row['status']:>17}  {row['seconds']:7.1f} s  {row['steps']:6d} steps  worst {row['local_worst_share']}"
                  f"  {name}", flush=True)
    Path(f"{stem}.md").write_text(table(rows))
    print(table(rows))
    return 0 if all(r["status"] == "conforms" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
