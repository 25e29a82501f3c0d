#!/usr/bin/env bash
# Runs a command with WebGPU available in Node (Dawn, from the `webgpu` npm package) on a software Vulkan driver:
# the SwiftShader ICD that Debian's chromium package ships (the loader libvulkan.so.1 sits beside it). Set
# VK_ICD_FILENAMES yourself to use another driver (Mesa's lavapipe, or a real GPU's).
set -euo pipefail
CHROMIUM_LIB="${CHROMIUM_LIB:-/usr/lib/chromium}"
if [ -z "${VK_ICD_FILENAMES:-}" ]; then
  if [ ! -f "$CHROMIUM_LIB/vk_swiftshader_icd.json" ]; then
    echo "with-node-webgpu: no Vulkan driver: install Debian's chromium (apt-get install chromium) or set VK_ICD_FILENAMES" >&2
    exit 1
  fi
  export VK_ICD_FILENAMES="$CHROMIUM_LIB/vk_swiftshader_icd.json"
fi
export LD_LIBRARY_PATH="$CHROMIUM_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec npx "$@"
