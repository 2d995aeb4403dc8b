"""Step 7 of the document: accuracy, precision, recall, F1 and the confusion matrix.

The model returns logits, so the decision rule is ``logit > 0`` (probability > 0.5); the document
thresholds logits at 0.5. MLX arrays have no ``.numpy()`` and ``astype`` takes an MLX dtype, not
``int``. Counts are computed in MLX; ratios follow scikit-learn: 0.0 where a denominator
is 0 (its ``zero_division=0``, where it warns ``UndefinedMetricWarning``), and named in ``undefined``.
"""

from __future__ import annotations

import mlx.core as mx


def predict(logits: mx.array) -> mx.array:
    """Class labels (0/1, int32) from logits: 1 where ``logit > 0``."""
    return (logits > 0).astype(mx.int32)


def classification_metrics(logits: mx.array, targets: mx.array) -> dict:
    """Accuracy, precision, recall, F1 (floats), the confusion matrix ``[[tn, fp], [fn, tp]]`` and
    ``undefined``: the metrics whose ratio is 0/0, each with the reason (``{"precision": "no
    predicted positives"}``); they read 0.0, as scikit-learn's ``zero_division=0`` gives them, and a
    report should print the reason instead of the number."""
    pred = logits > 0
    true = targets > 0.5
    counts = mx.stack([
        mx.sum(~pred & ~true), mx.sum(pred & ~true), mx.sum(~pred & true), mx.sum(pred & true),
    ])
    tn, fp, fn, tp = (int(c) for c in counts.tolist())
    return _ratios(tn, fp, fn, tp)


def _ratios(tn: int, fp: int, fn: int, tp: int) -> dict:
    total = tn + fp + fn + tp
    reasons = {  # each metric's 0/0 case, and why
        "accuracy": (total, "no samples"),
        "precision": (tp + fp, "no predicted positives"),
        "recall": (tp + fn, "no positive labels"),
        "f1": (tp + fp + fn, "no positive labels and no predicted positives"),
    }
    return {
        "accuracy": (tp + tn) / total if total else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "undefined": {name: why for name, (denominator, why) in reasons.items() if denominator == 0},
    }
