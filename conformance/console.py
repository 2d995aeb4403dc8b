"""The run's report on the terminal (``python -m conformance`` prints it): the setting, the
verdict of each part (local checks, anchors, static checks, free running) with every quantity's
worst case, the loss curves, the metrics and which weights they come from, and the verdict."""

from __future__ import annotations

import sys

from .ensemble import CHAOS

PARTS = (
    ("local", "Local checks: at each training step MLX restarts from torch's state (weights, Adam moments, step, "
              "learning rate, batch) and takes that step; budgets are that step's own rounding, derived per element"),
    ("anchor", "Anchors: torch's gradients against float64, its Adam step against the update's formula"),
    ("static", "Static checks: each pipeline's own standardization and first forward pass, loss and gradients"),
    ("free", "Free running: MLX's own run against torch's and {members} torch runs perturbed at rounding level"),
)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.7g}"
    return str(v)


COLUMNS = ("quantity: the check's path (the step of its worst case in brackets when it ran at several); at its "
           "worst element (the one using the largest share of its allowance): mlx and torch, their error |mlx - "
           "torch|, what the rules allow there, and error / allowed (share; > 1 is out of tolerance); steps: how "
           "many steps it was judged at")


def _label(c) -> str:
    steps = c.extra.get("steps", 1)
    return c.path + (f" (step {c.step})" if c.step is not None and steps > 1 else "")


def header(width: int = 72) -> str:
    return (f"{'quantity':<{width}} {'mlx':>13} {'torch':>13} {'error':>9} {'allowed':>9} {'share':>6} {'steps':>6}"
            "  verdict")


HEADER = header()


def row(c, width: int = 72) -> str:
    """One check as a row of the table: its worst element's values, their error there, the allowance
    there, and the share (error / allowed); the label is never cut (``width`` pads it)."""
    verdict = "ok" if c.passed else ("MISMATCH" if not c.problem else "PROBLEM")
    steps = c.extra.get("steps", 1)
    share = "-" if c.problem else f"{min(c.share, 999):.2f}"
    a, e = c.actual_value, c.expected_value
    err = abs(a - e) if a is not None and e is not None else c.max_abs
    return (f"{_label(c):<{width}} {_fmt(a):>13} {_fmt(e):>13} {err:>9.2e} "
            f"{c.allowed:>9.2e} {share:>6} {steps:>6}  {verdict}")


def table(checks) -> list[str]:
    """The header, a rule and one row per check, the first column as wide as the longest label."""
    width = max([72] + [len(_label(c)) for c in checks])
    head = header(width)
    return [head, "-" * len(head)] + [row(c, width) for c in checks]


def verdict_line(outcome) -> str:
    """One line: CONFORMS, DOES NOT CONFORM (which part, where first) or NON-FINITE."""
    if outcome.non_finite:
        return "NON-FINITE: " + "; ".join(str(e) for e in outcome.non_finite)
    checks = outcome.checks
    if outcome.passed:
        free = "" if outcome.free.judged else " (free running not judged: --ensemble 0)"
        return f"CONFORMS: all {len(checks)} quantities within their budgets{free}."
    failed = [c for c in checks if not c.passed]
    parts = sorted({_part_name(c.path) for c in failed})
    return f"DOES NOT CONFORM ({', '.join(parts)}): {len(failed)} of {len(checks)} quantities out of budget."


def _part_name(path: str) -> str:
    from .runner import _part

    return {"local": "local rules", "anchor": "anchors", "static": "static checks", "free": "free running"}[_part(path)]


