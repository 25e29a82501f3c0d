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
