/**
 * The typed contract between the UI and the tensor worker (web-llm style: an engine behind messages).
 * Every request carries an id; the worker answers with zero or more `progress` messages and exactly one
 * `result` or `error` for that id. `cancel` asks the worker to stop a running job at its next checkpoint (the job
 * then ends with an error whose `code` is "cancelled"); `control` sends a job-specific action (pause, resume, …).
 * Job families declare their types in their own files (models-protocol.ts, studio-protocol.ts); `Jobs` joins them.
 */
import type { ModelJobs } from './models-protocol';
import type { CatalogJobs, StudioJobs } from './studio-protocol';

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
  /** Whether the worker runs cross-origin isolated (COOP/COEP): what tfjs-wasm needs for threads. */
  crossOriginIsolated: boolean;
  /** The XNNPACK threads tfjs-wasm runs on (getThreadsCount()), when the backend is wasm. */
  wasmThreads?: number;
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
  /** The XNNPACK threads the product ran on, when the backend is wasm. */
  wasmThreads?: number;
}

/** One custom kernel against its reference op (max |Δ| / max |ref|). */
export interface KernelCheckEntry { name: string; maxRel: number }
export interface KernelCheckResult {
  backend: BackendName;
  /** The bound each kernel must meet. */
  tolerance: number;
  checks: KernelCheckEntry[];
}

/** A job's parameters, progress payload, result and the control actions it accepts. */
export interface JobSpec<P, G, R, C extends string = never> { params: P; progress: G; result: R; control: C }

export type FaultMode = 'throw' | 'crash' | 'lose-device';

export interface CoreJobs {
  /** `appBase`: the page's base URL (relative model sources resolve against it). */
  init: JobSpec<{ backend?: BackendName; appBase?: string }, { stage: string }, BackendReport>;
  matmulBench: JobSpec<MatmulBenchParams, MatmulBenchProgress, MatmulBenchResult>;
  /** Runs every custom kernel (packed int8 / fp16 Linear and Conv2d; on WebGPU the fused attention) against its reference. */
  kernelCheck: JobSpec<Record<string, never>, never, KernelCheckResult>;
  /** Fault injection for the error-handling path (tests and diagnostics): throws, kills the worker, or destroys the GPU device. */
  fault: JobSpec<{ mode: FaultMode }, never, never>;
}

export type Jobs = CoreJobs & ModelJobs & StudioJobs & CatalogJobs;
export type JobName = keyof Jobs;

export type WorkerRequest =
  | { [K in JobName]: { type: 'run'; id: number; job: K; params: Jobs[K]['params'] } }[JobName]
  | { type: 'cancel'; id: number }
  | { type: 'control'; id: number; action: string };

export type WorkerErrorCode = 'cancelled' | 'invalid-input' | 'out-of-memory' | 'device-lost' | 'quota' | 'network' | 'internal';

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

/** What a job handler gets besides its parameters. */
export interface JobContext<K extends JobName> {
  progress(p: Jobs[K]['progress']): void;
  /** True once the UI asked to cancel; long jobs check it between units of work. */
  cancelled(): boolean;
  /** Aborted together with `cancelled()` (for fetch and friends). */
  signal: AbortSignal;
  /** Registers the handler of this job's control actions (pause, resume, …). */
  onControl(handler: (action: Jobs[K]['control']) => void): void;
  log(message: string, level?: 'info' | 'warn' | 'error'): void;
}

export type JobHandler<K extends JobName> = (params: Jobs[K]['params'], ctx: JobContext<K>) => Promise<Jobs[K]['result']>;
export type JobHandlers<J> = { [K in keyof J & JobName]: JobHandler<K> };
