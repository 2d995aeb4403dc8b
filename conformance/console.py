"""The run's report on the terminal: the setting, every quantity's verdict, the loss curves, the
metrics and the overall verdict (``python -m conformance`` prints it)."""

from __future__ import annotations

import sys

from .report import checks_payload, fold_steps


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.7g}"
    return str(v)


def _rows(checks):
    """One printed row per quantity: a tensor's checks at every training step fold into its first
    failure (or, when all pass, its worst step), as in the JSON report."""
    rows = []
    for c in fold_steps(checks_payload(checks)):
        steps = c.get("steps")
        label = c["path"] if not steps else (
            f"{c['path']} ({steps} steps; {'first failure' if c['failed_steps'] else 'worst'} at step {c['step']})")
        rows.append((label, c))
    return rows


def print_report(outcome, env: dict, out=None) -> None:
    out = out or sys.stdout  # looked up now, so a redirected stdout is honoured
    ds, cfg = outcome.dataset, outcome.config
    w = lambda s="": print(s, file=out)  # noqa: E731
    w("MLX vs PyTorch: the document's training pipeline, step by step")
    w(f"data     {ds.source}: {ds.n_samples} samples, {ds.n_features} features ({', '.join(ds.feature_names)}), target {ds.target_name}")
    for note in ds.notes:
        w(f"         note: {note}")
    s = outcome.split_sizes
    w(f"split    train {s['train']} / validation {s['val']} / test {s['test']} (seed {cfg.seed}{', stratified' if cfg.stratify else ''});"
      " standardization fit on train only")
    v = env["versions"]
    w(f"mlx      {v.get('mlx')} on {env['mlx']['backend']} ({env['mlx']['device_name']}), matmuls {env['mlx']['precision_mode']}"
      f", step {'compiled' if cfg.compiled else 'uncompiled'}")
    w(f"torch    {v.get('torch')} on {env['torch']['backend']} ({env['torch']['device_name']}), matmuls {env['torch']['precision_mode']}")
    batch = "full batch" if cfg.batch_size is None else f"minibatches of {cfg.batch_size}"
    extra = (f", early stopping patience {cfg.patience}" if cfg.patience else "") + (f", plateau patience {cfg.plateau['patience']}" if cfg.plateau else "")
    w(f"training {cfg.epochs} epochs, Adam lr {cfg.learning_rate:g}, hidden {cfg.hidden}, {batch}, {cfg.dtype}{extra}")
    w()
    header = f"{'step / quantity':<76} {'mlx':>14} {'torch':>14} {'max abs':>9} {'max rel':>9} {'atol':>7} {'rtol':>7}  verdict"
    w(header)
    w("-" * len(header))
    for label, c in _rows(outcome.checks):
        verdict = "ok" if c["passed"] else ("MISMATCH" if not c["problem"] else "PROBLEM")
        w(f"{label[:76]:<76} {_fmt(c['actual_value']):>14} {_fmt(c['expected_value']):>14} {c['max_abs']:>9.2e} "
          f"{c['max_rel']:>9.2e} {c['atol']:>7.0e} {c['rtol']:>7.0e}  {verdict}")
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
        w(f"{name:<6} {stop}; best validation loss {h.get('best_val_loss', float('nan')):.7f} at epoch {h.get('best_epoch')}, weights restored")
    w()
    mm, mt = outcome.results["mlx"]["metrics"], outcome.results["torch"]["metrics"]
    w(f"{'test metric (logit > 0)':<26} {'mlx':>10} {'torch':>10}")
    for key in ("accuracy", "precision", "recall", "f1"):
        w(f"{key:<26} {mm[key]:>10.4f} {mt[key]:>10.4f}")
    w(f"{'confusion [[tn fp] [fn tp]]':<26} {str(mm['confusion_matrix']):>10} {str(mt['confusion_matrix']):>10}")
    w()
    failed = [c for c in outcome.checks if not c.passed]
    if failed:
        w(f"DOES NOT CONFORM: {len(failed)} of {len(outcome.checks)} checks failed. First:")
        w(f"  {outcome.first_failure().message()}")
    else:
        w(f"CONFORMS: all {len(outcome.checks)} checks within tolerance.")
