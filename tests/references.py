"""Independent float64 references: each step of the document written out in numpy (or taken from
scikit-learn), sharing no code with ``mlx_reference`` or ``reference_torch``.

Inputs are first rounded to the dtype the frameworks compute in (``conformance.steps.rounded``),
so a reference is the exact value of what a float32 (or bfloat16) computation approximates.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score
from sklearn.preprocessing import StandardScaler

from conformance.steps import rounded


def sklearn_standardize(train: np.ndarray, *others: np.ndarray, dtype: str = "float32") -> dict:
    """scikit-learn's ``StandardScaler`` fit on ``train`` (rounded to ``dtype``), in float64."""
    scaler = StandardScaler().fit(rounded(train, dtype))
    return {"mean": scaler.mean_, "scale": scaler.scale_, "train": scaler.transform(rounded(train, dtype)),
            "others": [scaler.transform(rounded(o, dtype)) for o in others]}


def forward(weights: dict, X: np.ndarray, dtype: str = "float32") -> np.ndarray:
    """SimpleNN's logits: ``relu(X W1^T + b1) W2^T + b2``, squeezed to (N,)."""
    w = {k: rounded(v, dtype) for k, v in weights.items()}
    h = np.maximum(rounded(X, dtype) @ w["fc1.weight"].T + w["fc1.bias"], 0.0)
    return (h @ w["fc2.weight"].T + w["fc2.bias"])[:, 0]


def softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def bce_with_logits(logits: np.ndarray, targets: np.ndarray, dtype: str = "float32") -> tuple[float, np.ndarray]:
    """Mean BCE on logits and its gradient ``(sigmoid(x) - y) / n``."""
    x, y = rounded(logits, dtype), rounded(targets, dtype)
    return float(np.mean(softplus(x) - x * y)), (sigmoid(x) - y) / x.size


def bce(probabilities: np.ndarray, targets: np.ndarray, dtype: str = "float32") -> tuple[float, np.ndarray]:
    """Mean BCE on probabilities as PyTorch documents ``BCELoss``: log terms clamped at -100;
    gradient ``(p - y) / max(p (1 - p), 1e-12) / n``."""
    p, y = rounded(probabilities, dtype), rounded(targets, dtype)
    with np.errstate(divide="ignore"):
        log_p, log_q = np.maximum(np.log(p), -100.0), np.maximum(np.log1p(-p), -100.0)
    value = float(np.mean(-(y * log_p + (1 - y) * log_q)))
    return value, (p - y) / np.maximum(p * (1 - p), 1e-12) / p.size


def loss_and_gradients(weights: dict, X: np.ndarray, y: np.ndarray, dtype: str = "float32") -> tuple[float, dict]:
    """The full model's BCE-on-logits loss and every parameter's gradient, by hand-written backprop."""
    w = {k: rounded(v, dtype) for k, v in weights.items()}
    X, y = rounded(X, dtype), rounded(y, dtype)
    z1 = X @ w["fc1.weight"].T + w["fc1.bias"]
    h = np.maximum(z1, 0.0)
    z2 = (h @ w["fc2.weight"].T + w["fc2.bias"])[:, 0]
    n = X.shape[0]
    loss = float(np.mean(softplus(z2) - z2 * y))
    dz2 = (sigmoid(z2) - y) / n  # (N,)
    dz1 = np.outer(dz2, w["fc2.weight"][0]) * (z1 > 0)  # ReLU'(0) = 0, as both frameworks define it
    return loss, {"fc1.weight": dz1.T @ X, "fc1.bias": dz1.sum(0),
                  "fc2.weight": (dz2 @ h)[None, :], "fc2.bias": np.array([dz2.sum()])}


def adam(weights: dict, gradients: list[dict], lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> list[tuple[dict, dict]]:
    """``torch.optim.Adam``'s documented algorithm in float64 (bias-corrected moments, eps outside
    the root): the weights and the state (PyTorch names) after every step."""
    b1, b2 = betas
    p = {k: rounded(v, "float32") for k, v in weights.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    out = []
    for t, g in enumerate(gradients, start=1):
        for k in p:
            gk = rounded(g[k], "float32").reshape(p[k].shape)
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk * gk
            m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
            p[k] = p[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
        state = {f"{k}.{s}": d[k].copy() for k in p for s, d in (("exp_avg", m), ("exp_avg_sq", v))}
        state["step"] = np.asarray(float(t))
        out.append(({k: x.copy() for k, x in p.items()}, state))
    return out


def early_stopping(val_losses, patience: int | None, min_delta: float = 0.0) -> dict:
    """The rule in words: an epoch improves when its loss is below the best so far minus
    ``min_delta``; training stops at the first epoch that ends ``patience`` epochs in a row
    without improvement; the best epoch's weights are the ones kept."""
    best, best_epoch, since = np.inf, None, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best - min_delta:
            best, best_epoch, since = loss, epoch, 0
        else:
            since += 1
        if patience is not None and since == patience:
            return {"stopped_epoch": epoch, "best_epoch": best_epoch, "restored_epoch": best_epoch}
    return {"stopped_epoch": None, "best_epoch": best_epoch, "restored_epoch": best_epoch}


def metrics(logits: np.ndarray, targets: np.ndarray) -> dict:
    """scikit-learn's metrics of the predictions ``sigmoid(logit) > 0.5`` (float64), with
    ``zero_division=0`` (what scikit-learn returns, with a warning, by default)."""
    pred = (sigmoid(np.asarray(logits, dtype=np.float64)) > 0.5).astype(int)
    true = (np.asarray(targets) > 0.5).astype(int)
    return {
        "predicted": pred,
        "accuracy": accuracy_score(true, pred),
        "precision": precision_score(true, pred, zero_division=0),
        "recall": recall_score(true, pred, zero_division=0),
        "f1": f1_score(true, pred, zero_division=0),
        "confusion_matrix": confusion_matrix(true, pred, labels=[0, 1]),
    }
