"""The candidate's measured reruns as one batched call: ``mx.vmap`` of its loss and gradients over
stacked weights and batches, instead of one Python call per rerun (``conformance.pair.rounding``).

The function is the port's own (``nn.value_and_grad`` of its loss: the model updated with the
trainable parameters, then its loss), mapped over a leading axis of the trainable parameters and of
the batch; frozen arrays (BatchNorm's running statistics) are the same in every run, as in the
calls one by one, and the state each run's forward leaves them in comes back per run. A model
with an operation MLX cannot map (``mx.vmap`` raises: convolutions' strided views, say) or too
large to stack gets ``None``, and the caller runs the reruns one call each. The model's
parameters are restored exactly afterwards, whatever happens.
"""

from __future__ import annotations

import numpy as np

STACK_LIMIT = 1 << 28  # bytes of stacked parameters, gradients and inputs beyond which the calls go one by one


def gradients(port, weight_sets: list[dict], inputs: list[tuple], buffer_names: list[str]) -> list | None:
    """``[(loss, gradients, running statistics or None), ...]`` for each torch-named weight set and
    its ``(X, y)`` (numpy, torch's layout), under torch's names; ``None`` where it cannot batch."""
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    model, mapping, runs = port.model, port.mapping, len(weight_sets)
    saved = tree_flatten(model.parameters())
    current = dict(saved)
    trainable = [k for k, _ in tree_flatten(model.trainable_parameters())]
    size = sum(int(np.prod(current[k].shape)) for k in trainable) * 4 * 3 * runs
    size += sum(np.asarray(X).nbytes + np.asarray(y).nbytes for X, y in inputs)
    if size > STACK_LIMIT:
        return None
    with port.on_device():
        try:
            port.set_weights(weight_sets[0])  # frozen arrays: the same in every set (only trainable ones move)
            mapped = [mapping.torch_to_mlx(w) for w in weight_sets]
            stacked = tree_unflatten([(k, mx.stack([mx.array(np.asarray(m[k]), dtype=current[k].dtype) for m in mapped]))
                                      for k in trainable])
            arrays = [port.arrays(X, y) for X, y in inputs]
            Xs, ys = mx.stack([a[0] for a in arrays]), mx.stack([a[1] for a in arrays])
            frozen = dict(tree_flatten(model.parameters()))

            def loss(params, X, y):
                model.update(frozen_tree)  # every run starts from the same running statistics
                model.update(params)
                value = port.loss(model, X, y)
                after = {k: v for k, v in tree_flatten(model.parameters()) if k not in params_keys} if buffer_names else {}
                return value, after

            params_keys = set(trainable)
            frozen_tree = tree_unflatten([(k, v) for k, v in frozen.items() if k not in params_keys])
            model.train()
            (values, after), grads = mx.vmap(mx.value_and_grad(loss), in_axes=(0, 0, 0))(stacked, Xs, ys)
            mx.eval(values, after, grads)
        except (ValueError, RuntimeError, TypeError):  # an operation without a vmap rule, a shape vmap cannot take
            return None
        finally:
            model.update(tree_unflatten(saved))
    values = np.asarray(values.astype(mx.float32))
    flat_grads = [(k, np.array(v)) for k, v in tree_flatten(grads)]  # one copy a tensor, then numpy's slices
    flat_after = [(k, np.array(v)) for k, v in tree_flatten(after)]
    out = []
    for j in range(runs):
        g = mapping.mlx_to_torch({k: v[j].copy() for k, v in flat_grads})
        buf = None
        if buffer_names:
            state = {**{k: np.array(v) for k, v in saved}, **{k: v[j].copy() for k, v in flat_after}}
            w = mapping.mlx_to_torch(state)
            buf = {n: np.asarray(w[n], np.float64) for n in buffer_names}
        out.append((float(values[j]), g, buf))
    return out
