"""Step 8 of the document: the whole flow, data to metrics, in PyTorch.

Everything enters and leaves as numpy, so ``conformance`` can run this and
``mlx_reference.pipeline`` from the same data and weights and compare each step.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .data import StandardScaler, to_array, to_numpy
from .device import use_device
from .loss import loss_and_gradients, loss_fn
from .metrics import classification_metrics
from .model import SimpleNN, export_weights, load_weights, to_dtype
from .optim import ReduceLROnPlateau, export_optimizer_state, make_adam
from .train import fit

Splits = dict[str, tuple[np.ndarray, np.ndarray]]


def run_pipeline(
    splits: Splits,
    weights: dict[str, np.ndarray],
    epochs: int = 100,
    batch_size: int | None = None,
    learning_rate: float = 1e-3,
    patience: int | None = None,
    min_delta: float = 0.0,
    plateau: dict | None = None,
    seed: int = 0,
    compiled: bool = True,
    device: str = "cpu",
    dtype: str = "float32",
    on_step: Callable | None = None,
    on_epoch: Callable | None = None,
    restore_best: bool = False,
) -> dict:
    """Standardize (fit on train), build ``SimpleNN`` from ``weights``, train with Adam, optional
    early stopping (``patience``: None, the default, never stops, as the command line's default)
    and an optional plateau schedule (``plateau``: ``ReduceLROnPlateau`` arguments), and evaluate
    on the test set. The test metrics are those of the final weights unless ``restore_best``
    (``fit``'s option, default False: the document evaluates the model after its last epoch);
    ``history["evaluated_weights"]`` ("final" or "best") and ``history["evaluated_epoch"]`` say
    which. Returns every intermediate result as numpy.
    """
    with use_device(device):
        X = {k: to_array(v[0], dtype) for k, v in splits.items()}
        y = {k: to_array(v[1], dtype) for k, v in splits.items()}
        scaler = StandardScaler().fit(X["train"])
        Xs = {k: scaler.transform(v) for k, v in X.items()}

        hidden, in_features = np.shape(weights["fc1.weight"])
        model = to_dtype(SimpleNN(in_features, hidden), dtype)
        load_weights(model, weights)
        with torch.no_grad():
            initial_logits = model(Xs["train"])
        initial_loss, initial_grads = loss_and_gradients(model, Xs["train"], y["train"])

        optimizer = make_adam(model, learning_rate)
        scheduler = ReduceLROnPlateau(optimizer, **plateau) if plateau is not None else None
        history = fit(
            model, optimizer, Xs["train"], y["train"], Xs["val"], y["val"],
            epochs=epochs, batch_size=batch_size, seed=seed, patience=patience, min_delta=min_delta,
            scheduler=scheduler, compiled=compiled, on_step=on_step, on_epoch=on_epoch, restore_best=restore_best,
        )

        model.eval()
        with torch.no_grad():
            test_logits = model(Xs["test"])
            test_loss = loss_fn(model, Xs["test"], y["test"]).item()
        return {
            "standardized": {k: to_numpy(v) for k, v in Xs.items()},
            "scaler": {"mean": to_numpy(scaler.mean_), "scale": to_numpy(scaler.scale_)},
            "initial_logits": to_numpy(initial_logits),
            "initial_loss": initial_loss,
            "initial_grads": initial_grads,
            "history": history,
            "final_weights": export_weights(model),
            "optimizer_state": export_optimizer_state(optimizer, model),
            "test_logits": to_numpy(test_logits),
            "test_loss": test_loss,
            "metrics": classification_metrics(test_logits, y["test"]),
        }
