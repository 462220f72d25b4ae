#!/usr/bin/env bash
# Before/after comparison of the wasm training step, interleaved: alternates `natgrad bench step`
# runs of another checkout (BEFORE, e.g. a git worktree of the commit before a change, with its
# own `pnpm install`) and of this one, PAIRS times, the order of each pair alternating, so that a
# load change on the machine hits both sides alike. Writes one JSON per run to OUT.
#   BEFORE=/tmp/before PAIRS=4 OUT=runs/ab bash scripts/bench/ab-wasm-step.sh
set -euo pipefail
: "${BEFORE:?set BEFORE to the checkout to compare with (git worktree add /tmp/before <commit> && (cd /tmp/before && pnpm install))}"
PAIRS=${PAIRS:-4}
OUT=${OUT:-runs/ab-wasm-step}
AFTER=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
args=(bench step --model mlp --width 512 --batch 4096 --backend wasm --factor-every 10 --inverse-every 10
  --optimizers sgd,kfac,fop:worker --steps 20 --warmup 3 --json)
for i in $(seq 1 "$PAIRS"); do
  order=(before after); [ $((i % 2)) -eq 0 ] && order=(after before)
  for side in "${order[@]}"; do
    dir=$BEFORE; [ "$side" = after ] && dir=$AFTER
    (cd "$dir" && node apps/train/bin/natgrad.mjs "${args[@]}" > "$OUT/$side-$i.json")
    echo "pair $i: $side done"
  done
done
