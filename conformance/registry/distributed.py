"""Registry entries: data-parallel training (``mx.distributed`` and ``nn.average_gradients`` against
torch's ``DistributedDataParallel``), proven in ``tests/pitfalls/test_distributed.py``."""

from __future__ import annotations

from .entry import Measurement, entry

ENTRIES = (
    entry(
        "all-sum-not-average", section="distributed", seed_defect=False, kind="silent",
        title="`mx.distributed.all_sum` sums the gradients; torch's DDP averages them",
        mlx=("`mx.distributed.all_sum(g)` returns the sum over the processes; `nn.average_gradients(grads)` "
             "divides it by the group's size."),
        torch="`DistributedDataParallel` all-reduces and averages, so each process steps with the full batch's mean gradient.",
        naive_failure=(
            "Two processes, two rows of the document's data each: the gradients combined with `all_sum` are "
            "{sum_ratio:.3g} times the full batch's (what DDP gives): the learning rate is multiplied by the number "
            "of processes."),
        fix=("`grads = nn.average_gradients(grads)` (or divide `all_sum` by `mx.distributed.init().size()`). "
             "In your own model's training step, `pair.check(..., ranks=2)` names it at step 1 "
             "(`5 local / rank 0 / averaged gradients`, `examples/dp.py --wrong`, `tests/test_pair_ranks.py`)."),
        reference=("mlx.nn.average_gradients", "mlx.core.distributed.all_sum"),
        measured=(Measurement("sum_ratio", 2, "mean over SimpleNN's parameters of |all_sum gradient| / |full-batch "
                              "gradient|, 2 processes on the ring backend (mlx.launch -n 2)", rel=1e-4),),
    ),
    entry(
        "distributed-sampler-order", section="distributed", seed_defect=False, kind="silent",
        title="`DistributedSampler` interleaves the rows and pads an uneven set by repeating the first ones",
        mlx=("MLX has no sampler: each process picks its own rows, and the obvious port cuts the data into "
             "contiguous blocks."),
        torch=("`DistributedSampler(dataset, num_replicas=W, rank=r)` pads the (shuffled) order to a multiple of W "
               "with its first rows, then gives rank r every W-th row from r; `set_epoch(e)` reseeds the shuffle "
               "with seed + e."),
        naive_failure=(
            "The document's five rows on two processes: {differing:.0f} rows land on a process under one rule and not "
            "under the other (summed over both processes; the sampler deals {total:.0f} rows an epoch), and contiguous "
            "blocks train {padded:.0f} row fewer an epoch than the sampler, which repeats the first; every batch, "
            "gradient and step differs from DDP's."),
        fix=("Shard with the sampler's rule (`conformance.distributed.sharding.shard(order, W, r, \"sampler\")`, "
             "proven equal to `DistributedSampler`), the order drawn from (seed, epoch) on every process; "
             "`python -m conformance --ranks 2` checks the rows of every step of every rank."),
        reference=("torch.utils.data.DistributedSampler",),
        measured=(Measurement("differing", 5, "sum over the 2 processes of the rows in one rule's shard and not the "
                              "other's (symmetric difference), 5 rows, unshuffled", rel=0.0),
                  Measurement("total", 6, "(rank, row) pairs the sampler gives an epoch", rel=0.0),
                  Measurement("padded", 1, "rows the sampler repeats an epoch", rel=0.0)),
    ),
    entry(
        "uneven-shards-mean-of-means", section="distributed", seed_defect=False, kind="silent",
        title="Uneven shards: data-parallel averaging takes the mean of the shard means, not of the samples",
        mlx=("`nn.average_gradients` divides the sum of the processes' gradients by their number, whatever "
             "their batch sizes."),
        torch=("DDP does the same: each process's gradient is of the mean loss over its own rows, and the "
               "all-reduce averages those over the processes."),
        naive_failure=(
            "The document's five rows split 3 and 2: the averaged gradient is {rel_diff:.2g} (relative, L2) away from "
            "the full batch's, the same in both frameworks; a port that expects the full batch's gradient, or "
            "weights by rows on one side only, differs by that much."),
        fix=("Expect the mean of shard means (both frameworks' rule; `--ranks` reports it as the rule in force), "
             "or keep the shards even (`DistributedSampler`'s padding); to average samples, scale each process's "
             "loss by its rows over the mean rows a process, on both sides."),
        reference=("mlx.nn.average_gradients", "torch.nn.parallel.DistributedDataParallel"),
        measured=(Measurement("rel_diff", 0.507, "|mean of shard-mean gradients - full-batch gradient| / |full-batch "
                              "gradient|, SimpleNN at its initial weights, the document's 5 rows as 3 + 2", rel=0.02),),
    ),
    entry(
        "average-gradients-grouping", section="distributed", seed_defect=False, kind="silent",
        title="`nn.average_gradients`' `all_reduce_size` groups the communication, not the arithmetic",
        mlx=("`nn.average_gradients(grads, all_reduce_size=32 MiB)` concatenates small gradients into groups of about "
             "that many bytes and sends one `all_sum` a group (`<= 0`: one a gradient; mixed dtypes: ungrouped), "
             "then divides by the group's size."),
        torch="DDP buckets its all-reduces too (`bucket_cap_mb`, 25 MiB); the buckets change nothing but the messages.",
        naive_failure=(
            "None: on two ring processes the average of SimpleNN's gradients with the default grouping, with "
            "`all_reduce_size=0` and with 64 bytes (three groups) differ by at most {max_diff:.3g}: bit for bit the "
            "same. A port that tunes `all_reduce_size` to match DDP's buckets changes nothing but the speed."),
        fix="Leave it at its default for correctness; tune it only for throughput (larger groups, fewer messages).",
        reference=("mlx.nn.average_gradients", "torch.nn.parallel.DistributedDataParallel"),
        measured=(Measurement("max_diff", 0.0, "max |default grouping - ungrouped or 64-byte groups| over SimpleNN's "
                              "averaged gradients, two ring processes with two of the document's rows each", rel=0.0),),
    ),
    entry(
        "per-rank-seeds", section="distributed", seed_defect=False, kind="silent",
        title="Seeded with the rank, every rank draws its own shuffle and its own dropout masks",
        mlx=("`mx.random.seed(seed + rank)` in every process: each one's `nn.Dropout` masks and any shuffle drawn "
             "from MLX's generator differ from the other ranks'."),
        torch=("`torch.manual_seed(seed + rank)` likewise; `DistributedSampler` draws its shuffle from `seed + epoch`, "
               "the same on every rank, so the shards partition the rows."),
        naive_failure=(
            "20 rows on two ranks, the epoch's order drawn from seed + rank: the ranks share {overlap:.0f} rows and "
            "{missed:.0f} rows are trained by neither; dropout masks (p = 0.5, 1 000 elements) drawn from seeds 0 and "
            "1 differ at {mlx_masks_differ:.0%} of the elements in MLX and {torch_masks_differ:.0%} in torch (and the "
            "two frameworks' masks from one seed are not the same)."),
        fix=("Draw the data order from (seed, epoch) alone, on every rank (`conformance.distributed.sharding`, as "
             "`DistributedSampler.set_epoch`); seed dropout by rank only on purpose, and set p = 0 for a lockstep "
             "check (`python -m conformance --ranks 2` checks every rank's rows at every step)."),
        reference=("torch.utils.data.DistributedSampler", "mlx.core.random.seed"),
        measured=(Measurement("overlap", 4, "rows in both ranks' shards of epoch 1, 20 rows, seeds 0 and 1", rel=0.0),
                  Measurement("missed", 4, "rows in neither rank's shard", rel=0.0),
                  Measurement("mlx_masks_differ", 0.53, "share of 1 000 Dropout(0.5) mask elements that differ, "
                              "mx.random.seed 0 vs 1"),
                  Measurement("torch_masks_differ", 0.519, "the same with torch.manual_seed 0 vs 1")),
    ),
    entry(
        "accumulation-before-average", section="distributed", seed_defect=False, kind="silent",
        title="Gradient accumulation over k micro-batches needs the 1/k, before or after the average",
        mlx=("Accumulating k micro-batches' gradients (`tree_map(mx.add, ...)`) and then `nn.average_gradients` sums "
             "k means: k times the shard's mean gradient unless divided by k."),
        torch=("The usual idiom divides the loss by k before each `backward` (under DDP's `no_sync()` but the last), "
               "so the accumulated `.grad` is the mean over the k micro-batches."),
        naive_failure=(
            "Two ranks, two micro-batches of one of the document's rows each: accumulated without 1/k and then "
            "averaged, the gradient is {ratio:.3g} times (L2) DDP's on the whole shards; with 1/k it equals both "
            "DDP's and averaging every micro-batch first (the average is linear)."),
        fix="Divide the accumulated gradient (or each micro-batch's loss) by k on the MLX side, as torch's idiom does.",
        reference=("mlx.nn.average_gradients", "torch.nn.parallel.DistributedDataParallel.no_sync"),
        measured=(Measurement("ratio", 2.0, "|mean over ranks of the sum of k = 2 micro-batch gradients| / |DDP's "
                              "gradient of the 4 rows|, SimpleNN at its initial weights"),),
    ),
    entry(
        "batchnorm-statistics-per-rank", section="distributed", seed_defect=False, kind="silent",
        title="BatchNorm normalizes with each rank's own batch statistics, in DDP and in MLX alike",
        mlx=("`nn.BatchNorm` in training mode normalizes with the statistics of the rows it is given: a rank's "
             "shard, not the global batch (MLX has no SyncBatchNorm); each rank updates its own running statistics."),
        torch=("DDP without `SyncBatchNorm` does the same per rank (and, by default, `broadcast_buffers=True` "
               "copies rank 0's running statistics to every rank at each forward: not proven here)."),
        naive_failure=(
            "16 rows, two shards of 8 from different ranges: normalized per rank, the output is {rel_diff:.3g} "
            "(relative, L2) from the full batch's normalization, in both frameworks alike; the two ranks' running "
            "means end up to {running_mean_gap:.3g} apart. A single-process run on the full batch is not what the "
            "group computes."),
        fix=("Compare a data-parallel port rank by rank (MLX's BatchNorm on a rank's rows matches torch's on the same "
             "rows); for global statistics use `nn.SyncBatchNorm` in torch and all_sum the batch's sums in MLX."),
        reference=("mlx.nn.BatchNorm", "torch.nn.SyncBatchNorm"),
        measured=(Measurement("rel_diff", 0.613, "|per-rank normalized output - full-batch normalized output| / "
                              "|full-batch|, N(1, 2) rows, the second 8 moved by 1.5"),
                  Measurement("running_mean_gap", 0.28, "max |rank 0's running_mean - rank 1's| after one step")),
    ),
)
