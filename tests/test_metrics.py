"""Step 7: accuracy, precision, recall, F1 and the confusion matrix, MLX and torch against
scikit-learn (``zero_division=0``), including a class never predicted and a class absent from the
labels. Predictions are ``sigmoid(logit) > 0.5``, computed independently in float64."""

from __future__ import annotations

import numpy as np
import pytest

import references as ref
from conformance import steps

pytestmark = pytest.mark.metrics


def _cases():
    rng = np.random.default_rng(9)
    x = rng.normal(0, 2, 200).round(3)
    x[x == 0] = 0.5
    y = (rng.random(200) < 0.45).astype(np.float32)
    return {
        "random": (x, y),
        "the positive class is never predicted": (-np.abs(x) - 0.1, y),
        "the negative class is never predicted": (np.abs(x) + 0.1, y),
        "the positive class is absent from the labels": (x, np.zeros(200, np.float32)),
        "the negative class is absent from the labels": (x, np.ones(200, np.float32)),
        "never predicted and absent (all negative)": (-np.abs(x) - 0.1, np.zeros(200, np.float32)),
        "all right": (np.where(y > 0, 3.0, -3.0), y),
        "all wrong": (np.where(y > 0, -3.0, 3.0), y),
        "logit exactly 0 is negative": (np.array([0.0, 0.0, 1.0, -1.0]), np.array([1, 0, 1, 0], np.float32)),
        "one sample": (np.array([2.5]), np.array([1.0], np.float32)),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_metrics_match_sklearn(conf, case):
    logits, targets = CASES[case]
    logits = logits.astype(np.float32)
    expected = ref.metrics(logits, targets)
    got = {name: steps.classification_metrics(name, logits, targets, conf.device) for name in ("mlx", "torch")}
    for name, m in got.items():
        names = (name, "sklearn")
        conf.decision(m["predicted"], expected["predicted"], path=f"{case} / {name} predicted labels", names=names)
        conf.decision(np.asarray(m["confusion_matrix"]), expected["confusion_matrix"],
                      path=f"{case} / {name} confusion matrix [[tn fp] [fn tp]]", names=names)
        for key in ("accuracy", "precision", "recall", "f1"):
            conf.close(m[key], expected[key], path=f"{case} / {name} {key}", kind="metric", names=names)
    for key in ("accuracy", "precision", "recall", "f1"):
        conf.close(got["mlx"][key], got["torch"][key], path=f"{case} / {key}", kind="metric")
