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
        history=("The `bias_correction` option exists since 0.21.1 (ml-explore/mlx#1640); before, MLX's Adam could "
                 "not correct at all"),
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
    entry(
        "adam-weight-decay", section="optimizer", seed_defect=False, kind="silent",
        title="Weight decay: MLX's `Adam` has none, and `AdamW` decays differently from torch's `Adam(weight_decay=)`",
        mlx=("`optim.Adam` takes no `weight_decay`; `optim.AdamW(weight_decay=0.01)` (the default, as torch's) "
             "shrinks the weights directly, decoupled from the gradient; `optim.SGD(weight_decay=)` adds it to the "
             "gradient, as torch's SGD does."),
        torch=("`torch.optim.Adam(params, weight_decay=wd)` adds wd * p to the gradient before the moments (an L2 "
               "penalty that Adam then normalises); `AdamW` is the decoupled form."),
        naive_failure=(
            "`Adam(weight_decay=0.1)` raises TypeError in MLX; ported as `AdamW(weight_decay=0.1, "
            "bias_correction=True)` it trains another model: after 10 steps at lr 1e-3 on the document's data the "
            "weights are {weight_gap_10:.3g} apart, {update_gap_share:.3g} times as far as 10 steps of lr move a weight."),
        fix=("`optim.Adam(learning_rate=lr, bias_correction=True)` with `grads = tree_map(lambda g, p: g + wd * p, "
             "grads, model.trainable_parameters())` before `update`; and `AdamW(..., bias_correction=True)` for "
             "torch's `AdamW`."),
        reference=("mlx.optimizers.AdamW", "torch.optim.Adam"),
        measured=(
            Measurement("weight_gap_10", 0.019884, "max |MLX AdamW(wd 0.1) - torch Adam(wd 0.1)| over SimpleNN's weights "
                        "after 10 full-batch steps at lr 1e-3, document's data"),
            Measurement("update_gap_share", 1.9884, "that gap / (10 steps x lr), Adam's largest possible movement"),
        ),
    ),
    entry(
        "sgd-dampening-first-step", section="optimizer", seed_defect=False, kind="silent",
        title="SGD with dampening: MLX's momentum buffer starts at zero, torch's at the first gradient",
        mlx="`optim.SGD(momentum=m, dampening=d)`: v = m v + (1 - d) g from v = 0, so the first step is (1 - d) lr g.",
        torch="`torch.optim.SGD(momentum=m, dampening=d)`: the buffer is the first gradient itself (undamped), then "
              "m buf + (1 - d) g.",
        naive_failure=(
            "With momentum 0.9 and dampening 0.5, MLX's first step is {first_step_ratio:.3g} times torch's, and "
            "the runs stay apart: after 10 steps at lr 0.1 on the document's data the losses differ by "
            "{loss_gap_10:.3g}. Without dampening the two agree."),
        fix="Take the first update with `dampening=0`, then set `optimizer.dampening = d`.",
        reference=("mlx.optimizers.SGD", "torch.optim.SGD"),
        measured=(
            Measurement("first_step_ratio", 0.5, "|first MLX step| / |first torch step| of fc2.bias", rel=1e-3),
            Measurement("loss_gap_10", 0.0266903, "|training loss at step 10, MLX - torch|, lr 0.1, momentum 0.9, dampening 0.5"),
        ),
    ),
    entry(
        "adagrad-eps", section="optimizer", seed_defect=False, kind="silent",
        title="Adagrad's eps: 1e-8 in MLX, 1e-10 in torch",
        mlx="`optim.Adagrad(learning_rate, eps=1e-8)`: w -= lr g / (sqrt(sum g^2) + eps).",
        torch="`torch.optim.Adagrad(params, lr=0.01, eps=1e-10)`: the same rule, with eps 100 times smaller.",
        naive_failure=(
            "The first step of a weight is lr g / (|g| + eps), about lr in torch whatever |g|; in MLX a weight whose "
            "gradient is 1e-8 (a rarely used embedding row, a saturated unit) moves {step_ratio_1e8:.3g} times as "
            "far as in torch, at 1e-9 {step_ratio_1e9:.3g} times."),
        fix="`optim.Adagrad(learning_rate=lr, eps=1e-10)`.",
        reference=("mlx.optimizers.Adagrad", "torch.optim.Adagrad"),
        measured=(
            Measurement("step_ratio_1e8", 0.505, "MLX / torch first Adagrad step of a weight with gradient 1e-8, lr 0.01"),
            Measurement("step_ratio_1e9", 0.1, "the same at gradient 1e-9"),
        ),
    ),
    entry(
        "adamax-bias-correction", section="optimizer", seed_defect=False, kind="silent",
        title="MLX's Adamax has no bias correction, and no option for it",
        mlx="`optim.Adamax(learning_rate, betas, eps)`: m / (v + eps) with m uncorrected (it inherits no `bias_correction`).",
        torch="`torch.optim.Adamax`: the step is lr / (1 - beta1^t) times m / u.",
        naive_failure=(
            "The first step is {first_step_ratio:.3g} times torch's (1 - beta1), and the runs part: after 10 "
            "steps at lr 2e-3 on the document's data the weights are {weight_gap_10:.3g} apart."),
        fix=("Put the correction in the learning rate: `optim.Adamax(learning_rate=lambda step: lr / (1 - b1 ** "
             "(step + 1)))` (MLX calls a schedule with the step count before the update)."),
        reference=("mlx.optimizers.Adamax", "torch.optim.Adamax"),
        measured=(
            Measurement("first_step_ratio", 0.0999998, "|first MLX step| / |first torch step| of fc2.bias, lr 2e-3", rel=1e-3),
            Measurement("weight_gap_10", 0.0117284, "max |MLX - torch| over SimpleNN's weights after 10 steps, document's data"),
        ),
    ),
    entry(
        "clip-grad-norm-returns", section="optimizer", seed_defect=False, kind="silent",
        title="`optim.clip_grad_norm` returns the clipped gradients; it does not clip in place",
        mlx="`clipped, norm = optim.clip_grad_norm(grads, max_norm)`: a new tree and the norm before clipping.",
        torch="`torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)` scales every `.grad` in place and "
              "returns the norm.",
        naive_failure=(
            "Called as torch's is, for its effect, it changes nothing: on the document's data the gradient norm is "
            "{first_norm:.3g} against a limit of 0.05, and the unclipped first SGD step is {first_step_ratio:.3g} "
            "times torch's clipped one."),
        fix="`grads, _ = optim.clip_grad_norm(grads, max_norm)`, then `optimizer.update(model, grads)`.",
        reference=("mlx.optimizers.clip_grad_norm", "torch.nn.utils.clip_grad_norm_"),
        measured=(
            Measurement("first_norm", 0.462587, "torch's clip_grad_norm_ return value at the initial weights, document's data"),
            Measurement("first_step_ratio", 9.25177, "|first MLX step| / |first torch step| of fc2.bias, SGD lr 0.5, max_norm 0.05"),
        ),
    ),
    entry(
        "schedule-per-update", section="optimizer", seed_defect=False, kind="silent",
        title="An MLX schedule advances with every update; torch's schedulers step when you call them (per epoch)",
        mlx=("`optim.SGD(learning_rate=optim.cosine_decay(lr, decay_steps))`: the schedule is evaluated at the "
             "optimizer's step count, which every `update` increments."),
        torch="`CosineAnnealingLR(opt, T_max=epochs)` changes the rate when `scheduler.step()` is called, usually once an epoch.",
        naive_failure=(
            "`decay_steps=epochs` copied from `T_max=epochs` decays within the first epoch: with 8 batches an epoch "
            "over 10 epochs, the second epoch runs at {naive_lr_epoch_2:.3g} instead of torch's {torch_lr_epoch_2:.3g}, "
            "and the rate is zero from the eleventh update on."),
        fix=("Count in updates (`decay_steps=epochs * batches_per_epoch`, a different, smooth schedule), or read "
             "the schedule once an epoch: `optimizer.learning_rate = schedule(epoch)`, which is torch's."),
        reference=("mlx.optimizers.cosine_decay", "torch.optim.lr_scheduler.CosineAnnealingLR"),
        measured=(
            Measurement("naive_lr_epoch_2", 0.00954915, "MLX's rate at the first update of epoch 2, decay_steps=10, lr 0.1", rel=1e-4),
            Measurement("torch_lr_epoch_2", 0.0975528, "torch CosineAnnealingLR(T_max=10)'s rate in epoch 2", rel=1e-4),
        ),
    ),
)
