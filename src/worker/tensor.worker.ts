/// <reference lib="webworker" />
/**
 * The tensor worker: the only place that owns tfjs tensors. It selects the backend on `init`, runs jobs by
 * request id, streams progress, routes cancel/control messages, and turns every failure into a typed `error`.
 */
import { JobError, type JobContext, type JobHandler, type JobName, type WorkerErrorCode, type WorkerRequest, type WorkerResponse } from './protocol';
import { coreHandlers } from './jobs/core';
import { modelHandlers } from './jobs/models';
import { studioHandlers } from './jobs/studio';
import { catalogHandlers } from './jobs/catalog';

declare const self: DedicatedWorkerGlobalScope;

const handlers = { ...coreHandlers, ...modelHandlers, ...studioHandlers, ...catalogHandlers } as { [K in JobName]: JobHandler<K> };
const running = new Map<number, { abort: AbortController; control?: (action: string) => void }>();
const post = (m: WorkerResponse) => self.postMessage(m);
const log = (message: string, level: 'info' | 'warn' | 'error' = 'info') => post({ type: 'log', level, message });

function classify(e: unknown): { code: WorkerErrorCode; message: string } {
  if (e instanceof JobError) return { code: e.code, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  const name = e instanceof Error ? e.name : '';
  if (name === 'QuotaError' || /quota/i.test(message)) return { code: 'quota', message };
  if (name === 'CancelledError' || name === 'AbortError') return { code: 'cancelled', message };
  if (/out of memory|OOM|allocation failed|Failed to allocate/i.test(message)) return { code: 'out-of-memory', message };
  if (/device (was )?lost|GPUDevice.*lost/i.test(message)) return { code: 'device-lost', message };
  if (name === 'HttpError' || /Failed to fetch|NetworkError/i.test(message)) return { code: 'network', message };
  return { code: 'internal', message };
}

self.onmessage = async (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data;
  if (req.type === 'cancel') return running.get(req.id)?.abort.abort();
  if (req.type === 'control') return running.get(req.id)?.control?.(req.action);
  const handler = handlers[req.job] as JobHandler<JobName> | undefined;
  if (!handler) {
    post({ type: 'error', id: req.id, code: 'invalid-input', message: `unknown job "${String(req.job)}"` });
    return;
  }
  const entry: { abort: AbortController; control?: (action: string) => void } = { abort: new AbortController() };
  running.set(req.id, entry);
  const ctx: JobContext<JobName> = {
    progress: (progress) => post({ type: 'progress', id: req.id, progress }),
    cancelled: () => entry.abort.signal.aborted,
    signal: entry.abort.signal,
    onControl: (h) => { entry.control = h as (action: string) => void; },
    log,
  };
  try {
    post({ type: 'result', id: req.id, result: await handler(req.params as never, ctx) });
  } catch (e) {
    post({ type: 'error', id: req.id, ...classify(e) });
  } finally {
    running.delete(req.id);
  }
};
