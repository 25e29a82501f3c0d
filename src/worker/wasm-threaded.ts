/**
 * tfjs-wasm on its threaded SIMD build with a thread count we choose, for the browser worker and for Node.
 *
 * Why not `tf.setBackend('wasm')` after `setThreadsCount(n)`: the published binary caps the XNNPACK pool at
 * `emscripten_num_logical_cores() / 2` (it assumes two hyperthreads per core), so on a 2-core machine it always
 * runs one thread whatever we ask; and in Node tfjs never picks the threaded build (WASM_HAS_MULTITHREAD_SUPPORT
 * is false under IS_NODE) while emscripten's Node pthreads need a worker *file*, not the blob URL tfjs makes.
 * So we instantiate the threaded module ourselves, answer `emscripten_num_logical_cores` with twice the wanted
 * count (the halving then yields exactly it), and register tfjs's own BackendWasm under the name "wasm" — the
 * kernels, the memory accounting and getThreadsCount() are tfjs's, unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

/** tfjs-wasm's build pre-spawns 8 pthread workers and never uses more. */
export const MAX_WASM_THREADS = 8;

/** The emscripten factory of `tfjs-backend-wasm-threaded-simd.js`. */
export type ThreadedWasmFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => unknown;
  tfjs?: Record<string, unknown>;
  PThread?: { runningWorkers: { unref?(): void }[] };
}

/** Where this platform finds the pieces of the threaded build. */
export interface ThreadedWasmSource {
  factory: ThreadedWasmFactory;
  /** The pthread worker script (a file in Node, a blob: URL in the browser). */
  workerUrl: string;
  /** What each pthread worker `importScripts` to get the factory (a path in Node, a Blob in the browser). */
  mainScriptUrlOrBlob: string | Blob;
  /** The bytes of `tfjs-backend-wasm-threaded-simd.wasm`. */
  wasmBinary(): Promise<BufferSource>;
}

/**
 * The pthread worker's script from the package's `wasmWorkerContents` string export: its newlines are escaped
 * once more, as tfjs does before making its blob (the string holds source text with literal newline escapes).
 */
export function pthreadWorkerScript(wasmWorkerContents: string): string {
  return wasmWorkerContents.replace(/\n/g, '\\n');
}

/** Clamps a requested thread count to what tfjs-wasm's build can run: 1 … MAX_WASM_THREADS. */
export function clampWasmThreads(requested: number): number {
  if (!Number.isFinite(requested)) return 1;
  return Math.min(MAX_WASM_THREADS, Math.max(1, Math.floor(requested)));
}

/**
 * Replaces tfjs's "wasm" backend factory with the threaded build on `threads` XNNPACK threads and makes it the
 * active backend. Returns the thread count tfjs reports after initialisation. Once `signal` is aborted it no
 * longer touches tfjs's backends.
 */
export async function startThreadedWasm(threads: number, source: ThreadedWasmSource, signal?: AbortSignal): Promise<number> {
  const count = clampWasmThreads(threads);
  const binary = await source.wasmBinary();
  let failInstantiation: (e: unknown) => void = () => {};
  const instantiationFailed = new Promise<never>((_, reject) => { failInstantiation = reject; });
  const module = await Promise.race([instantiationFailed, source.factory({
    locateFile: (file: string) => (file.endsWith('.worker.js') ? source.workerUrl : file),
    mainScriptUrlOrBlob: source.mainScriptUrlOrBlob,
    instantiateWasm(imports: { env: Record<string, unknown> }, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) {
      imports.env['emscripten_num_logical_cores'] = () => 2 * count;
      WebAssembly.instantiate(binary, imports as WebAssembly.Imports).then(({ instance, module: m }) => receive(instance, m), failInstantiation);
      return {};
    },
  })]);
  signal?.throwIfAborted(); // the caller gave up (and may have started another backend): leave tfjs alone
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  setThreadsCount(count);
  if (tf.findBackendFactory('wasm')) tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => new BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]));
  if (!(await tf.setBackend('wasm'))) throw new Error('the threaded tfjs-wasm backend failed to initialise');
  await tf.ready();
  // Node: the pool's worker_threads live as long as the backend and must not keep the process from exiting.
  for (const worker of module.PThread?.runningWorkers ?? []) worker.unref?.();
  return getThreadsCount();
}
