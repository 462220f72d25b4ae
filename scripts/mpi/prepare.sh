#!/usr/bin/env bash
# Installs what the MPI tier (pnpm vitest run --config vitest.mpi.config.ts) needs on Debian/Ubuntu:
# Open MPI (mpirun.openmpi, libmpi.so.40) and MPICH (mpirun.mpich, libmpich.so.12). Idempotent and
# quiet: does nothing when both are there; otherwise apt-get installs the missing ones (as root, or
# through sudo). Other distributions: dnf install openmpi mpich (see packages/comm-mpi/README.md).
set -euo pipefail

missing=()
command -v mpirun.openmpi >/dev/null 2>&1 && ldconfig -p | grep -q 'libmpi\.so\.40' || missing+=(openmpi-bin)
command -v mpirun.mpich >/dev/null 2>&1 && ldconfig -p | grep -q 'libmpich\.so\.12' || missing+=(mpich)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/mpi/prepare.sh: missing ${missing[*]} and no apt-get; install Open MPI and MPICH with your package manager (dnf install openmpi mpich)" >&2
  exit 1
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "scripts/mpi/prepare.sh: installed ${missing[*]}"
