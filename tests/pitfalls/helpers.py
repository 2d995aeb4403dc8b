"""What every proof of the registry's entries shares: tying a test to its entry, re-measuring its
numbers, running the seed document's code, the document's data, and the two SimpleNNs.

Each test in ``tests/pitfalls/test_<section>.py`` is named ``test_<entry id>`` and decorated with
``@demonstrates(<entry id>)``. It first shows the failure (for the seed document's errors, by
executing the document's own code, taken from ``docs/seed/`` at run time, under MLX and asserting
the exception), re-measures every number the entry quotes (``measured``: the registry's value must
still hold, so a new release that changes a default is noticed), and then shows that the fix
agrees with PyTorch under the tolerance table (``conformance.tolerances``).
``PITFALLS_MEASURE=<file>`` switches to measuring: every measurement is appended to that
JSON-lines file instead of being checked against the registry. Weight conversions between torch's
and MLX's layer layouts are in ``layouts`` (one function per kind of layer).
"""
from __future__ import annotations

import ast
import json
import os
from functools import lru_cache

import mlx.core as mx
import numpy as np
import pytest
import torch
from mlx.utils import tree_flatten
from sklearn.model_selection import train_test_split

from conformance import registry
from conformance.compare import assert_close
from conformance.data import apply_split, document_dataset, split_indices
from conformance.guide import seed_steps
from conformance.weights import init_weights
from mlx_reference import device as MDEV, model as MM, train as MT
from reference_torch import loss as TL, model as TM, optim as TO


SEED = seed_steps()
WEIGHTS = init_weights(2, 10, seed=0)


# --------------------------------------------------------------------------------------------
# Helpers


def demonstrates(entry_id: str):
    """Tie a test to its registry entry (and give it its section's marker)."""
    marker = registry.SECTIONS[registry.get(entry_id).section].marker

    def decorate(fn):
        fn.entry_id = entry_id
        if marker:
            fn = getattr(pytest.mark, marker)(fn)
        return fn

    return decorate


def measured(entry_id: str, key: str, observed) -> float:
    """Check a re-measured number against the one the registry quotes (and optionally record it)."""
    m = registry.measurement(entry_id, key)
    value = float(observed)
    record = os.environ.get("PITFALLS_MEASURE")
    if record:
        with open(record, "a", encoding="utf-8") as f:
            f.write(json.dumps({"entry": entry_id, "key": key, "observed": value, "registered": m.value}) + "\n")
        return value  # measuring mode: record, do not judge
    assert m.agrees(value), (
        f"{entry_id}: {key} measures {value:.6g} now, but conformance/registry/ says {m.allowed()} "
        f"({m.how}); if the change is real, update the registry and re-render the guide")
    return value


def run_seed(*steps: int, ns: dict | None = None, code: dict | None = None) -> dict:
    """Execute the seed document's code of ``steps`` in order, in one namespace (under MLX)."""
    ns = {} if ns is None else ns
    for n in steps:
        exec(compile((code or {}).get(n, SEED[n].code), f"<seed step {n}>", "exec"), ns)
    return ns


def seed_line(step: int, text: str) -> str:
    """A line of the seed's code (checked to be there), stripped, ready to ``exec``."""
    SEED[step].line_number(text)
    return text.strip()


def doc_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The document's rows split 3/1/1 (seed 0), standardized with the training rows' statistics."""
    ds = document_dataset()
    splits = apply_split(ds, split_indices(ds.y))
    X, _ = splits["train"]
    mean, scale = X.mean(0), X.std(0)
    return {k: (((v[0] - mean) / scale).astype(np.float32), v[1].astype(np.float32)) for k, v in splits.items()}


DOC = doc_splits()


def seed_rows():
    """The seed's own split of its raw rows: (X_train, X_test, y_train, y_test), float64 / int64."""
    ns = run_seed(1)
    return train_test_split(ns["X"].astype(np.float64), ns["y"], test_size=0.2, random_state=42)


def m_(a) -> mx.array:
    return mx.array(np.asarray(a, dtype=np.float32))


def t_(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float32))


def mlx_model(weights=WEIGHTS) -> MM.SimpleNN:
    return MM.load_weights(MM.SimpleNN(), weights)


def torch_model(weights=WEIGHTS) -> TM.SimpleNN:
    return TM.load_weights(TM.SimpleNN(), weights)


def torch_logits(X) -> np.ndarray:
    with torch.no_grad():
        return torch_model()(t_(X)).numpy().copy()


def torch_loss_at(weights, split: str = "train") -> float:
    X, y = DOC[split]
    with torch.no_grad():
        return TL.loss_fn(torch_model(weights), t_(X), t_(y)).item()


RECORD = (1, 5, 10, 100)
LR = 1e-3  # the document's learning rate: the magnitude trajectory budgets scale with


@lru_cache(maxsize=None)
def torch_run(steps: int = 100, zero_grad: bool = True):
    """torch's reference run on the document's training rows: per-step losses, weights at RECORD."""
    model = torch_model()
    opt = TO.make_adam(model, 1e-3)
    X, y = (t_(a) for a in DOC["train"])
    losses, weights = [], {}
    for s in range(1, steps + 1):
        if zero_grad:
            opt.zero_grad()
        loss = TL.loss_fn(model, X, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if s in RECORD:
            weights[s] = TM.export_weights(model)
    return losses, weights


def mlx_run(optimizer, steps: int = 100, compiled: bool = False, model=None):
    """The same run in MLX with ``optimizer``, through ``mlx_reference.train.make_train_step``."""
    model = model or mlx_model()
    step = MT.make_train_step(model, optimizer, compiled=compiled)
    X, y = (m_(a) for a in DOC["train"])
    losses, weights = [], {}
    for s in range(1, steps + 1):
        loss = step(X, y)
        mx.eval(loss, model.parameters(), optimizer.state)
        losses.append(loss.item())
        if s in RECORD:
            weights[s] = MM.export_weights(model)
    return losses, weights


def assert_trajectory(mlx_losses, torch_losses, what: str) -> None:
    for k, (a, b) in enumerate(zip(mlx_losses, torch_losses), start=1):
        assert_close(a, b, path=f"{what}: loss at step {k}", kind="trajectory", scale=LR, step=k)


def pending_operations(arrays, tmp_path) -> int:
    """How many operations MLX has yet to run to produce ``arrays`` (the primitives of their graph)."""
    path = tmp_path / "graph.dot"
    mx.export_to_dot(str(path), *arrays)
    return path.read_text().count("shape=rectangle")


def leaves(tree) -> list:
    return [v for _, v in tree_flatten(tree) if isinstance(v, mx.array)]


def code_names(code: str) -> set[str]:
    """Every name and attribute the code uses (for 'the document never does X')."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.split(".")[-1])
    return names


def seed_model_called_properly():
    """The seed's SimpleNN with only its ``forward`` renamed ``__call__``, loaded with WEIGHTS."""
    code = SEED[2].code.replace("def forward(self, x):", "def __call__(self, x):")
    ns = run_seed(2, code={2: code})
    return MM.load_weights(ns["SimpleNN"](), WEIGHTS)


HAS_CUDA = MDEV.gpu_backend() == "cuda" and torch.cuda.is_available()
HAS_MLX_GPU = MDEV.gpu_backend() is not None
