#!/usr/bin/env bash
# Consumer tier: natgrad as a user gets it from npm. Builds, packs every publishable package, and
# installs the tarballs into an EMPTY folder outside the repository (mktemp -d) with npm, then runs
# there: an ESM consumer with the tfjs umbrella and a minimal one (tfjs-core + tfjs-layers + a
# backend), a CommonJS consumer, ESM and CommonJS consumers of the ./node subpaths (selectBackend,
# the statistics worker thread, checkpoint files), TypeScript consumers compiled with tsc under
# node16, nodenext and bundler and then run, esbuild browser bundles of every library entry (no
# Node built-in allowed; minified sizes printed), and `npx natgrad train` for one short epoch from
# the installed CLI. A second empty folder installs with pnpm and runs the ESM consumer and the
# declaration emit there (pnpm's strict layout is where TS2742 shows). Every check is one pass or fail; the script ends with
# `N passed, N failed` and writes {passed, failed, checks} as JSON to $1 (default
# .consumer-report.json in the repository root). Exit status 0 only when nothing failed.
#
# Environment: NATGRAD_CONSUMER_SKIP_BUILD=1 packs what is already built (for local reruns);
# NATGRAD_CONSUMER_KEEP=1 keeps the temporary folders and prints where they are.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/scripts/consumer"
REPORT=$(realpath -m "${1:-$ROOT/.consumer-report.json}")
TFJS_VERSION=4.22.0
TYPESCRIPT_VERSION=5.9.3
ESBUILD_VERSION=0.25.12

