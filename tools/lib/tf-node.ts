import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Node backend for tests, tools and benchmarks: tfjs-wasm (SIMD) by default, `cpu` on request
 * (TF_BACKEND=cpu). wasm lacks a few backprop kernels (Conv2DBackpropFilter); those we never need since
 * IPGO only differentiates with respect to inputs, and tfjs reports a missing kernel loudly.
 */
export async function initNodeBackend(name: string = process.env.TF_BACKEND ?? 'wasm'): Promise<string> {
  if (name === 'webgpu') await installNodeWebGpu();
  if (name === 'wasm') {
    const require = createRequire(import.meta.url);
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    setWasmPaths(dist + path.sep);
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs backend "${name}" failed to initialise in Node`);
  await tf.ready();
  return tf.getBackend();
}

/**
 * WebGPU in Node: Dawn from the `webgpu` npm package on whatever Vulkan driver the environment names (CI: the
 * SwiftShader ICD of Debian's chromium package, see `npm run test:webgpu`). tfjs-backend-webgpu registers itself
 * only if navigator.gpu exists when it is imported, so it is imported here, after the globals are set.
 */
export async function installNodeWebGpu(): Promise<GPUAdapter> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (!g.navigator?.gpu) {
    const { create, globals } = (await import('webgpu')) as unknown as { create(flags: string[]): unknown; globals: Record<string, unknown> };
    Object.assign(globalThis, globals);
    const flags = (process.env.DAWN_FLAGS ?? '').split(',').filter(Boolean);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: create(flags), userAgent: 'node' }, configurable: true, writable: true });
  }
  const adapter = await (g.navigator!.gpu as GPU).requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter in Node: set VK_ICD_FILENAMES (and LD_LIBRARY_PATH) to a Vulkan driver, see README');
  await import('@tensorflow/tfjs-backend-webgpu');
  return adapter;
}
