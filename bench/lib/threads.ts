/**
 * The tfjs-wasm thread speed-up on the SD1.5 UNet forward: the same forward (real config, shared random weights
 * as in bench/unet.ts, batch 2, L 77) timed in two fresh processes, one on 1 XNNPACK thread and one on 2
 * (IPGO_WASM_THREADS, see tools/lib/tf-node.ts), one after the other in the same run so both see the same machine.
 *
 * Library: `measureThreadsSpeedup()` (called by bench/model.ts). Child: `BENCH_THREADS_CHILD=1 tsx bench/lib/threads.ts`
 * prints one JSON line with the median forward time for the thread count in IPGO_WASM_THREADS.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULT_TAG = 'BENCH_THREADS_RESULT ';

export interface ThreadsSpeedup {
  metrics: Record<string, number | null>;
  notes: Record<string, string>;
}

/** Times the UNet forward at `latent`² on 1 and on 2 threads (median of `repeats` each, after a warm-up). */
export function measureThreadsSpeedup(latent: number, repeats: number): ThreadsSpeedup {
  const ms: Record<number, number | null> = {};
  const notes: Record<string, string> = {};
  for (const threads of [1, 2]) {
    console.log(`UNet fwd ${latent}² on ${threads} wasm thread(s), own process…`);
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH_THREADS_CHILD: '1', IPGO_WASM_THREADS: String(threads), BENCH_LATENT: String(latent), BENCH_REPEATS: String(repeats) },
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
    const line = (child.stdout ?? '').split('\n').find((l) => l.startsWith(RESULT_TAG));
    const result = line ? (JSON.parse(line.slice(RESULT_TAG.length)) as { ms: number; threads: number }) : undefined;
    if (child.status === 0 && result && result.threads === threads) {
      ms[threads] = result.ms;
      console.log(`  ${threads} thread(s): ${(result.ms / 1000).toFixed(2)} s`);
    } else {
      ms[threads] = null;
      const err = (child.stderr ?? '').split('\n').find((l) => /Error|Aborted/.test(l)) ?? `exit ${child.status}`;
      notes[`unet_fwd_ms_threads${threads}`] = `failed: ${result ? `ran on ${result.threads} thread(s)` : err.trim().slice(0, 200)}`;
    }
  }
  const one = ms[1] ?? null, two = ms[2] ?? null;
  notes['threads_speedup'] = `unet_fwd_ms_threads1 / unet_fwd_ms_threads2: UNet fwd ${latent}², batch 2, median of ${repeats}, ` +
    'each thread count in its own process, same run; tfjs-wasm threaded SIMD build (tools/lib/tf-node.ts)';
  return {
    metrics: { unet_fwd_ms_threads1: one, unet_fwd_ms_threads2: two, threads_speedup: one && two ? one / two : null },
    notes,
  };
}

/** bench/model.ts's hook: adds the figures above unless the backend is not wasm or BENCH_THREADS=0. */
export function addThreadsSpeedup(metrics: Record<string, number | null>, notes: Record<string, string>, latent: number, repeats: number): void {
  if ((process.env.TF_BACKEND ?? 'wasm') !== 'wasm' || process.env.BENCH_THREADS === '0') return;
  const r = measureThreadsSpeedup(latent, repeats);
  Object.assign(metrics, r.metrics);
  Object.assign(notes, r.notes);
}

async function childMain(): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
  const { initNodeBackend } = await import('../../tools/lib/tf-node');
  const { RandomParams } = await import('../../test/random-params');
  const { UNet2DConditionModel } = await import('../../src/model/unet/unet');
  const latent = Number(process.env.BENCH_LATENT ?? 64), repeats = Number(process.env.BENCH_REPEATS ?? 3);
  const shapesFile = path.join(path.resolve(process.env.FIXTURES_DIR ?? '../shared/fixtures'), 'sd15-shapes.json');
  const unetSpec = JSON.parse(fs.readFileSync(shapesFile, 'utf8')).sd15.unet;

  await initNodeBackend('wasm');
  const unet = UNet2DConditionModel.fromSource(unetSpec.config_json, new RandomParams(42, true));
  const sample = tf.randomNormal([2, latent, latent, 4], 0, 1, 'float32', 1) as import('@tensorflow/tfjs').Tensor4D;
  const ehs = tf.randomNormal([2, 77, 768], 0, 1, 'float32', 2) as import('@tensorflow/tfjs').Tensor3D;
  const times: number[] = [];
  for (let i = 0; i <= repeats; i++) {
    const start = performance.now();
    const y = unet.forward(sample, 500, ehs);
    await y.data();
    y.dispose();
    if (i > 0) times.push(performance.now() - start); // run 0 warms up
  }
  times.sort((a, b) => a - b);
  tf.dispose([sample, ehs]);
  unet.dispose();
  console.log(RESULT_TAG + JSON.stringify({ ms: times[Math.floor((times.length - 1) / 2)], threads: getThreadsCount() }));
}

if (process.env.BENCH_THREADS_CHILD === '1' && process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await childMain();
}