WORK=$(mktemp -d "${TMPDIR:-/tmp}/natgrad-consumer.XXXXXX")
TARBALLS="$WORK/tarballs"
NPM_DIR="$WORK/npm-consumer"
PNPM_DIR="$WORK/pnpm-consumer"
LOGS="$WORK/logs"
mkdir -p "$TARBALLS" "$NPM_DIR" "$PNPM_DIR" "$LOGS"
cleanup() { if [ "${NATGRAD_CONSUMER_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

passed=0
failed=0
checks_file="$WORK/checks.jsonl"
: >"$checks_file"
record() { # name ok detail
  local name=$1 ok=$2 detail=$3
  if [ "$ok" = 1 ]; then passed=$((passed + 1)); echo "PASS $name${detail:+: $detail}"; else failed=$((failed + 1)); echo "FAIL $name${detail:+: $detail}"; fi
  node -e 'console.log(JSON.stringify({ name: process.argv[1], ok: process.argv[2] === "1", detail: process.argv[3] }))' "$name" "$ok" "$detail" >>"$checks_file"
}
# The line of a failed check's log that says why: the first error line, else the last line.
first_error() {
  local line
  line=$(grep -m 1 -E "Error|ERR_|error TS|npm error (code|404 Not|[^A])|✘|^  [a-z]" "$1" | grep -v "A complete log" | head -n 1)
  [ -n "$line" ] || line=$(grep -v '^\s*$' "$1" | tail -n 1)
  echo "$line" | sed 's/^\s*//' | cut -c1-300
}
# check NAME DIR CMD...: runs CMD in DIR with its output in a log; on failure prints the log's tail.
check() {
  local name=$1 dir=$2; shift 2
  local log="$LOGS/$(echo "$name" | tr -c 'A-Za-z0-9' '-').log"
  if (cd "$dir" && "$@") >"$log" 2>&1; then
    record "$name" 1 "$(grep -E '^ok |^@natgrad' "$log" | tail -n 1 | cut -c1-200)"
  else
    record "$name" 0 "$(first_error "$log")"
    tail -n 25 "$log" | sed 's/^/    | /'
  fi
}

# ---- build and pack ---------------------------------------------------------------------------
if [ "${NATGRAD_CONSUMER_SKIP_BUILD:-0}" != 1 ]; then
  check "build (pnpm build)" "$ROOT" pnpm build
fi

# Publishable = every library package and the CLI (apps/train, @natgrad/cli); a private one is a failure.
manifests_before=$(cat "$ROOT"/packages/*/package.json "$ROOT"/apps/train/package.json | sha256sum)
declare -A TARBALL_OF=()
library_names=()
cli_name=""
for dir in "$ROOT"/packages/* "$ROOT"/apps/train; do
  [ -f "$dir/package.json" ] || continue
  read -r name private < <(node -e 'const p = require(process.argv[1]); console.log(p.name, p.private === true)' "$dir/package.json")
  if [ "$dir" = "$ROOT/apps/train" ]; then cli_name=$name; else library_names+=("$name"); fi
  if [ "$private" = true ]; then
    record "pack $name" 0 "package.json has \"private\": true (not publishable)"
    continue
  fi
  before=$(ls "$TARBALLS")
  if (cd "$dir" && pnpm pack --pack-destination "$TARBALLS") >"$LOGS/pack-${name//\//-}.log" 2>&1; then
    tarball=$(comm -13 <(echo "$before") <(ls "$TARBALLS") | head -n 1)
    TARBALL_OF[$name]="$TARBALLS/$tarball"
    check "pack $name (tarball contents)" "$ROOT" node "$HERE/check-tarball.mjs" "$TARBALLS/$tarball"
  else
    record "pack $name" 0 "$(tail -n 1 "$LOGS/pack-${name//\//-}.log")"
  fi
done
# pnpm pack runs prepack/postpack; the working tree must come back as it was (natgrad-source restored).
manifests_after=$(cat "$ROOT"/packages/*/package.json "$ROOT"/apps/train/package.json | sha256sum)
if [ "$manifests_before" = "$manifests_after" ]; then record "pack leaves the package.json files as they were" 1 ""
else record "pack leaves the package.json files as they were" 0 "a package.json differs after pnpm pack (postpack did not restore it)"; fi

# ---- consumer folders ---------------------------------------------------------------------------
# package.json of a consumer folder: the tarballs as file: dependencies, and overrides so that the
# packages' dependencies on each other resolve to the tarballs too, never to the registry.
write_manifest() { # dir manager extra-deps-json
  node -e '
    const [dir, manager, extra] = process.argv.slice(1, 4);
    const tarballs = JSON.parse(process.argv[4]);
    const deps = { ...JSON.parse(extra) };
    const overrides = {};
    for (const [name, file] of Object.entries(tarballs)) {
      deps[name] = `file:${file}`;
      overrides[name] = manager === "npm" ? `$${name}` : `file:${file}`;
    }
    const pkg = { name: "natgrad-consumer", version: "1.0.0", private: true, dependencies: deps };
    if (manager === "npm") pkg.overrides = overrides; else pkg.pnpm = { overrides };
    require("fs").writeFileSync(`${dir}/package.json`, JSON.stringify(pkg, null, 2));
  ' "$1" "$2" "$3" "$4"
}
tarballs_json() { # names...
  local out="{" sep=""
  for n in "$@"; do [ -n "${TARBALL_OF[$n]:-}" ] && out+="$sep\"$n\":\"${TARBALL_OF[$n]}\"" && sep=","; done
  echo "$out}"
}

cp "$HERE"/fixtures/*.mjs "$HERE"/fixtures/*.cjs "$NPM_DIR"/
cp -r "$HERE/fixtures/ts" "$NPM_DIR/ts"
npm_extra="{\"@tensorflow/tfjs\":\"$TFJS_VERSION\",\"@tensorflow/tfjs-core\":\"$TFJS_VERSION\",\"@tensorflow/tfjs-layers\":\"$TFJS_VERSION\",\"@tensorflow/tfjs-backend-cpu\":\"$TFJS_VERSION\",\"@tensorflow/tfjs-backend-wasm\":\"$TFJS_VERSION\",\"@tensorflow/tfjs-backend-webgpu\":\"$TFJS_VERSION\",\"typescript\":\"$TYPESCRIPT_VERSION\",\"esbuild\":\"$ESBUILD_VERSION\"}"
write_manifest "$NPM_DIR" npm "$npm_extra" "$(tarballs_json "${library_names[@]}" "$cli_name")"
# Every @natgrad package in the lockfile must come from a tarball (a registry copy would be someone else's).
npm_install() {
  npm install --no-audit --no-fund --loglevel=error &&
    node -e '
      const lock = require("./package-lock.json");
      const bad = Object.entries(lock.packages).filter(([p, v]) => p.includes("node_modules/@natgrad/") && !(v.resolved ?? "").startsWith("file:") && !v.link);
      if (bad.length) { console.error("from the registry:", bad.map(([p, v]) => `${p} ${v.resolved}`).join(", ")); process.exit(1); }
      console.log("ok", Object.keys(lock.packages).length - 1, "packages installed");
    '
}
check "npm install of the tarballs into an empty folder" "$NPM_DIR" npm_install

check "ESM consumer, @tensorflow/tfjs umbrella (npm)" "$NPM_DIR" node esm-umbrella.mjs
check "ESM consumer, tfjs-core + tfjs-layers + backend-cpu (npm)" "$NPM_DIR" node esm-minimal.mjs
check "CommonJS consumer, require() (npm)" "$NPM_DIR" node cjs-umbrella.cjs
check "ESM consumer of the ./node subpaths: wasm via selectBackend, statistics worker, checkpoint file resume (npm)" "$NPM_DIR" node esm-node-subpaths.mjs
check "CommonJS consumer of the ./node subpaths: statistics worker, checkpoint file (npm)" "$NPM_DIR" node cjs-node-subpaths.cjs
tsc="$NPM_DIR/node_modules/.bin/tsc"
check "TypeScript node16: tsc, then run the .mts and .cts builds" "$NPM_DIR/ts" \
  bash -c "'$tsc' -p tsconfig.node16.json && node out-node16/consumer.mjs && node out-node16/consumer.cjs"
check "TypeScript nodenext: tsc, then run the .mts and .cts builds" "$NPM_DIR/ts" \
  bash -c "'$tsc' -p tsconfig.nodenext.json && node out-nodenext/consumer.mjs && node out-nodenext/consumer.cjs"
check "TypeScript bundler: tsc, then run the build" "$NPM_DIR/ts" \
  bash -c "'$tsc' -p tsconfig.bundler.json && node out-bundler/consumer.mjs"

# Browser bundles: every library entry except the ./node subpaths, one check each.
browser_entries=(@natgrad/core @natgrad/linalg @natgrad/backends @natgrad/curvature @natgrad/curvature/kfac
  @natgrad/curvature/diagonal @natgrad/damping @natgrad/projection @natgrad/projection/fop
  @natgrad/projection/average @natgrad/trainer)
if (cd "$NPM_DIR" && node bundle.mjs "${browser_entries[@]}") >"$LOGS/bundle.log" 2>&1 && [ -f "$NPM_DIR/bundle-results.json" ]; then
  while IFS=$'\t' read -r ok entry detail; do
    record "browser bundle $entry" "$ok" "$detail"
  done < <(node -e '
    for (const r of require(process.argv[1])) {
      const detail = r.ok ? `${(r.bytes / 1024).toFixed(1)} KB minified, natgrad ${(r.natgradBytes / 1024).toFixed(1)} KB; ${r.tfjs.join(" ")}` : r.error;
      console.log([r.ok ? 1 : 0, r.entry, detail.replace(/\s+/g, " ")].join("\t"));
    }' "$NPM_DIR/bundle-results.json")
else
  record "browser bundles" 0 "bundle.mjs did not run: $(tail -n 1 "$LOGS/bundle.log")"
fi

# The reference trainer from the installed CLI: one short epoch on the embedded MNIST digits.
cli_train() {
  npx --no-install natgrad train --epochs 1 --train-size 512 --test-size 256 --batch 128 --model mlp --width 32 \
    --backend wasm --runs-dir "$NPM_DIR/runs" --name consumer &&
    test -s "$(ls -d "$NPM_DIR"/runs/*consumer*/ | head -n 1)/metrics.jsonl" &&
    echo "ok natgrad train wrote $(ls "$NPM_DIR"/runs/*consumer*/ | tr '\n' ' ')"
}
check "npx natgrad train, one short epoch from the installed CLI" "$NPM_DIR" cli_train

