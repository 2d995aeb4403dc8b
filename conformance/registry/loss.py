"""Registry entries: the loss (the document's step 3)."""

from __future__ import annotations

from .entry import Measurement, entry

ENTRIES = (
    # ---------------------------------------------------------------- 3. the loss
    entry(
        "seed-bceloss-missing", section="loss", seed_defect=True, kind="error",
        title="`nn.BCELoss` does not exist in MLX",
        seed_lines=("loss_fn = nn.BCELoss()  # 二分類交叉熵損失",),
        mlx="Losses are functions in `mlx.nn.losses` (`binary_cross_entropy`), not modules.",
        torch="`nn.BCELoss` (probabilities) and `nn.BCEWithLogitsLoss` (logits) are modules.",
        naive_failure="`nn.BCELoss()` raises `AttributeError: module 'mlx.nn' has no attribute 'BCELoss'`.",
        fix="`nn.losses.binary_cross_entropy(logits, targets, with_logits=True, reduction=\"mean\")`.",
        reference=("mlx_reference.loss.bce_with_logits", "reference_torch.loss.bce_with_logits"),
    ),
    entry(
        "seed-bceloss-on-logits", section="loss", seed_defect=True, kind="silent",
        title="A probability loss on a model that returns logits",
        seed_lines=("loss_fn = nn.BCELoss()  # 二分類交叉熵損失", "x = self.fc2(x)"),
        mlx="`binary_cross_entropy(x, y, with_logits=False)` takes log(x) and log(1 - x) unchecked: NaN outside [0, 1].",
        torch="`nn.BCELoss` checks its input and raises once an element leaves [0, 1].",
        naive_failure=(
            "SimpleNN ends in a Linear layer (no sigmoid), so `BCELoss` treats logits as probabilities. Even as "
            "PyTorch the document is wrong: the first loss is {torch_first_loss:.4g} instead of "
            "{true_first_loss:.4g}, and training stops at epoch {torch_crash_epoch:.0f} of 100 with "
            "`RuntimeError: all elements of input should be between 0 and 1`. MLX's probability form runs on "
            "and its loss turns NaN at epoch {mlx_nan_epoch:.0f}."),
        fix=("Keep the model's logits and use the logits form of the loss (`with_logits=True` / "
             "`BCEWithLogitsLoss`): stable, and the same value as BCE of sigmoid(logits)."),
        reference=("mlx_reference.loss.loss_fn", "reference_torch.loss.loss_fn"),
        measured=(
            Measurement("torch_first_loss", 1.05273, "torch BCELoss(logits, y), document's data, initial weights", rel=1e-4),
            Measurement("true_first_loss", 0.642699, "torch BCEWithLogitsLoss(logits, y), the same", rel=1e-4),
            Measurement("torch_crash_epoch", 95, "epoch at which torch's BCELoss raises, Adam lr 1e-3, full batch", rel=0.0),
            Measurement("mlx_nan_epoch", 95, "first epoch whose MLX with_logits=False loss is NaN, the same run", rel=0.0),
        ),
        cost=5,
        cost_summary='first loss {torch_first_loss:.3g} instead of {true_first_loss:.3g}; torch raises, MLX turns NaN, at epoch {torch_crash_epoch:.0f}',
    ),
    entry(
        "bce-with-logits-default", section="loss", seed_defect=False, kind="silent",
        title="MLX's `binary_cross_entropy` takes logits by default",
        mlx="`nn.losses.binary_cross_entropy(inputs, targets, with_logits=True)`: the default expects logits.",
        torch="`nn.BCELoss` / `F.binary_cross_entropy` expect probabilities; the logits form is a separate function.",
        naive_failure=(
            "Porting `nn.BCELoss()(probabilities, y)` to `binary_cross_entropy(probabilities, y)` silently "
            "computes BCE of sigmoid(probabilities): {naive_loss:.4g} instead of {true_loss:.4g} on the "
            "document's data at the initial weights, with gradients {grad_ratio:.3g} times too small."),
        fix="Always pass `with_logits=` explicitly; feed logits (`with_logits=True`) whenever the model returns them.",
        reference=("mlx_reference.loss.bce", "mlx_reference.loss.bce_with_logits"),
        measured=(
            Measurement("naive_loss", 0.63288, "MLX binary_cross_entropy(sigmoid(logits), y) with the default", rel=1e-4),
            Measurement("true_loss", 0.642699, "torch BCELoss(sigmoid(logits), y)", rel=1e-4),
            Measurement("grad_ratio", 0.297505, "max |d naive / d logits| / max |d true / d logits|", rel=0.02),
        ),
        cost=4,
        cost_summary='BCE of probabilities reads {naive_loss:.4g} instead of {true_loss:.4g}, with gradients {grad_ratio:.2g}x the true ones',
    ),
    entry(
        "shape-n1-vs-n", section="loss", seed_defect=True, kind="error",
        title="Logits of shape (N, 1) against targets of shape (N,)",
        seed_lines=("self.fc2 = nn.Linear(10, 1)  # 第二層：10個神經元到1個輸出", "loss = loss_fn(y_pred, y_train)"),
        mlx=("`binary_cross_entropy` raises `ValueError: Inputs shape (4, 1) does not match targets shape (4,)`; "
             "plain array arithmetic broadcasts (N, 1) with (N,) to (N, N) silently."),
        torch=("`BCEWithLogitsLoss`/`BCELoss` raise ValueError on different sizes; `mse_loss` only warns and "
               "broadcasts; array arithmetic broadcasts silently."),
        naive_failure=(
            "The document's model returns (N, 1) and its labels are (N,). The library losses refuse; a "
            "hand-written BCE averages an (N, N) matrix of every logit against every label: "
            "{broadcast_loss:.4g} instead of {true_loss:.4g} at the initial weights."),
        fix="Return logits of shape (N,) from the model (`.squeeze(-1)`), and check shapes in the loss.",
        reference=("mlx_reference.model.SimpleNN.__call__", "mlx_reference.loss._check_shapes"),
        measured=(
            Measurement("broadcast_loss", 0.667367, "mean(logaddexp(0, z) - y * z) with z (3, 1) and y (3,), document's data", rel=1e-4),
            Measurement("true_loss", 0.642699, "the same with z (3,)", rel=1e-4),
        ),
        cost=10,
        cost_summary='a hand-written BCE averages an (N, N) broadcast: {broadcast_loss:.4g} instead of {true_loss:.4g}',
    ),
    entry(
        "integer-targets", section="loss", seed_defect=False, kind="error",
        title="Integer labels: MLX promotes them, torch refuses them",
        seed_lines=("y_train = mx.array(y_train)",),
        mlx="`mx.array(np.array([0, 1, ...]))` is int64, and `binary_cross_entropy` promotes integer targets.",
        torch=("`BCEWithLogitsLoss` with int64 targets raises `RuntimeError: result type Float can't be cast to "
               "the desired output type Long`; `BCELoss` raises `Found dtype Long but expected Float`."),
        naive_failure=("The document's int64 labels train in MLX but stop a PyTorch port at the first loss, and "
                       "code that works in MLX only by promotion breaks when moved back."),
        fix="Convert the labels to the model's float dtype on both sides (`to_array(y, \"float32\")`).",
        reference=("mlx_reference.data.to_array", "reference_torch.data.to_array"),
    ),
    entry(
        "loss-reduction-none-default", section="loss", seed_defect=False, kind="error",
        title="Most MLX losses return one value per sample: their reduction defaults to `'none'`",
        mlx=("`cross_entropy`, `nll_loss`, `kl_div_loss`, `huber_loss`, `hinge_loss`, `log_cosh_loss`, "
             "`cosine_similarity_loss`, `margin_ranking_loss` and `triplet_loss` default to `reduction='none'`; "
             "`binary_cross_entropy`, `mse_loss`, `l1_loss`, `smooth_l1_loss` and `gaussian_nll_loss` to `'mean'`."),
        torch="Every loss module and function defaults to `reduction='mean'`.",
        naive_failure=(
            "`nn.CrossEntropyLoss()(logits, y)` ported as `nn.losses.cross_entropy(logits, y)` returns a vector: "
            "`nn.value_and_grad` stops with `ValueError: [vjp] Output shape (6) does not match cotangent shape ()`, "
            "and a loss that is summed or logged instead is {sum_ratio:.0f} times (the batch size) torch's mean."),
        fix="Pass `reduction=\"mean\"` to every MLX loss, whatever its default.",
        reference=("mlx.nn.losses.cross_entropy", "torch.nn.functional.cross_entropy"),
        measured=(Measurement("sum_ratio", 6, "mx.sum(cross_entropy(logits, y)) / torch's cross_entropy, 6 samples, 4 classes",
                              rel=1e-5),),
    ),
    entry(
        "cross-entropy-class-weights", section="loss", seed_defect=False, kind="silent",
        title="`cross_entropy`'s weights are per sample and averaged as mean(w l); torch's are per class",
        mlx=("`cross_entropy(logits, y, weights=w)`: `w` has the loss's shape (one weight per sample), and "
             "`reduction='mean'` divides the weighted sum by the number of samples."),
        torch=("`F.cross_entropy(logits, y, weight=w)`: `w` has one weight per class, and `'mean'` divides by the "
               "sum of the weights of the samples' classes: sum(w[y] l) / sum(w[y])."),
        naive_failure=(
            "Passing torch's per-class weights indexed by the targets, `weights=w[y], reduction=\"mean\"`, gives "
            "{naive_loss:.4g} where torch gives {torch_loss:.4g} (6 samples, 4 classes, class weights 0.1, 0.2, 0.3, 0.4): "
            "the loss scale, and with it the effective learning rate, changes with the batch's class mix."),
        fix="`mx.sum(w[y] * cross_entropy(logits, y)) / mx.sum(w[y])` (reduction `'none'` inside).",
        reference=("mlx.nn.losses.cross_entropy", "torch.nn.functional.cross_entropy"),
        measured=(
            Measurement("naive_loss", 0.41155, "MLX cross_entropy(logits, y, weights=w[y], reduction='mean')", rel=1e-4),
            Measurement("torch_loss", 1.54331, "torch F.cross_entropy(logits, y, weight=w)", rel=1e-4),
        ),
    ),
    entry(
        "cross-entropy-ignore-index", section="loss", seed_defect=False, kind="silent",
        title="No `ignore_index`: padding targets of -100 are read as a class",
        mlx=("`cross_entropy` has no `ignore_index`, and does not check its targets: a target of -100 reads the "
             "logits outside their row (an undefined value that changes from run to run)."),
        torch="`F.cross_entropy(..., ignore_index=-100)` by default: targets of -100 count for nothing, and the mean "
              "is over the other targets.",
        naive_failure=(
            "A padded batch (2 of its 6 targets -100, the convention of torch's sequence models) cannot be passed as "
            "is; with the padding mapped to a real class so that it runs, the mean counts the padding: "
            "{naive_loss:.4g} where torch gives {torch_loss:.4g}, and the padding positions are trained toward that "
            "class."),
        fix=("Mask: `keep = y != -100`; `l = cross_entropy(logits, mx.where(keep, y, 0))`; "
             "`mx.sum(mx.where(keep, l, 0)) / mx.sum(keep)`."),
        reference=("mlx.nn.losses.cross_entropy", "torch.nn.functional.cross_entropy"),
        measured=(
            Measurement("naive_loss", 1.61001, "MLX cross_entropy(logits, y with its two -100s replaced by 0, reduction='mean')",
                        rel=1e-4),
            Measurement("torch_loss", 1.24378, "torch F.cross_entropy(logits, y) (ignore_index=-100)", rel=1e-4),
        ),
    ),
    entry(
        "kl-div-log-targets", section="loss", seed_defect=False, kind="silent",
        title="`kl_div_loss` takes log-probability targets, and its `'mean'` is torch's `'batchmean'`",
        mlx=("`kl_div_loss(inputs, targets)`: both are log-probabilities; the loss is sum(exp(t) (t - x)) over the "
             "class axis, and `reduction='mean'` averages it over the batch."),
        torch=("`F.kl_div(input, target)`: `target` is a probability unless `log_target=True`; `reduction='mean'` "
               "(the default) averages over every element, and `'batchmean'` is the divergence per sample."),
        naive_failure=(
            "`F.kl_div(log_q, p, reduction=\"batchmean\")` ported as `kl_div_loss(log_q, p, reduction=\"mean\")` "
            "gives {naive_loss:.4g} for a divergence of {torch_loss:.4g} (6 samples, 4 classes), and torch's own "
            "default `'mean'` reads {torch_elementwise:.4g}, the divergence divided by the number of classes."),
        fix="`kl_div_loss(log_q, mx.log(p), reduction=\"mean\")` for `F.kl_div(log_q, p, reduction=\"batchmean\")`.",
        reference=("mlx.nn.losses.kl_div_loss", "torch.nn.functional.kl_div"),
        measured=(
            Measurement("naive_loss", 14.2517, "MLX kl_div_loss(log_q, p, reduction='mean') with probability targets", rel=1e-4),
            Measurement("torch_loss", 0.934268, "torch F.kl_div(log_q, p, reduction='batchmean')", rel=1e-4),
            Measurement("torch_elementwise", 0.233567, "torch F.kl_div(log_q, p) (reduction='mean')", rel=1e-4),
        ),
    ),
)
