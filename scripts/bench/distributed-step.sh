#!/usr/bin/env bash
# Distributed step on one box (docs/benchmarks.md, "Distributed step on one box"): the training
# step of the MLP 784-512-256-10 (batch 4096, wasm) in one process on the whole batch and under
# `mpirun -np 2` (each rank on half of it), per optimizer, alternating the order of the pair each
# round so a load change on the machine hits both sides alike; then time to a target accuracy of a
# short `natgrad train` run on the embedded MNIST digits, one process vs 2 ranks. Records
# /proc/loadavg before and after each run. Writes JSON to OUT.
#   OUT=runs/bench-distributed ROUNDS=2 OPTIMIZERS="sgd fop" bash scripts/bench/distributed-step.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-runs/bench-distributed}
ROUNDS=${ROOT_ROUNDS:-${ROUNDS:-2}}
OPTIMIZERS=${OPTIMIZERS:-"sgd fop"}
STEPS=${STEPS:-20}
TARGET=${TARGET:-0.93}
EPOCHS=${EPOCHS:-3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun.openmpi -np 2 --oversubscribe --mca pml ob1 --mca btl self,vader --mca osc ^ucx --mca mpi_yield_when_idle 1)
STEP=(node --conditions=natgrad-source --import tsx scripts/bench/distributed-step.mts --steps "$STEPS")
load() { cut -d' ' -f1-3 /proc/loadavg; }

for opt in $OPTIMIZERS; do
  for round in $(seq 1 "$ROUNDS"); do
    order=(one two); [ $((round % 2)) -eq 0 ] && order=(two one)
    for side in "${order[@]}"; do
      before=$(load)
      if [ "$side" = one ]; then
        "${STEP[@]}" --optimizer "$opt" > "$OUT/step-$opt-one-$round.json"
      else
        "${MPIRUN[@]}" "${STEP[@]}" --optimizer "$opt" > "$OUT/step-$opt-two-$round.json"
      fi
      echo "{\"loadBefore\":\"$before\",\"loadAfter\":\"$(load)\"}" > "$OUT/step-$opt-$side-$round.load.json"
      echo "step $opt $side round $round: $(node -e "const r=JSON.parse(require('fs').readFileSync('$OUT/step-$opt-$side-$round.json','utf8'));console.log('median',r.medianMs.toFixed(0),'ms, mean',r.meanMs.toFixed(0),'ms, communication',r.communicationMeanMs.toFixed(1),'ms')") (load $before -> $(load))"
    done
  done
done

# Time to target: FOP on the embedded digits (8000 train / 2000 test), batch 128, constant rate.
TRAIN=(node apps/train/bin/natgrad.mjs train --backend wasm --optimizer fop --epochs "$EPOCHS" --lr-schedule constant
  --statistics-worker off --target-accuracy "$TARGET" --json --runs-dir "$OUT/runs")
for side in one two; do
  before=$(load)
  if [ "$side" = one ]; then
    "${TRAIN[@]}" --name "target-one" > "$OUT/target-one.jsonl"
  else
    "${MPIRUN[@]}" "${TRAIN[@]}" --name "target-two" > "$OUT/target-two.jsonl"
  fi
  echo "{\"loadBefore\":\"$before\",\"loadAfter\":\"$(load)\"}" > "$OUT/target-$side.load.json"
  echo "target $side: $(grep '"event":"end"' "$OUT/target-$side.jsonl") (load $before -> $(load))"
done