# ---- pnpm ---------------------------------------------------------------------------------------
cp "$HERE"/fixtures/esm-umbrella.mjs "$PNPM_DIR"/
cp -r "$HERE/fixtures/ts" "$PNPM_DIR/ts"
write_manifest "$PNPM_DIR" pnpm "{\"@tensorflow/tfjs\":\"$TFJS_VERSION\",\"typescript\":\"$TYPESCRIPT_VERSION\"}" \
  "$(tarballs_json "${library_names[@]}")"
# Every @natgrad package from a tarball, and a single tfjs-core (two copies would mean two engines).
pnpm_install() {
  pnpm install --config.confirmModulesPurge=false &&
    node -e '
      const dirs = require("fs").readdirSync("node_modules/.pnpm");
      const registry = dirs.filter((d) => d.startsWith("@natgrad+") && !d.includes("@file+"));
      const cores = dirs.filter((d) => d.startsWith("@tensorflow+tfjs-core@"));
      if (registry.length) { console.error("from the registry:", registry.join(", ")); process.exit(1); }
      if (cores.length !== 1) { console.error("copies of tfjs-core:", cores.join(", ")); process.exit(1); }
      console.log("ok", dirs.length, "packages, one tfjs-core");
    '
}
check "pnpm install of the library tarballs into an empty folder" "$PNPM_DIR" pnpm_install
check "ESM consumer, @tensorflow/tfjs umbrella (pnpm)" "$PNPM_DIR" node esm-umbrella.mjs
check "TypeScript nodenext declaration emit under pnpm's layout (TS2742)" "$PNPM_DIR/ts" \
  bash -c "'$PNPM_DIR/node_modules/.bin/tsc' -p tsconfig.nodenext.json && node out-nodenext/consumer.mjs"

# ---- report -------------------------------------------------------------------------------------
node -e '
  const fs = require("fs");
  const checks = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  fs.writeFileSync(process.argv[2], JSON.stringify({ passed: Number(process.argv[3]), failed: Number(process.argv[4]), checks }, null, 2) + "\n");
' "$checks_file" "$REPORT" "$passed" "$failed"
echo "consumer tier: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
