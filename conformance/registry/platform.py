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
        "api-names", section="devices", seed_defect=False, kind="error",
        title="Where MLX and PyTorch differ in name or argument",
        mlx="See the table of API names below: every row is checked against the installed MLX and torch.",
        torch="See the table.",
        naive_failure="A torch spelling on an MLX array or module raises (AttributeError or TypeError), row by row.",
        fix="Use the MLX column of the table.",
        reference=(),
    ),
)
