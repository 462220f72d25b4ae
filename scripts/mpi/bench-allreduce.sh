#!/usr/bin/env bash
# All-reduce latency from Node through @natgrad/comm-mpi (docs/benchmarks.md, "MPI collectives from
# Node"): a float32 sum of BENCH_FLOATS elements (default 535,818, the parameter count of the FOP
# paper's MLP) on 2 and 4 ranks, Open MPI and MPICH, each rank timing BENCH_REPEATS calls (default
# 200) after 20 warm-up calls, a barrier before each; prints the slowest rank's median and p90. Then
# the same with 1 float: the fixed cost of a call (the thread round trip and MPI's own latency).
# Usage: scripts/mpi/bench-allreduce.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
rank=(node --conditions=natgrad-source --import tsx packages/comm-mpi/src/mpi-test-rank.ts bench)
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
openmpi=(mpirun.openmpi "${root[@]}" --oversubscribe --mca pml ob1 --mca btl self,vader --mca osc ^ucx --mca mpi_yield_when_idle 1)
for floats in "${BENCH_FLOATS:-535818}" 1; do
  for np in 2 4; do
    BENCH_FLOATS=$floats timeout 600 "${openmpi[@]}" -np "$np" "${rank[@]}" | grep '^BENCH'
    BENCH_FLOATS=$floats timeout 600 mpirun.mpich -np "$np" "${rank[@]}" | grep '^BENCH'
  done
done
