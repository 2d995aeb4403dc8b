"""``causal_lm``: next-token cross-entropy, the shift done once and the same on both sides.

A batch is ``input_ids`` (B, L) alone, or ``(input_ids, labels)``: the logits at position t are
judged against the label at t + 1; a label of -100 is ignored (the mean runs over the others, as
``torch.nn.functional.cross_entropy(ignore_index=-100)`` and mlx-lm's trainer take it). With
``pad_token_id``, padded positions are ignored as labels and masked out of transformers' attention
(``attention_mask``); mlx-lm's models take no mask, so padding must be on the right (after the
causal mask a real token never sees a later pad): a row padded on the left is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PairError
from ..losses import Loss

IGNORE = -100


class BatchError(PairError):
    """A batch that ``causal_lm`` cannot judge alike on both sides: one line naming the batch and row
    (a ``PairError``, the documented exception of ``pair.check``'s bad input)."""


def _labels(tokens, labels, pad):
    labels = np.array(tokens if labels is None else labels, dtype=np.int64, copy=True)
    if pad is not None:
        labels[np.asarray(tokens) == pad] = IGNORE
    return labels


@dataclass(frozen=True)
class CausalLM(Loss):
    pad_token_id: int | None = None

    def prepare(self, batches) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every batch as ``(input_ids, labels)``; raises ``BatchError`` naming a bad one."""
        if isinstance(batches, np.ndarray) or (isinstance(batches, tuple) and len(batches) == 2
                                               and np.ndim(batches[0]) == 2 and np.ndim(batches[1]) == 2):
            batches = [batches]
        out = []
        for i, b in enumerate(batches):
            tokens, labels = (b, None) if isinstance(b, np.ndarray) else b
            tokens = np.asarray(tokens)
            if tokens.ndim != 2 or tokens.dtype.kind not in "iu" or tokens.shape[1] < 2:
                raise BatchError(f"batch {i}: input_ids must be integers of shape (batch, length >= 2), "
                                 f"got {tokens.dtype} {tokens.shape}")
            if labels is not None and np.shape(labels) != tokens.shape:
                raise BatchError(f"batch {i}: labels have shape {np.shape(labels)}, input_ids {tokens.shape}")
            if self.pad_token_id is not None:
                pad = tokens == self.pad_token_id
                left = np.nonzero((pad[:, :-1] & ~pad[:, 1:]).any(1))[0]
                if left.size:
                    raise BatchError(f"batch {i}, row {int(left[0])}: a pad token precedes a real one (left "
                                     "padding); mlx-lm's models take no attention mask: pad on the right")
            out.append((tokens.astype(np.int64), _labels(tokens, labels, self.pad_token_id)))
        return out


def _mlx_loss(model, X, y):
    import mlx.core as mx
    import mlx.nn as nn

    logits = model(X)[:, :-1]
    target = y[:, 1:]
    keep = target != IGNORE
    ce = nn.losses.cross_entropy(logits, mx.where(keep, target, 0)) * keep
    return ce.sum() / keep.sum()


def causal_lm(pad_token_id: int | None = None) -> CausalLM:
    """Next-token cross-entropy on a transformers causal LM (``.logits``) and an mlx-lm model."""
    import torch.nn.functional as F

    def torch_loss(model, X, y):
        mask = None if pad_token_id is None else (X != pad_token_id).long()
        out = model(input_ids=X, attention_mask=mask)
        logits = out.logits if hasattr(out, "logits") else out
        logits = logits[:, :-1]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, 1:].reshape(-1), ignore_index=IGNORE)

    return CausalLM(_mlx_loss, torch_loss, "causal_lm", pad_token_id)
