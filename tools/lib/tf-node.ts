import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { registerWasmSliceKernels } from '../../src/model/kernels/wasm-slice';
import { clampWasmThreads, pthreadWorkerScript, startThreadedWasm, type ThreadedWasmFactory } from '../../src/worker/wasm-threaded';

/**
 * The wasm thread count for this process: IPGO_WASM_THREADS when set (a number, or `all` for every core), else
 * `fallback` — 1 for tests and benches (deterministic summation order, figures comparable over time), `all` for
 * the runner.
 */
export function nodeWasmThreads(fallback: number | 'all' = 1, setting = process.env.IPGO_WASM_THREADS): number {
  const wanted = setting?.trim() ? setting.trim() : String(fallback);
  if (wanted === 'all') return clampWasmThreads(os.availableParallelism());
  const n = Number(wanted);
  if (!Number.isInteger(n) || n < 1) throw new Error(`IPGO_WASM_THREADS must be a positive integer or "all", got "${wanted}"`);
  return clampWasmThreads(n);
}

/**
 * Node backend for tests, tools and benchmarks: tfjs-wasm (SIMD) by default, `cpu` on request
 * (TF_BACKEND=cpu). wasm lacks a few backprop kernels (Conv2DBackpropFilter); those we never need since
 * IPGO only differentiates with respect to inputs, and tfjs reports a missing kernel loudly.
 * `threads` (default: nodeWasmThreads()) above 1 runs the threaded SIMD build on worker_threads.
 */
export async function initNodeBackend(name: string = process.env.TF_BACKEND ?? 'wasm', threads = nodeWasmThreads()): Promise<string> {
  if (name === 'webgpu') await installNodeWebGpu();
  if (name === 'wasm') registerWasmSliceKernels();
  if (name === 'wasm' && threads > 1) {
    await startThreadedWasm(threads, nodeThreadedWasmSource());
    return tf.getBackend();
  }
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

/**
 * The threaded build's pieces as files, for emscripten's Node pthreads (worker_threads, which load a file and
 * read the factory with importScripts → fs). The package ships the pthread worker only as a string export
 * (`wasmWorkerContents`, meant for a browser blob: URL), so it is written once per version to the temp folder
 * as a CommonJS file (pthreadWorkerScript: the same text the browser puts in its blob).
 */
function nodeThreadedWasmSource() {
  const require = createRequire(import.meta.url);
  const mainScript = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const dir = path.dirname(mainScript);
  const { wasmWorkerContents } = require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const { version } = require('@tensorflow/tfjs-backend-wasm/package.json') as { version: string };
  const workerUrl = path.join(os.tmpdir(), `ipgo-tfjs-wasm-${version}-pthread-worker.cjs`);
  const contents = pthreadWorkerScript(wasmWorkerContents);
  if (!fs.existsSync(workerUrl) || fs.readFileSync(workerUrl, 'utf8') !== contents) {
    const tmp = `${workerUrl}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, contents);
    fs.renameSync(tmp, workerUrl);
  }
  return {
    factory: require(mainScript) as ThreadedWasmFactory,
    workerUrl,
    mainScriptUrlOrBlob: mainScript,
    wasmBinary: async () => fs.readFileSync(path.join(dir, 'tfjs-backend-wasm-threaded-simd.wasm')),
  };
}
