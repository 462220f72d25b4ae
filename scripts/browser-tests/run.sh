#!/usr/bin/env bash
# The browser tier: natgrad's numerical tests (linalg, curvature, projection, damping, trainer, and
# @natgrad/backends' browser specs) in headless Chromium, on WebGL by default
# (NATGRAD_TEST_BACKEND=webgpu for the WebGPU variant), as configured in vitest.browser.config.ts.
# Writes vitest's JSON report to the given path, for .ci/run's final `N passed, N failed` line.
#
#   bash scripts/browser-tests/run.sh <report.json> [test paths...]
#
# Test paths narrow the run (vitest filters), e.g. the WebGPU variant without the trainer's
# end-to-end files, which take minutes each on a software WebGPU (docs/browser-backends.md).
#
# Needs a Chromium (Debian's `chromium` package; CHROMIUM_PATH overrides /usr/bin/chromium). On a
# machine without a GPU its WebGL and WebGPU are SwiftShader: real shaders, run on the CPU.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: bash scripts/browser-tests/run.sh <report.json> [test paths...]" >&2
  exit 2
fi
report=$1
shift
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "browser tier: no Chromium at $chromium (install Debian's chromium package, or set CHROMIUM_PATH)" >&2
  exit 1
fi
cd "$(dirname "$0")/../.."
export NATGRAD_TEST_BACKEND=${NATGRAD_TEST_BACKEND:-webgl}
echo "browser tier: $("$chromium" --version 2>/dev/null | head -n 1), backend $NATGRAD_TEST_BACKEND"
start=$(date +%s)
status=0
pnpm vitest run --config vitest.browser.config.ts "$@" --reporter=default --reporter=json --outputFile.json="$report" || status=$?
echo "browser tier: $(($(date +%s) - start)) s"
exit "$status"
