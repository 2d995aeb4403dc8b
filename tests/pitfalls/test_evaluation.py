"""The proofs of the registry's entries on evaluation: one test per entry (see ``helpers``)."""

from __future__ import annotations


import mlx.core as mx
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score
import torch

from conformance.compare import assert_close
from conformance.data import apply_split, split_indices, synthetic_dataset
from mlx_reference import data as MD, metrics as MMET, optim as MO, train as MT
from reference_torch import data as TD, metrics as TMET
from .helpers import SEED, code_names, demonstrates, m_, measured, mlx_model, seed_line, t_


def _logits(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(0, 1.5, n).astype(np.float32), (rng.random(n) < 0.5).astype(np.float32)


@demonstrates("seed-astype-int")
def test_seed_astype_int():
    line = seed_line(7, "y_pred_test_binary = (y_pred_test > 0.5).astype(int)")
    with pytest.raises(TypeError, match="astype"):
        exec(line, {"y_pred_test": mx.array([[0.3]])})
    with pytest.raises(AttributeError, match="'Tensor' object has no attribute 'astype'"):
        exec(line, {"y_pred_test": torch.tensor([[0.3]])})

    z, _ = _logits()
    mp, tp = MMET.predict(m_(z)), TMET.predict(t_(z))
    assert mp.dtype == mx.int32 and tp.dtype == torch.int32
    np.testing.assert_array_equal(np.array(mp), tp.numpy())
    np.testing.assert_array_equal(np.array(mp), (z > 0).astype(np.int32))


@demonstrates("seed-numpy-method")
def test_seed_numpy_method():
    line = seed_line(7, "accuracy = accuracy_score(y_test.numpy(), y_pred_test_binary.numpy())")
    ns = {"accuracy_score": accuracy_score, "y_test": mx.array([1]), "y_pred_test_binary": mx.array([[0]])}
    with pytest.raises(AttributeError, match="has no attribute 'numpy'"):
        exec(line, ns)

    z, y = _logits()
    np.testing.assert_array_equal(MD.to_numpy(m_(z)), TD.to_numpy(t_(z)))
    ns.update(y_test=MD.to_numpy(m_(y)), y_pred_test_binary=MD.to_numpy(MMET.predict(m_(z))))
    exec(line.replace(".numpy()", ""), ns)
    assert ns["accuracy"] == TMET.classification_metrics(t_(z), t_(y))["accuracy"]


@demonstrates("seed-logit-threshold")
def test_seed_logit_threshold():
    ds = synthetic_dataset(200)
    splits = apply_split(ds, split_indices(ds.y))
    X, _ = splits["train"]
    mean, scale = X.mean(0), X.std(0)
    S = {k: (m_((v[0] - mean) / scale), m_(v[1])) for k, v in splits.items()}
    model = mlx_model()
    MT.fit(model, MO.make_adam(model, 1e-3), *S["train"], epochs=100, compiled=False)
    model.eval()
    z = np.array(model(S["test"][0]))
    y = np.array(S["test"][1])
    flipped = measured("seed-logit-threshold", "flipped", np.mean((z > 0) != (z > 0.5)))
    naive = measured("seed-logit-threshold", "naive_accuracy", np.mean((z > 0.5) == y))
    true = measured("seed-logit-threshold", "true_accuracy", accuracy_score(y, 1 / (1 + np.exp(-z.astype(np.float64))) > 0.5))
    assert flipped > 0 and naive < true

    mlx_metrics = MMET.classification_metrics(m_(z), m_(y))
    assert mlx_metrics == TMET.classification_metrics(t_(z), t_(y))
    assert mlx_metrics["accuracy"] == true


@demonstrates("seed-precision-recall-missing")
def test_seed_precision_recall_missing():
    assert "精度" in SEED[7].text and "召回率" in SEED[7].text  # precision, recall
    names = {n.lower() for n in code_names(SEED[7].code)}
    assert "accuracy_score" in names and not [n for n in names if "precision" in n or "recall" in n]

    z, y = _logits()
    pred = (z > 0).astype(int)
    metrics = MMET.classification_metrics(m_(z), m_(y))
    expected = {"accuracy": accuracy_score(y, pred), "precision": precision_score(y, pred, zero_division=0),
                "recall": recall_score(y, pred, zero_division=0), "f1": f1_score(y, pred, zero_division=0)}
    for key, value in expected.items():
        assert_close(metrics[key], value, path=key, kind="metric", names=("mlx", "sklearn"))
    assert metrics["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    assert metrics == TMET.classification_metrics(t_(z), t_(y))




@demonstrates("argmax-uint32")
def test_argmax_uint32():
    rng = np.random.default_rng(8)
    logits = rng.normal(0, 1, (64, 5)).astype(np.float32)
    pred, t_pred = mx.argmax(m_(logits), axis=1), torch.argmax(t_(logits), dim=1)
    assert pred.dtype == mx.uint32 and t_pred.dtype == torch.int64
    np.testing.assert_array_equal(np.array(pred), t_pred.numpy())  # the same classes
    grade = 2  # how far each prediction is from class 2 (an ordinal label), in each framework
    naive = pred - grade
    measured("argmax-uint32", "wrapped", np.array(naive)[np.array(pred) == 0][0])
    measured("argmax-uint32", "naive_mean", mx.mean(naive.astype(mx.float32)).item())
    expected = (t_pred - grade).float().mean().item()
    measured("argmax-uint32", "torch_mean", expected)

    fixed = mx.argmax(m_(logits), axis=1).astype(mx.int32) - grade
    assert_close(mx.mean(fixed.astype(mx.float32)).item(), expected, path="mean signed distance", kind="metric")
    np.testing.assert_array_equal(np.array(fixed), (t_pred - grade).numpy())
