"""The registry of differences: every way MLX and PyTorch differ on this pipeline's path, and every
defect of the seed document's code, as data.

Each :class:`Entry` says which step of the document it belongs to, what MLX does, what PyTorch does,
what goes wrong when the code is ported naively (with the number measured, where there is one),
the fix, and the pytest node id of the test that demonstrates both the failure and the fix.
``tests/test_registry.py`` walks this registry: every entry must name a collected test in
``tests/test_pitfalls.py`` (called ``test_<id with underscores>``) that is not skipped on the CPU
unless the entry needs a GPU, every seed line it quotes must still be in the document, and every
measured number must be re-measured by its test. The porting guide (``docs/PORTING.md``) is
rendered from these entries by ``python -m conformance.guide``.

Measured numbers: each :class:`Measurement` states what was measured and how; its test measures it
again and fails when the result moves by more than ``rel`` (relative), or, for timings, by more
than a factor of ``TIMING_SPREAD``, so a new MLX or PyTorch release that changes a default or a
result is noticed. To re-measure everything: ``PITFALLS_MEASURE=measured.jsonl python -m pytest
tests/test_pitfalls.py`` writes one JSON line per measurement (and checks none of them).

The document's data, unless an entry says otherwise, are its five samples split by
``conformance.data.split_indices`` (seed 0: 3 train, 1 validation, 1 test), standardized with the
training rows' mean and population standard deviation, float32, and SimpleNN starts from
``conformance.weights.init_weights(2, 10, seed=0)``. "The seed's split" is the document's own:
``StandardScaler`` on all five rows, then ``train_test_split(test_size=0.2, random_state=42)``
(4 train rows, 1 test row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

KINDS = {
    "error": "raises: the naive port stops with an exception",
    "silent": "wrong numbers, no error",
    "missing": "the document promises it, the code does not do it",
    "performance": "correct, but slow or misleading to time",
    "style": "works, but is not how MLX code is written",
}
STEPS = {
    1: "Data preparation",
    2: "Defining the model",
    3: "Choosing the loss",
    4: "Choosing the optimizer",
    5: "Controlling training",
    6: "Validation and tuning",
    7: "Final evaluation and testing",
    8: "Summary: the whole flow, devices and APIs",
}
DEVICES = {
    "gpu": "needs MLX's GPU backend (Metal or CUDA)",
    "cuda": "needs MLX's CUDA backend and torch with CUDA",
}
TEST_FILE = "tests/test_pitfalls.py"
MEASURED_WITH = {"mlx": "0.32.4", "torch": "2.13.0"}  # the versions the registered numbers come from
TIMING_SPREAD = 20.0  # a re-measured timing must lie within this factor of the registered one


@dataclass(frozen=True)
class Measurement:
    """A number quoted in an entry: ``key`` names it in ``naive_failure`` (``{key:.3g}``)."""

    key: str
    value: float
    how: str
    rel: float = 0.02
    timing: bool = False

    def agrees(self, observed: float) -> bool:
        """Whether a re-measurement ``observed`` confirms this number."""
        if self.timing:
            return self.value / TIMING_SPREAD <= observed <= self.value * TIMING_SPREAD
        return abs(observed - self.value) <= self.rel * abs(self.value)

    def allowed(self) -> str:
        if self.timing:
            return f"within a factor {TIMING_SPREAD:g} of {self.value:.3g}"
        return f"{self.value:.6g} +/- {100 * self.rel:g}%"


@dataclass(frozen=True)
class Entry:
    id: str
    step: int
    title: str
    mlx: str
    torch: str
    naive_failure: str
    fix: str
    test: str
    seed_defect: bool
    kind: str
    seed_lines: tuple[str, ...] = ()
    measured: tuple[Measurement, ...] = ()
    device: str | None = None
    reference: tuple[str, ...] = ()
    cost: int | None = None  # rank among the ten most costly pitfalls (1 = the most costly)
    cost_summary: str = ""  # for the ranked ones: one line, with the measured cost (``{key}`` fields)

    @property
    def test_function(self) -> str:
        return self.test.split("::", 1)[1]

    def values(self) -> dict[str, float]:
        return {m.key: m.value for m in self.measured}

    def naive_failure_text(self) -> str:
        """``naive_failure`` with the measured numbers filled in."""
        return self.naive_failure.format(**self.values())

    def summary_text(self) -> str:
        """``cost_summary`` with the measured numbers filled in."""
        return self.cost_summary.format(**self.values())


def _test(entry_id: str) -> str:
    return f"{TEST_FILE}::test_{entry_id.replace('-', '_')}"


def _entry(id: str, **fields) -> Entry:
    return Entry(id=id, test=_test(id), **fields)


ENTRIES: tuple[Entry, ...] = (
    # ---------------------------------------------------------------- 1. data preparation
    _entry(
        "seed-scaler-before-split", step=1, seed_defect=True, kind="silent",
        title="The scaler is fit on all the data before the split",
        seed_lines=("X_scaled = scaler.fit_transform(X)",
                    "X_train, X_test, y_train, y_test = train_test_split(X_scaled, y, test_size=0.2, random_state=42)"),
        mlx=("Nothing framework-specific: scikit-learn (or `mlx_reference.data.StandardScaler`) standardizes "
             "with the statistics of whatever rows it is fit on."),
        torch="The same: `reference_torch.data.StandardScaler` mirrors it.",
        naive_failure=(
            "The test row's mean and spread leak into training, and the test row is standardized with "
            "statistics that include itself. On the document's data the test row comes out {test_shift:.3g} "
            "away from its value under a scaler fit on the 4 training rows, and the training rows move by up "
            "to {train_shift:.3g}."),
        fix=("Split first (`conformance.data.split_indices`), fit `StandardScaler` on the training rows only, "
             "then transform validation and test with the training statistics."),
        reference=("mlx_reference.data.StandardScaler", "reference_torch.data.StandardScaler",
                   "conformance.data.split_indices"),
        measured=(
            Measurement("test_shift", 0.138047,
                        "max |seed X_test - X_test under a scaler fit on the seed's 4 training rows| (both float32)"),
            Measurement("train_shift", 0.230998, "the same for the 4 training rows"),
        ),
        cost=8,
        cost_summary='the test row standardized {test_shift:.3g} off, with its own statistics leaked into training',
    ),
    _entry(
        "seed-five-samples-one-test", step=1, seed_defect=True, kind="silent",
        title="Five samples split 80/20: one test sample and no validation set",
        seed_lines=("X_train, X_test, y_train, y_test = train_test_split(X_scaled, y, test_size=0.2, random_state=42)",),
        mlx="Nothing framework-specific: the split is drawn in numpy before either framework sees the rows.",
        torch="The same; drawing the indices once in numpy is what lets both frameworks train on identical rows.",
        naive_failure=(
            "`test_size=0.2` of 5 rows leaves 1 test row, so the test accuracy can only be 0% or 100%; there "
            "is no validation set at all (step 6 validates on the test row), and `stratify=y` is impossible "
            "(scikit-learn raises ValueError: the test set must hold at least one row per class)."),
        fix=("A three-way split drawn once in numpy (`conformance.data.split_indices`: 3 / 1 / 1 for the "
             "document's rows) so both frameworks see identical rows, and more data for any conclusion "
             "(`python -m conformance --synthetic N`)."),
        reference=("conformance.data.split_indices", "conformance.data.synthetic_dataset"),
    ),
    _entry(
        "float64-silently-float32", step=1, seed_defect=False, kind="silent",
        title="`mx.array(float64 numpy)` silently becomes float32; torch keeps float64",
        seed_lines=("X_train = mx.array(X_train)",),
        mlx="`mx.array(x)` of a float64 numpy array is float32 (MLX's default float type), without a warning.",
        torch=("`torch.tensor(x)` / `torch.from_numpy(x)` keep float64; a float32 `nn.Linear` then raises "
               "`RuntimeError: mat1 and mat2 must have the same dtype`."),
        naive_failure=(
            "MLX rounds the document's standardized features to float32 (max error {rounding:.2g}), so a "
            "float64 reference computed from the same numpy arrays is not what MLX computed on; the same line "
            "ported to torch stops at the first layer."),
        fix=("Choose the dtype explicitly, at conversion: `mx.array(x, dtype=mx.float32)` and "
             "`torch.as_tensor(x).to(torch.float32)` give bit-identical inputs (`to_array`). For float64 on MLX's "
             "CPU give the dtype to `mx.array` itself: `mx.array(x).astype(mx.float64)` has already rounded to float32."),
        reference=("mlx_reference.data.to_array", "reference_torch.data.to_array"),
        measured=(Measurement("rounding", 2.42032e-08,
                              "max |float32(X_train) - X_train| for the seed's standardized training rows", rel=0.01),),
    ),
    _entry(
        "std-convention", step=1, seed_defect=False, kind="silent",
        title="Standard deviation: torch divides by n-1, MLX, numpy and scikit-learn by n",
        mlx="`mx.std(x, axis)` / `mx.var` default to `ddof=0` (population), like numpy and scikit-learn.",
        torch="`torch.std(x, dim)` / `torch.var` default to `correction=1` (unbiased).",
        naive_failure=(
            "A standardization hand-ported to torch with `x.std(0)` divides by a standard deviation "
            "sqrt(n/(n-1)) = {scale_ratio:.4g} times too large on the seed's 4 training rows: its standardized features differ from "
            "scikit-learn's by up to {standardized_gap:.3g}."),
        fix="`torch.var(x, dim=0, correction=0)` in torch; MLX's default already matches scikit-learn.",
        reference=("mlx_reference.data.StandardScaler.fit", "reference_torch.data.StandardScaler.fit"),
        measured=(
            Measurement("scale_ratio", 1.1547, "torch.std(X_train, 0) / sklearn scale_ on the seed's 4 raw training rows"),
            Measurement("standardized_gap", 0.203813,
                        "max |(X - mean) / torch.std(X, 0) - StandardScaler().fit_transform(X)| on those rows"),
        ),
        cost=9,
        cost_summary="standardized features off by up to {standardized_gap:.3g} (scale x{scale_ratio:.4g}) with torch's default `std`",
    ),
    # ---------------------------------------------------------------- 2. the model
    _entry(
        "seed-forward-not-called", step=2, seed_defect=True, kind="error",
        title="`forward` is never called: MLX modules are called through `__call__`",
        seed_lines=("def forward(self, x):",),
        mlx="`nn.Module.__call__` is the forward pass; `mlx.nn.Module` has no `forward` hook.",
        torch="`nn.Module.__call__` runs hooks and then `forward`.",
        naive_failure="`model(X_train)` raises `TypeError: 'SimpleNN' object is not callable`.",
        fix="Name the method `__call__`.",
        reference=("mlx_reference.model.SimpleNN", "reference_torch.model.SimpleNN"),
    ),
    _entry(
        "seed-relu-module-per-call", step=2, seed_defect=True, kind="style",
        title="`nn.ReLU()(x)` constructs a module on every forward pass",
        seed_lines=("x = nn.ReLU()(self.fc1(x))  # 使用 ReLU 激活函數",),
        mlx="`nn.relu(x)` is the function; `nn.ReLU` is a module wrapping it.",
        torch="`torch.relu(x)` / `F.relu(x)`; `nn.ReLU` is a module wrapping it.",
        naive_failure=(
            "Nothing breaks (the output is identical, in MLX as in torch), but every forward pass builds and "
            "discards a Module object: {overhead_us:.2g} µs more per call than `nn.relu`."),
        fix="Call `nn.relu(x)` (MLX) / `torch.relu(x)` (PyTorch) in `__call__` / `forward`.",
        reference=("mlx_reference.model.SimpleNN.__call__", "reference_torch.model.SimpleNN.forward"),
        measured=(Measurement("overhead_us", 2.8,
                              "mean time of `nn.ReLU()(x)` minus `nn.relu(x)` over 2000 calls on a (4, 10) array "
                              "(2-core Linux CPU, mlx 0.32.4)", timing=True),),
    ),
    # ---------------------------------------------------------------- 3. the loss
    _entry(
        "seed-bceloss-missing", step=3, seed_defect=True, kind="error",
        title="`nn.BCELoss` does not exist in MLX",
        seed_lines=("loss_fn = nn.BCELoss()  # 二分類交叉熵損失",),
        mlx="Losses are functions in `mlx.nn.losses` (`binary_cross_entropy`), not modules.",
        torch="`nn.BCELoss` (probabilities) and `nn.BCEWithLogitsLoss` (logits) are modules.",
        naive_failure="`nn.BCELoss()` raises `AttributeError: module 'mlx.nn' has no attribute 'BCELoss'`.",
        fix="`nn.losses.binary_cross_entropy(logits, targets, with_logits=True, reduction=\"mean\")`.",
        reference=("mlx_reference.loss.bce_with_logits", "reference_torch.loss.bce_with_logits"),
    ),
    _entry(
        "seed-bceloss-on-logits", step=3, seed_defect=True, kind="silent",
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
    _entry(
        "bce-with-logits-default", step=3, seed_defect=False, kind="silent",
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
    _entry(
        "shape-n1-vs-n", step=3, seed_defect=True, kind="error",
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
    _entry(
        "integer-targets", step=3, seed_defect=False, kind="error",
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
    # ---------------------------------------------------------------- 4. the optimizer
    _entry(
        "seed-import-mlx-optim", step=4, seed_defect=True, kind="error",
        title="`import mlx.optim`: the module is `mlx.optimizers`",
        seed_lines=("import mlx.optim as optim",),
        mlx="Optimizers and schedules live in `mlx.optimizers`.",
        torch="`torch.optim` and `torch.optim.lr_scheduler`.",
        naive_failure="`ModuleNotFoundError: No module named 'mlx.optim'`.",
        fix="`import mlx.optimizers as optim`.",
        reference=("mlx_reference.optim",),
    ),
    _entry(
        "seed-model-before-defined", step=4, seed_defect=True, kind="error",
        title="The optimizer is built from `model` before the model exists",
        seed_lines=("optimizer = optim.Adam(model.parameters(), lr=0.001)", "model = SimpleNN()"),
        mlx="Python, not MLX: the snippets run in the document's order create `model` only in step 5.",
        torch="The same NameError.",
        naive_failure="Run in order, step 4 raises `NameError: name 'model' is not defined`, in MLX and in PyTorch alike.",
        fix="Create the model, then the optimizer (MLX: `optimizer.init(model.trainable_parameters())` makes its state now).",
        reference=("mlx_reference.pipeline.run_pipeline", "mlx_reference.optim.make_adam"),
    ),
    _entry(
        "seed-adam-signature", step=4, seed_defect=True, kind="error",
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
    _entry(
        "adam-bias-correction", step=4, seed_defect=False, kind="silent",
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
    _entry(
        "lr-float32-state", step=4, seed_defect=False, kind="silent",
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
    _entry(
        "reduce-lr-on-plateau-missing", step=4, seed_defect=False, kind="missing",
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
    # ---------------------------------------------------------------- 5. training
    _entry(
        "seed-zero-grad-backward-step", step=5, seed_defect=True, kind="error",
        title="`zero_grad()` / `loss.backward()` / `optimizer.step()` do not exist in MLX",
        seed_lines=("optimizer.zero_grad()  # 清空過去的梯度", "loss.backward()        # 計算梯度",
                    "optimizer.step()       # 更新參數"),
        mlx=("`loss, grads = nn.value_and_grad(model, loss_fn)(model, X, y)`, `optimizer.update(model, grads)`, "
             "`mx.eval(model.parameters(), optimizer.state)`."),
        torch="`optimizer.zero_grad()`, `loss.backward()` (gradients into `.grad`), `optimizer.step()`.",
        naive_failure=("`AttributeError: 'Adam' object has no attribute 'zero_grad'`; `loss.backward()`: "
                       "`AttributeError: 'mlx.core.array' object has no attribute 'backward'`; and "
                       "`optimizer.step` exists but is the step counter: calling it raises "
                       "`TypeError: 'mlx.core.array' object is not callable`."),
        fix="The step function of `mlx_reference.train.make_train_step` (the loss as a function of the model, differentiated).",
        reference=("mlx_reference.train.make_train_step", "reference_torch.train.make_train_step"),
    ),
    _entry(
        "gradient-accumulation", step=5, seed_defect=False, kind="silent",
        title="Gradients are returned in MLX, accumulated into `.grad` in torch",
        mlx="`nn.value_and_grad` returns fresh gradients every call; nothing accumulates.",
        torch="`loss.backward()` adds into `param.grad`; `zero_grad()` clears it.",
        naive_failure=(
            "A torch loop that forgets `zero_grad()` steps along the running sum of all past gradients: "
            "{loss_gap_100:.3g} away from the correct training loss after 100 steps on the document's data. "
            "An MLX port cannot have this bug, and cannot silently keep a torch loop's deliberate "
            "accumulation either: sum the gradient trees yourself."),
        fix="MLX: nothing to clear; to accumulate over micro-batches, add the trees (`tree_map`) before `update`.",
        reference=("mlx_reference.train.make_train_step", "reference_torch.train.make_train_step"),
        measured=(Measurement("loss_gap_100", 0.0477725, "|loss after 100 steps without zero_grad - with it|, torch, lr 1e-3"),),
    ),
    _entry(
        "lazy-evaluation", step=5, seed_defect=False, kind="performance",
        title="Lazy evaluation: nothing is computed until `mx.eval` (or `.item()`)",
        seed_lines=("for epoch in range(num_epochs):",),
        mlx="Operations build a graph; `mx.eval`, `.item()`, `np.array(...)` and printing compute it.",
        torch="Eager: every operation runs (asynchronously on a GPU) when it is called.",
        naive_failure=(
            "A ported loop without `mx.eval` per step keeps every step's graph alive: the parameters of SimpleNN "
            "after 100 un-evaluated Adam steps hang on a graph of {graph_100:.0f} pending operations "
            "({graph_1:.0f} after one), evaluated only at the next `.item()`. And a timer around un-evaluated "
            "work measures the graph building: {build_us:.3g} µs for 100 element-wise operations on 4 million "
            "floats that take {eval_ms:.3g} ms once evaluated."),
        fix=("`mx.eval(loss, model.parameters(), optimizer.state)` once per step (`mlx_reference.train.train_epoch`); "
             "in benchmarks, evaluate (and `mx.synchronize()`) inside the timed region."),
        reference=("mlx_reference.train.train_epoch",),
        measured=(
            Measurement("graph_1", 172, "primitives in mx.export_to_dot of the parameters after 1 un-evaluated eager Adam step", rel=0.1),
            Measurement("graph_100", 15616, "the same after 100 steps", rel=0.1),
            Measurement("build_us", 250, "time to call `b = b * 1.0001 + 1.0` 50 times on a 4M-element float32 "
                        "array without eval (2-core Linux CPU)", timing=True),
            Measurement("eval_ms", 75, "time of mx.eval of that result (the same machine)", timing=True),
        ),
        cost=7,
        cost_summary='{graph_100:.0f} operations pending after 100 steps; a timer reads {build_us:.0f} µs for {eval_ms:.0f} ms of work',
    ),
    _entry(
        "compiled-step-state", step=5, seed_defect=False, kind="silent",
        title="`mx.compile` of a training step needs the model and optimizer state as inputs and outputs",
        mlx=("`mx.compile(fn)` traces `fn` once; arrays it reads but is not given are captured as constants, "
             "and arrays it writes but does not return are lost."),
        torch="Eager torch has no trace to go stale; `torch.compile` treats the parameters it reads as inputs.",
        naive_failure=(
            "Compiled with no state, the first call leaves the model holding placeholders: "
            "`RuntimeError: [eval] Attempting to eval an array without a primitive`. Compiled with "
            "`outputs=state` only, it runs and silently never trains: every call redoes the first step from "
            "the initial weights captured when it was traced, so the loss stays {frozen_loss:.4g} while "
            "torch's is {torch_loss_5:.4g} at step 5 (document's data)."),
        fix="`functools.partial(mx.compile, inputs=state, outputs=state)` with `state = [model.state, optimizer.state]`.",
        reference=("mlx_reference.train.make_train_step",),
        measured=(
            Measurement("frozen_loss", 0.642699, "loss returned by the 5th call of the outputs-only compiled step, document's data", rel=1e-4),
            Measurement("torch_loss_5", 0.635242, "torch's loss at the 5th step of the same run", rel=1e-4),
        ),
        cost=2,
        cost_summary='compiled without `inputs=state`, the step never trains (the loss stays at {frozen_loss:.4g})',
    ),
    _entry(
        "compile-jit-cpu", step=5, seed_defect=False, kind="performance",
        title="On the CPU, the first call of a compiled function runs a C++ compiler",
        mlx=("`mx.compile` on the CPU backend generates C++ for fused kernels and compiles it with the system "
             "compiler on first use, caching the result under `$TMPDIR/mlx/<version>/cpu`."),
        torch="Eager torch has no such first-call cost.",
        naive_failure=(
            "The first call of a small compiled function took {first_call_s:.2g} s with an empty cache, the "
            "next {second_call_us:.2g} µs: a benchmark that does not warm up, or a test run on a fresh machine, "
            "measures the compiler."),
        fix="Warm up (one call per input shape and dtype) before timing; keep `$TMPDIR` between runs to reuse the cache.",
        reference=("mlx_reference.train.make_train_step",),
        measured=(
            Measurement("first_call_s", 0.76, "first call of mx.compile(lambda x: tanh(2x + 1) * 3 - x), fresh $TMPDIR, 2-core Linux CPU", timing=True),
            Measurement("second_call_us", 88, "the second call, same process", timing=True),
        ),
    ),
    _entry(
        "torch-numpy-shares-memory", step=5, seed_defect=False, kind="silent",
        title="`tensor.numpy()` shares memory; `np.array(mx_array)` copies",
        mlx="`np.array(a)` copies an MLX array (and MLX arrays are never changed in place anyway).",
        torch="`t.numpy()` on the CPU returns a view of the tensor's storage; optimizers update it in place.",
        naive_failure=(
            "A snapshot of `fc1.weight` taken with `.numpy()` before 10 Adam steps moves with the model: "
            "{snapshot_drift:.3g} away from the value it had when taken, and equal to the current weights. "
            "Recorded trajectories, best weights or exported state taken that way are all the last one."),
        fix="`tensor.detach().cpu().numpy().copy()` (`reference_torch.data.to_numpy`).",
        reference=("reference_torch.data.to_numpy", "mlx_reference.data.to_numpy"),
        measured=(Measurement("snapshot_drift", 0.0101141, "max |snapshot now - snapshot when taken|, document's data, lr 1e-3", rel=0.01),),
    ),
    # ---------------------------------------------------------------- 6. validation
    _entry(
        "seed-torch-no-grad", step=6, seed_defect=True, kind="error",
        title="`with torch.no_grad():` in an MLX program",
        seed_lines=("with torch.no_grad():",),
        mlx="There is no `no_grad`: gradients exist only inside `mx.grad` / `nn.value_and_grad`.",
        torch="`torch.no_grad()` stops autograd from recording.",
        naive_failure="`NameError: name 'torch' is not defined` (the document never imports torch); `mx.no_grad` does not exist either.",
        fix="Call the model directly; see eval-mode-and-no-grad.",
        reference=("mlx_reference.validate.evaluate_loss", "reference_torch.validate.evaluate_loss"),
    ),
    _entry(
        "eval-mode-and-no-grad", step=6, seed_defect=False, kind="performance",
        title="`model.eval()` exists in both; only torch needs `no_grad`",
        seed_lines=("model.eval()  # 設置為評估模式",),
        mlx=("`model.eval()` / `model.train()` set `model.training` (for Dropout, BatchNorm); evaluation outside "
             "`value_and_grad` records nothing."),
        torch="`model.eval()` the same; without `torch.no_grad()` every forward pass records a graph for backward.",
        naive_failure=(
            "Porting MLX evaluation back to torch without `no_grad` keeps a graph per validation pass "
            "(the loss has `requires_grad=True` and a `grad_fn`); porting to MLX, `model.eval()` must still be "
            "undone by `model.train()` before training resumes, in both frameworks."),
        fix="MLX: `model.eval(); loss_fn(model, X, y).item()`. torch: the same under `torch.no_grad()`.",
        reference=("mlx_reference.validate.evaluate_loss", "reference_torch.validate.evaluate_loss",
                   "mlx_reference.train.train_epoch"),
    ),
    _entry(
        "seed-validates-on-test-set", step=6, seed_defect=True, kind="silent",
        title="The document validates (and would tune) on its test set",
        seed_lines=("y_pred_test = model(X_test)",),
        mlx="Nothing framework-specific: which rows the validation loss is computed on.",
        torch="The same.",
        naive_failure=("With no validation split, the early stopping and learning-rate tuning that step 6 "
                       "describes would choose on the test row, and the test score is no longer an estimate "
                       "of anything."),
        fix="Validate on a validation split; touch the test split once, at the end (`run_pipeline`).",
        reference=("conformance.data.split_indices", "mlx_reference.pipeline.run_pipeline"),
    ),
    _entry(
        "seed-no-early-stopping", step=6, seed_defect=True, kind="missing",
        title="Early stopping and learning-rate adjustment are described but not implemented",
        seed_lines=("num_epochs = 100",),
        mlx="MLX has neither early stopping nor a plateau scheduler: both are written by hand.",
        torch="torch has `ReduceLROnPlateau`; early stopping is written by hand there too.",
        naive_failure=(
            "The loop always runs 100 epochs. On the document's data the validation loss is lowest after "
            "epoch {best_epoch:.0f} and rises from then on: with patience 10 training stops at epoch "
            "{stopped_epoch:.0f}, in MLX and torch alike."),
        fix="`EarlyStopping(patience, min_delta)` with best-weight restore, and `ReduceLROnPlateau`, called once an epoch on the validation loss.",
        reference=("mlx_reference.validate.EarlyStopping", "reference_torch.validate.EarlyStopping",
                   "mlx_reference.train.fit"),
        measured=(
            Measurement("best_epoch", 1, "epoch of the lowest validation loss, document's data, lr 1e-3", rel=0.0),
            Measurement("stopped_epoch", 11, "epoch at which EarlyStopping(patience=10) stops", rel=0.0),
        ),
    ),
    _entry(
        "early-stopping-best-weights", step=6, seed_defect=False, kind="silent",
        title="Keeping the best weights: torch's `state_dict()` aliases the live tensors",
        mlx="MLX arrays are immutable and `optimizer.update` replaces them: holding references is a snapshot.",
        torch="`model.state_dict()` returns the parameters themselves, which `optimizer.step()` updates in place.",
        naive_failure=(
            "`best = model.state_dict()` without a clone restores the last epoch's weights, not the best: "
            "validation loss {naive_restored_loss:.4g} instead of {best_loss:.4g} on the document's data "
            "(patience 10). The MLX idiom ported to torch reproduces this bug."),
        fix="torch: `{k: v.detach().clone() for k, v in model.state_dict().items()}`; MLX: `tree_flatten(model.parameters())`.",
        reference=("mlx_reference.validate.EarlyStopping.step", "reference_torch.validate.EarlyStopping.step"),
        measured=(
            Measurement("naive_restored_loss", 0.871589, "validation loss after restoring the un-cloned state_dict", rel=1e-3),
            Measurement("best_loss", 0.79549, "validation loss of the best epoch", rel=1e-3),
        ),
        cost=6,
        cost_summary='the last weights come back instead of the best (validation loss {naive_restored_loss:.4g} instead of {best_loss:.4g})',
    ),
    # ---------------------------------------------------------------- 7. evaluation
    _entry(
        "seed-astype-int", step=7, seed_defect=True, kind="error",
        title="`.astype(int)`: MLX wants an MLX dtype; torch tensors have no `astype`",
        seed_lines=("y_pred_test_binary = (y_pred_test > 0.5).astype(int)",),
        mlx="`a.astype(mx.int32)`; Python `int` is not a dtype.",
        torch="`t.to(torch.int32)` / `t.int()`; there is no `astype`.",
        naive_failure=("MLX: `TypeError: astype(): incompatible function arguments`; PyTorch: "
                       "`AttributeError: 'Tensor' object has no attribute 'astype'`. The line runs in neither."),
        fix="`predict(logits)`: `(logits > 0).astype(mx.int32)` / `.to(torch.int32)`.",
        reference=("mlx_reference.metrics.predict", "reference_torch.metrics.predict"),
    ),
    _entry(
        "seed-numpy-method", step=7, seed_defect=True, kind="error",
        title="`.numpy()` on MLX arrays",
        seed_lines=("accuracy = accuracy_score(y_test.numpy(), y_pred_test_binary.numpy())",),
        mlx="`np.array(a)` (a copy); MLX arrays have no `.numpy()`.",
        torch="`t.numpy()` (a view, see torch-numpy-shares-memory).",
        naive_failure="`AttributeError: 'mlx.core.array' object has no attribute 'numpy'`.",
        fix="`np.array(a)` (`mlx_reference.data.to_numpy`), or compute the metric in MLX.",
        reference=("mlx_reference.data.to_numpy", "mlx_reference.metrics.classification_metrics"),
    ),
    _entry(
        "seed-logit-threshold", step=7, seed_defect=True, kind="silent",
        title="Logits thresholded at 0.5 (a probability threshold)",
        seed_lines=("y_pred_test_binary = (y_pred_test > 0.5).astype(int)",),
        mlx="The same arithmetic in both: the model returns logits, and probability 0.5 is logit 0.",
        torch="The same.",
        naive_failure=(
            "`logit > 0.5` means probability > 0.62: on 200 synthetic samples after the document's 100 epochs "
            "(Adam 1e-3), {flipped:.0%} of the test predictions flip and test accuracy is {naive_accuracy:.0%} "
            "instead of {true_accuracy:.0%}."),
        fix="Threshold logits at 0 (`predict`), or apply `sigmoid` first.",
        reference=("mlx_reference.metrics.predict", "reference_torch.metrics.predict"),
        measured=(
            Measurement("flipped", 0.5, "share of test predictions with 0 < logit <= 0.5, synthetic_dataset(200), 100 epochs", rel=0.01),
            Measurement("naive_accuracy", 0.6, "test accuracy with logit > 0.5", rel=0.01),
            Measurement("true_accuracy", 0.85, "test accuracy with logit > 0 (= scikit-learn on sigmoid > 0.5)", rel=0.01),
        ),
        cost=3,
        cost_summary='test accuracy {naive_accuracy:.0%} instead of {true_accuracy:.0%} ({flipped:.0%} of the predictions flip)',
    ),
    _entry(
        "seed-precision-recall-missing", step=7, seed_defect=True, kind="missing",
        title="Precision and recall are promised, only accuracy is computed",
        seed_lines=("from sklearn.metrics import accuracy_score",),
        mlx="MLX has no metrics module: count true and false positives with array operations.",
        torch="torch has none either (torchmetrics is separate); scikit-learn on numpy copies is common.",
        naive_failure=("The code imports and computes `accuracy_score` only; precision, recall (and F1, the "
                       "confusion matrix) are never computed, and on one test row they are meaningless anyway."),
        fix="`classification_metrics(logits, targets)`: counts in the framework, ratios as scikit-learn defines them.",
        reference=("mlx_reference.metrics.classification_metrics", "reference_torch.metrics.classification_metrics"),
    ),
    # ---------------------------------------------------------------- 8. the whole flow
    _entry(
        "seed-code-runs-in-neither", step=8, seed_defect=True, kind="error",
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
    _entry(
        "random-streams", step=8, seed_defect=False, kind="silent",
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
    _entry(
        "tf32-cuda", step=8, seed_defect=False, kind="silent", device="cuda",
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
    _entry(
        "float64-gpu", step=8, seed_defect=False, kind="error", device="gpu",
        title="float64 exists on MLX's CPU only",
        mlx="float64 arrays compute on the CPU stream; a float64 operation on the GPU raises.",
        torch="float64 runs on CUDA (slowly) and not on MPS.",
        naive_failure=("A float64 port run on the GPU stops at its first operation: `ValueError: float64 is not supported "
                       "on the GPU` (seen on MLX's CUDA backend, H200)."),
        fix="float32 on the GPU; float64 references on the CPU (`with use_device(\"cpu\")`, `to_array(x, \"float64\")`).",
        reference=("mlx_reference.device.use_device", "mlx_reference.data.to_array"),
    ),
    _entry(
        "api-names", step=8, seed_defect=False, kind="error",
        title="Where MLX and PyTorch differ in name or argument",
        mlx="See the table of API names below: every row is checked against the installed MLX and torch.",
        torch="See the table.",
        naive_failure="A torch spelling on an MLX array or module raises (AttributeError or TypeError), row by row.",
        fix="Use the MLX column of the table.",
        reference=(),
    ),
)


@dataclass(frozen=True)
class ApiName:
    """One row of the API table: the torch spelling, the MLX spelling, and executable checks.

    ``torch_check`` and ``mlx_check`` are expressions that must evaluate without error (names:
    ``torch``, ``F`` (torch.nn.functional), ``tnn`` (torch.nn), ``mx``, ``nn`` (mlx.nn), ``optim``
    (mlx.optimizers), ``np``, ``importlib``, ``inspect``, and ``a`` / ``t``: a (2, 3) MLX array / torch tensor,
    ``model`` / ``tmodel``: the two SimpleNNs). ``naive`` is the torch spelling applied to MLX, which
    must raise ``naive_error``; None where the torch spelling also works in MLX.
    """

    torch: str
    mlx: str
    note: str
    torch_check: str
    mlx_check: str
    naive: str | None = None
    naive_error: str | None = None


API_NAMES: tuple[ApiName, ...] = (
    ApiName("import torch.optim", "import mlx.optimizers", "",
            "importlib.import_module('torch.optim')", "importlib.import_module('mlx.optimizers')",
            "importlib.import_module('mlx.optim')", "ModuleNotFoundError"),
    ApiName("Adam(model.parameters(), lr=1e-3)", "Adam(learning_rate=1e-3, bias_correction=True)",
            "no parameters; betas a list", "torch.optim.Adam(tmodel.parameters(), lr=1e-3)",
            "optim.Adam(learning_rate=1e-3, bias_correction=True)",
            "optim.Adam(model.parameters(), lr=1e-3)", "TypeError"),
    ApiName("opt.zero_grad(); loss.backward(); opt.step()",
            "loss, g = nn.value_and_grad(model, fn)(model, X, y); opt.update(model, g)", "",
            "torch.optim.Adam(tmodel.parameters()).zero_grad", "nn.value_and_grad",
            "optim.Adam(learning_rate=1e-3).zero_grad()", "AttributeError"),
    ApiName("def forward(self, x)", "def __call__(self, x)", "", "tnn.Module.forward", "nn.Module.__call__",
            "nn.Module.forward", "AttributeError"),
    ApiName("torch.relu(x) / F.relu(x)", "nn.relu(x)", "", "torch.relu(t)", "nn.relu(a)", "mx.relu(a)", "AttributeError"),
    ApiName("nn.BCEWithLogitsLoss()(z, y)", "nn.losses.binary_cross_entropy(z, y)", "logits by default",
            "tnn.BCEWithLogitsLoss", "nn.losses.binary_cross_entropy", "nn.BCEWithLogitsLoss", "AttributeError"),
    ApiName("nn.BCELoss()(p, y)", "nn.losses.binary_cross_entropy(p, y, with_logits=False)", "",
            "tnn.BCELoss", "nn.losses.binary_cross_entropy", "nn.BCELoss", "AttributeError"),
    ApiName("nn.CrossEntropyLoss() (mean)", "nn.losses.cross_entropy(..., reduction='mean')",
            "MLX's default reduction is 'none'", "tnn.CrossEntropyLoss().reduction == 'mean'",
            "inspect.signature(nn.losses.cross_entropy).parameters['reduction'].default == 'none'",
            "nn.CrossEntropyLoss()", "AttributeError"),
    ApiName("t.numpy()", "np.array(a)", "torch's is a view, MLX's a copy", "t.numpy()", "np.array(a)",
            "a.numpy()", "AttributeError"),
    ApiName("t.to(torch.int32) / t.float()", "a.astype(mx.int32) / a.astype(mx.float32)", "",
            "t.to(torch.int32)", "a.astype(mx.int32)", "a.float()", "AttributeError"),
    ApiName("t.sum(dim=0, keepdim=True)", "a.sum(axis=0, keepdims=True)", "", "t.sum(dim=0, keepdim=True)",
            "a.sum(axis=0, keepdims=True)", "mx.sum(a, dim=0)", "TypeError"),
    ApiName("torch.cat([t, t])", "mx.concatenate([a, a])", "", "torch.cat([t, t])", "mx.concatenate([a, a])",
            "mx.cat([a, a])", "AttributeError"),
    ApiName("t.size() / t.view(-1)", "a.shape / a.reshape(-1)", "`a.size` is the element count",
            "t.view(-1)", "a.reshape(-1)", "a.size()", "TypeError"),
    ApiName("torch.std(t, 0) (n-1)", "mx.std(a, 0, ddof=1)", "MLX's default is ddof=0",
            "torch.std(t, 0)", "mx.std(a, 0, ddof=1)"),
    ApiName("torch.no_grad()", "(nothing) / mx.stop_gradient(x)", "", "torch.no_grad()", "mx.stop_gradient(a)",
            "mx.no_grad()", "AttributeError"),
    ApiName("torch.manual_seed(0)", "mx.random.seed(0)", "different streams: see random-streams",
            "torch.manual_seed(0)", "mx.random.seed(0)", "mx.manual_seed(0)", "AttributeError"),
    ApiName("model.state_dict()", "dict(tree_flatten(model.parameters()))", "MLX: nested dicts; flatten for torch's keys",
            "tmodel.state_dict()", "dict(__import__('mlx.utils').utils.tree_flatten(model.parameters()))",
            "model.state_dict()", "AttributeError"),
    ApiName("model.load_state_dict(sd)", "model.update(tree_unflatten(list(sd.items())))", "",
            "tmodel.load_state_dict", "model.update", "model.load_state_dict", "AttributeError"),
    ApiName("opt.param_groups[0]['lr'] = lr", "opt.learning_rate = lr", "stored as a float32 array",
            "torch.optim.Adam(tmodel.parameters()).param_groups[0]['lr']", "optim.Adam(learning_rate=1e-3).learning_rate",
            "optim.Adam(learning_rate=1e-3).param_groups", "AttributeError"),
    ApiName("lr_scheduler.ReduceLROnPlateau", "(none: mlx_reference.optim.ReduceLROnPlateau)", "",
            "torch.optim.lr_scheduler.ReduceLROnPlateau", "__import__('mlx_reference.optim').optim.ReduceLROnPlateau",
            "optim.ReduceLROnPlateau", "AttributeError"),
    ApiName("torch.compile(fn)", "mx.compile(fn, inputs=state, outputs=state)", "state must be declared",
            "torch.compile", "mx.compile"),
    ApiName("torch.cuda.synchronize()", "mx.synchronize()", "", "torch.cuda.synchronize", "mx.synchronize",
            "mx.cuda.synchronize()", "AttributeError"),
    ApiName("torch.set_default_device('cuda')", "mx.set_default_device(mx.gpu)", "", "torch.set_default_device",
            "mx.set_default_device"),
)


def get(entry_id: str) -> Entry:
    for e in ENTRIES:
        if e.id == entry_id:
            return e
    raise KeyError(f"no registry entry {entry_id!r}; ids: {', '.join(e.id for e in ENTRIES)}")


def measurement(entry_id: str, key: str) -> Measurement:
    for m in get(entry_id).measured:
        if m.key == key:
            return m
    raise KeyError(f"registry entry {entry_id!r} has no measurement {key!r}")


def by_step(step: int) -> Iterator[Entry]:
    return (e for e in ENTRIES if e.step == step)


def most_costly() -> list[Entry]:
    """The entries ranked by ``cost`` (the README's ten most costly pitfalls)."""
    return sorted((e for e in ENTRIES if e.cost is not None), key=lambda e: e.cost)
