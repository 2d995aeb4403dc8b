"""The first-call cost: the first training step of a fresh process, by itself.

What is timed: in a new Python process that has already imported the frameworks, built the
model, the optimizer and the data on the device (MLX: evaluated; torch: on the device, so its
context exists), the first call of the training step, run to completion: for MLX compiled,
tracing, ``mx.compile``'s graph compilation and, where a kernel is not cached, its JIT (the C++
compiler on the Linux CPU, NVRTC on CUDA); for MLX eager and torch, the first dispatch of every
kernel (library handles, lazily loaded kernels, allocator warm-up). The clock runs from the
parent's "go" to the child's answer (a pipe round trip, microseconds, is included).

``cold-cache``: the on-disk caches of compiled code start empty: what a user pays on a machine's
first run. MLX: ``$TMPDIR/mlx/<version>/cpu`` for the CPU's compiled kernels,
``MLX_PTX_CACHE_DIR`` or ``$TMPDIR/mlx/<version>/ptx`` for CUDA. ``torch.compile``: Inductor's
``TORCHINDUCTOR_CACHE_DIR`` (compiled graphs, AOT autograd, generated C++) and Triton's
``TRITON_CACHE_DIR`` (GPU kernels). ``warm-cache``: the caches were filled by an earlier process:
every later run. Eager torch keeps no such cache. One round each (a round is a new process).
"""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
import time

import pytest

from benchmarks import harness
from benchmarks.cases import COMPILED_TORCH, IMPLS, SIZES, work

_TIMEOUT_S = 600.0


class _Child:
    def __init__(self, impl: str, device: str, size_id: str, precision: str | None, cache_dir: str | None):
        env = dict(os.environ)
        pythonpath = [harness.repo_root()] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
        if cache_dir is not None:
            env["TMPDIR"] = cache_dir
            env["MLX_PTX_CACHE_DIR"] = os.path.join(cache_dir, "mlx-ptx")
            env["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(cache_dir, "torchinductor")
            env["TRITON_CACHE_DIR"] = os.path.join(cache_dir, "triton")
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [harness.python(), "-m", "benchmarks._child", impl, device, size_id, precision or "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, bufsize=0,
            cwd=harness.repo_root(), env=env)
        self.expect("ready")

    def readline(self, timeout: float = _TIMEOUT_S) -> bytes:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.fail("no answer")
        return line

    def expect(self, word: str) -> float | None:
        line = self.readline().decode().split()
        if not line or line[0] != word:
            self.fail(f"expected {word!r}, got {' '.join(line)!r}")
        return float(line[1]) if len(line) > 1 else None

    def go(self) -> None:
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def fail(self, what: str):
        self.proc.kill()
        self.proc.wait()
        self.stderr.seek(0)
        tail = self.stderr.read().decode(errors="replace")[-3000:]
        raise RuntimeError(f"first-call child: {what} (exit {self.proc.returncode}); its stderr:\n{tail}")

    def finish(self) -> float:
        second = self.expect("second")
        self.proc.stdin.close()
        if self.proc.wait(timeout=60) != 0:
            self.fail("non-zero exit")
        self.stderr.close()
        return second

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def test_first_call(benchmark, bench_case, bench_info, settings, precision_mode, tmp_path_factory):
    impl, device, size_id, cache = bench_case
    info, reason = bench_info
    framework = IMPLS[impl][0]
    size = SIZES[size_id]
    benchmark.group = f"first_call {size_id}"
    if settings.deadline is not None and not settings.disabled and time.monotonic() - settings.started > settings.deadline:
        benchmark.skipped = True
        pytest.skip(f"the session ran past --bench-deadline={settings.deadline:g} s")
    if reason:
        benchmark.skipped = True
        pytest.skip(reason)
    benchmark.extra_info.update(info)
    benchmark.extra_info.update(
        group="first_call", size=size_id, size_label=size.label, n=size.n, hidden=size.hidden, in_features=2,
        n_params=size.n_params, batch_size=size.n, epochs=None, **work("first_call", size).as_dict(),
        cache=cache or "none (eager torch keeps no kernel cache)",
        what="first training step of a fresh process (build done; trace, compile, JIT, run, evaluate)")
    precision = precision_mode if framework == "torch" else None

    def cache_dir() -> str | None:
        if framework != "mlx" and impl not in COMPILED_TORCH:
            return None
        if cache == "cold":
            return str(tmp_path_factory.mktemp("cold-cache"))
        if settings.disabled:  # one untimed call: the user's own cache, no priming
            return None
        warm = str(tmp_path_factory.mktemp("warm-cache"))
        primer = _Child(impl, device, size_id, precision, warm)  # fills the cache
        primer.go()
        primer.expect("first")
        primer.finish()
        return warm

    children: list[_Child] = []
    answers: list[float] = []
    seconds: list[float] = []

    def setup():
        child = _Child(impl, device, size_id, precision, cache_dir())
        children.append(child)
        return (child,), {}

    def first(child: _Child):
        child.go()
        answers.append(child.expect("first"))

    def teardown(child: _Child):
        seconds.append(child.finish())

    try:
        benchmark.pedantic(first, setup=setup, teardown=teardown, rounds=1, iterations=1)
        if settings.disabled:
            teardown(children[-1])
    finally:
        for child in children:
            child.kill()
    benchmark.extra_info.update(inner_first_call_s=answers[-1], second_call_s=seconds[-1] if seconds else None)
