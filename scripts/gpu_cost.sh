#!/usr/bin/env bash
# What the verdict costs on a GPU machine (issue 24), each part under its own time limit so that a
# part cut short still leaves the others' results. Everything is written under OUTDIR.
#
#   scripts/gpu_cost.sh OUTDIR [pair|doc|first|pipeline|all]
#
# pair:     benchmarks.verdict_cost --pair --device gpu (pair.check on the examples against plain
#           training on the GPU; the 3x target)
# doc:      benchmarks.verdict_cost --doc --device cpu,gpu (the document's command on this host's CPU
#           and GPU in one process; the GPU-within-2x-CPU target)
# first:    the document's command as a user starts it, a fresh process each: the GPU with MLX's
#           kernel cache empty, again with it filled, and the CPU
# pipeline: benchmarks.profile_pipeline at 1 000 000 samples, and the same on a copy of the tree
#           whose to_array casts float64 numpy to float32 numpy before mx.array
set -uo pipefail
out=${1:?usage: scripts/gpu_cost.sh OUTDIR [pair|doc|first|pipeline|all]}
what=${2:-all}
py=${PYTHON:-python3}
limit=${LIMIT_S:-280}
mkdir -p "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
want() { [ "$what" = all ] || [ "$what" = "$1" ]; }
status=0
if want pair; then
  echo "== verdict_cost --pair --device gpu"
  for ex in ${EXAMPLES:-mlp cnn transformer rnn bn}; do  # one process each: a slow one cuts only itself short
    timeout "$limit" $py -m benchmarks.verdict_cost --pair --device gpu --repeats "${REPEATS:-3}" --examples "$ex" >> "$out/cost-pair-gpu.md" 2>&1 || status=1
    grep -E "^\| $ex" "$out/cost-pair-gpu.md" | tail -1
  done
fi
if want doc; then
  echo "== verdict_cost --doc --device cpu,gpu"
  timeout "$limit" $py -m benchmarks.verdict_cost --doc --device cpu,gpu --repeats "${REPEATS:-3}" > "$out/cost-doc.md" 2>&1 || status=1
  tail -8 "$out/cost-doc.md"
fi
if want first; then
  echo "== the document's command, fresh processes" | tee "$out/first-call.md"
  cold=$(mktemp -d)
  TIMEFORMAT=%R
  i=0
  for run in "gpu, MLX kernel cache empty" "gpu, MLX kernel cache filled" "cpu"; do
    i=$((i + 1)); dev=gpu; [ "$run" = cpu ] && dev=cpu; log="$out/first-$i-$dev.log"
    secs=$( { time MLX_PTX_CACHE_DIR="$cold/ptx" TMPDIR="$cold" timeout "$limit" $py -m conformance --device "$dev" > "$log" 2>&1; } 2>&1 ) || status=1
    echo "- $run: ${secs} s, $(grep -cE '^(CONFORMS|DOES NOT)' "$log") verdict line(s): $(grep -m1 -E 'CONFORMS|DOES NOT' "$log" | cut -c1-100)" | tee -a "$out/first-call.md"
  done
fi
if want pipeline; then
  echo "== profile_pipeline n1m: the tree as it is, then to_array casting in numpy first"
  timeout "$limit" $py -m benchmarks.profile_pipeline --device gpu --sizes n1m --rounds 9 --out "$out/pipe-asis" > "$out/pipe-asis.log" 2>&1 || status=1
  alt=$(mktemp -d)/tree && cp -r . "$alt"
  sed -i 's/return mx.array(np.asarray(x), dtype=DTYPES\[dtype\])/return mx.array(np.asarray(x, dtype=np.float32) if dtype == "float32" else np.asarray(x), dtype=DTYPES[dtype])/' "$alt/mlx_reference/data.py"
  grep -q 'np.asarray(x, dtype=np.float32)' "$alt/mlx_reference/data.py" || { echo "the to_array edit did not apply"; status=1; }
  (cd "$alt" && timeout "$limit" $py -m benchmarks.profile_pipeline --device gpu --sizes n1m --rounds 9 --out "$out/pipe-cast") > "$out/pipe-cast.log" 2>&1 || status=1
  for v in asis cast; do echo "-- $v"; grep -E "to_array|plain pipeline|wrapped pipeline" "$out/pipe-$v/pipeline-gpu.md"; done
fi
exit $status
