/** Exposes `runWeightsBench(params)` to bench/weights.ts: runs the measurement in a worker, as the app does. */
import type { BenchParams, BenchResult } from './bench.worker';

declare global {
  interface Window { runWeightsBench(p: BenchParams): Promise<BenchResult> }
}

window.runWeightsBench = (p) => new Promise((resolve, reject) => {
  const w = new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module' });
  w.onmessage = (ev: MessageEvent<{ ok: true; result: BenchResult } | { ok: false; error: string }>) => {
    w.terminate();
    if (ev.data.ok) resolve(ev.data.result);
    else reject(new Error(ev.data.error));
  };
  w.onerror = (ev) => reject(new Error(ev.message));
  w.postMessage(p);
});
