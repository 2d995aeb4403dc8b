"""Registry entries: the whole flow, devices, precision and memory (the document's step 8)."""

from __future__ import annotations

from .entry import Measurement, entry

ENTRIES = (
    # ---------------------------------------------------------------- 8. the whole flow
    entry(
        "seed-code-runs-in-neither", section="devices", seed_defect=True, kind="error",
        title="The document's code, run in order, fails in MLX and in PyTorch",
        mlx=("Run in order as written, steps 1 and 2 run; step 3 stops at `nn.BCELoss` (AttributeError), step 4 at "
             "`import mlx.optim` (ModuleNotFoundError), step 5 at `model(X_train)` (not callable), step 6 at "
             "`torch` (NameError) and step 7 at `y_pred_test`, which step 6 never computed."),
        torch=("With the MLX imports and `mx.array` replaced by torch's, step 4 stops at `model` (NameError), steps "
               "5 and 6 at the first layer (`mat1 and mat2 must have the same dtype`: the inputs are float64) and "
               "step 7 at `y_pred_test`; behind those wait BCELoss on logits and `.astype(int)`."),
        naive_failure=("Every snippet from step 3 on raises in MLX, and from step 4 on as PyTorch: the document's "
                       "code is PyTorch under MLX names, and wrong as PyTorch too."),
        fix="`mlx_reference.pipeline.run_pipeline` and `reference_torch.pipeline.run_pipeline`, proven to agree by `python -m conformance`.",
        reference=("mlx_reference.pipeline.run_pipeline", "reference_torch.pipeline.run_pipeline",
                   "conformance.runner.run_both"),
    ),
    entry(
        "random-streams", section="devices", seed_defect=False, kind="silent",
        title="The same seed gives different random numbers in MLX and torch",
        mlx="`mx.random.seed(0)`: a counter-based (threefry) generator; `nn.Linear` draws U(-1/sqrt(in), 1/sqrt(in)).",
        torch=("`torch.manual_seed(0)`: the Mersenne Twister on the CPU; `nn.Linear` draws from the same "
               "distribution, so the weights are alike in law and different in value."),
        naive_failure=(
            "Seeding both with 0 gives SimpleNNs whose weights differ by up to {weight_gap:.3g} and whose "
            "initial losses differ by {loss_gap:.3g} on the document's data: no step can be compared."),
        fix="Draw the initial weights once in numpy (`conformance.weights.init_weights`) and load them into both.",
        reference=("conformance.weights.init_weights", "mlx_reference.model.load_weights", "reference_torch.model.load_weights"),
        measured=(
            Measurement("weight_gap", 1.09254, "max |MLX - torch| over SimpleNN's parameters, both seeded with 0", rel=1e-3),
            Measurement("loss_gap", 0.0466223, "|initial loss MLX - torch|, document's data", rel=1e-3),
        ),
    ),
    entry(
        "tf32-cuda", section="devices", seed_defect=False, kind="silent", device="cuda",
        mlx_versions=">=0.26.2",
        history=("MLX's CUDA backend multiplies float32 in TF32 since 0.26.2 (ml-explore/mlx#2291, which added "
                 "`MLX_ENABLE_TF32`); its convolutions follow since 0.27.1 (cuDNN, ml-explore/mlx#2385)"),
        title="MLX's CUDA backend multiplies float32 matrices in TF32 by default",
        mlx="On CUDA, float32 matmuls use TF32 tensor cores unless `MLX_ENABLE_TF32=0` is set before MLX starts.",
        torch="`torch.backends.cuda.matmul.allow_tf32` is off by default: IEEE float32.",
        naive_failure=(
            "A 256x256 float32 matmul on MLX's CUDA backend is {tf32_matmul_rel:.2g} (relative) away from "
            "float64 against torch's {ieee_matmul_rel:.2g}; over the document's 100 epochs the loss "
            "trajectories part by {tf32_traj:.2g} instead of {ieee_traj:.2g}."),
        fix=("Compare like with like: `MLX_ENABLE_TF32=0` for IEEE, or torch's `set_float32_matmul_precision(\"high\")` "
             "for TF32, and a TF32 tolerance (`mlx_reference.device.precision_mode`)."),
        reference=("mlx_reference.device.precision_mode", "reference_torch.device.set_precision_mode"),
        measured=(
            Measurement("tf32_matmul_rel", 3.05166e-4, "max |error| / max |exact| of an MLX CUDA 256x256 float32 matmul "
                        "against float64, MLX's default (H200)", rel=0.3),
            Measurement("ieee_matmul_rel", 2.11859e-7, "the same for torch's CUDA float32 matmul (H200)", rel=0.3),
            Measurement("tf32_traj", 4.56572e-5, "max |MLX - torch| of the per-epoch training loss, run_both on the "
                        "document's data, 100 epochs, MLX's default (H200)", rel=0.5),
            Measurement("ieee_traj", 1.10269e-6, "the same with MLX_ENABLE_TF32=0 (H200)", rel=0.5),
        ),
    ),
    entry(
        "float64-gpu", section="devices", seed_defect=False, kind="error", device="gpu",
        title="float64 exists on MLX's CPU only",
        mlx_versions=">=0.23.0",
        history="float64 arrived, for the CPU only, in 0.23.0 (ml-explore/mlx#1843); before, MLX had no float64 at all",
        mlx="float64 arrays compute on the CPU stream; a float64 operation on the GPU raises.",
        torch="float64 runs on CUDA (slowly) and not on MPS.",
        naive_failure=("A float64 port run on the GPU stops at its first operation: `ValueError: float64 is not supported "
                       "on the GPU` (seen on MLX's CUDA backend, H200)."),
        fix=("float32 on the GPU. For references, torch float64 or numpy float64: MLX's float64 runs on the CPU only, "
             "and there `exp`, `sigmoid` and a few more are only float32-accurate (float64-cpu-float32-accurate)."),
        reference=("mlx_reference.device.use_device", "mlx_reference.data.to_array"),
    ),
    entry(
        "reduced-precision-convolutions", section="devices", seed_defect=False, kind="silent", device="cuda",
        title="Reduced-precision float32 on GPUs goes beyond matmuls: convolutions (CUDA), attention (Metal)",
        mlx=("`MLX_ENABLE_TF32` (default 1) also puts float32 convolutions on CUDA in TF32, and on Metal GPUs with "
             "neural accelerators (M5 class) float32 matmuls, quantized matmuls and attention take a reduced-precision "
             "path; `MLX_ENABLE_TF32=0`, set before MLX starts, keeps all of them in float32."),
        torch=("`torch.backends.cudnn.allow_tf32` is True by default: torch's CUDA convolutions are TF32 too, while its "
               "matmuls are IEEE float32 (`torch.backends.cuda.matmul.allow_tf32` False); on MPS, float32."),
        naive_failure=(
            "A port compared with torch on CUDA agrees on convolutions by accident (both TF32) and not on matmuls "
            "(see tf32-cuda); with `MLX_ENABLE_TF32=0` for the matmuls, the convolutions of torch stay TF32 and "
            "now differ. On an M5-class Mac the same float32 model is reduced-precision in MLX and not in torch."),
        fix=("Set one precision on both sides: `MLX_ENABLE_TF32=0` with `torch.backends.cudnn.allow_tf32 = False` "
             "and `torch.backends.cuda.matmul.allow_tf32 = False` for IEEE float32, or TF32 on both and a TF32 "
             "tolerance."),
        reference=("mlx_reference.device.precision_mode", "reference_torch.device.set_precision_mode"),
        mlx_versions=">=0.27.1",
        history=("CUDA convolutions in TF32 since 0.27.1 (cuDNN, ml-explore/mlx#2385); Metal's neural-accelerator "
                 "kernels, with their reduced-precision float32, since 0.30.0 (ml-explore/mlx#2772); documented in "
                 "0.32.1 (ml-explore/mlx#3894). Probed here on CUDA only"),
    ),
    entry(
        "float64-cpu-float32-accurate", section="devices", seed_defect=False, kind="silent",
        title="MLX's float64 on the CPU: `exp`, `sigmoid` and a few more are only float32-accurate",
        mlx=("float64 arrays compute in float64 on the CPU, but `exp`, `sigmoid`, `logaddexp`, `softmax`, `sin`, "
             "`cos`, `erf` and `erfinv` return float64 values with float32's accuracy; `log`, `log1p`, `expm1`, "
             "`tanh`, `sqrt`, `rsqrt`, `power`, `arctan`, `sinh` and `matmul` are float64-accurate, and `logsumexp` "
             "lies between (relative errors of about 1e-9)."),
        torch="float64 is float64 throughout, on the CPU and on CUDA (as in numpy).",
        naive_failure=(
            "An MLX float64 reference is, where these ops enter, a float32 one: MLX's float64 `exp` errs by "
            "{exp_rel:.2g} (relative), `sigmoid` by {sigmoid_rel:.2g}, and so does the gradient of BCE with logits, "
            "sigmoid(z) - y, element by element ({grad_rel:.2g}): the size of the float32 errors it is meant to "
            "judge. Even the mean BCE over 4096 samples errs by {bce_rel:.2g}, where torch's and numpy's float64 "
            "are more than a million times closer."),
        fix=("Compute references in torch float64 or numpy float64 (the suite's `exact=` values); keep MLX's "
             "float64 for what it does in float64 (the list above, measured by the test)."),
        reference=("mlx_reference.data.to_array",),
        mlx_versions=">=0.23.0",
        history=("float64 exists (on the CPU) since 0.23.0 (ml-explore/mlx#1843); until 0.32.1 a Python float in a "
                 "float64 operation was rounded to float32 first (ml-explore/mlx#4173)"),
        measured=(
            Measurement("exp_rel", 9.56125e-07, "max relative error of MLX float64 exp over 100 000 points in [-10, 10] "
                        "(where |exp| > 1e-3), against numpy float64"),
            Measurement("sigmoid_rel", 6.97139e-07, "the same for sigmoid"),
            Measurement("grad_rel", 6.45516e-07, "max relative error of MLX float64 dBCE/dz per sample (|exact| > 1e-3), "
                        "against scipy's expit(z) - y in float64"),
            Measurement("bce_rel", 1.12308e-09, "relative error of MLX float64 binary_cross_entropy (logits N(0, 4), 4096 "
                        "samples) against math.fsum in float64"),
        ),
    ),
    entry(
        "softmax-precise", section="devices", seed_defect=False, kind="silent",
        title="`softmax` in half precision accumulates in half precision unless `precise=True`",
        mlx=("`mx.softmax(x)` of float16/bfloat16 sums the exponentials in that dtype; `mx.softmax(x, precise=True)` "
             "in float32. (On the GPU, `cross_entropy`'s fused kernel accumulates in float32; on the CPU it reduces "
             "in the logits' dtype.)"),
        torch="`torch.softmax` of float16 accumulates in float32 and rounds once.",
        naive_failure=(
            "Over 4096 float16 logits a row, MLX's default softmax errs by {naive_rel:.2g} of the largest "
            "probability and its rows sum to 1 only within {naive_row_sum:.2g}; torch's within {torch_row_sum:.2g}. "
            "Attention and classifiers trained in half precision drift accordingly."),
        fix="`mx.softmax(x, axis=-1, precise=True)` (and `cross_entropy` on logits cast to float32 on the CPU).",
        reference=("mlx.core.softmax",),
        measured=(
            Measurement("naive_rel", 0.0198726, "max |MLX float16 softmax - float64| / max probability, 64 rows of 4096 "
                        "logits N(0, 9)"),
            Measurement("naive_row_sum", 0.0564143, "max |row sum - 1| of that softmax"),
            Measurement("torch_row_sum", 0.000213265, "the same for torch's float16 softmax"),
        ),
    ),
    entry(
        "no-autocast-gradscaler", section="devices", seed_defect=False, kind="missing",
        title="No autocast, no GradScaler: a float16 model in MLX is float16 weights too",
        mlx=("MLX has no automatic mixed precision: `model.set_dtype(mx.float16)` makes the weights, the gradients "
             "and the optimizer's updates float16, and nothing scales the loss."),
        torch=("`torch.autocast` runs chosen operations in float16 on float32 weights, and `GradScaler` scales the "
               "loss so small gradients survive float16, then unscales them before the float32 update."),
        naive_failure=(
            "One Adam step at lr 1e-4 on SimpleNN made float16 leaves {unchanged_share:.0%} of the weights exactly "
            "as they were (an update below half a float16 ulp of the weight is rounded away); torch's autocast step "
            "leaves {torch_unchanged_share:.0%} (the weights of ReLU units inactive on every row: their gradient "
            "is zero)."),
        fix=("Keep float32 parameters and cast in the forward pass (`x.astype(mx.float16) @ W.astype(mx.float16).T`: "
             "MLX differentiates through the cast); scale the loss by S, divide the gradients by S, and skip the "
             "step when any is not finite (`mx.isfinite`), as GradScaler does."),
        reference=("mlx.nn.Module.set_dtype", "torch.amp.GradScaler"),
        measured=(
            Measurement("unchanged_share", 0.365854, "share of SimpleNN's float16 weights unchanged by one Adam step "
                        "(lr 1e-4, bias-corrected), document's data"),
            Measurement("torch_unchanged_share", 0.097561, "the same for torch's autocast + GradScaler step on float32 weights"),
        ),
    ),
    entry(
        "memory-api-and-cache", section="devices", seed_defect=False, kind="performance",
        title="Memory: MLX keeps freed buffers in a cache that the active and peak figures leave out",
        mlx=("`mx.get_active_memory()`, `mx.get_peak_memory()` and `mx.get_cache_memory()` (since 0.24.1; the "
             "`mx.metal.*` names are deprecated aliases); freed buffers stay in a cache for reuse until "
             "`mx.set_cache_limit` or `mx.clear_cache()`."),
        torch=("On the CPU, freed memory goes back to the allocator; on CUDA, torch's caching allocator shows it as "
               "`memory_reserved()` beside `memory_allocated()`."),
        naive_failure=(
            "After five arrays of 4 to 20 MiB are computed and freed, MLX reports {active_mib:.0f} MiB active and a "
            "peak of {peak_mib:.1f} MiB, and holds {cache_mib:.0f} MiB more in its cache: a port that watches "
            "`torch.cuda.max_memory_allocated`'s counterpart misses it, and the process grows until the cache is "
            "limited."),
        fix=("Watch `mx.get_cache_memory()` too; bound it with `mx.set_cache_limit(bytes)` (0: no cache) or call "
             "`mx.clear_cache()` between phases; use the `mx.*` names, not `mx.metal.*`."),
        reference=("mlx.core.get_cache_memory", "mlx.core.set_cache_limit"),
        mlx_versions=">=0.32.0",
        history=("The numbers are the CPU's: Metal has always cached buffers, CUDA since 0.26.0 (ml-explore/mlx#2221), "
                 "the CPU-only build since 0.32.0 (ml-explore/mlx#3554). `mx.get_*_memory` and the cache controls "
                 "moved from `mx.metal` to `mx` in 0.24.1 (ml-explore/mlx#1982)"),
        measured=(
            Measurement("active_mib", 0, "active memory added by the five arrays after they are freed, MiB", rel=0.0),
            Measurement("peak_mib", 20, "peak active memory above the start, MiB"),
            Measurement("cache_mib", 60, "MLX's cache after them, MiB"),
        ),
    ),
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
        fix="`grads = nn.average_gradients(grads)` (or divide `all_sum` by `mx.distributed.init().size()`).",
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
    entry(
        "api-names", section="devices", seed_defect=False, kind="error",
        title="Where MLX and PyTorch differ in name or argument",
        mlx="See the table of API names below: every row is checked against the installed MLX and torch.",
        torch="See the table.",
        naive_failure="A torch spelling on an MLX array or module raises (AttributeError or TypeError), row by row.",
        fix="Use the MLX column of the table.",
        reference=(),
    ),
)
