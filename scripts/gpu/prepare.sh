#!/usr/bin/env bash
# Prepares, on this (CPU) machine, everything the GPU check carries to a bare Linux x64 NVIDIA host
# (no Node.js, no internet): .gpu-carry/runtime (node + Vulkan/glvnd loaders, from
# ../shared/gpu/pack-runtime.sh) and .gpu-carry/natgrad.tar.xz (the self-contained CLI bundle of
# `natgrad bundle`, xz-compressed because the device tool carries at most 64 MiB).
# Then: device run with carry [".gpu-carry"] and command `bash scripts/gpu/device-check.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu-carry
bash ../shared/gpu/pack-runtime.sh .gpu-carry/runtime
rm -rf .gpu-carry/bundle && node apps/train/bin/natgrad.mjs bundle .gpu-carry/bundle/natgrad >/dev/null
tar -C .gpu-carry/bundle -cJf .gpu-carry/natgrad.tar.xz natgrad && rm -rf .gpu-carry/bundle
du -sh .gpu-carry
