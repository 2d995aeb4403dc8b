"""``python -m benchmarks.verdict_cost``: what the verdict costs, as a multiple of plain training.

For the document's data and the synthetic problem at 65 536 samples (each 100
full-batch epochs), hidden 10, on one device:

- *plain*: both pipelines' own runs, MLX's then torch's (``runner.run_side``), what training them
  side by side costs without any check;
- *local*: ``run_both`` without the ensemble: the reference's run with the local checks at every
  step (MLX restarted from torch's state, the bounds, the anchors, per epoch the validation check),
  MLX's free run, and the static, decision and evaluation checks;
- *local + ensemble*: ``run_both`` as the command line runs it (six perturbed torch runs).

Each figure is the median of ``--repeats`` runs after one warm-up (MLX compiles its step per
shape); ratios are taken within one process. Timings are of the whole calls, start to end.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from conformance.data import document_dataset, synthetic_dataset
from conformance.runner import RunConfig, prepare, run_both, run_side

SIZES = {"document (5 samples, 100 epochs)": (document_dataset, RunConfig(epochs=100)),
         "synthetic 65 536 (100 epochs)": (lambda: synthetic_dataset(65536, seed=0), RunConfig(epochs=100))}


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.verdict_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    print("| size | plain (s) | local checks (s) | x plain | local + ensemble (s) | x plain |\n|---|---|---|---|---|---|")
    for label, (make, cfg) in SIZES.items():
        cfg = RunConfig(**{**vars(cfg), "device": args.device})
        local_cfg = RunConfig(**{**vars(cfg), "ensemble": 0})
        ds = make()
        splits, w = prepare(ds, cfg)
        run_both(ds, local_cfg)  # warm-up: imports, MLX's compiled steps
        plain = median_time(lambda: (run_side("mlx", splits, w, cfg), run_side("torch", splits, w, cfg)), args.repeats)
        local = median_time(lambda: run_both(ds, local_cfg), args.repeats)
        full = median_time(lambda: run_both(ds, cfg), max(1, args.repeats // 2))
        print(f"| {label} | {plain:.3f} | {local:.3f} | {local / plain:.2f} | {full:.3f} | {full / plain:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