def print_report(outcome, env: dict, out=None) -> None:
    from .runner import _part

    out = out or sys.stdout  # looked up now, so a redirected stdout is honoured
    ds, cfg = outcome.dataset, outcome.config
    w = lambda s="": print(s, file=out)  # noqa: E731
    w(f"MLX vs PyTorch: the training pipeline of the document, on {ds.source}, step by step")
    w(f"data     {ds.source}: {ds.n_samples} samples, {ds.n_features} features ({', '.join(ds.feature_names)}), target {ds.target_name}")
    for note in ds.notes:
        w(f"         note: {note}")
    s = outcome.split_sizes
    w(f"split    train {s['train']} / validation {s['val']} / test {s['test']} (seed {cfg.seed}{', stratified' if cfg.stratify else ''};"
      f" split {cfg.split}); standardization fit on train only")
    for note in getattr(outcome, "notes", []):
        w(f"         note: {note}")
    v = env["versions"]
    w(f"mlx      {v.get('mlx')} on {env['mlx']['backend']} ({env['mlx']['device_name']}), matmuls {env['mlx']['precision_mode']}"
      f", step {'compiled' if cfg.compiled else 'uncompiled'}")
    w(f"torch    {v.get('torch')} on {env['torch']['backend']} ({env['torch']['device_name']}), matmuls {env['torch']['precision_mode']}")
    batch = "full batch" if cfg.batch_size is None else f"minibatches of {cfg.batch_size}"
    extra = (f", early stopping patience {cfg.patience}" if cfg.patience else "") + (f", plateau patience {cfg.plateau['patience']}" if cfg.plateau else "")
    w(f"training {cfg.epochs} epochs, Adam lr {cfg.learning_rate:g}, hidden {cfg.hidden}, {batch}, {cfg.dtype}{extra}")
    if outcome.non_finite:
        w()
        w(verdict_line(outcome))
        return
    checks = outcome.checks
    w()
    w("columns  " + COLUMNS)
    members = len(outcome.free.members)
    for part, title in PARTS:
        rows = [c for c in checks if _part(c.path) == part]
        if not rows:
            continue
        w()
        w(title.format(members=members))
        for line in table(rows):
            w(line)
        if part == "free" and outcome.free.chaos_step:
            w(f"  this run is sensitive to rounding from step {outcome.free.chaos_step}: there the perturbed torch runs "
              f"part by {CHAOS:g}x the loss's own rounding; differences after it are chaos, not rules")
    w()
    hm, ht = outcome.results["mlx"]["history"], outcome.results["torch"]["history"]
    w(f"{'epoch':>6} {'mlx train':>12} {'torch train':>12} {'mlx val':>12} {'torch val':>12} {'lr':>10}")
    every = getattr(outcome, "every", 10)
    n = min(len(hm["epoch"]), len(ht["epoch"]))
    for i in range(n):
        e = hm["epoch"][i]
        if e % every == 0 or i == 0 or i == n - 1:
            w(f"{e:>6} {hm['train_loss'][i]:>12.7f} {ht['train_loss'][i]:>12.7f} {hm['val_loss'][i]:>12.7f} {ht['val_loss'][i]:>12.7f} {ht['lr'][i]:>10.3g}")
    if len(hm["epoch"]) != len(ht["epoch"]):
        w(f"  (mlx ran {len(hm['epoch'])} epochs, torch {len(ht['epoch'])})")
    for name, h in (("mlx", hm), ("torch", ht)):
        stop = f"stopped early at epoch {h['stopped_epoch']}" if h.get("stopped_epoch") else f"ran all {len(h['epoch'])} epochs"
        best = h.get("best_epoch")
        evaluated = (f"; test metrics from the {h.get('evaluated_weights', 'final')} weights (epoch "
                     f"{h.get('evaluated_epoch')})")
        w(f"{name:<6} {stop}; best validation loss {h.get('best_val_loss', float('nan')):.7f} at epoch {best}{evaluated}")
    w()
    mm, mt = outcome.results["mlx"]["metrics"], outcome.results["torch"]["metrics"]
    w(f"{'test metric (logit > 0)':<26} {'mlx':>10} {'torch':>10}")
    undefined = {**mt.get("undefined", {}), **mm.get("undefined", {})}
    for key in ("accuracy", "precision", "recall", "f1"):
        why = f"  undefined: {undefined[key]} (reported as 0, scikit-learn's zero_division)" if key in undefined else ""
        w(f"{key:<26} {mm[key]:>10.4f} {mt[key]:>10.4f}{why}")
    w(f"{'confusion [[tn fp] [fn tp]]':<26} {str(mm['confusion_matrix']):>10} {str(mt['confusion_matrix']):>10}")
    w()
    w(verdict_line(outcome))
    first = outcome.first_failure()
    if first is not None:
        w(f"  first: {first.message()}")
