"""Registry entries: the optimizer (the document's step 4)."""

from __future__ import annotations

from .entry import Measurement, entry

ENTRIES = (
    # ---------------------------------------------------------------- 4. the optimizer
    entry(
        "seed-import-mlx-optim", section="optimizer", seed_defect=True, kind="error",
        title="`import mlx.optim`: the module is `mlx.optimizers`",
        seed_lines=("import mlx.optim as optim",),
        mlx="Optimizers and schedules live in `mlx.optimizers`.",
        torch="`torch.optim` and `torch.optim.lr_scheduler`.",
        naive_failure="`ModuleNotFoundError: No module named 'mlx.optim'`.",
        fix="`import mlx.optimizers as optim`.",
        reference=("mlx_reference.optim",),
    ),
    entry(
        "seed-model-before-defined", section="optimizer", seed_defect=True, kind="error",
        title="The optimizer is built from `model` before the model exists",
        seed_lines=("optimizer = optim.Adam(model.parameters(), lr=0.001)", "model = SimpleNN()"),
        mlx="Python, not MLX: the snippets run in the document's order create `model` only in step 5.",
        torch="The same NameError.",
        naive_failure="Run in order, step 4 raises `NameError: name 'model' is not defined`, in MLX and in PyTorch alike.",
        fix="Create the model, then the optimizer (MLX: `optimizer.init(model.trainable_parameters())` makes its state now).",
        reference=("mlx_reference.pipeline.run_pipeline", "mlx_reference.optim.make_adam"),
    ),
    entry(
        "seed-adam-signature", section="optimizer", seed_defect=True, kind="error",
        title="`Adam(model.parameters(), lr=...)`: MLX takes `learning_rate` and no parameters",
        seed_lines=("optimizer = optim.Adam(model.parameters(), lr=0.001)",),
        mlx=("`optim.Adam(learning_rate, betas=[0.9, 0.999], eps=1e-8, bias_correction=False)`; the parameters "
             "are given to `optimizer.update(model, grads)` each step."),
        torch="`torch.optim.Adam(params, lr=0.001, betas=(0.9, 0.999), eps=1e-8)`: parameters at construction.",
        naive_failure=("`TypeError: Adam.__init__() got an unexpected keyword argument 'lr'`; dropping `lr=` makes "
                       "the parameter dict the learning rate: `ValueError: Invalid type dict received in array "
                       "initialization`."),
        fix="`optim.Adam(learning_rate=1e-3, bias_correction=True)` (see adam-bias-correction).",
        reference=("mlx_reference.optim.make_adam", "reference_torch.optim.make_adam"),
    ),
    entry(
        "adam-bias-correction", section="optimizer", seed_defect=False, kind="silent",
        title="MLX's Adam skips bias correction by default",
        mlx="`optim.Adam(..., bias_correction=False)` is the default: m and v are used uncorrected.",
        torch="`torch.optim.Adam` always divides m by 1 - beta1^t and v by 1 - beta2^t.",
        naive_failure=(
            "The first step is (1 - beta1) / sqrt(1 - beta2) = {first_step_ratio:.4g} times torch's, and the "
            "runs part at once: on the document's data the training loss differs from torch's by "
            "{loss_gap_10:.3g} after 10 steps and {loss_gap_100:.3g} after 100 ({naive_loss_100:.3g} against "
            "{torch_loss_100:.3g})."),
        fix="`optim.Adam(learning_rate=lr, bias_correction=True)`: then MLX follows torch step for step.",
        reference=("mlx_reference.optim.make_adam", "reference_torch.optim.make_adam"),
        measured=(
            Measurement("first_step_ratio", 3.16226, "max |MLX default step| / max |torch step| of fc2.bias after one step", rel=1e-3),
            Measurement("loss_gap_10", 0.0809463, "|training loss after 10 full-batch steps, MLX default - torch|, lr 1e-3"),
            Measurement("loss_gap_100", 0.350183, "the same after 100 steps"),
            Measurement("naive_loss_100", 0.115194, "MLX default's training loss after 100 steps"),
            Measurement("torch_loss_100", 0.465377, "torch's training loss after 100 steps"),
        ),
        cost=1,
        cost_summary="training loss {naive_loss_100:.3g} instead of torch's {torch_loss_100:.3g} after 100 steps; the first step is {first_step_ratio:.3g}x torch's",
    ),
    entry(
        "lr-float32-state", section="optimizer", seed_defect=False, kind="silent",
        title="MLX keeps the learning rate as a float32 array in the optimizer state",
        mlx="`optimizer.learning_rate` is an `mx.array` (float32) stored in `optimizer.state`.",
        torch="`optimizer.param_groups[0][\"lr\"]` is a Python float.",
        naive_failure=(
            "1e-3 reads back as 0.0010000000474974513 (relative error {read_back_rel:.2g}), and a schedule "
            "that multiplies the MLX array by 0.1 three times ends {drift_rel:.2g} (relative) away from "
            "torch's: learning-rate histories compared exactly never match, and a `min_lr` or `eps` "
            "comparison near the boundary can go the other way."),
        fix=("Keep the rate as the Python float it was set to beside MLX's copy (`set_learning_rate` / "
             "`get_learning_rate`), do the schedule's arithmetic on that float and write the result into "
             "`optimizer.learning_rate`; being state, a compiled step sees the change without recompiling."),
        reference=("mlx_reference.optim.set_learning_rate", "mlx_reference.optim.get_learning_rate",
                   "mlx_reference.optim.ReduceLROnPlateau"),
        measured=(
            Measurement("read_back_rel", 4.74975e-08, "(optimizer.learning_rate.item() - 1e-3) / 1e-3", rel=1e-3),
            Measurement("drift_rel", 1.11162e-07, "relative gap after three x0.1 reductions done on the MLX array", rel=1e-3),
        ),
    ),
    entry(
        "reduce-lr-on-plateau-missing", section="optimizer", seed_defect=False, kind="missing",
        title="MLX has no ReduceLROnPlateau",
        mlx="`mlx.optimizers` schedules (`step_decay`, `cosine_decay`, ...) are functions of the step count.",
        torch="`torch.optim.lr_scheduler.ReduceLROnPlateau` watches a metric.",
        naive_failure=(
            "`optim.ReduceLROnPlateau` raises AttributeError, and no step-indexed schedule can react to the "
            "validation loss: on a metric that stalls, torch's scheduler ends at lr {torch_final_lr:.3g} while "
            "the MLX run without one stays at {naive_final_lr:.3g}."),
        fix="`mlx_reference.optim.ReduceLROnPlateau`: torch's rules, arguments and defaults, written for MLX.",
        reference=("mlx_reference.optim.ReduceLROnPlateau", "reference_torch.optim.ReduceLROnPlateau"),
        measured=(
            Measurement("torch_final_lr", 1e-8, "torch ReduceLROnPlateau(patience=2) over a 30-epoch metric that stalls", rel=1e-6),
            Measurement("naive_final_lr", 1e-3, "the MLX optimizer's rate with no plateau logic", rel=1e-6),
        ),
    ),
)
