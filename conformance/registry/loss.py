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
)
