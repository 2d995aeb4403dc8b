"""Training at the scale a user runs it: one epoch of minibatches (the product's ``train_epoch``)
and the document's whole pipeline, numpy data in, metrics out (the product's ``run_pipeline``)."""

from benchmarks.harness import run_benchmark


def test_epoch(benchmark, bench_case, bench_info, settings):
    run_benchmark("epoch", benchmark, bench_case, bench_info, settings)


def test_pipeline(benchmark, bench_case, bench_info, settings):
    run_benchmark("pipeline", benchmark, bench_case, bench_info, settings)
