/**
 * The typed contract between the UI and the tensor worker (web-llm style: an engine behind messages).
 * Every request carries an id; the worker answers with zero or more `progress` messages and exactly one
 * `result` or `error` for that id. `cancel` asks the worker to stop a running job at its next checkpoint;
 * the job then ends with an error whose `code` is "cancelled".
 */

export type BackendName = 'webgpu' | 'wasm' | 'cpu';

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number };
}

export interface BackendReport {
  backend: BackendName;
  /** What was asked for (`?backend=` or automatic) and why we ended elsewhere, if we did. */
  requested: BackendName | 'auto';
  fallbackReason?: string;
  adapter?: AdapterInfo;
  /** Backends this worker can use, in order of preference (webgpu only when an adapter exists). */
  available: BackendName[];
  tfjsVersion: string;
}

export interface MatmulBenchParams { size: number; repeats: number }
export interface MatmulBenchProgress { done: number; total: number; lastMs: number }
export interface MatmulBenchResult {
  backend: BackendName;
  size: number;
  repeats: number;
  /** Median time of one matmul (ms), after one warm-up run. */
  medianMs: number;
  gflops: number;
  /** Sum of the product's entries for a deterministic input: proves the computation really ran. */
  checksum: number;
  expectedChecksum: number;
}

/** Every job the worker runs: its parameters, progress payload and result. */
export interface Jobs {
  init: { params: { backend?: BackendName }; progress: { stage: string }; result: BackendReport };
  matmulBench: { params: MatmulBenchParams; progress: MatmulBenchProgress; result: MatmulBenchResult };
  /** Fault injection for the error-handling path (tests and diagnostics): throws, or kills the worker. */
  fault: { params: { mode: 'throw' | 'crash' }; progress: never; result: never };
}

export type JobName = keyof Jobs;

export type WorkerRequest =
  | { [K in JobName]: { type: 'run'; id: number; job: K; params: Jobs[K]['params'] } }[JobName]
  | { type: 'cancel'; id: number };

export type WorkerErrorCode = 'cancelled' | 'invalid-input' | 'out-of-memory' | 'device-lost' | 'internal';

export type WorkerResponse =
  | { type: 'progress'; id: number; progress: unknown }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; code: WorkerErrorCode; message: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

export class JobError extends Error {
  constructor(readonly code: WorkerErrorCode, message: string) {
    super(message);
    this.name = 'JobError';
  }
}
