#!/usr/bin/env bash
# conformance.pair on a GPU machine, in both float32 matmul modes: the example ports (five, each
# with its wrong twin), the ports written as others write them, the hostile inputs, and one timed
# command line per example. Everything is written under OUTDIR.
#
#   scripts/gpu_pair.sh OUTDIR
set -uo pipefail
out=${1:?usage: scripts/gpu_pair.sh OUTDIR}
py=${PYTHON:-python3}
mkdir -p "$out"
status=0
for mode in tf32 ieee; do
  if [ "$mode" = ieee ]; then export MLX_ENABLE_TF32=0; else unset MLX_ENABLE_TF32; fi
  echo "== pair tests --device gpu, $mode"
  $py -m pytest -q -p no:cacheprovider --device gpu --precision "$mode" \
    tests/test_examples.py tests/test_pair_ports.py tests/test_pair_hostile.py > "$out/pair-tests-$mode.log" 2>&1 || status=1
  tail -3 "$out/pair-tests-$mode.log"
  for ex in mlp cnn transformer rnn bn; do
    TIMEFORMAT=%R
    secs=$( { time $py -m conformance pair "examples/$ex.py" --device gpu --steps 20 > "$out/pair-$ex-$mode.log" 2>&1; } 2>&1 )
    echo "$ex $mode: ${secs} s (a fresh process, start-up included): $(grep -E '^(CONFORMS|DOES NOT|NOT COMPARABLE|NON-FINITE)' "$out/pair-$ex-$mode.log" | cut -c1-120)"
  done
done
exit $status
