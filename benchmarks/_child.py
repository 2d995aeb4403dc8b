"""A fresh process for the first-call benchmark: build, say "ready", wait, run, report.

    python -m benchmarks._child IMPL DEVICE SIZE [PRECISION]

Protocol on stdin/stdout, one line each: the child builds the model, data and training step on
the device (MLX: evaluated there; torch: moved there, so the device context exists) and prints
``ready``; on any input line it runs the first training step to completion (evaluated, or
synchronized) and prints ``first <seconds>``; then it runs a second step and prints
``second <seconds>`` and exits. The parent times from its "go" to the ``first`` line.
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    impl, device, size_id = argv[:3]
    precision = argv[3] if len(argv) > 3 and argv[3] != "-" else None
    from benchmarks import calls, harness
    from benchmarks.cases import IMPLS, SIZES

    framework = IMPLS[impl][0]
    if framework == "torch":
        import reference_torch.device as tdev

        tdev.set_precision_mode(precision or "ieee")
    with harness.on_device(framework, device):
        run = calls.build("first_call", impl, device, SIZES[size_id])
    with harness.timing_context(framework, device):
        print("ready", flush=True)
        sys.stdin.readline()
        t0 = time.perf_counter()
        run()
        t1 = time.perf_counter()
        print(f"first {t1 - t0!r}", flush=True)
        t2 = time.perf_counter()
        calls.check_result(run())
        t3 = time.perf_counter()
        print(f"second {t3 - t2!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
