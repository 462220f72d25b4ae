#!/usr/bin/env bash
# Runs on the GPU host (see prepare.sh): trains the embedded MNIST digits with SGD and with FOP on
# WebGPU for a few epochs and times the optimizer step, writing what docs/benchmarks.md records to
# $OUT (at most 8 files). BACKEND, EPOCHS, TRAIN_SIZE override the defaults (a CPU dry run:
# BACKEND=wasm EPOCHS=1 TRAIN_SIZE=256 OUT=/tmp/x bash scripts/gpu/device-check.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/natgrad-gpu-check}
BACKEND=${BACKEND:-webgpu}
EPOCHS=${EPOCHS:-3}
mkdir -p "$OUT"
log="$OUT/check.log"
exec > >(tee -a "$log") 2>&1

[ -f .gpu-carry/runtime/env.sh ] && source .gpu-carry/runtime/env.sh
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$icd" ] && export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$icd}
done
work=/tmp/natgrad-bundle
rm -rf "$work" && mkdir -p "$work" && tar -C "$work" -xJf .gpu-carry/natgrad.tar.xz
natgrad() { node "$work/natgrad/natgrad.cjs" "$@"; }

{ command -v nvidia-smi >/dev/null && nvidia-smi -L; node --version; } > "$OUT/machine.txt" 2>&1
subset=()
[ -n "${TRAIN_SIZE:-}" ] && subset=(--train-size "$TRAIN_SIZE" --test-size $((TRAIN_SIZE / 4)))
for opt in sgd fop; do
  echo "== train $opt on $BACKEND"
  timeout 240 node "$work/natgrad/natgrad.cjs" train --backend "$BACKEND" --optimizer "$opt" --epochs "$EPOCHS" \
    --batch 512 --json --runs-dir "$OUT/runs" --name "$opt-$BACKEND" "${subset[@]}" > "$OUT/train-$opt.jsonl"
  echo "exit $?"
done
echo "== bench step on $BACKEND"
timeout 240 node "$work/natgrad/natgrad.cjs" bench step --backend "$BACKEND" --model mlp --batch "${BENCH_BATCH:-8192}" \
  --optimizers sgd,adamw,kfac,fop --steps "${BENCH_STEPS:-20}" --warmup 3 --out "$OUT/bench"
echo "exit $?"
# Only files two levels down come back: keep the bench tables, drop the run folders' checkpoints.
mv "$OUT"/bench/step-bench.* "$OUT"/ 2>/dev/null; rm -rf "$OUT/bench" "$OUT/runs"
ls -la "$OUT"
