/**
 * The UI's one typed client for the tensor worker. `run(job, params, {onProgress, signal})` resolves with the
 * job's result or rejects with a JobError. When the worker dies (an uncaught error, a crashed GPU process), every
 * pending job is rejected with a clear message and a fresh worker is started, so nothing hangs.
 */
import { JobError, type Jobs, type JobName, type WorkerRequest, type WorkerResponse } from './protocol';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onProgress?: (p: unknown) => void;
}

export interface RunOptions<K extends JobName> {
  onProgress?: (p: Jobs[K]['progress']) => void;
  signal?: AbortSignal;
}

/** A started job: its result, and a handle to send it control actions (pause, resume, …). */
export interface RunningJob<K extends JobName> {
  id: number;
  result: Promise<Jobs[K]['result']>;
  control(action: Jobs[K]['control']): void;
  cancel(): void;
}

export class WorkerClient {
  private worker!: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Called with a human-readable message whenever the worker had to be restarted. */
  onRestart: (reason: string) => void = () => {};
  onLog: (level: string, message: string) => void = () => {};

  constructor(private readonly spawn: () => Worker) {
    this.spawnWorker();
  }

  private spawnWorker(): void {
    this.worker = this.spawn();
    this.worker.onmessage = (ev: MessageEvent<WorkerResponse>) => this.receive(ev.data);
    this.worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.restart(`the worker crashed: ${ev.message || 'unknown error'}`);
    };
    this.worker.onmessageerror = () => this.restart('the worker sent a message that could not be decoded');
  }

  /** Terminates the current worker, fails its jobs with `reason`, and starts a new one. */
  restart(reason: string): void {
    this.worker.terminate();
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const p of failed) p.reject(new JobError('internal', `${reason}; the worker was restarted, please retry`));
    this.spawnWorker();
    this.onRestart(reason);
  }

  run<K extends JobName>(job: K, params: Jobs[K]['params'], opts: RunOptions<K> = {}): Promise<Jobs[K]['result']> {
    return this.start(job, params, opts).result;
  }

  start<K extends JobName>(job: K, params: Jobs[K]['params'], opts: RunOptions<K> = {}): RunningJob<K> {
    const id = this.nextId++;
    const result = new Promise<Jobs[K]['result']>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new JobError('cancelled', `${job} cancelled before it started`));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress: opts.onProgress as (p: unknown) => void });
      opts.signal?.addEventListener('abort', () => this.post({ type: 'cancel', id }), { once: true });
      this.post({ type: 'run', id, job, params } as WorkerRequest);
    });
    return {
      id,
      result,
      control: (action) => this.post({ type: 'control', id, action: action as string }),
      cancel: () => this.post({ type: 'cancel', id }),
    };
  }

  dispose(): void {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new JobError('cancelled', 'the worker client was disposed'));
    this.pending.clear();
  }

  private post(m: WorkerRequest): void {
    this.worker.postMessage(m);
  }

  private receive(m: WorkerResponse): void {
    if (m.type === 'log') return this.onLog(m.level, m.message);
    const p = this.pending.get(m.id);
    if (!p) return; // a late message for a job that was already failed by a restart
    if (m.type === 'progress') return p.onProgress?.(m.progress);
    this.pending.delete(m.id);
    if (m.type === 'result') p.resolve(m.result);
    else p.reject(new JobError(m.code, m.message));
  }
}

export function createTensorWorker(): Worker {
  return new Worker(new URL('./tensor.worker.ts', import.meta.url), { type: 'module', name: 'ipgo-tensor-worker' });
}
