"""Registry entries: preparing the data, and defining the model (the document's steps 1 and 2)."""

from __future__ import annotations

from .entry import Measurement, entry

ENTRIES = (
    # ---------------------------------------------------------------- 1. data preparation
    entry(
        "seed-scaler-before-split", section="data", seed_defect=True, kind="silent",
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
    entry(
        "seed-five-samples-one-test", section="data", seed_defect=True, kind="silent",
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
    entry(
        "float64-silently-float32", section="data", seed_defect=False, kind="silent",
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
             "CPU give the dtype to `mx.array` itself: `mx.array(x).astype(mx.float64)` has already rounded to float32 (and "
             "see float64-cpu-float32-accurate before using MLX's float64 as a reference)."),
        reference=("mlx_reference.data.to_array", "reference_torch.data.to_array"),
        measured=(Measurement("rounding", 2.42032e-08,
                              "max |float32(X_train) - X_train| for the seed's standardized training rows", rel=0.01),),
    ),
    entry(
        "std-convention", section="data", seed_defect=False, kind="silent",
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
    entry(
        "mlx-cpu-sequential-sum", section="data", seed_defect=False, kind="silent",
        title="MLX's CPU sums float32 in sequence: a mean over a million rows is wrong",
        mlx=("`mx.sum`, `mx.mean`, `mx.var` and `mx.std` along an axis on the CPU add the elements one after "
             "another in float32, so the error grows with the number of rows (each addition rounds at the size of "
             "the running sum). MLX's GPU backends reduce in a tree."),
        torch=("`torch.sum`, `mean`, `var` and `std` on the CPU sum in a cascade of blocks and on CUDA in a tree: "
               "the error grows like log n."),
        naive_failure=(
            "Standardizing with `(X - mx.mean(X, axis=0)) / mx.std(X, axis=0)` on the CLI's synthetic columns "
            "(`--synthetic 1000000`, float32) is off from float64 by {naive_1e3:.2g} at 1 000 rows, {naive_1e5:.2g} at "
            "100 000 and {naive_1e6:.2g} standardized units at 1 000 000 rows; the same two lines in torch by "
            "{torch_1e6:.2g}, and the blocked scaler below by {fixed_1e6:.2g}."),
        fix=("Sum in blocks: `mlx_reference.data.column_sum` sums the rows 16 at a time and the block sums again "
             "(a tree of log_16 n levels, each error below 15 u), and `StandardScaler` shifts the columns by the first "
             "row, takes a two-pass variance and never rounds the mean: {fixed_1e6:.2g} at 1 000 000 rows, on every "
             "backend."),
        reference=("mlx_reference.data.column_sum", "mlx_reference.data.StandardScaler.fit",
                   "reference_torch.data.column_sum"),
        measured=tuple(
            Measurement(key, value, how, rel=0.5) for key, value, how in (
                ("naive_1e3", 5.82e-05, "max |naive MLX z - float64 z| on the first 1 000 rows of "
                 "synthetic_dataset(1 000 000, 2, seed=0) in float32, on the CPU; the order of magnitude is the "
                 "point (the exact value follows the SIMD width of MLX's CPU reduction): +/- 50%"),
                ("naive_1e5", 6.48e-04, "the same on the first 100 000 rows"),
                ("naive_1e6", 0.909, "the same on all 1 000 000 rows"),
                ("torch_1e6", 7.35e-07, "torch's (X - X.mean(0)) / X.std(0, correction=0) on the 1 000 000 rows"),
                ("fixed_1e6", 6.14e-07, "mlx_reference.data.StandardScaler on the 1 000 000 rows (float32 rounding "
                 "level; the data entry allows 2e-5 + 1e-5 |z|)"),
            )),
    ),
    # ---------------------------------------------------------------- 2. the model
    entry(
        "python-int-int32", section="data", seed_defect=False, kind="silent",
        title="Python integers become int32 in MLX (int64 in torch), and int32 arithmetic wraps",
        mlx=("`mx.array(3)`, `mx.array([1, 2])` and `mx.arange(n)` are int32; a Python int combined with an int32 "
             "array stays int32. (numpy's int64 arrays stay int64.)"),
        torch="`torch.tensor(3)` and `torch.arange(n)` are int64.",
        naive_failure=(
            "Index arithmetic past 2^31 wraps without an error: the flat index of the last element of a 50 000 x "
            "50 000 table, `mx.array(49_999) * 50_000 + 49_999`, is {wrapped_index:.0f} in MLX and 2 499 999 999 "
            "in torch."),
        fix="Say `dtype=mx.int64` where indices or counts can pass 2^31 (`mx.arange(n, dtype=mx.int64)`), or build them in numpy.",
        reference=("mlx.core.arange",),
        measured=(Measurement("wrapped_index", -1794967297, "mx.array(49_999) * 50_000 + 49_999 (int32)", rel=0.0),),
    ),
    entry(
        "seed-forward-not-called", section="model", seed_defect=True, kind="error",
        title="`forward` is never called: MLX modules are called through `__call__`",
        seed_lines=("def forward(self, x):",),
        mlx="`nn.Module.__call__` is the forward pass; `mlx.nn.Module` has no `forward` hook.",
        torch="`nn.Module.__call__` runs hooks and then `forward`.",
        naive_failure="`model(X_train)` raises `TypeError: 'SimpleNN' object is not callable`.",
        fix="Name the method `__call__`.",
        reference=("mlx_reference.model.SimpleNN", "reference_torch.model.SimpleNN"),
    ),
    entry(
        "seed-relu-module-per-call", section="model", seed_defect=True, kind="style",
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
    entry(
        "module-parameter-registration", section="model", seed_defect=False, kind="silent",
        title="What is a parameter: public arrays in lists, dicts and Modules, and nothing else",
        mlx=("A Module's parameters are its public `mx.array` attributes, and those inside lists, dicts and child "
             "Modules: an attribute named `_x`, a tuple of layers or any other container hides them; every public "
             "array trains, buffers included, unless frozen (`module.freeze(keys=[...])`)."),
        torch=("`nn.Parameter`s and the parameters of registered submodules train, whatever their names "
               "(`ModuleList` for lists of layers); `register_buffer` state is saved but not trained."),
        naive_failure=(
            "A torch module with a `ModuleList`, a private `_temperature` parameter and a `centre` buffer, ported "
            "line by line (a tuple, `_temperature`, a plain `centre`), trains {naive_trained:.0f} numbers instead of "
            "torch's {torch_trained:.0f}: the layers and the temperature never move (nor are they saved by "
            "`save_weights`), and the buffer, meant to stay fixed, drifts by {buffer_drift:.3g} in 10 Adam steps."),
        fix=("Lists (or dicts) for layers, public names for what trains, and `self.freeze(keys=[\"centre\"], "
             "recurse=False)` for buffers; check `tree_flatten(model.trainable_parameters())` against torch's "
             "`named_parameters()`."),
        reference=("mlx.nn.Module.trainable_parameters", "mlx.nn.Module.freeze"),
        measured=(
            Measurement("naive_trained", 2, "numbers in the naive port's trainable_parameters()", rel=0.0),
            Measurement("torch_trained", 18, "numbers in torch's parameters()", rel=0.0),
            Measurement("buffer_drift", 0.0987493, "max |centre after 10 Adam steps (lr 1e-2, bias-corrected) - its initial "
                        "value|, document's data"),
        ),
    ),
)
