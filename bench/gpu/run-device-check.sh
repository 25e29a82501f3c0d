#!/usr/bin/env bash
# Runs on the lent GPU machine (from the repo root, with .gpu/ carried over): reports the machine, then the
# WebGPU check (bench/gpu/node-webgpu-check.ts) as JSON into $OUT/result.json. The machine has no Node.js and no
# Vulkan loader, so .gpu/ carries both (node.xz, libvulkan.so.1); the NVIDIA Vulkan ICD is the machine's own.
cd "$(dirname "$0")/../../.gpu" || exit 1
OUT=${OUT:-/tmp}
NODE=$(command -v node || true)
if [ -z "$NODE" ]; then xz -dc node.xz > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node; fi
"$NODE" --version; nvidia-smi -L
export LD_LIBRARY_PATH="$PWD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
SD15_SHAPES=sd15-shapes.json timeout "${CHECK_TIMEOUT:-420}" "$NODE" check.mjs > "$OUT/result.json" 2> "$OUT/stderr.txt"
echo "exit $?"
grep -v "^\s*at " "$OUT/stderr.txt" | tail -c 2500
cat "$OUT/result.json"
