#!/usr/bin/env bash
# The conformance suite, the command line and the benchmarks on a GPU machine (MLX's CUDA or
# Metal backend against torch's CUDA or MPS), in both float32 matmul modes, with every report
# written under OUTDIR:
#
#   scripts/gpu_suite.sh OUTDIR [suite|bench|all] [tf32|ieee|both] [extra pytest args for bench]
#
#   suite-<mode>.log/.json   pytest tests --device cpu,gpu --precision <mode> (+ --conformance-report)
#   cli-<mode>.txt/.json     python -m conformance --device gpu --json
#   bench-<mode>.log/.tar.gz, summary-<mode>.md, check-<mode>.log   scripts/gpu_bench.sh (the torch
#                            variants' agreement check, then the timed matrix and its summary)
#   agreement.md             worst error per quantity and mode, from the suite and CLI reports
#
# "tf32" is MLX's default on CUDA (and on Apple's M5 GPUs); "ieee" runs with MLX_ENABLE_TF32=0,
# which MLX reads once, before its first matmul, so each mode is its own process. Exit status:
# non-zero when any suite or command-line run failed (every phase runs regardless).
set -uo pipefail
out=${1:?usage: scripts/gpu_suite.sh OUTDIR [suite|bench|all] [tf32|ieee|both]}
what=${2:-all}
modes=${3:-both}
shift $(( $# < 3 ? $# : 3 ))
py=${PYTHON:-python3}
mkdir -p "$out"
[ "$modes" = both ] && modes="tf32 ieee"
status=0
for mode in $modes; do
  if [ "$mode" = ieee ]; then export MLX_ENABLE_TF32=0; else unset MLX_ENABLE_TF32; fi
  if [ "$what" = suite ] || [ "$what" = all ]; then
    echo "== suite, $mode"
    $py -m pytest tests -q -p no:cacheprovider --device cpu,gpu --precision "$mode" \
      --conformance-report="$out/suite-$mode.json" 2>&1 | tee "$out/suite-$mode.log" | tail -15
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    echo "== command line, $mode"
    $py -m conformance --device gpu --json "$out/cli-$mode.json" > "$out/cli-$mode.txt" 2>&1 || status=1
    tail -2 "$out/cli-$mode.txt"
  fi
  if [ "$what" = bench ] || [ "$what" = all ]; then
    echo "== benchmarks, $mode"  # the torch variants' check, then the timed matrix: scripts/gpu_bench.sh
    PYTHON=$py BENCH_ARGS="$*" "$(dirname "$0")/gpu_bench.sh" "$out" "$mode" cpu,gpu check,bench || status=1
  fi
done
$py -m conformance.agreement "$out" > "$out/agreement.md" 2>/dev/null && cat "$out/agreement.md"
exit $status
