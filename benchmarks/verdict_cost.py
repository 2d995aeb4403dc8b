"""``python -m benchmarks.verdict_cost``: what the verdict costs, as a multiple of plain training.

Two front ends of the one verdict core, each against plain training of both sides for the same
steps on the same device:

- ``--doc``: the document's command (``runner.run_both``) on the document's data and the synthetic
  problem at 65 536 samples (each 100 full-batch epochs), hidden 10. *plain*: both pipelines' own
  runs (``runner.run_side``); *local*: ``run_both`` without the ensemble (local checks at every
  step, anchors, validation, static, decision and evaluation checks); *local + ensemble*:
  ``run_both`` as the command line runs it (six perturbed torch runs).
- ``--pair``: ``pair.check`` on the ports of ``examples/`` (``--examples``), ``--steps`` steps with
  the default ensemble. *plain*: the torch model trained for those steps on the example's batches
  (``zero_grad``, ``backward``, ``step``, the loss read) and the MLX port likewise (``nn.value_and_grad``,
  ``optimizer.update``, one ``mx.eval``, the loss read), uncompiled as ``pair.check``'s default,
  the batches converted before the clock starts. The check's time is split into its parts
  (``conformance.pair.parts``: each part's own time, the parts nested in it excluded, so the
  parts add up to the total) and each part is printed as a multiple of plain.

Each figure is the median of ``--repeats`` runs after one warm-up (imports, MLX's compiled steps,
torch's first calls); all ratios come from one process. The load average is printed with each
table: the machine may be shared.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time

import numpy as np

PAIR_EXAMPLES = ("mlp", "cnn", "transformer", "rnn", "bn")
PARTS = ("layer capture", "reference steps (torch's training)", "local checks", "float64 anchor", "tie arbitration",
         "measured rounding (torch's reruns)", "measured rounding (MLX's reruns)", "free run (MLX's own run; judging)",
         "ensemble (perturbed torch runs)", "other (validation, mapping, bookkeeping)")


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def doc_table(device: str, repeats: int, sizes: list[str]) -> dict:
    """Prints the document's command's cost per size on ``device``; returns {size: (plain, local, full)} in seconds."""
    from conformance.data import document_dataset, synthetic_dataset
    from conformance.runner import RunConfig, prepare, run_both, run_side

    table = {"document": ("document (5 samples, 100 epochs)", document_dataset, RunConfig(epochs=100)),
             "synthetic": ("synthetic 65 536 (100 epochs)", lambda: synthetic_dataset(65536, seed=0),
                           RunConfig(epochs=100))}
    print(f"\nThe document's command (run_both), {device}, load average {load()}:\n")
    print("| size | plain (s) | local checks (s) | x plain | local + ensemble (s) | x plain |\n|---|---|---|---|---|---|")
    out = {}
    for key in sizes:
        label, make, cfg = table[key]
        cfg = RunConfig(**{**vars(cfg), "device": device})
        local_cfg = RunConfig(**{**vars(cfg), "ensemble": 0})
        ds = make()
        splits, w = prepare(ds, cfg)
        run_both(ds, local_cfg)  # warm-up: imports, MLX's compiled steps
        plain = median_time(lambda: (run_side("mlx", splits, w, cfg), run_side("torch", splits, w, cfg)), repeats)
        local = median_time(lambda: run_both(ds, local_cfg), repeats)
        full = median_time(lambda: run_both(ds, cfg), max(1, repeats // 2))
        print(f"| {label} | {plain:.3f} | {local:.3f} | {local / plain:.2f} | {full:.3f} | {full / plain:.2f} |", flush=True)
        out[label] = (plain, local, full)
    return out


def device_ratios(by_device: dict) -> None:
    """Prints the GPU's seconds over the CPU's for each size and column, from the tables of one run."""
    cpu, gpu = by_device["cpu"], by_device["gpu"]
    print("\nThe document's command, GPU seconds / CPU seconds (one process, both tables above):\n")
    print("| size | plain | local checks | local + ensemble |\n|---|---|---|---|")
    for label in cpu:
        print(f"| {label} | " + " | ".join(f"{g / c:.2f}" for g, c in zip(gpu[label], cpu[label])) + " |", flush=True)


def plain_training(spec: dict, steps: int, device: str) -> tuple[float, float]:
    """Seconds of ``steps`` plain training steps of the torch model and of the MLX port (copies of both)."""
    import copy

    import mlx.core as mx
    import mlx.nn as nn
    import torch

    from conformance.pair import validate
    from conformance.pair.losses import resolve

    loss = resolve(spec.get("loss", "cross_entropy"), spec.get("output"))
    batches = validate.batches(loss.prepare(spec["batches"]) if hasattr(loss, "prepare") else spec["batches"])
    opt_spec, mlx_opt = validate.optimizer(spec.get("optimizer"))
    inputs = spec.get("inputs") or (lambda x: x)
    tdev = torch.device("cpu" if device == "cpu" else "cuda" if torch.cuda.is_available() else "mps")
    model = copy.deepcopy(spec["torch_model"]).to(tdev).train()
    opt = opt_spec.make_torch(model.parameters())

    def t_arr(a):
        t = torch.as_tensor(np.asarray(a), device=tdev)
        return t.long() if t.dtype in (torch.int32, torch.int64) else t.float()

    def m_arr(a, x=False):
        a = np.asarray(inputs(np.asarray(a)) if x else a)
        return mx.array(a.astype(np.int32) if a.dtype.kind in "iu" else a.astype(np.float32))

    with mx.stream(mx.gpu if device == "gpu" else mx.cpu):
        t_batches = [(t_arr(X), t_arr(y)) for X, y in batches]
        m_batches = [(m_arr(X, True), m_arr(y)) for X, y in batches]
        mlx_model = spec["mlx_model"]
        mlx_model.train()
        m_opt = copy.deepcopy(mlx_opt) if mlx_opt is not None else opt_spec.make_mlx()
        m_opt.init(mlx_model.trainable_parameters())
        grad = nn.value_and_grad(mlx_model, loss.mlx)

        def run_torch():
            for k in range(steps):
                X, y = t_batches[k % len(t_batches)]
                opt.zero_grad()
                value = loss.torch(model, X, y)
                value.backward()
                opt.step()
                float(value.detach().cpu())

        def run_mlx():
            for k in range(steps):
                X, y = m_batches[k % len(m_batches)]
                value, g = grad(mlx_model, X, y)
                m_opt.update(mlx_model, g)
                mx.eval(value, mlx_model.parameters(), m_opt.state)
                value.item()

        run_torch(), run_mlx()  # warm-up
        return median_time(run_torch, 3), median_time(run_mlx, 3)


def pair_parts(name: str, steps: int, device: str, ensemble: int | None) -> tuple[dict, bool]:
    """One ``pair.check`` of example ``name``, split into its parts; and whether it conformed."""
    from conformance import pair
    from conformance.pair import parts

    spec = dict(importlib.import_module(f"examples.{name}").port())
    mlx_model, torch_model, batches = spec.pop("mlx_model"), spec.pop("torch_model"), spec.pop("batches")
    with parts.recording() as totals:
        report = pair.check(mlx_model, torch_model, batches, **spec, steps=steps, device=device, ensemble=ensemble)
    return totals, report.passed


def part_heads(all_totals: list[dict]) -> list[str]:
    """The parts (``PARTS``, in their order) that any of the recordings has."""
    return [p for p in PARTS if any(p in t for t in all_totals)]


def part_cells(totals: dict, plain: float, heads: list[str]) -> list[str]:
    """Each part's seconds and that as a multiple of ``plain``, as table cells."""
    return [f"{totals.get(p, 0.0):.2f} ({totals.get(p, 0.0) / plain:.1f}x)" for p in heads]


