"""The parts of one training step, and the whole step: forward pass, loss and gradients, one Adam
update, one training step. Each is its own pytest-benchmark group, per size; see
benchmarks/harness.py for what exactly each call does and how it is timed."""

from benchmarks.harness import run_benchmark


def test_forward(benchmark, bench_case, bench_info, settings):
    run_benchmark("forward", benchmark, bench_case, bench_info, settings)


def test_loss_and_grad(benchmark, bench_case, bench_info, settings):
    run_benchmark("loss_and_grad", benchmark, bench_case, bench_info, settings)


def test_adam_update(benchmark, bench_case, bench_info, settings):
    run_benchmark("adam_update", benchmark, bench_case, bench_info, settings)


def test_train_step(benchmark, bench_case, bench_info, settings):
    run_benchmark("train_step", benchmark, bench_case, bench_info, settings)
