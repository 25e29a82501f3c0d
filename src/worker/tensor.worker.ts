/// <reference lib="webworker" />
/**
 * The tensor worker: the only place that owns tfjs tensors. It selects the backend on `init`, runs one job
 * at a time per request id, streams progress, and turns every failure into a typed `error` message.
 */
import { selectBackend } from './backend';
import { JobError, type Jobs, type JobName, type WorkerRequest, type WorkerResponse, type WorkerErrorCode } from './protocol';
import { runMatmulBench } from './jobs/matmul-bench';

declare const self: DedicatedWorkerGlobalScope;

const cancelled = new Set<number>();
const post = (m: WorkerResponse) => self.postMessage(m);
const log = (message: string, level: 'info' | 'warn' | 'error' = 'info') => post({ type: 'log', level, message });

type Handler<K extends JobName> = (
  params: Jobs[K]['params'],
  progress: (p: Jobs[K]['progress']) => void,
  isCancelled: () => boolean,
) => Promise<Jobs[K]['result']>;

const handlers: { [K in JobName]: Handler<K> } = {
  init: (params, progress) => {
    progress({ stage: 'selecting backend' });
    return selectBackend(params.backend, (m) => log(m));
  },
  matmulBench: runMatmulBench,
  fault: async ({ mode }) => {
    if (mode === 'crash') {
      // An exception outside any job's promise chain: the worker's global error path, as a real bug would be.
      setTimeout(() => {
        throw new Error('deliberate worker crash (fault injection)');
      });
      return new Promise<never>(() => {});
    }
    throw new Error('deliberate job failure (fault injection)');
  },
};

function classify(e: unknown): { code: WorkerErrorCode; message: string } {
  if (e instanceof JobError) return { code: e.code, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  if (/out of memory|OOM|allocation failed|Failed to allocate/i.test(message)) return { code: 'out-of-memory', message };
  if (/device (was )?lost|GPUDevice.*lost/i.test(message)) return { code: 'device-lost', message };
  return { code: 'internal', message };
}

self.onmessage = async (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data;
  if (req.type === 'cancel') {
    cancelled.add(req.id);
    return;
  }
  const handler = handlers[req.job] as Handler<JobName> | undefined;
  if (!handler) {
    post({ type: 'error', id: req.id, code: 'invalid-input', message: `unknown job "${String(req.job)}"` });
    return;
  }
  try {
    const result = await handler(
      req.params as never,
      (progress) => post({ type: 'progress', id: req.id, progress }),
      () => cancelled.has(req.id),
    );
    post({ type: 'result', id: req.id, result });
  } catch (e) {
    post({ type: 'error', id: req.id, ...classify(e) });
  } finally {
    cancelled.delete(req.id);
  }
};
