"""The seeded bugs of ``python -m conformance.mutate``, as data.

Each ``Mutant`` names a file, the exact text replaced (it must occur there exactly once) and its
replacement, and says what the bug means. ``verdict`` is the part of ``python -m conformance``'s
verdict that must catch it (the runner checks it):

- ``"local"``: a local step check, "5 local / <check> / <tensor>" at a named step (the model,
  the loss, the optimizer, the training step, on either side);
- ``"anchor"``: "5 anchor / ..." at a named step: the reference's own Adam or gradients against
  the mathematics (a local check lets MLX lie between torch and the formula's interval, so a
  wrong reference optimizer is caught there);
- ``"decision"``: a local decision or evaluation check ("6 local / ..." or "7 local / ...");
- ``"static"``: a static check of each pipeline's own data, logits, loss or gradients (1-3);
- ``"free"``: the free-running judge (8): what of MLX's own training loop no local check sees (its
  validation set, its restored weights; its first step's batch and steps an epoch are local checks);
- ``None``: the verdict is not expected to see it (the harness's own code, or a rule the
  verdict's runs never reach, such as a tie or a 0/0 metric); the test suite must.

An ``equivalent`` mutant changes no result anywhere; its field is the one-line argument why, and
the runner reports it without counting it as survived. Texts are kept short and distinctive so
they survive edits around them; when a file changes under one, the runner says "stale".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    bug: str
    verdict: str | None = None
    equivalent: str | None = None

    @property
    def package(self) -> str:
        return self.file.split("/", 1)[0]


M = Mutant
_MO, _ML, _MM, _MT, _MV = ("mlx_reference/optim.py", "mlx_reference/loss.py", "mlx_reference/model.py",
                           "mlx_reference/train.py", "mlx_reference/validate.py")
_TO, _TL, _TM, _TT, _TV = ("reference_torch/optim.py", "reference_torch/loss.py", "reference_torch/model.py",
                           "reference_torch/train.py", "reference_torch/validate.py")

MLX_MUTANTS = (
    M("mlx-adam-no-bias-correction", _MO, "eps=eps, bias_correction=True)", "eps=eps, bias_correction=False)",
      "MLX's Adam without bias correction (mlx.optimizers.Adam's default): the first step is sqrt(10)x torch's", "local"),
    M("mlx-adam-eps-1e-7", _MO, "betas=list(betas), eps=eps,", "betas=list(betas), eps=1e-7,",
      "Adam's eps 1e-7 instead of 1e-8 (Keras' default)", "local"),
    M("mlx-adam-lr-0.1pct", _MO, "optimizer.learning_rate = learning_rate\n",
      "optimizer.learning_rate = learning_rate * 1.001\n", "the learning rate Adam uses is 0.1% too large", "local"),
    M("mlx-adam-beta1-0.95", _MO, "betas: tuple[float, float] = (0.9, 0.999),",
      "betas: tuple[float, float] = (0.95, 0.999),", "Adam's beta1 0.95 instead of 0.9", "local"),
    M("mlx-lr-change-ignored", _MO, "    optimizer.learning_rate = learning_rate\n    optimizer._learning_rate_set",
      "    optimizer._learning_rate_set", "set_learning_rate records the rate but never gives it to the optimizer: "
      "the plateau schedule's reductions never reach the update", "local"),
    M("mlx-bce-label-smoothing", _ML, "return nn.losses.binary_cross_entropy(logits, targets, with_logits=True",
      "return nn.losses.binary_cross_entropy(logits, targets * 0.9 + 0.05, with_logits=True",
      "targets smoothed to 0.05/0.95 (label smoothing ported by habit)", "local"),
    M("mlx-relu-gelu", _MM, "self.fc2(nn.relu(self.fc1(x)))", "self.fc2(nn.gelu(self.fc1(x)))",
      "SimpleNN with GELU where torch has ReLU", "local"),
    M("mlx-update-twice", _MT, "        optimizer.update(model, grads)\n",
      "        optimizer.update(model, grads)\n        optimizer.update(model, grads)\n",
      "the optimizer applied twice a step (a copy-paste slip): two Adam steps with the same gradient", "local"),
    M("mlx-adam-beta2-0.998", _MO, "betas: tuple[float, float] = (0.9, 0.999),", "betas: tuple[float, float] = (0.9, 0.998),",
      "Adam's beta2 0.998 instead of 0.999", "local"),
    M("mlx-bce-on-probabilities", _ML, "binary_cross_entropy(logits, targets, with_logits=True",
      "binary_cross_entropy(mx.sigmoid(logits), targets, with_logits=True",
      "probabilities handed to MLX's BCE, which takes logits by default", "local"),
    M("mlx-bce-sum", _ML, 'with_logits=True, reduction="mean")', 'with_logits=True, reduction="sum")',
      "the loss summed over the batch instead of averaged", "local"),
    M("mlx-relu-dropped", _MM, "self.fc2(nn.relu(self.fc1(x)))", "self.fc2(self.fc1(x))",
      "SimpleNN without its ReLU: a linear model", "local"),
    M("mlx-weight-transposed", _MM, "mx.array(np.asarray(weights[k]))",
      "mx.array(np.asarray(weights[k]).T.reshape(np.shape(weights[k])))",
      "torch's (out, in) weight loaded as if it were (in, out), reshaped to fit: fc1.weight scrambled", "local"),
    M("mlx-scaler-std-ddof1", "mlx_reference/data.py", "mx.sqrt(self.var_)", "mx.sqrt(self.var_ * n / (n - 1))",
      "the scaler divides by the sample standard deviation (ddof=1, torch's std default)", "static"),
    M("mlx-scaler-fit-on-all", "mlx_reference/pipeline.py", 'scaler = StandardScaler().fit(X["train"])',
      'scaler = StandardScaler().fit(to_array(np.concatenate([v[0] for v in splits.values()]), dtype))',
      "the scaler fit on all rows, test and validation included (the document's leak)", "static"),
    M("mlx-compile-without-state", _MT, "train_step = partial(mx.compile, inputs=state, outputs=state)(train_step)",
      "train_step = partial(mx.compile, outputs=state)(train_step)",
      "the training step compiled without inputs=state: it keeps the weights it was traced with", "local"),
    M("mlx-shuffle-reversed", _MT, "order = rng.permutation(n) if", "order = rng.permutation(n)[::-1].copy() if",
      "MLX's minibatches drawn in the reverse of the shared shuffle", "local"),
    M("mlx-shuffle-reseeded", _MT, "rng = np.random.default_rng(seed)", "rng = np.random.default_rng(seed + 1)",
      "MLX's shuffle seeded differently from torch's", "local"),
    M("mlx-last-batch-dropped", _MT, "for s in range(0, n, batch_size)]", "for s in range(0, n - batch_size + 1, batch_size)]",
      "the last, partial minibatch of each epoch dropped", "decision"),
    M("mlx-validation-on-train", _MT, "evaluate_loss(model, X_val, y_val) if X_val",
      "evaluate_loss(model, X_train, y_train) if X_val", "MLX's loop validates on the training set", "free"),
    M("mlx-early-stopping-off-by-one", _MV, "self.bad_epochs >= self.patience", "self.bad_epochs > self.patience",
      "early stopping waits one epoch more than its patience", "decision"),
    M("mlx-early-stopping-ties-improve", _MV, "if val_loss < self.best_loss - self.min_delta:",
      "if val_loss <= self.best_loss - self.min_delta:",
      "a validation loss equal to the best (minus min_delta) counts as an improvement; real runs never tie exactly"),
    M("mlx-best-weights-not-restored", _MV, "model.update(tree_unflatten(self.best_weights))", "pass",
      "early stopping forgets to put the best epoch's weights back", "free"),
    M("mlx-logit-threshold-0.5", "mlx_reference/metrics.py", "pred = logits > 0\n", "pred = logits > 0.5\n",
      "logits thresholded at 0.5 as if they were probabilities (the document's)"),
    M("mlx-precision-0/0-is-1", "mlx_reference/metrics.py", "tp / (tp + fp) if tp + fp else 0.0",
      "tp / (tp + fp) if tp + fp else 1.0", "precision with no predicted positive reads 1 (scikit-learn: 0)"),
    M("mlx-plateau-factor-0.5", _MO, "factor: float = 0.1,", "factor: float = 0.5,",
      "ReduceLROnPlateau halves the rate instead of dividing it by 10", "decision"),
    M("mlx-plateau-patience-ge", _MO, "if self.num_bad_epochs > self.patience:", "if self.num_bad_epochs >= self.patience:",
      "the plateau schedule reduces after N bad epochs instead of torch's N + 1", "decision"),
    M("mlx-eval-mode-dropped", _MV, "    model.eval()\n    return loss_fn(model, X, y).item()",
      "    return loss_fn(model, X, y).item()",
      "evaluation leaves the model in training mode (same values: SimpleNN has no dropout or normalization layer)"),
    M("dp-average-undivided", "mlx_reference/distributed.py", "grads = nn.average_gradients(grads, group=group)",
      "grads = tree_unflatten([(k, mx.distributed.all_sum(v, group=group)) for k, v in tree_flatten(grads)])",
      "the data-parallel step sums the ranks' gradients (all_sum without the division): W times DDP's; the "
      "single-process verdict never runs it, --ranks names it (tests/test_data_parallel.py)"),
)

TORCH_MUTANTS = (
    M("torch-adam-eps-1e-7", _TO, "betas=betas, eps=eps, foreach=False)", "betas=betas, eps=1e-7, foreach=False)",
      "the reference's Adam with eps 1e-7", "anchor"),
    M("torch-adam-amsgrad", _TO, "eps=eps, foreach=False)", "eps=eps, foreach=False, amsgrad=True)",
      "the reference's Adam with amsgrad: the running maximum of v in the denominator", "anchor"),
    M("torch-adam-weight-decay", _TO, "eps=eps, foreach=False)", "eps=eps, foreach=False, weight_decay=1e-2)",
      "the reference's Adam with L2 weight decay 1e-2 (an AdamW habit)", "anchor"),
    M("torch-adam-beta1-0.8", _TO, "betas: tuple[float, float] = (0.9, 0.999),", "betas: tuple[float, float] = (0.8, 0.999),",
      "the reference's Adam with beta1 0.8", "anchor"),
    M("torch-lr-0.1pct", _TO, "lr=learning_rate, betas=betas", "lr=learning_rate * 1.001, betas=betas",
      "the reference trains at a learning rate 0.1% above the configuration's", "local"),
    M("torch-zero-grad-missing", _TT, "        optimizer.zero_grad()\n", "",
      "no zero_grad: every step's gradients add up with all the previous ones", "local"),
    M("torch-bce-sum", _TL, 'targets, reduction="mean")\n\n\ndef bce(', 'targets, reduction="sum")\n\n\ndef bce(',
      "the reference's loss summed instead of averaged", "local"),
    M("torch-relu-gelu", _TM, "self.fc2(torch.relu(self.fc1(x)))", "self.fc2(torch.nn.functional.gelu(self.fc1(x)))",
      "the reference with GELU where the document has ReLU", "local"),
    M("torch-bce-label-smoothing", _TL, "F.binary_cross_entropy_with_logits(logits, targets, reduction",
      "F.binary_cross_entropy_with_logits(logits, targets * 0.9 + 0.05, reduction",
      "the reference's targets smoothed to 0.05/0.95", "local"),
    M("torch-adam-beta2-0.998", _TO, "betas: tuple[float, float] = (0.9, 0.999),", "betas: tuple[float, float] = (0.9, 0.998),",
      "the reference's Adam with beta2 0.998", "anchor"),
    M("torch-relu-leaky", _TM, "self.fc2(torch.relu(self.fc1(x)))", "self.fc2(torch.nn.functional.leaky_relu(self.fc1(x), 0.01))",
      "the reference's activation a leaky ReLU (slope 0.01)", "local"),
    M("torch-scaler-correction-1", "reference_torch/data.py", "torch.sqrt(self.var_)", "torch.sqrt(self.var_ * n / (n - 1))",
      "the reference's scaler divides by the unbiased std (correction=1, torch.std's default)", "static"),
    M("torch-shuffle-reversed", _TT, "order = rng.permutation(n) if", "order = rng.permutation(n)[::-1].copy() if",
      "the reference's minibatches in the reverse of the shared shuffle", "local"),
    M("torch-last-batch-dropped", _TT, "for s in range(0, n, batch_size)]", "for s in range(0, n - batch_size + 1, batch_size)]",
      "the reference drops the last, partial minibatch of each epoch", "local"),
    M("torch-early-stopping-off-by-one", _TV, "self.bad_epochs >= self.patience", "self.bad_epochs > self.patience",
      "the reference's early stopping waits one epoch more than its patience", "decision"),
    M("torch-state-dict-aliasing", _TV, "self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}",
      "self.best_weights = model.state_dict()",
      "the best weights kept as state_dict(), which aliases the live tensors: the last weights come back", "free"),
    M("torch-plateau-factor-0.5", "reference_torch/pipeline.py", "ReduceLROnPlateau(optimizer, **plateau)",
      'ReduceLROnPlateau(optimizer, **{"factor": 0.5, **plateau})', "the reference's schedule halves the rate", "decision"),
    M("torch-recall-uses-fp", "reference_torch/metrics.py", "tp / (tp + fn) if tp + fn else 0.0",
      "tp / (tp + fp) if tp + fp else 0.0", "the reference's recall computed with false positives", "decision"),
    M("torch-threshold-ge", "reference_torch/metrics.py", "pred = logits > 0\n", "pred = logits >= 0\n",
      "a logit of exactly 0 predicted positive (sigmoid(0) = 0.5 is not > 0.5)"),
    M("torch-labels-int64", "reference_torch/metrics.py", "(logits > 0).to(torch.int32)", "(logits > 0).to(torch.int64)",
      "predicted labels as int64 instead of the int32 both sides document (same 0/1 values)"),
    M("torch-no-grad-dropped", _TV, "    with torch.no_grad():\n        return loss_fn(model, X, y).item()",
      "    return loss_fn(model, X, y).item()", "validation evaluated with autograd recording",
      equivalent="recording the graph changes no value: the loss is read with .item() and nothing is backpropagated"),
)

_TOL, _LOC, _RUN, _LED = ("conformance/tolerances.py", "conformance/local.py", "conformance/runner.py",
                          "conformance/ledger.py")

CONFORMANCE_MUTANTS = (
    M("tol-update-rtol-100x", _TOL, "StepRounding(U32, 0.0, 4.0, 4.0, 4.0, 1e-5,", "StepRounding(U32, 0.0, 4.0, 4.0, 4.0, 1e-3,",
      "Adam's update budget loosened a hundredfold (update_rtol 1e-3)"),
    M("tol-lam-100x", _TOL, "StepRounding(U32, 0.0, 4.0,", "StepRounding(U32, 0.0, 400.0,",
      "the probabilistic sum bound's lam 400: every sum's budget its worst case k u"),
    M("tol-state-100x", _TOL, "1e-5, 8.0, reason=_STEP_REASON + \"IEEE", "1e-5, 800.0, reason=_STEP_REASON + \"IEEE",
      "Adam's moments' rounding budget loosened a hundredfold"),
    M("tol-loss-term-100x", _TOL, "StepRounding(U32, 0.0, 4.0, 4.0, 4.0,", "StepRounding(U32, 0.0, 4.0, 4.0, 400.0,",
      "a BCE term's rounding budget loosened a hundredfold"),
    M("bounds-without-1/n", "conformance/bounds.py", "+ u * abs(res)) / n", "+ u * abs(res))",
      "the bound of dBCE/dlogit forgets the mean's 1/n: gradient budgets n times too wide"),
    M("intervals-ignore-gradient-sign", "conformance/intervals.py",
      "m_lo, m_hi = b1 * m + (1 - b1) * g_lo, b1 * m + (1 - b1) * g_hi",
      "m_lo, m_hi = b1 * m - (1 - b1) * np.maximum(abs(g_lo), abs(g_hi)), b1 * m + (1 - b1) * np.maximum(abs(g_lo), abs(g_hi))",
      "Adam's interval ignores g_lo/g_hi's sign: any step between -lr and lr passes"),
    M("intervals-midpoint-only", "conformance/intervals.py",
      "m_lo, m_hi = b1 * m + (1 - b1) * g_lo, b1 * m + (1 - b1) * g_hi",
      "m_lo = m_hi = b1 * m + (1 - b1) * (g_lo + g_hi) / 2",
      "Adam's interval ignores g_lo/g_hi, taking their midpoint: real rounding is called a bug"),
    M("local-step-compares-torch-with-itself", _LOC, 'p_seg, c_after, ref_after,\n                          toward',
      'p_seg, ref_after, ref_after,\n                          toward', "the training-step check compares torch with itself"),
    M("local-adam-compares-torch-with-itself", _LOC, '"optimizer_state", p_seg, c_after, ref_after,',
      '"optimizer_state", p_seg, ref_after, ref_after,', "the Adam check compares torch with itself"),
    M("local-gradients-compare-torch-with-itself", _LOC, "segs.flat(c_grads), g_ref, delta", "g_ref, g_ref, delta",
      "the gradient check compares torch with itself"),
    M("local-loss-compares-torch-with-itself", _LOC, "np.array([c_loss]), np.array([ref_loss])",
      "np.array([ref_loss]), np.array([ref_loss])", "the loss check compares torch with itself"),
    M("local-validation-loss-not-mlx", _LOC, 'Segments([""], [()]), np.array([loss]),\n                          np.array([ref_loss])',
      'Segments([""], [()]), np.array([ref_loss]),\n                          np.array([ref_loss])',
      "the validation-loss check compares torch with itself"),
    M("ledger-any-instead-of-all", _LED, "return all(t.failed == 0 for t in self.tallies.values())",
      "return any(t.failed == 0 for t in self.tallies.values())", "the run passes when any quantity passed"),
    M("ledger-drops-failures", _LED, "                t.failed += 1\n                if t.first_failure is None:\n                    t.first_failure = self._check(",
      "                if t.first_failure is None:\n                    t.first_failure = self._check(",
      "the ledger stops counting failed steps"),
    M("ledger-double-allowance", _LED, "ratio = np.where(allow > 0, diff / allow,", "ratio = np.where(allow > 0, diff / (2 * allow),",
      "every per-element budget of the local checks doubled"),
    M("ledger-nan-is-no-difference", _LED, "diff = np.where(bad_value, np.inf, diff)", "diff = np.where(bad_value, 0.0, diff)",
      "NaN or infinity counts as no difference"),
    M("compare-rtol-100x", "conformance/compare.py", "allowance = atol + tol.rtol * np.abs(finite_e)",
      "allowance = atol + 100 * tol.rtol * np.abs(finite_e)", "the static checks' relative tolerance loosened a hundredfold"),
    M("runner-part-any", _RUN, "return all(c.passed for c in self.checks if _part(c.path) == part)",
      "return any(c.passed for c in self.checks if _part(c.path) == part)", "a part of the verdict passes when any of its checks did"),
    M("runner-exit-0-on-mismatch", _RUN, '"does-not-conform": 1,', '"does-not-conform": 0,',
      "the exit status of a run that does not conform is 0"),
    M("runner-first-failure-is-last", _RUN, "return min(failed, key=lambda c: (order", "return max(failed, key=lambda c: (order",
      "the reported first failure is the last one"),
    M("runner-split-ignores-seed", _RUN, "config.test_fraction, config.seed, config.stratify",
      "config.test_fraction, 0, config.stratify", "the split drawn with seed 0 whatever the configuration says"),
    M("runner-split-ignores-stratify", _RUN, "config.test_fraction, config.seed, config.stratify",
      "config.test_fraction, config.seed, False", "the split never stratified"),
    M("runner-weights-ignore-seed", _RUN, "init_weights(dataset.X.shape[1], config.hidden, config.seed)",
      "init_weights(dataset.X.shape[1], config.hidden, 0)", "the initial weights drawn with seed 0 whatever the configuration says"),
    M("runner-local-every-ignored", _RUN, "ReferenceSteps(checker, weights, len(y_tr), config, config.local_every)",
      "ReferenceSteps(checker, weights, len(y_tr), config, 1)", "--local-every never reaches the checker"),
    M("runner-only-first-step-checked", _RUN, "if self.k % self.every == 0 or self.k == 1:", "if self.k == 1:",
      "only the first training step is checked locally"),
    M("runner-patience-not-passed", _RUN, "patience=config.patience, min_delta", "patience=None, min_delta",
      "the pipelines never get the configured patience"),
    M("runner-plateau-not-passed", _RUN, "plateau=config.plateau, seed", "plateau=None, seed",
      "the pipelines never get the configured plateau schedule"),
    M("runner-ensemble-option-ignored", _RUN, "count = FREE_RUNNING.members if config.ensemble is None else config.ensemble",
      "count = FREE_RUNNING.members", "--ensemble never reaches the run: always the table's 6 members"),
    M("runner-decisions-unchecked", _RUN, "    _decisions(ledger, m, t, config)\n", "",
      "early stopping and the plateau schedule are never judged"),
    M("ensemble-margin-100x", _TOL, "FreeRunning(members=6, margin=10.0,", "FreeRunning(members=6, margin=1000.0,",
      "the free-running margin made huge (1000 instead of 10)"),
    M("ensemble-jitter-1000x", _TOL, "margin=10.0, jitter=4.0,", "margin=10.0, jitter=4000.0,",
      "the ensemble's initial weights moved a thousand times more than rounding"),
    M("ensemble-decisions-always-within", "conformance/ensemble.py", "lo, hi = min(vs), max(vs)", "lo, hi = -np.inf, np.inf",
      "the free run's decisions and metrics are always within the ensemble's range"),
    M("report-drops-failed-checks", "conformance/report.py", '"checks": [_slim(c) for c in fold_steps(items)]',
      '"checks": [_slim(c) for c in fold_steps(items) if c["passed"]]', "the JSON report leaves out the failed checks"),
    M("report-always-passed", "conformance/report.py", '"passed": not failed,', '"passed": True,',
      'the JSON report says "passed": true whatever failed'),
    M("cli-lr-not-passed", "conformance/cli.py", "learning_rate=args.lr,", "learning_rate=1e-3,",
      "--lr never reaches the run"),
    M("cli-ensemble-not-passed", "conformance/cli.py", "ensemble=args.ensemble,", "ensemble=None,",
      "--ensemble never reaches the run"),
    M("cli-exit-0", "conformance/cli.py", "return CONFORMS if outcome.passed else DIFFERS", "return CONFORMS",
      "the command line exits 0 whatever the verdict"),
    M("sides-mlx-is-torch", "conformance/sides.py", 'PACKAGES = {"mlx": "mlx_reference",', 'PACKAGES = {"mlx": "reference_torch",',
      "the candidate side is torch itself: every comparison is torch against torch"),
    M("split-val-is-test", "conformance/data/splits.py", "val=perm[n_test:n_test + n_val]", "val=perm[:n_val]",
      "the validation rows are the test rows"),
    M("shuffle-reseeded", "conformance/data/splits.py",
      '_check_int("shuffle_orders", "seed", seed, minimum=0)\n    rng = np.random.default_rng(seed)',
      '_check_int("shuffle_orders", "seed", seed, minimum=0)\n    rng = np.random.default_rng(seed + 1)',
      "the harness's batch order is not the one both pipelines draw"),
    M("weights-not-torch-init", "conformance/weights.py", "bound = 1.0 / np.sqrt(fan_in)", "bound = 1.0 / fan_in",
      "initial weights drawn from a narrower range than torch's nn.Linear default"),
    M("dp-sampler-padding-removed", "conformance/distributed/sharding.py",
      "padded = np.concatenate([order, np.tile(order, reps)[:padding]]) if padding else order", "padded = order",
      "the sampler rule drops DistributedSampler's padding: an uneven set gives the last ranks a row less"),
    M("dp-epoch-seed-ignored", "conformance/distributed/sharding.py", "np.random.default_rng([seed, epoch])",
      "np.random.default_rng(seed)", "every epoch shuffles the rows in the same order (set_epoch ignored)"),
)

MUTANTS: tuple[Mutant, ...] = MLX_MUTANTS + TORCH_MUTANTS + CONFORMANCE_MUTANTS
