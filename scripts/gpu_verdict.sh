#!/usr/bin/env bash
# The verdict on a GPU machine, in one float32 matmul mode: the suite's GPU cases (lockstep, MLX GPU
# against MLX CPU, the example ports, the guide's GPU-only proofs, the registry's drift probes, the
# scaler against scikit-learn) and the corpus's GPU subset. Everything is written under OUTDIR.
#
#   scripts/gpu_verdict.sh OUTDIR tf32|ieee [tests|corpus|all]
#
# "tf32" is MLX's default on CUDA (torch set to TF32 to match); "ieee" runs with MLX_ENABLE_TF32=0.
set -uo pipefail
out=${1:?usage: scripts/gpu_verdict.sh OUTDIR tf32|ieee [tests|corpus|all]}
mode=${2:?mode tf32 or ieee}
what=${3:-all}
py=${PYTHON:-python3}
mkdir -p "$out"
if [ "$mode" = ieee ]; then export MLX_ENABLE_TF32=0; else unset MLX_ENABLE_TF32; fi
status=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  echo "== tests --device gpu, $mode"
  $py -m pytest -q -p no:cacheprovider --device gpu --precision "$mode" -m "slow or not slow" \
    --deselect tests/test_memory.py::test_memory_is_flat_from_1000_to_20000_steps \
    tests/test_training.py tests/test_devices.py tests/test_examples.py tests/pitfalls tests/test_registry.py \
    tests/test_anchor_scaler.py tests/test_properties.py tests/test_gradients.py tests/test_loss.py tests/test_model.py \
    --conformance-report="$out/tests-$mode.json" > "$out/tests-$mode.log" 2>&1 || status=1
  tail -4 "$out/tests-$mode.log"
fi
if [ "$what" = corpus ] || [ "$what" = all ]; then
  echo "== corpus --device gpu --gpu-subset, $mode"
  $py -m conformance.corpus --device gpu --gpu-subset --no-compile --out "$out" > "$out/corpus-$mode.log" 2>&1 || status=1
  tail -3 "$out/corpus-$mode.log"
fi
exit $status
