"""``python -m benchmarks.hf_cost``: what ``pair.check`` costs on transformers models and their
mlx-lm ports, as a multiple of plain training of both sides for the same steps.

For each architecture of ``conformance.pair.hf.zoo`` (``--only`` a comma list), at one size
(``--size``: ``tiny`` is the zoo's own, hidden 64 and 2 layers; ``small`` hidden 256 and 4 layers,
vocab 1 024), one batch of 4 x 16 tokens, ``--steps`` of AdamW (lr 1e-3, weight decay 0.01):

- *plain*: each side trained alone, no check: transformers' model with torch's AdamW, then the
  mlx-lm model with MLX's (``nn.value_and_grad``, ``optimizer.update``, one ``mx.eval`` a step);
- *local*: ``pair.check(..., ensemble=0)``: the transfer, every layer on the first batch, the local
  checks at every step (MLX restarted from torch's state, the measured rounding, the anchors) and
  MLX's free run;
- *check*: ``pair.check`` as the matrix runs it (``--ensemble`` perturbed torch runs, default 6).

``--parts`` adds a second table: the *check* call split into its parts
(``conformance.pair.parts``, as ``benchmarks.verdict_cost --pair`` splits the examples' checks),
each part's seconds and that as a multiple of plain.

Each figure is one run of its call, after an untimed warm-up of the architecture (one plain step
and a one-step check: imports, the first allocations), in one process, models built outside the
timing; ``--lora`` adds each architecture's LoRA fine-tuning (peft
against mlx-lm's ``LoRALinear``, r 4, on the attention's query and value projections). The load
average is printed before and after: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

STEPS, LR, WD = 10, 1e-3, 0.01
SMALL = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, vocab_size=1024)
SIZES = {"tiny": {}, "small": SMALL}
LORA_KEYS = {"gpt2": ["attn.c_attn"], "gpt_neox": ["attention.query_key_value"], "phi3": ["self_attn.qkv_proj"]}


def overrides(arch: str, size: str) -> dict:
    """The zoo description's keys for a size (GPT-2 names them its own way; GPT-NeoX's MLP is 4x)."""
    o = dict(SIZES[size])
    if not o:
        return {}
    if arch == "gpt2":
        return dict(n_embd=o["hidden_size"], n_layer=o["num_hidden_layers"], vocab_size=o["vocab_size"])
    if arch == "gpt_neox":
        o["intermediate_size"] = 4 * o["hidden_size"]
    return o


def plain(mlx_model, torch_model, tokens, steps: int) -> float:
    """Seconds for ``steps`` of AdamW on each side alone, added (the matrix's own measurement)."""
    from conformance.pair.hf.matrix import plain_training

    return plain_training(mlx_model, torch_model, tokens, steps, LR, WD)


def build(arch: str, size: str, lora: bool):
    from conformance.pair.hf import zoo

    mlx_model, torch_model = zoo.build(arch, **overrides(arch, size))
    if not lora:
        return mlx_model, torch_model
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from peft import LoraConfig, get_peft_model

    keys = LORA_KEYS.get(arch, ["self_attn.q_proj", "self_attn.v_proj"])
    torch_model = get_peft_model(torch_model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                         target_modules=[k.split(".")[-1] for k in keys],
                                                         fan_in_fan_out=arch == "gpt2"))
    mlx_model.freeze()
    linear_to_lora_layers(mlx_model, len(mlx_model.layers), {"rank": 4, "scale": 2.0, "dropout": 0.0, "keys": keys})
    return mlx_model, torch_model


def measure(arch: str, size: str, steps: int, ensemble: int, lora: bool = False) -> dict:
    from conformance import pair
    from conformance.pair import parts
    from conformance.pair.hf import zoo

    tokens = zoo.tokens(vocab=SIZES[size].get("vocab_size", 128))
    plain(*build(arch, size, lora), tokens, 1)  # warm-up of both paths: imports, first allocations
    pair.check(*build(arch, size, lora), tokens, loss="causal_lm", optimizer=pair.AdamW(LR, weight_decay=WD), steps=1,
               ensemble=0)
    base = plain(*build(arch, size, lora), tokens, steps)
    timed = {}
    for name, ens in (("local", 0), ("check", ensemble)):
        models = build(arch, size, lora)  # outside the timing
        start = time.perf_counter()
        with parts.recording() as totals:
            report = pair.check(*models, tokens, loss="causal_lm", optimizer=pair.AdamW(LR, weight_decay=WD),
                                steps=steps, ensemble=ens)
        timed[name] = time.perf_counter() - start
    return dict(arch=arch + (" + LoRA" if lora else ""), plain=base, local=timed["local"], check=timed["check"],
                verdict=report.status, parts=totals)


def parts_table(rows: list[dict]) -> None:
    """The *check* calls of ``rows`` split into their parts, as multiples of plain training."""
    from .verdict_cost import part_cells, part_heads

    heads = part_heads([r["parts"] for r in rows])
    print("\nThe check's parts (cells: seconds, and x plain training of both sides):\n")
    print("| architecture | plain (s) | check (s) | x plain | " + " | ".join(heads) + " |\n" + "|---" * (4 + len(heads)) + "|")
    for r in rows:
        print(f"| {r['arch']} | {r['plain']:.3f} | {r['check']:.3f} | {r['check'] / r['plain']:.1f} | "
              + " | ".join(part_cells(r["parts"], r["plain"], heads)) + " |", flush=True)


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    from conformance.pair.hf import zoo

    p = argparse.ArgumentParser(prog="python -m benchmarks.hf_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="", help=f"comma list of {','.join(zoo.ARCHITECTURES)} (default: all)")
    p.add_argument("--size", default="tiny", choices=tuple(SIZES))
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--ensemble", type=int, default=6)
    p.add_argument("--lora", action="store_true", help="also each architecture's LoRA fine-tuning")
    p.add_argument("--parts", action="store_true", help="also the check's time split into its parts")
    a = p.parse_args(argv)
    archs = [x for x in a.only.split(",") if x] or list(zoo.ARCHITECTURES)
    unknown = [x for x in archs if x not in zoo.ARCHITECTURES]
    if unknown:
        print(f"--only: unknown architecture {unknown[0]!r}; known: {', '.join(zoo.ARCHITECTURES)}", file=sys.stderr)
        return 2
    if a.steps < 1 or a.ensemble < 0:
        print(f"--steps {a.steps} / --ensemble {a.ensemble}: give steps >= 1 and ensemble >= 0", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"size {a.size}, {a.steps} AdamW steps, ensemble {a.ensemble}, {os.cpu_count()} CPUs, {_load()} (before)")
    print("| architecture | verdict | plain (s) | local checks (s) | x plain | check (s) | x plain |\n"
          "|---|---|---|---|---|---|---|")
    rows = []
    for arch in archs:
        for lora in ((False, True) if a.lora else (False,)):
            r = measure(arch, a.size, a.steps, a.ensemble, lora)
            rows.append(r)
            print(f"| {r['arch']} | {r['verdict']} | {r['plain']:.3f} | {r['local']:.3f} | {r['local'] / r['plain']:.1f} "
                  f"| {r['check']:.3f} | {r['check'] / r['plain']:.1f} |", flush=True)
    if a.parts:
        parts_table(rows)
    print(_load() + " (after)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
