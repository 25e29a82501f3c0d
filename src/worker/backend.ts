/**
 * Backend selection, in one place: WebGPU when `navigator.gpu` gives an adapter, else WASM, else CPU.
 * `requested` (from `?backend=`) overrides the order; if it fails we fall back and say why.
 * Runs in the worker, which owns every tensor.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as threadedFactoryModule from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
import { wasmWorkerContents } from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import threadedMainScript from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js?url';
import type { AdapterInfo, BackendName, BackendReport } from './protocol';
import { BACKEND_PREFERENCE } from './backend-name';
import { registerWasmSliceKernels } from '../model/kernels/wasm-slice';
import { clampWasmThreads, pthreadWorkerScript, startThreadedWasm, type ThreadedWasmFactory } from './wasm-threaded';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

const PREFERENCE = BACKEND_PREFERENCE;
/** tfjs's own "wasm" factory (single-threaded SIMD here), kept for when the threaded start is not possible. */
const tfjsWasmFactory = tf.findBackendFactory('wasm')!;

/** Reads the adapter's identity and the limits that bound our largest tensors. */
export async function probeAdapter(): Promise<AdapterInfo | { error: string }> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { error: 'this browser exposes no navigator.gpu (WebGPU disabled or unsupported)' };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { error: `navigator.gpu.requestAdapter() failed: ${(e as Error).message}` };
  }
  if (!adapter) return { error: 'navigator.gpu.requestAdapter() returned no adapter (no usable GPU)' };
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter
      ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    features: [...adapter.features].map(String).sort(),
    limits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    },
  };
}

/**
 * Threads for tfjs-wasm in the browser: every logical core the browser reports (navigator.hardwareConcurrency),
 * at most the 8 the build supports. Not tfjs's default of half of them: that assumes two hyperthreads per core
 * and gives a 2-core machine one thread. This worker's thread joins the pool, and the page's thread mostly
 * waits while a job runs, so no core is held back for it.
 */
export function browserWasmThreads(hardwareConcurrency = globalThis.navigator?.hardwareConcurrency ?? 1): number {
  return clampWasmThreads(hardwareConcurrency);
}

/**
 * The threaded build's pieces in the browser. Each pthread worker importScripts() the emscripten factory from
 * the package's own file, emitted verbatim as an asset: tfjs instead makes a blob of the bundled factory's
 * toString(), which breaks once the bundler has minified it (it refers to names outside the function), and would
 * need blob: in script-src. The pthread worker itself is a blob: URL (worker-src in src/pwa/csp.ts).
 */
function browserThreadedWasmSource() {
  const m = threadedFactoryModule as unknown as { default?: ThreadedWasmFactory };
  const factory = (m.default ?? m) as ThreadedWasmFactory;
  const worker = new Blob([pthreadWorkerScript(wasmWorkerContents)], { type: 'application/javascript' });
  return {
    factory,
    workerUrl: URL.createObjectURL(worker),
    mainScriptUrlOrBlob: new URL(threadedMainScript, self.location.href).href,
    wasmBinary: async () => {
      const response = await fetch(wasmThreaded);
      if (!response.ok) throw new Error(`${wasmThreaded}: HTTP ${response.status}`);
      return response.arrayBuffer();
    },
  };
}

/**
 * A pthread worker that cannot start (a host's CSP without worker-src blob:, say) raises no error emscripten
 * passes on: its pool just never finishes loading. The bound is generous for one compile and eight worker loads.
 */
const THREADED_START_TIMEOUT_MS = 15_000;

/**
 * wasm on threads when the page is cross-origin isolated (SharedArrayBuffer, shared wasm memory), else tfjs's
 * single-threaded SIMD build. A threaded start that fails falls back to one thread and says why.
 */
async function startWasm(log: (m: string) => void): Promise<string | null> {
  registerWasmSliceKernels();
  if (globalThis.crossOriginIsolated) {
    const giveUp = new AbortController();
    const timer = setTimeout(() => giveUp.abort(new Error(`its ${THREADED_START_TIMEOUT_MS / 1000} s start timed out`)), THREADED_START_TIMEOUT_MS);
    const aborted = new Promise<never>((_, reject) => giveUp.signal.addEventListener('abort', () => reject(giveUp.signal.reason)));
    aborted.catch(() => {}); // also aborted after a failure, when nobody awaits it any more
    try {
      const start = startThreadedWasm(browserWasmThreads(), browserThreadedWasmSource(), giveUp.signal);
      start.catch(() => {}); // it may fail after the timeout, when nobody awaits it any more
      await Promise.race([start, aborted]);
      return null;
    } catch (e) {
      giveUp.abort(e);
      log(`threaded wasm failed, using one thread: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  } else {
    log('wasm on one thread: the page is not cross-origin isolated (COOP/COEP headers missing), so no SharedArrayBuffer');
  }
  // tfjs's own start would pick its threaded build whenever the page is isolated, and that build cannot start
  // after a bundler minified it (see browserThreadedWasmSource): one thread, its SIMD build.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (tf.findBackendFactory('wasm') !== tfjsWasmFactory) {
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', tfjsWasmFactory);
  }
  return setBackendOrReason('wasm');
}

async function trySetBackend(name: BackendName, log: (m: string) => void): Promise<string | null> {
  return name === 'wasm' ? startWasm(log) : setBackendOrReason(name);
}

async function setBackendOrReason(name: BackendName): Promise<string | null> {
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return `tf.setBackend("${name}") returned false`;
    await tf.ready();
    return null;
  } catch (e) {
    return `${name} failed to initialise: ${(e as Error).message}`;
  }
}

export async function selectBackend(requested?: BackendName, log: (m: string) => void = () => {}): Promise<BackendReport> {
  const probe = await probeAdapter();
  const adapter = 'error' in probe ? undefined : probe;
  const reasons: string[] = [];
  if ('error' in probe) reasons.push(probe.error);
  const order = requested ? [requested, ...PREFERENCE.filter((b) => b !== requested)] : PREFERENCE;
  let chosen: BackendName | undefined;
  for (const name of order) {
    if (name === 'webgpu' && !adapter) continue;
    const failure = await trySetBackend(name, log);
    if (failure === null) {
      chosen = name;
      break;
    }
    reasons.push(failure);
    log(`backend ${name} unavailable: ${failure}`);
  }
  if (!chosen) throw new Error(`no tfjs backend could start: ${reasons.join('; ')}`);
  const wanted = requested ?? 'webgpu';
  const report: BackendReport = {
    backend: chosen,
    requested: requested ?? 'auto',
    fallbackReason: chosen === wanted ? undefined : reasons.join('; ') || `${wanted} unavailable`,
    adapter,
    available: PREFERENCE.filter((b) => b !== 'webgpu' || adapter),
    tfjsVersion: tf.version.tfjs,
    crossOriginIsolated: Boolean(globalThis.crossOriginIsolated),
    wasmThreads: chosen === 'wasm' ? getThreadsCount() : undefined,
  };
  log(`tfjs ${report.tfjsVersion} on ${chosen}` + (adapter ? ` (adapter ${adapter.vendor || '?'} ${adapter.architecture || ''}, ` +
    `maxBufferSize ${adapter.limits.maxBufferSize}, maxStorageBufferBindingSize ${adapter.limits.maxStorageBufferBindingSize})` : ' (no WebGPU adapter)') +
    (report.wasmThreads ? ` on ${report.wasmThreads} thread(s)` : '') +
    (report.fallbackReason ? ` — fallback: ${report.fallbackReason}` : ''));
  return report;
}
