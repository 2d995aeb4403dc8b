"""The architecture matrix: every pair of ``zoo.ARCHITECTURES`` checked forward and through ten
steps of AdamW (full fine-tuning, free running judged), and through the checkpoint path
(``checkpoint``: save_pretrained, mlx-lm's load_model); the table goes to docs/ARCHITECTURES.md.

    python -m conformance.pair.hf.matrix [--out docs/ARCHITECTURES.md] [--only llama,gpt2]

Columns: forward (the weight transfer and every layer's output on the first batch), training (the
local steps and the free run), the first difference (the first failing check, or why the pair is
not comparable) and the guide entry (docs/ARCHITECTURES.md's findings) that explains it; the cost
of ``pair.check`` against plain training of both sides for the same steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

STEPS = 10
FINDINGS = {  # first difference -> the finding of docs/ARCHITECTURES.md that explains it
    "mlp.down_proj": "exact-gelu", "mlp.c_proj": "exact-gelu", "mlp.dense_4h_to_h": "tanh-gelu",
    "rope frequencies differ": "rope-parameters", "n_ctx": "gpt2-n_ctx", "rotary_emb_base": "gpt2-n_ctx",
    "dense_h_to_4h": "neox-intermediate",
}
BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"


def _versions() -> str:
    import mlx.core as mx
    import mlx_lm
    import torch
    import transformers

    return f"mlx {mx.__version__}, mlx-lm {mlx_lm.__version__}, torch {torch.__version__}, transformers " \
           f"{transformers.__version__}"


def plain_training(mlx_model, torch_model, tokens, steps: int = STEPS, lr: float = 1e-3, wd: float = 0.01) -> float:
    """Seconds for ``steps`` of AdamW on each side alone (no checks; torch's trainable parameters
    only, as MLX's optimizer updates only its trainable ones), added."""
    import copy

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    import torch

    from .loss import causal_lm

    loss = causal_lm()
    t = copy.deepcopy(torch_model).train()
    opt = torch.optim.AdamW([p for p in t.parameters() if p.requires_grad], lr=lr, weight_decay=wd)
    X = torch.as_tensor(tokens)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss.torch(t, X, X).backward()
        opt.step()
    Xm = mx.array(tokens)
    mopt = optim.AdamW(lr, weight_decay=wd)
    grad = nn.value_and_grad(mlx_model, loss.mlx)
    for _ in range(steps):
        value, g = grad(mlx_model, Xm, Xm)
        mopt.update(mlx_model, g)
        mx.eval(value, mlx_model.parameters(), mopt.state)
    return time.perf_counter() - start


def _verdict(report) -> tuple[str, str, str]:
    """(forward, training, first difference) of a report."""
    if report.problem:
        return "not comparable", "-", report.problem
    forward = [c for c in report.checks if c.path.startswith(("0 ", "2 layers")) and c.step is None]
    rest = [c for c in report.checks if c not in forward]
    ok = lambda cs: "conforms" if all(c.passed for c in cs) else "differs"  # noqa: E731
    first = report.first_failure()
    return ok(forward), ok(rest), ("" if first is None else first.path + ("" if first.step is None else
                                                                         f" (step {first.step})"))


def findings(*texts: str) -> str:
    """Every finding that explains one of ``texts`` (a row's first difference, its checkpoint path),
    each linked once, in the order the texts and FINDINGS name them."""
    out: list[str] = []
    for text in texts:
        for key, anchor in FINDINGS.items():
            if text and key in text and anchor not in out:
                out.append(anchor)
    return ", ".join(f"[{a}](#{a})" for a in out)


def run_one(arch: str) -> dict:
    from conformance import pair

    from . import checkpoint, zoo

    mlx_model, torch_model = zoo.build(arch)
    tokens = zoo.tokens()
    start = time.perf_counter()
    report = pair.check(mlx_model, torch_model, tokens, loss="causal_lm", optimizer=pair.AdamW(1e-3, weight_decay=0.01),
                        steps=STEPS, ensemble=6)
    cost = time.perf_counter() - start
    plain = plain_training(*zoo.build(arch), tokens)
    forward, training, first = _verdict(report)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint.save(arch, Path(folder))
        try:
            loaded = checkpoint.load(Path(folder))
            ck = pair.check(*loaded, tokens, loss="causal_lm", optimizer=pair.AdamW(1e-3, weight_decay=0.01), steps=3,
                            ensemble=0)
            ck_text = "conforms" if ck.passed else (ck.problem or ck.first_failure().path)
        except Exception as e:  # mlx-lm's loader refuses the checkpoint: a finding, recorded as it says
            ck_text = f"mlx-lm's load_model fails: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    return dict(arch=arch, forward=forward, training=training, first=first, checkpoint=ck_text,
                guide=findings(first, ck_text), cost=cost, plain=plain)


def table(rows: list[dict], versions: str) -> str:
    out = [f"Versions: {versions}. Command: `python -m conformance.pair.hf.matrix` (CPU, OMP_NUM_THREADS=1).", "",
           "| architecture | forward | training (10 AdamW steps) | first difference | checkpoint path | guide | "
           "check s / plain training s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cell = lambda s: s.replace("|", "\\|")  # noqa: E731
        out.append(f"| {r['arch']} | {r['forward']} | {r['training']} | {cell(r['first']) or '-'} | "
                   f"{cell(r['checkpoint'])} | {r['guide'] or '-'} | {r['cost']:.1f} / {r['plain']:.2f} |")
    return "\n".join(out)


def write(doc: Path, text: str) -> None:
    body = doc.read_text()
    head, rest = body.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    tmp = doc.with_suffix(".tmp")
    tmp.write_text(head + BEGIN + "\n" + text + "\n" + END + tail)
    tmp.replace(doc)


def main(argv=None) -> int:
    from . import zoo

    p = argparse.ArgumentParser(prog="python -m conformance.pair.hf.matrix")
    p.add_argument("--out", default="docs/ARCHITECTURES.md")
    p.add_argument("--only", default="")
    a = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    archs = [x for x in a.only.split(",") if x] or list(zoo.ARCHITECTURES)
    unknown = [x for x in archs if x not in zoo.ARCHITECTURES]
    if unknown:
        print(f"--only: unknown architecture {unknown[0]!r}; known: {', '.join(zoo.ARCHITECTURES)}", file=sys.stderr)
        return 2
    rows = []
    for arch in archs:
        rows.append(run_one(arch))
        print(f"  {arch}: {rows[-1]['forward']}, {rows[-1]['training']}, {rows[-1]['first'] or '-'}", file=sys.stderr)
    text = table(rows, _versions())
    print(text)
    if not a.only:
        write(Path(a.out), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
