"""Registry entries: the training loop, validation and evaluation (the document's steps 5 to 7)."""

from __future__ import annotations

from .entry import Measurement, entry

ENTRIES = (
    # ---------------------------------------------------------------- 5. training
    entry(
        "seed-zero-grad-backward-step", section="training", seed_defect=True, kind="error",
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
    entry(
        "gradient-accumulation", section="training", seed_defect=False, kind="silent",
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
    entry(
        "lazy-evaluation", section="training", seed_defect=False, kind="performance",
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
    entry(
        "compiled-step-state", section="training", seed_defect=False, kind="silent",
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
    entry(
        "compile-jit-cpu", section="training", seed_defect=False, kind="performance",
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
    entry(
        "compile-dropout-random-state", section="training", seed_defect=False, kind="silent",
        title="`mx.compile` of a step with Dropout: without the random state as input and output, the mask never changes",
        mlx=("A compiled function captures the random state it reads as a constant unless `mx.random.state` is among "
             "its `inputs` and `outputs`: every call then draws the same random numbers."),
        torch="Dropout draws a fresh mask every call, compiled or not (the generator's state lives outside the graph).",
        naive_failure=(
            "The step compiled with `inputs=outputs=[model.state, optimizer.state]` (enough for a model without "
            "randomness, see compiled-step-state) drops the same units in every call: {same_mask_share:.0%} of 9 "
            "later calls repeat the first call's mask. Training sees one fixed sub-network, not dropout."),
        fix="`state = [model.state, optimizer.state, mx.random.state]`, then `partial(mx.compile, inputs=state, outputs=state)`.",
        reference=("mlx.core.random.state", "mlx.core.compile"),
        measured=(Measurement("same_mask_share", 1.0, "share of 9 calls of the compiled Dropout(0.5) whose mask equals the "
                              "first call's, compiled with the model's state only", rel=0.0),),
    ),
    entry(
        "compile-retrace-per-shape", section="training", seed_defect=False, kind="performance",
        title="A compiled step is traced again for every new input shape (the last, partial batch)",
        mlx=("`mx.compile` specialises to the shapes and dtypes of its inputs: a new shape traces the function again "
             "and compiles new kernels (on the CPU, with a C++ compiler: see compile-jit-cpu); each shape is cached."),
        torch="Eager torch has nothing to retrace (`torch.compile` marks a dimension dynamic after its first change).",
        naive_failure=(
            "Minibatches of 4 over 10 rows end with a batch of 2: {shapes:.0f} shapes, {traces:.0f} traces in 3 "
            "epochs. The results are right; the cost is one trace and kernel build per shape, which an epoch of "
            "variable-length sequences pays for every distinct length."),
        fix=("Give the step one shape: pad the last batch and mask the padding out of the loss (the mean over the "
             "rows that count), or drop it. `shapeless=True` is no fix for layers with a bias: see "
             "compile-shapeless-linear."),
        reference=("mlx.core.compile",),
        measured=(
            Measurement("traces", 2, "traces of the compiled step over 3 epochs of batches 4, 4, 2 "
                        "(synthetic_dataset(10, seed=3))", rel=0.0),
            Measurement("shapes", 2, "distinct batch shapes in that epoch", rel=0.0),
        ),
    ),
    entry(
        "compile-shapeless-linear", section="training", seed_defect=False, kind="silent",
        title="`mx.compile(shapeless=True)` with `nn.Linear`: wrong results, or a crash, once the batch size changes",
        mlx=("`shapeless=True` replays the traced graph for new shapes; the matmul-with-bias that `nn.Linear` uses "
             "(`mx.addmm`) does not replay correctly: a batch of another size (larger, in the proof) computes "
             "wrong values and can corrupt memory (`free(): invalid next size`, segmentation faults)."),
        torch="`torch.compile(dynamic=True)` computes the same as eager for every batch size.",
        naive_failure=(
            "A Linear layer compiled shapeless with a batch of 4 and called with 8 returns wrong outputs and wrong "
            "weight gradients (read from memory the kernel should not read, so they change from run to run), or "
            "the process dies; a training step compiled this way trains on garbage without an error."),
        fix=("Compile shape-specialised (the default: one trace per batch shape, see compile-retrace-per-shape), "
             "pad to one shape, or write the layer as `x @ W.T + b` (matmul and add replay correctly)."),
        reference=("mlx.core.compile", "mlx.core.addmm", "mlx.nn.Linear"),
        mlx_versions=">=0.31.2",
        history=("Before 0.31.2 the same call raises `ValueError: [Primitive::output_shapes] AddMM cannot infer output "
                 "shapes`; 0.31.2 gave `AddMM` its shape inference (ml-explore/mlx#3262), after which it runs and "
                 "computes wrong values (seen on 0.32.0 and 0.32.4)"),
    ),
    entry(
        "torch-numpy-shares-memory", section="training", seed_defect=False, kind="silent",
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
    entry(
        "seed-torch-no-grad", section="validation", seed_defect=True, kind="error",
        title="`with torch.no_grad():` in an MLX program",
        seed_lines=("with torch.no_grad():",),
        mlx="There is no `no_grad`: gradients exist only inside `mx.grad` / `nn.value_and_grad`.",
        torch="`torch.no_grad()` stops autograd from recording.",
        naive_failure="`NameError: name 'torch' is not defined` (the document never imports torch); `mx.no_grad` does not exist either.",
        fix="Call the model directly; see eval-mode-and-no-grad.",
        reference=("mlx_reference.validate.evaluate_loss", "reference_torch.validate.evaluate_loss"),
    ),
    entry(
        "eval-mode-and-no-grad", section="validation", seed_defect=False, kind="performance",
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
    entry(
        "seed-validates-on-test-set", section="validation", seed_defect=True, kind="silent",
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
    entry(
        "seed-no-early-stopping", section="validation", seed_defect=True, kind="missing",
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
    entry(
        "early-stopping-best-weights", section="validation", seed_defect=False, kind="silent",
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
    entry(
        "seed-astype-int", section="evaluation", seed_defect=True, kind="error",
        title="`.astype(int)`: MLX wants an MLX dtype; torch tensors have no `astype`",
        seed_lines=("y_pred_test_binary = (y_pred_test > 0.5).astype(int)",),
        mlx="`a.astype(mx.int32)`; Python `int` is not a dtype.",
        torch="`t.to(torch.int32)` / `t.int()`; there is no `astype`.",
        naive_failure=("MLX: `TypeError: astype(): incompatible function arguments`; PyTorch: "
                       "`AttributeError: 'Tensor' object has no attribute 'astype'`. The line runs in neither."),
        fix="`predict(logits)`: `(logits > 0).astype(mx.int32)` / `.to(torch.int32)`.",
        reference=("mlx_reference.metrics.predict", "reference_torch.metrics.predict"),
    ),
    entry(
        "seed-numpy-method", section="evaluation", seed_defect=True, kind="error",
        title="`.numpy()` on MLX arrays",
        seed_lines=("accuracy = accuracy_score(y_test.numpy(), y_pred_test_binary.numpy())",),
        mlx="`np.array(a)` (a copy); MLX arrays have no `.numpy()`.",
        torch="`t.numpy()` (a view, see torch-numpy-shares-memory).",
        naive_failure="`AttributeError: 'mlx.core.array' object has no attribute 'numpy'`.",
        fix="`np.array(a)` (`mlx_reference.data.to_numpy`), or compute the metric in MLX.",
        reference=("mlx_reference.data.to_numpy", "mlx_reference.metrics.classification_metrics"),
    ),
    entry(
        "seed-logit-threshold", section="evaluation", seed_defect=True, kind="silent",
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
    entry(
        "seed-precision-recall-missing", section="evaluation", seed_defect=True, kind="missing",
        title="Precision and recall are promised, only accuracy is computed",
        seed_lines=("from sklearn.metrics import accuracy_score",),
        mlx="MLX has no metrics module: count true and false positives with array operations.",
        torch="torch has none either (torchmetrics is separate); scikit-learn on numpy copies is common.",
        naive_failure=("The code imports and computes `accuracy_score` only; precision, recall (and F1, the "
                       "confusion matrix) are never computed, and on one test row they are meaningless anyway."),
        fix="`classification_metrics(logits, targets)`: counts in the framework, ratios as scikit-learn defines them.",
        reference=("mlx_reference.metrics.classification_metrics", "reference_torch.metrics.classification_metrics"),
    ),
    entry(
        "argmax-uint32", section="evaluation", seed_defect=False, kind="silent",
        title="`argmax` returns uint32: subtracting from it wraps around",
        mlx="`mx.argmax` / `mx.argmin` return uint32; a Python int subtracted from them stays uint32.",
        torch="`torch.argmax` returns int64.",
        naive_failure=(
            "The signed distance of 5-class predictions from class 2, `mx.argmax(logits, 1) - 2`, is {wrapped:.0f} "
            "for a prediction of class 0, and its mean over 64 samples {naive_mean:.3g} instead of torch's "
            "{torch_mean:.3g}."),
        fix="`mx.argmax(logits, axis=1).astype(mx.int32)` before any arithmetic.",
        reference=("mlx.core.argmax",),
        measured=(
            Measurement("wrapped", 4294967294, "uint32 argmax(...) - 2 where argmax is 0", rel=0.0),
            Measurement("naive_mean", 1610612736, "mean of argmax - 2 over 64 samples of 5 classes (seeded logits), as float32", rel=1e-4),
            Measurement("torch_mean", 0.03125, "torch's mean of argmax - 2 on the same logits", rel=1e-4),
        ),
    ),
)
