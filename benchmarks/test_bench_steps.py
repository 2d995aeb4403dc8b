"""The whole training step, and its parts: forward pass, loss and gradients, one Adam update. Each
is its own pytest-benchmark group, per size; see benchmarks/calls.py for what exactly each call
does and benchmarks/harness.py for how it is timed. The training step is defined first, so it
runs first: a run cut short by --bench-deadline loses the parts, not the step."""

from benchmarks.harness import run_benchmark


def test_train_step(benchmark, bench_case, bench_info, settings):
    run_benchmark("train_step", benchmark, bench_case, bench_info, settings)


def test_forward(benchmark, bench_case, bench_info, settings):
    run_benchmark("forward", benchmark, bench_case, bench_info, settings)


def test_loss_and_grad(benchmark, bench_case, bench_info, settings):
    run_benchmark("loss_and_grad", benchmark, bench_case, bench_info, settings)


def test_adam_update(benchmark, bench_case, bench_info, settings):
    run_benchmark("adam_update", benchmark, bench_case, bench_info, settings)
