#!/usr/bin/env bash
# Runs on the GPU host (see prepare.sh): trains the embedded MNIST digits with SGD and with FOP on
# WebGPU for a few epochs, and times `natgrad bench step` for sgd, kfac and fop on the MLP
# 3072-1024-512-10 (CIFAR-10-shaped synthetic inputs, --width 1024) at batch 8192 with statistics
# and inverses every 10 steps, writing what docs/benchmarks.md records to $OUT (at most 8 files).
# BACKEND, EPOCHS, TRAIN_SIZE, TRAIN_BATCH, BENCH_BATCH, BENCH_STEPS, BENCH_WIDTH, BENCH_DATASET, CADENCE override the
# defaults. Dry runs on a CPU machine (docs/gpu.md):
#   BACKEND=wasm EPOCHS=1 TRAIN_SIZE=256 BENCH_BATCH=256 BENCH_STEPS=3 BENCH_WIDTH=64 OUT=/tmp/x bash scripts/gpu/device-check.sh
#   bash scripts/webgpu/prepare.sh && source ~/.cache/natgrad/webgpu/env.sh &&
#     EPOCHS=1 TRAIN_SIZE=256 BENCH_BATCH=64 BENCH_STEPS=2 BENCH_WIDTH=32 BENCH_DATASET=mnist OUT=/tmp/x \
#     bash scripts/gpu/device-check.sh   (lavapipe)
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
batch=${TRAIN_BATCH:-512}
[ -n "${TRAIN_SIZE:-}" ] && [ "$TRAIN_SIZE" -lt "$batch" ] && batch=$((TRAIN_SIZE / 4))
for opt in sgd fop; do
  echo "== train $opt on $BACKEND"
  timeout 240 node "$work/natgrad/natgrad.cjs" train --backend "$BACKEND" --optimizer "$opt" --epochs "$EPOCHS" \
    --batch "$batch" --json --runs-dir "$OUT/runs" --name "$opt-$BACKEND" "${subset[@]}" > "$OUT/train-$opt.jsonl"
  echo "exit $?"
done
echo "== bench step on $BACKEND"
# --dataset cifar10 gives 32x32x3 = 3072 inputs; the MLP's hidden layers are --width and width/2.
# (A dry run on lavapipe takes BENCH_DATASET=mnist: KFAC's 3073x3073 input factor alone costs
# minutes per refresh at lavapipe's few GFLOP/s.)
timeout 420 node "$work/natgrad/natgrad.cjs" bench step --backend "$BACKEND" --model mlp --dataset "${BENCH_DATASET:-cifar10}" \
  --width "${BENCH_WIDTH:-1024}" --batch "${BENCH_BATCH:-8192}" --optimizers sgd,kfac,fop \
  --factor-every "${CADENCE:-10}" --inverse-every "${CADENCE:-10}" --steps "${BENCH_STEPS:-20}" --warmup 3 --out "$OUT/bench"
echo "exit $?"
# Only files two levels down come back: keep the bench tables, drop the run folders' checkpoints.
mv "$OUT"/bench/step-bench.* "$OUT"/ 2>/dev/null; rm -rf "$OUT/bench" "$OUT/runs"
ls -la "$OUT"
