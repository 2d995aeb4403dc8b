"""Step 7: accuracy, precision, recall, F1 and the confusion matrix, MLX and torch against
scikit-learn (``zero_division=0``), including a class never predicted and a class absent from the
labels; the metrics flagged undefined exactly where scikit-learn warns ``UndefinedMetricWarning``.
Predictions are ``sigmoid(logit) > 0.5``, computed independently in float64."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import f1_score, precision_score, recall_score

import references as ref
import strategies as S
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


# ---- undefined metrics: scikit-learn's zero_division=0 value, flagged where scikit-learn warns ----

SKLEARN_SCORES = {"precision": precision_score, "recall": recall_score, "f1": f1_score}


def sklearn_undefined(logits: np.ndarray, targets: np.ndarray) -> dict:
    """What scikit-learn's default ``zero_division="warn"`` does for each ratio: its value, and
    whether it warned ``UndefinedMetricWarning`` (the metric is 0/0)."""
    pred = (ref.sigmoid(np.asarray(logits, dtype=np.float64)) > 0.5).astype(int)
    true = (np.asarray(targets) > 0.5).astype(int)
    out = {}
    for name, score in SKLEARN_SCORES.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = score(true, pred)
        out[name] = (value, any(issubclass(w.category, UndefinedMetricWarning) for w in caught))
    return out


def check_undefined(conf, logits, targets, where: str) -> None:
    expected = sklearn_undefined(logits, targets)
    for side_name in ("mlx", "torch"):
        got = steps.classification_metrics(side_name, np.asarray(logits, np.float32), targets, conf.device)
        assert set(got["undefined"]) <= {"accuracy", *SKLEARN_SCORES}, got["undefined"]
        for name, (value, warned) in expected.items():
            assert (name in got["undefined"]) == warned, (
                f"{where} / {side_name}: {name} is {'flagged' if name in got['undefined'] else 'not flagged'} undefined, "
                f"but scikit-learn {'warns' if warned else 'does not warn'} UndefinedMetricWarning")
            conf.close(got[name], value, path=f"{where} / {side_name} {name} (scikit-learn's default zero_division)",
                       kind="metric", names=(side_name, "sklearn"))


@pytest.mark.parametrize("case", list(CASES))
def test_undefined_metrics_are_flagged_where_sklearn_warns(conf, case):
    """Precision with no predicted positives, recall with no positive labels, F1 with neither:
    0.0 as scikit-learn gives them, and named in ``undefined`` exactly where it warns; the reasons
    say why, for a report to print instead of 0.0000."""
    logits, targets = CASES[case]
    check_undefined(conf, logits, targets, case)


@given(case=S.classification_case())
def test_undefined_metrics_agree_with_sklearn(conf, case):
    logits, labels = case
    check_undefined(conf, logits, labels, f"metrics n={len(labels)}")


def test_undefined_reasons(conf):
    """The words a report prints, and the empty test set (scikit-learn refuses it; here every
    metric reads 0.0 and is flagged, accuracy with "no samples")."""
    got = steps.classification_metrics("mlx", np.array([-1.0, -2.0], np.float32), np.zeros(2, np.float32), conf.device)
    assert got["undefined"] == {"precision": "no predicted positives", "recall": "no positive labels",
                                "f1": "no positive labels and no predicted positives"}
    for side_name in ("mlx", "torch"):
        empty = steps.classification_metrics(side_name, np.zeros(0, np.float32), np.zeros(0, np.float32), conf.device)
        assert empty["undefined"]["accuracy"] == "no samples" and set(empty["undefined"]) == {
            "accuracy", "precision", "recall", "f1"}, f"{side_name}: {empty['undefined']}"
        assert [empty[k] for k in ("accuracy", "precision", "recall", "f1")] == [0.0] * 4
