#!/usr/bin/env bash
# The benchmarks on a GPU machine, in one float32 matmul mode, sized for one call of at most
# ~9 minutes (a lent machine's 10-minute limit), everything written under OUTDIR:
#
#   scripts/gpu_bench.sh OUTDIR tf32|ieee [DEVICES] [PHASES]
#
#   DEVICES  cpu,gpu (default) or gpu: where both frameworks run. The CPU half does not depend on
#            the mode (TF32 is a CUDA setting): one mode's run with cpu,gpu gives it.
#   PHASES   comma list (default check,bench):
#     check    pytest benchmarks/test_torch_variants.py: every torch variant (foreach, fused,
#              torch.compile, reduce-overhead with CUDA graphs) against the reference's step, on
#              DEVICES, in this mode                      -> check-MODE.log
#     bench    pytest benchmarks, timed, cut at a deadline that keeps the call under BUDGET_S;
#              then python -m benchmarks.summarize        -> bench-MODE.log, summary-MODE.md,
#              bench-MODE.tar.gz (the JSON, the summary, throughput, plots, the archive)
#     profile  python -m benchmarks.profile_step --device gpu --sizes PROFILE_SIZES: stages,
#              CUDA kernels per step (CUPTI) for MLX and torch, MLX remedies
#                                                         -> profile-gpu-MODE.md, .json
#
# Environment: PYTHON (python3), BUDGET_S (510: seconds the whole call may take), BENCH_TIME
# (0.25: seconds of rounds per benchmark), BENCH_BUDGET (cpu=15,gpu=15: seconds per benchmark),
# PROFILE_SIZES (doc5,n1m,wide4k), PROFILE_S (240: seconds kept for the profile phase), BENCH_ARGS
# (more pytest arguments for the bench phase, e.g. --bench-sizes doc5 for a dry run).
#
# MLX on a machine without a package index (see ../shared/device/prepare-mlx-cuda.sh): carry
# .mlxcuda1 in a first call, which only stashes its half (/root/stash/part_aa) and exits; carry
# .mlxcuda2 in the next call on the same warm machine: this script installs MLX from the two
# halves if it is not importable yet. A later call on the same machine finds it in /tmp/site.
set -uo pipefail
start=$(date +%s)
out=${1:?usage: scripts/gpu_bench.sh OUTDIR tf32|ieee [cpu,gpu|gpu] [check,bench,profile]}
mode=${2:?usage: scripts/gpu_bench.sh OUTDIR tf32|ieee [cpu,gpu|gpu] [check,bench,profile]}
devices=${3:-cpu,gpu}
phases=${4:-check,bench}
py=${PYTHON:-python3}
budget=${BUDGET_S:-510}
mkdir -p "$out"
case $mode in
  tf32) unset MLX_ENABLE_TF32 ;;
  ieee) export MLX_ENABLE_TF32=0 ;;
  *) echo "mode must be tf32 or ieee, got $mode" >&2; exit 2 ;;
esac
has() { case ",$phases," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
left() { echo $(( budget - ($(date +%s) - start) )); }

# ---- MLX with its CUDA backend
if [ -f .mlxcuda1/part_aa ] && [ ! -f /root/stash/part_aa ]; then
  mkdir -p /root/stash && cp .mlxcuda1/part_aa /root/stash/part_aa && echo "stashed part_aa; call again with .mlxcuda2"
  exit 0
fi
[ -d /tmp/site/mlx ] && export PYTHONPATH=/tmp/site:$PWD
if [[ $devices == *gpu* ]] && ! $py -c 'import mlx.core as mx; assert mx.cuda.is_available()' 2>/dev/null; then
  if [ -f .mlxcuda2/install.sh ] && [ -f /root/stash/part_aa ]; then
    # shellcheck disable=SC1091
    source .mlxcuda2/install.sh || { echo "MLX install failed" >&2; exit 1; }
  else
    echo "MLX's CUDA backend is not importable and no staged wheel is here (.mlxcuda2 + /root/stash/part_aa)" >&2
    exit 1
  fi
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
$py -c 'import mlx.core as mx, torch; print("mlx", mx.__version__, "torch", torch.__version__)'
status=0

# ---- the variants compute what the reference computes (every device, this mode)
if has check; then
  echo "== check, $mode ($(left) s left)"
  $py -m pytest benchmarks/test_torch_variants.py -q -p no:cacheprovider --benchmark-disable \
    --bench-device "$devices" --bench-precision "$mode" > "$out/check-$mode.log" 2>&1 || status=1
  tail -3 "$out/check-$mode.log"
fi

# ---- the timed matrix, cut at a deadline that leaves room for the summary (and the profile)
if has bench; then
  reserve=60
  has profile && reserve=$(( reserve + ${PROFILE_S:-240} ))
  deadline=$(( $(left) - reserve ))
  echo "== bench, $mode, $devices: deadline ${deadline} s"
  # forward and loss_and_grad without torch.compile on a lent GPU: twelve more compilations per
  # mode, and neither group has an optimizer; the training step and the epoch time every variant
  $py -m pytest benchmarks -q -p no:cacheprovider --ignore=benchmarks/test_torch_variants.py \
    --bench-device "$devices" --bench-precision "$mode" --bench-deadline "$deadline" \
    --bench-time "${BENCH_TIME:-0.25}" --bench-budget "${BENCH_BUDGET:-cpu=15,gpu=15}" \
    -k "not ((test_forward or test_loss_and_grad) and torch-compile)" ${BENCH_ARGS:-} \
    --benchmark-json "$out/bench-$mode.json" > "$out/bench-$mode.log" 2>&1 || status=1
  tail -3 "$out/bench-$mode.log"
  $py -m benchmarks.summarize "$out/bench-$mode.json" --out "$out/bench-$mode" --archive > /dev/null || status=1
  cp "$out/bench-$mode/summary.md" "$out/summary-$mode.md" 2>/dev/null
  (cd "$out" && tar czf "bench-$mode.tar.gz" "bench-$mode.json" "bench-$mode" && rm -rf "bench-$mode.json" "bench-$mode")
fi

# ---- where a step's time goes, kernel by kernel
if has profile; then
  echo "== profile, $mode ($(left) s left)"
  # cut at the call's budget: the JSON is written after every part, the Markdown at the end
  timeout $(( $(left) > 30 ? $(left) - 10 : 20 )) \
    $py -m benchmarks.profile_step --device gpu --sizes "${PROFILE_SIZES:-doc5,n1m,wide4k}" --out "$out/prof" \
    > "$out/profile-$mode.log" 2>&1 || status=1
  tail -3 "$out/profile-$mode.log"
  for f in "$out"/prof/profile-gpu.*; do mv "$f" "$out/$(basename "${f/profile-gpu/profile-gpu-$mode}")"; done
  rmdir "$out/prof" 2>/dev/null
fi
echo "== done in $(( $(date +%s) - start )) s"
exit $status
