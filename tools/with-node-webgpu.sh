#!/usr/bin/env bash
# Runs a command with WebGPU available in Node (Dawn, from the `webgpu` npm package) on a software Vulkan driver.
#   default      the SwiftShader ICD that Debian's chromium package ships (the loader libvulkan.so.1 sits beside it)
#   --lavapipe   Mesa's lavapipe from bookworm-backports (about 15× faster, 128 MiB bindings like many real GPUs),
#                fetched once into node_modules/.cache/lavapipe with apt-get download (no system change)
# Set VK_ICD_FILENAMES yourself to use another driver (a real GPU's).
set -euo pipefail
CHROMIUM_LIB="${CHROMIUM_LIB:-/usr/lib/chromium}"
if [ ! -f "$CHROMIUM_LIB/libvulkan.so.1" ]; then
  echo "with-node-webgpu: no Vulkan loader: install Debian's chromium (apt-get install chromium)" >&2
  exit 1
fi
export LD_LIBRARY_PATH="$CHROMIUM_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [ "${1:-}" = "--lavapipe" ]; then
  shift
  cache="$(cd "$(dirname "$0")/.." && pwd)/node_modules/.cache/lavapipe"
  if [ ! -f "$cache/root/usr/share/vulkan/icd.d/lvp_icd.json" ]; then
    echo "with-node-webgpu: fetching Mesa lavapipe from bookworm-backports into $cache" >&2
    mkdir -p "$cache/lists/partial" "$cache/debs"
    mirror="$( (grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true) | grep -oE 'https?://[^ ]+/debian/?$' | head -1)"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} bookworm-backports main" > "$cache/bp.list"
    opts=(-o "Dir::Etc::SourceList=$cache/bp.list" -o "Dir::Etc::SourceParts=-" -o "Dir::State::Lists=$cache/lists")
    apt-get "${opts[@]}" update -qq
    (cd "$cache/debs" && apt-get "${opts[@]}" download mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports)
    for deb in "$cache"/debs/*.deb; do dpkg -x "$deb" "$cache/root"; done
  fi
  export LD_LIBRARY_PATH="$cache/root/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH"
  export VK_ICD_FILENAMES="$cache/root/usr/share/vulkan/icd.d/lvp_icd.json"
fi

if [ -z "${VK_ICD_FILENAMES:-}" ]; then
  export VK_ICD_FILENAMES="$CHROMIUM_LIB/vk_swiftshader_icd.json"
fi
exec npx "$@"
