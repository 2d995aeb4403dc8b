"""Registry entries: Linear layers and initialisation, convolutions, normalisation.

The proofs move torch's weights into MLX with ``tests/pitfalls/layouts.py`` (one function per
kind of layer), so the guide's "fix" for a layout is a function there.
"""

from __future__ import annotations

from .entry import Measurement, entry

ENTRIES = (
    # ---------------------------------------------------------------- Linear, activations, initialisation
    entry(
        "he-init-gain", section="linear", seed_defect=False, kind="silent",
        title="He (Kaiming) initialisation: MLX's default gain is 1, torch's sqrt(2)",
        mlx="`nn.init.he_uniform()(w, mode=\"fan_in\", gain=1.0)` and `he_normal` scale by gain / sqrt(fan).",
        torch="`nn.init.kaiming_uniform_(w)` / `kaiming_normal_(w)` default to the ReLU gain sqrt(2).",
        naive_failure=(
            "A port of `kaiming_normal_` to `nn.init.he_normal()` starts every layer {normal_ratio:.3g} times as "
            "wide (uniform: {uniform_ratio:.3g}): activations shrink by that factor per ReLU layer, and the "
            "training that the torch recipe was tuned for does not happen. With the gain given, the ratio is "
            "{fixed_ratio:.3g}."),
        fix="`nn.init.he_uniform()(w, gain=math.sqrt(2))` (the same for `he_normal`).",
        reference=("mlx.nn.init.he_uniform", "torch.nn.init.kaiming_uniform_"),
        measured=(
            Measurement("uniform_ratio", 0.708489, "std of MLX he_uniform / std of torch kaiming_uniform_, a (256, 512) weight"),
            Measurement("normal_ratio", 0.707136, "the same for he_normal / kaiming_normal_"),
            Measurement("fixed_ratio", 1.00212, "std of he_uniform with gain sqrt(2) / std of kaiming_uniform_"),
        ),
    ),
    entry(
        "init-returns-initializer", section="linear", seed_defect=False, kind="silent",
        title="`nn.init` functions build initialisers; they do not initialise in place",
        mlx=("`nn.init.glorot_uniform(dtype)` returns a function; `layer.weight = nn.init.glorot_uniform()(layer.weight)` "
             "draws a new array of the weight's shape."),
        torch="`nn.init.xavier_uniform_(layer.weight)` overwrites the tensor in place.",
        naive_failure=(
            "`nn.init.glorot_uniform(layer.weight)`, written as torch's call, takes the weight for a dtype, returns a "
            "function and changes nothing, without an error: the layer keeps its default initialisation, whose "
            "spread is {std_ratio:.3g} times Glorot's for a (256, 512) weight ({fixed_ratio:.3g} once assigned)."),
        fix="`layer.weight = nn.init.glorot_uniform()(layer.weight)`; for a whole model, `model.apply(...)` or `model.update(...)`.",
        reference=("mlx.nn.init.glorot_uniform", "torch.nn.init.xavier_uniform_"),
        measured=(
            Measurement("std_ratio", 0.500409, "std of the untouched default weight / std of torch's xavier_uniform_, (256, 512)"),
            Measurement("fixed_ratio", 1.00202, "std after `layer.weight = glorot_uniform()(layer.weight)` / torch's"),
        ),
    ),
    entry(
        "gelu-approximations", section="linear", seed_defect=False, kind="error",
        title="GELU's approximations: `approx=`, and MLX's \"fast\" is not torch's \"tanh\"",
        mlx=("`nn.GELU(approx=\"none\" | \"precise\" | \"tanh\" | \"fast\")`: \"precise\" and \"tanh\" are the tanh "
             "formula, \"fast\" is x sigmoid(1.702 x)."),
        torch="`nn.GELU(approximate=\"none\" | \"tanh\")`.",
        naive_failure=(
            "`nn.GELU(approximate=\"tanh\")` raises TypeError; reaching for `approx=\"fast\"` as the approximate one "
            "gives outputs up to {fast_gap:.3g} away from torch's tanh approximation."),
        fix="`nn.GELU(approx=\"precise\")` for torch's `approximate=\"tanh\"`; `nn.GELU()` for the exact one.",
        reference=("mlx.nn.GELU", "torch.nn.GELU"),
        measured=(Measurement("fast_gap", 0.0206594, "max |GELU(approx='fast') - torch GELU(approximate='tanh')| on [-6, 6]"),),
    ),
    # ---------------------------------------------------------------- convolutions
    entry(
        "conv-channels-last", section="conv", seed_defect=False, kind="silent",
        title="Convolutions are channels-last: inputs (N, H, W, C), weights (out, kH, kW, in)",
        mlx="`nn.Conv1d/2d/3d` take NLC / NHWC / NDHWC inputs and keep weights as (out, *kernel, in).",
        torch="`nn.Conv2d` takes NCHW and keeps weights as (out, in, kH, kW).",
        naive_failure=(
            "An NCHW input raises (`[conv] Expect the input channels ...`) unless its width happens to equal the "
            "channels; a weight `reshape`d instead of transposed fits and runs: a 3x3 convolution is then "
            "{gap_k3:.3g} off, while a 1x1 one agrees with torch (reshape and transpose coincide there), so a "
            "test on 1x1 layers hides the bug."),
        fix="`layouts.conv`: `np.moveaxis(w, 1, -1)` for the weight; `np.moveaxis(x, 1, -1)` into MLX and back out.",
        reference=("mlx.nn.Conv2d", "conformance.pair.layouts.CONV"),
        measured=(
            Measurement("gap_k3", 2.74155, "max |MLX - torch| of a Conv2d(3, 4, 3) with the weight reshaped to (4, 3, 3, 3), "
                        "inputs transposed right"),
        ),
    ),
    entry(
        "conv-transpose-weight-layout", section="conv", seed_defect=False, kind="silent",
        title="ConvTranspose weights: torch's are (in, out, k...), MLX's (out, k..., in)",
        mlx="`nn.ConvTranspose2d` keeps its weight as (out, kH, kW, in), like `Conv2d`.",
        torch="`nn.ConvTranspose2d` keeps (in, out / groups, kH, kW): the first two axes swapped against `Conv2d`.",
        naive_failure=(
            "Converted with Conv2d's rule, a ConvTranspose2d with as many input as output channels runs and is "
            "{gap:.3g} off (with different counts it at least raises)."),
        fix="`layouts.conv_transpose`: `w.transpose(1, 2, 3, 0)` for 2-D.",
        reference=("mlx.nn.ConvTranspose2d", "torch.nn.ConvTranspose2d", "conformance.pair.layouts.CONV_TRANSPOSE"),
        measured=(Measurement("gap", 1.20141, "max |MLX - torch| of ConvTranspose2d(4, 4, 3, stride 2) converted with "
                              "Conv2d's rule"),),
    ),
    entry(
        "flatten-after-conv-order", section="conv", seed_defect=False, kind="silent",
        title="Flattening after a convolution orders the elements (H, W, C) in MLX, (C, H, W) in torch",
        mlx="`h.reshape(N, -1)` of an (N, H, W, C) activation runs over the channels fastest.",
        torch="`nn.Flatten()` of (N, C, H, W) runs over the width fastest.",
        naive_failure=(
            "The first Linear layer after the convolutions, its weight copied as it is, reads every feature from "
            "the wrong place: the outputs are {gap:.3g} off, with no error (the sizes agree)."),
        fix=("Permute the Linear layer's columns once (`layouts.linear_after_flatten`), or flatten in torch's order: "
             "`h.transpose(0, 3, 1, 2).reshape(N, -1)`."),
        reference=("mlx.nn.Linear", "conformance.pair.layouts.after_flatten"),
        measured=(Measurement("gap", 0.466785, "max |MLX - torch| of Conv2d(3, 4, 3) + ReLU + Flatten + Linear(120, 2), the "
                              "Linear weight copied as is"),),
    ),
    entry(
        "conv-bias-init-zero", section="conv", seed_defect=False, kind="silent",
        title="MLX's convolutions start with a zero bias; torch's draw it",
        mlx="`nn.Conv1d/2d/3d` initialise `bias` to zeros (their weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch's).",
        torch="`nn.Conv2d` draws its bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), like `nn.Linear`.",
        naive_failure=(
            "The same architecture starts from a different distribution: MLX's biases are all {mlx_max:.0f}, torch's "
            "spread with {torch_std_ratio:.3g} times the standard deviation of U(-1/sqrt(fan_in), 1/sqrt(fan_in)) "
            "(Conv2d(64, 256, 3)); redrawn as below, MLX's spread is {fixed_std_ratio:.3g} times torch's. Only "
            "weights copied from torch make the two runs comparable."),
        fix="`conv.bias = mx.random.uniform(-b, b, conv.bias.shape)` with `b = 1 / math.sqrt(in_channels * kH * kW)`.",
        reference=("mlx.nn.Conv2d",),
        measured=(
            Measurement("mlx_max", 0, "max |bias| of a fresh MLX Conv2d(64, 256, 3)", rel=0.0),
            Measurement("torch_std_ratio", 1.01625, "std of torch's fresh bias / (1 / sqrt(3 fan_in))"),
            Measurement("fixed_std_ratio", 0.990783, "std of the redrawn MLX bias / std of torch's"),
        ),
    ),
    # ---------------------------------------------------------------- normalisation
    entry(
        "groupnorm-pytorch-compatible", section="norm", seed_defect=False, kind="silent",
        title="`GroupNorm` groups the channels differently unless `pytorch_compatible=True`",
        mlx=("`nn.GroupNorm(groups, dims, pytorch_compatible=False)`: by default the channels are assigned to "
             "groups by striding (channel c to group c mod groups)."),
        torch="`nn.GroupNorm(groups, channels)`: contiguous blocks of channels per group.",
        naive_failure=(
            "With torch's weights and channels of different scales, MLX's default GroupNorm(2, 8) is up to "
            "{gap:.3g} away from torch's: it normalises other sets of channels together."),
        fix="`nn.GroupNorm(groups, dims, pytorch_compatible=True)` (and channels-last inputs).",
        reference=("mlx.nn.GroupNorm", "torch.nn.GroupNorm", "conformance.pair.layouts.GROUP_NORM"),
        measured=(Measurement("gap", 2.31971, "max |MLX - torch| of GroupNorm(2, 8) on (2, 8, 5, 5) features whose channel "
                              "c has mean c and std c + 1"),),
    ),
    entry(
        "batchnorm-running-var", section="norm", seed_defect=False, kind="silent",
        title="BatchNorm's running variance was biased (divisor n) before MLX 0.32.1",
        mlx=("`nn.BatchNorm` (channels-last, one class for 1-D to 3-D) updates `running_var` with the unbiased batch "
             "variance since 0.32.1; before, with the biased one. Normalisation in training uses the biased one in "
             "both frameworks."),
        torch="`nn.BatchNorm2d` updates `running_var` with the unbiased variance (n - 1).",
        naive_failure=(
            "A model trained on MLX before 0.32.1 evaluates differently from torch's: with four values per "
            "channel, after 10 training steps on a batch, the evaluation outputs are {old_gap:.3g} apart (that "
            "estimator recomputed here in float64)."),
        fix=("MLX 0.32.1 or later; before, keep the running variance yourself after each training step: "
             "`bn.running_var = (1 - m) * previous + m * mx.var(x, axis=(0, 1, 2), ddof=1)` (for NHWC inputs)."),
        reference=("mlx.nn.BatchNorm", "torch.nn.BatchNorm2d", "conformance.pair.layouts.BATCH_NORM"),
        mlx_versions="<0.32.1",
        history="Fixed in 0.32.1 (ml-explore/mlx#3817), which also refuses training on one value per channel",
        measured=(Measurement("old_gap", 0.281861, "max |eval output with MLX < 0.32.1's running statistics - torch's|, "
                              "BatchNorm(8), batch (2, 8, 1, 2), 10 steps, momentum 0.1"),),
    ),
    entry(
        "rmsnorm-eps", section="norm", seed_defect=False, kind="silent",
        title="RMSNorm's eps: 1e-5 in MLX, the dtype's machine epsilon in torch",
        mlx="`nn.RMSNorm(dims, eps=1e-5)`.",
        torch="`nn.RMSNorm(shape, eps=None)`: `torch.finfo(x.dtype).eps` (1.2e-7 for float32).",
        naive_failure=(
            "Where the mean square of the activations is not far above 1e-5 the two differ: for activations of "
            "size 1e-3, MLX's output is {gap:.3g} away from torch's."),
        fix="`nn.RMSNorm(dims, eps=float(np.finfo(np.float32).eps))` (the eps of the dtype the model runs in).",
        reference=("mlx.nn.RMSNorm", "torch.nn.RMSNorm", "conformance.pair.layouts.RMS_NORM"),
        measured=(Measurement("gap", 1.83123, "max |MLX - torch| of RMSNorm(16) on (4, 16) activations N(0, 1e-6)"),),
    ),
)
