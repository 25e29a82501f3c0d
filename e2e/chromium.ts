/**
 * The one place that says how Chromium is launched for end-to-end tests and browser benchmarks.
 * Playwright cannot download browsers here: we drive Debian's /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Measured in ../shared/docs/environment.md: `--enable-unsafe-webgpu` gives WebGPU (SwiftShader, software)
 * even headless; the other flags keep Chromium off the network (the machines have no internet).
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const QUIET_NETWORK_FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * SwiftShader it stays. Mesa's lavapipe (much faster in Node, see tools/with-node-webgpu.sh) does not become
 * Chromium's WebGPU adapter: with VK_ICD_FILENAMES pointing at it and `--enable-features=Vulkan
 * --use-vulkan=native --use-angle=vulkan --ignore-gpu-blocklist --enable-gpu`, chrome://gpu lists lavapipe as a Dawn
 * Vulkan adapter (and ANGLE renders on it), yet requestAdapter() still returns SwiftShader, whatever the power
 * preference: both are CPU adapters, `--use-webgpu-adapter` picks none by name (default, swiftshader, compat), and
 * VK_LOADER_DRIVERS_DISABLE does not hide the SwiftShader that Chromium loads itself.
 */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu'];

/** WebGPU explicitly off, to prove the WASM fallback. */
export const NO_WEBGPU_FLAGS = ['--disable-webgpu'];

export const E2E_PORT = Number(process.env.E2E_PORT ?? 4173);
export const E2E_BASE_URL = `http://127.0.0.1:${E2E_PORT}/`;
