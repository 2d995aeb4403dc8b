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
        mlx="float64 arrays compute on the CPU stream; a float64 operation on the GPU raises.",
        torch="float64 runs on CUDA (slowly) and not on MPS.",
        naive_failure=("A float64 port run on the GPU stops at its first operation: `ValueError: float64 is not supported "
                       "on the GPU` (seen on MLX's CUDA backend, H200)."),
        fix="float32 on the GPU; float64 references on the CPU (`with use_device(\"cpu\")`, `to_array(x, \"float64\")`).",
        reference=("mlx_reference.device.use_device", "mlx_reference.data.to_array"),
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
