#!/usr/bin/env bash
# Makes a software WebGPU device available to Dawn (npm `webgpu`) on a GPU-less Debian 12 machine,
# without installing anything system-wide: Mesa 25's lavapipe (a Vulkan driver on the CPU, through
# LLVM) is downloaded from bookworm-backports with a PRIVATE apt source list and state, unpacked
# with dpkg-deb -x into a cache folder, and announced by an env file to `source`:
#
#   bash scripts/webgpu/prepare.sh && source "$HOME/.cache/natgrad/webgpu/env.sh"
#   NATGRAD_TEST_BACKEND=webgpu pnpm vitest run packages/core
#
# Why not the system's packages: Debian 12's own lavapipe (Mesa 22.3.6) is rejected by Dawn (it
# lacks Vulkan features Dawn requires), and a system-wide Vulkan driver would change what
# `--backend auto` finds on this machine. The env file exports VK_DRIVER_FILES / VK_ICD_FILENAMES
# (an ICD JSON naming the unpacked libvulkan_lvp.so, so the loader sees lavapipe only),
# LD_LIBRARY_PATH (the unpacked libs: the Vulkan loader and the newer libdrm Mesa 25 needs) and
# XDG_RUNTIME_DIR (a 0700 folder; Mesa warns without one).
#
# Cached: a second run with the unpacked driver in place only rewrites env.sh (no network).
# Options: --refresh (download again), --no-verify (skip the adapter check at the end).
# NATGRAD_WEBGPU_CACHE overrides the cache folder. Exits non-zero with a reason when it cannot.
set -euo pipefail

cache=${NATGRAD_WEBGPU_CACHE:-$HOME/.cache/natgrad/webgpu}
refresh=0
verify=1
for arg in "$@"; do
  case $arg in
    --refresh) refresh=1 ;;
    --no-verify) verify=0 ;;
    *) echo "prepare.sh: unknown option '$arg' (expected --refresh or --no-verify)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
root=$cache/mesa          # the unpacked packages (usr/lib/x86_64-linux-gnu, usr/share/vulkan)
apt_dir=$cache/apt        # private apt lists, archives and source list
runtime=$cache/runtime    # XDG_RUNTIME_DIR
multiarch=x86_64-linux-gnu
lib=$root/usr/lib/$multiarch
fail() { echo "prepare.sh: $*" >&2; exit 1; }

[ "$(uname -m)" = x86_64 ] || fail "only x86_64 is supported (this machine: $(uname -m))"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || fail "needs apt-get and dpkg-deb (Debian 12)"

# The machine's own Debian mirror (deb822 or one-line sources), so the download goes where apt
# already goes; deb.debian.org when none is found.
mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -vE '^[[:space:]]*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
  uri=${uri%/}
  echo "${uri:-http://deb.debian.org/debian}"
}

download() {
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$keyring" ] || fail "the Debian archive keyring $keyring is missing (apt-get install debian-archive-keyring)"
  local url
  url=$(mirror)
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  printf 'deb [signed-by=%s] %s bookworm main\ndeb [signed-by=%s] %s bookworm-backports main\n' \
    "$keyring" "$url" "$keyring" "$url" >"$apt_dir/sources.list"
  # Everything apt reads or writes is private: sources, lists, archives. The system's dpkg status is
  # read only (nothing is installed). Sandbox user root: the cache is under root's home.
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root -qq)
  echo "prepare.sh: apt lists from $url (bookworm, bookworm-backports) into $apt_dir"
  apt-get "${opts[@]}" update || fail "apt-get update (private lists) failed"
  local debs=$apt_dir/debs
  rm -rf "$debs" && mkdir -p "$debs"
  # lavapipe from Mesa 25, the libdrm it needs (>= 2.4.121; bookworm has 2.4.114), and the Vulkan
  # loader (libvulkan1, often not installed on a server).
  (cd "$debs" && apt-get "${opts[@]}" download mesa-vulkan-drivers/bookworm-backports \
    libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports libvulkan1) \
    || fail "apt-get download of mesa-vulkan-drivers, libdrm2, libdrm-amdgpu1, libvulkan1 failed"
  rm -rf "$root.new" && mkdir -p "$root.new"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root.new"; done
  rm -rf "$root" && mv "$root.new" "$root"
  (cd "$debs" && ls) >"$root/.packages"
}

if [ "$refresh" = 1 ] || [ ! -f "$root/.packages" ] || [ ! -f "$lib/libvulkan_lvp.so" ]; then
  download
fi

# Every library lavapipe links must resolve (the rest of Mesa 25's dependencies, e.g. libLLVM-15,
# are Debian 12's own).
missing=$(LD_LIBRARY_PATH=$lib ldd "$lib/libvulkan_lvp.so" | awk '/not found/ {print $1}' | tr '\n' ' ')
[ -z "$missing" ] || fail "libvulkan_lvp.so needs libraries this machine lacks: $missing(apt-get install the packages that ship them)"

mkdir -p "$runtime" && chmod 700 "$runtime"
# Mesa's own ICD file names the library by its system path: write one naming the unpacked copy,
# with Mesa's api_version.
icd=$cache/lvp_icd.json
api=$(grep -oE '"api_version": *"[0-9.]+"' "$root/usr/share/vulkan/icd.d/lvp_icd.json" | grep -oE '[0-9.]+' | head -n1 || true)
cat >"$icd" <<EOF
{
  "file_format_version": "1.0.1",
  "ICD": { "library_path": "$lib/libvulkan_lvp.so", "api_version": "${api:-1.3.0}" }
}
EOF

cat >"$cache/env.sh" <<EOF
# Written by scripts/webgpu/prepare.sh: source it to give Dawn (npm webgpu) Mesa's lavapipe.
# $(sed 's/_amd64.deb//;s/_all.deb//' "$root/.packages" | tr '\n' ' ')
export VK_DRIVER_FILES="$icd"
export VK_ICD_FILENAMES="$icd"
export LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR="$runtime"
EOF

if [ "$verify" = 1 ]; then
  # Dawn must find the adapter; print what it is (also what docs/gpu.md records).
  webgpu_dir=$repo/packages/backends
  [ -d "$webgpu_dir/node_modules/webgpu" ] || fail "run pnpm install first (packages/backends/node_modules/webgpu is missing), or pass --no-verify"
  # shellcheck disable=SC1091
  out=$(source "$cache/env.sh" && cd "$webgpu_dir" && node --input-type=module -e "
    import { create } from 'webgpu';
    const adapter = await create(['backend=vulkan']).requestAdapter();
    if (!adapter) { console.log('NO-ADAPTER'); process.exit(0); }
    const i = adapter.info;
    console.log('ADAPTER ' + [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / '));
    process.exit(0);
  " 2>&1) || fail "the adapter check failed to run: $out"
  line=$(echo "$out" | grep -E '^(ADAPTER|NO-ADAPTER)' | head -n1 || true)
  case $line in
    ADAPTER*) echo "prepare.sh: Dawn sees ${line#ADAPTER }" ;;
    *) fail "Dawn found no adapter with lavapipe: $(echo "$out" | grep -v '^$' | head -n3)" ;;
  esac
fi
echo "prepare.sh: ready; source $cache/env.sh"
