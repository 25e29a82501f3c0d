/**
 * Backend selection, in one place: WebGPU when `navigator.gpu` gives an adapter, else WASM, else CPU.
 * `requested` (from `?backend=`) overrides the order; if it fails we fall back and say why.
 * Runs in the worker, which owns every tensor.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { AdapterInfo, BackendName, BackendReport } from './protocol';
import { BACKEND_PREFERENCE } from './backend-name';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

const PREFERENCE = BACKEND_PREFERENCE;

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

async function trySetBackend(name: BackendName): Promise<string | null> {
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
    const failure = await trySetBackend(name);
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
  };
  log(`tfjs ${report.tfjsVersion} on ${chosen}` + (adapter ? ` (adapter ${adapter.vendor || '?'} ${adapter.architecture || ''}, ` +
    `maxBufferSize ${adapter.limits.maxBufferSize}, maxStorageBufferBindingSize ${adapter.limits.maxStorageBufferBindingSize})` : ' (no WebGPU adapter)') +
    (report.fallbackReason ? ` — fallback: ${report.fallbackReason}` : ''));
  return report;
}
