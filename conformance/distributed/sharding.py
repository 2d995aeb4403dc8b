"""Which rows each rank trains on: the one sharding rule both frameworks' data-parallel runs use.

Every epoch the training rows are put in one order drawn from ``(seed, epoch)`` alone, as
``DistributedSampler.set_epoch(epoch)`` reseeds its generator with ``seed + epoch``: every rank
draws the same order without talking to the others, and an epoch's order does not depend on how
many epochs came before. The order is then cut into ``ranks`` shards by one of two rules:

- ``"sampler"``: ``torch.utils.data.DistributedSampler``'s (``drop_last=False``): the order is
  padded to a multiple of ``ranks`` by repeating its first rows, and rank ``r`` takes every
  ``ranks``-th row from ``r`` (interleaved). Every shard has ``ceil(n / ranks)`` rows; a padded
  row is trained on twice an epoch. ``tests/test_distributed_sharding.py`` proves it is the
  sampler's exact output.
- ``"contiguous"``: ``np.array_split``: consecutive blocks, the first ``n % ranks`` one row
  longer; nothing repeated, so uneven shards.

Each rank's shard is then cut into minibatches of ``batch_size`` (None: the whole shard, one
step an epoch). Every rank must take the same number of steps an epoch (a collective waits for
all of them); ``plan`` refuses a setting where they would not.

Both frameworks average the ranks' gradients, each the mean over its own shard: with uneven
shards that is the mean of the shard means, which weights the rows of a short shard more than
those of a long one (``AVERAGING``).
"""

from __future__ import annotations

import math

import numpy as np

RULES = ("sampler", "contiguous")
AVERAGING = ("the mean over ranks of each rank's mean gradient over its own rows (DDP's and "
             "nn.average_gradients' rule, both frameworks); with uneven shards this is not the full batch's mean")


class ShardError(ValueError):
    """A data-parallel setting the rule cannot serve; the message is one line, in flags."""


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The rows' order in ``epoch`` (1-based): a permutation drawn from ``(seed, epoch)`` alone."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int64)


def shard(order: np.ndarray, ranks: int, rank: int, rule: str) -> np.ndarray:
    """Rank ``rank``'s rows of ``order`` under ``rule``."""
    order = np.asarray(order, dtype=np.int64)
    n = len(order)
    if rule == "sampler":
        total = math.ceil(n / ranks) * ranks
        padding = total - n
        reps = math.ceil(padding / n) if padding else 0
        padded = np.concatenate([order, np.tile(order, reps)[:padding]]) if padding else order
        return padded[rank:total:ranks]
    if rule == "contiguous":
        return np.array_split(order, ranks)[rank]
    raise ShardError(f"--shard must be one of {', '.join(RULES)}, got {rule!r}")


def batches(n: int, ranks: int, rank: int, seed: int, epoch: int, batch_size: int | None, rule: str,
            shuffle: bool = True) -> list[np.ndarray]:
    """Rank ``rank``'s minibatches (row indices of the training set) in ``epoch``."""
    rows = shard(epoch_order(n, seed, epoch, shuffle), ranks, rank, rule)
    if batch_size is None or batch_size >= len(rows):
        return [rows]
    return [rows[s:s + batch_size] for s in range(0, len(rows), batch_size)]


def shard_sizes(n: int, ranks: int, rule: str) -> list[int]:
    return [len(shard(np.arange(n), ranks, r, rule)) for r in range(ranks)]


def plan(n: int, ranks: int, batch_size: int | None, rule: str) -> dict:
    """Check that ``ranks`` ranks can share ``n`` rows under ``rule``; returns the shard sizes, the
    steps an epoch and whether the shards are uneven. Raises ``ShardError`` (one line) otherwise."""
    if rule not in RULES:
        raise ShardError(f"--shard must be one of {', '.join(RULES)}, got {rule!r}")
    if ranks < 1:
        raise ShardError(f"--ranks must be at least 1, got {ranks}")
    if n < ranks:
        raise ShardError(f"--ranks {ranks}: the training set has {n} row(s), fewer than the ranks; give fewer --ranks "
                         "or more data")
    sizes = shard_sizes(n, ranks, rule)
    steps = [1 if batch_size is None or batch_size >= s else math.ceil(s / batch_size) for s in sizes]
    if len(set(steps)) > 1:
        raise ShardError(f"--shard {rule} with --batch-size {batch_size}: the ranks' shards of {sizes} rows take "
                         f"{steps} steps an epoch, and every rank must take the same number; use --shard sampler "
                         "or another --batch-size")
    return {"sizes": sizes, "steps_per_epoch": steps[0], "uneven": len(set(sizes)) > 1,
            "padded": sum(sizes) - n}