def evaluations(ensemble: int | None) -> tuple[int, int]:
    """The forward-and-backward passes ``pair.check`` makes a step, per side, by its method: torch's
    own step, its ``MEASURED.reruns`` reruns and one step of each ensemble member (its float64 anchor
    and tie arbitration not counted); MLX's step from torch's state, its gradients there, the centre
    and reruns of its measured rounding (one batched call or several) and its free run's step."""
    from conformance.tolerances import FREE_RUNNING, MEASURED

    members = FREE_RUNNING.members if ensemble is None else ensemble
    return 1 + MEASURED.reruns + members, 4 + MEASURED.reruns


def evaluation_floor(t_torch: float, t_mlx: float, ensemble: int | None) -> float:
    """The check's cost as a multiple of plain training if each of its passes cost what a plain
    training step costs on that side and nothing else cost anything: the method's own floor."""
    n_torch, n_mlx = evaluations(ensemble)
    return (n_torch * t_torch + n_mlx * t_mlx) / (t_torch + t_mlx)


def pair_table(device: str, repeats: int, names: list[str], steps: int, ensemble: int | None) -> dict:
    """Prints the cost of ``pair.check`` per example and part; returns {example: (plain, totals)}."""
    out = {}
    for name in names:
        pair_parts(name, min(steps, 2), device, 0)  # warm-up: imports, first calls
        runs = sorted((pair_parts(name, steps, device, ensemble) for _ in range(repeats)), key=lambda r: r[0]["total"])
        totals, passed = runs[len(runs) // 2]
        t_torch, t_mlx = plain_training(importlib.import_module(f"examples.{name}").port(), steps, device)
        out[name] = (t_torch + t_mlx, totals, passed, t_torch, t_mlx)
    heads = part_heads([o[1] for o in out.values()])
    print(f"\npair.check, {steps} steps, ensemble {'default' if ensemble is None else ensemble}, {device}, "
          f"load average {load()} (cells: seconds, and x plain training of both sides):\n")
    n_torch, n_mlx = evaluations(ensemble)
    print(f"(evaluation floor: the {n_torch} torch and {n_mlx} MLX forward-and-backward passes a step of the check's "
          "method, each at its side's plain training step's cost, as a multiple of plain)\n")
    print("| example | plain torch (s) | plain MLX (s) | pair.check (s) | x plain | evaluation floor (x plain) | "
          + " | ".join(heads) + " |")
    print("|---" * (6 + len(heads)) + "|")
    for name, (plain, totals, passed, t_torch, t_mlx) in out.items():
        cells = part_cells(totals, plain, heads)
        flag = "" if passed else " (did not conform)"
        print(f"| {name}{flag} | {t_torch:.3f} | {t_mlx:.3f} | {totals['total']:.2f} | **{totals['total'] / plain:.1f}** | "
              f"{evaluation_floor(t_torch, t_mlx, ensemble):.1f} | " + " | ".join(cells) + " |", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.verdict_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, gpu or cpu,gpu (--doc then prints GPU / CPU)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--doc", action="store_true", help="the document's command (default: both --doc and --pair)")
    p.add_argument("--pair", action="store_true", help="pair.check on the examples")
    p.add_argument("--sizes", default="document,synthetic", help="--doc's sizes: document,synthetic")
    p.add_argument("--examples", default=",".join(PAIR_EXAMPLES), help="--pair's examples (examples/*.py)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--ensemble", type=int, default=None, help="pair.check's ensemble (default: its own, 6)")
    args = p.parse_args(argv)
    from conformance.sides import torch_cudnn_first

    torch_cudnn_first()  # before the examples import MLX: else torch's LSTM refuses MLX's older cuDNN on CUDA
    devices = args.device.split(",")
    if not devices or any(d not in ("cpu", "gpu") for d in devices):
        p.error(f"--device: {args.device!r}: give cpu, gpu or cpu,gpu")
    both = not (args.doc or args.pair)
    if args.doc or both:
        by_device = {d: doc_table(d, args.repeats, args.sizes.split(",")) for d in devices}
        if set(by_device) == {"cpu", "gpu"}:
            device_ratios(by_device)
    if args.pair or both:
        for d in devices:
            pair_table(d, args.repeats, args.examples.split(","), args.steps, args.ensemble)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
