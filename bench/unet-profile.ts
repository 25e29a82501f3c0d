/**
 * npm run bench:unet-profile — where the SD1.5 UNet's time goes, per tfjs kernel: one forward (and, with
 * BENCH_PROFILE=fwd,fwd_bwd, one forward+backward with gradients wrt the latents and the conditioning, checkpointing
 * on, as IPGO takes them) at BENCH_LATENT² (32 by default; 64 takes minutes), batch 2, 77 tokens, under tf.profile
 * on Node tfjs (wasm by default). Weights as bench/unet.ts (SD1.5 config, random, shared per kind and shape).
 * Writes bench/results/unet-profile.json: per pass, the total of kernel times, the wall time, and per kernel name its
 * milliseconds and share of the kernel total; notes list the costliest kernel+shape entries.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { initNodeBackend } from '../tools/lib/tf-node';
import type { UNetConfigJson } from '../src/model/unet/config';
import { RandomParams } from '../test/random-params';
import { UNet2DConditionModel } from '../src/model/unet/unet';
import { writeBenchResults } from './lib/results';

const BATCH = 2, L = 77;
const LATENT = Number(process.env.BENCH_LATENT ?? 32);
const PASSES = (process.env.BENCH_PROFILE ?? 'fwd').split(',') as Array<'fwd' | 'fwd_bwd'>;
const TOP = 30;

const fixtures = path.resolve(process.env.FIXTURES_DIR ?? '../shared/fixtures');
const sd15 = JSON.parse(fs.readFileSync(path.join(fixtures, 'sd15-shapes.json'), 'utf8')).sd15.unet as { config_json: UNetConfigJson };

const backend = await initNodeBackend();
tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false); // else tf.profile reads back every kernel output
const unet = UNet2DConditionModel.fromSource(sd15.config_json, new RandomParams(42, true));
const metrics: Record<string, number> = { latent: LATENT, batch: BATCH };
const notes: Record<string, string> = { backend };

function inputs(size: number) {
  return {
    sample: tf.randomNormal([BATCH, size, size, 4], 0, 1, 'float32', 1) as tf.Tensor4D,
    ehs: tf.randomNormal([BATCH, L, 768], 0, 1, 'float32', 2) as tf.Tensor3D,
    r: tf.randomNormal([BATCH, size, size, 4], 0, 1, 'float32', 3),
  };
}

function pass(kind: 'fwd' | 'fwd_bwd', size: number): () => tf.Tensor[] {
  const { sample, ehs, r } = inputs(size);
  if (kind === 'fwd') return () => { const y = unet.forward(sample, 500, ehs); tf.dispose([sample, ehs, r]); return [y]; };
  const f = (x: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(unet.forward(x as tf.Tensor4D, 500, e as tf.Tensor3D, { checkpointing: true }), r));
  return () => { const g = tf.grads(f)([sample, ehs]); tf.dispose([sample, ehs, r]); return g; };
}

/** Profiles one pass; per-kernel milliseconds by name, and by name + input shapes. */
async function profile(kind: 'fwd' | 'fwd_bwd'): Promise<void> {
  const run = pass(kind, LATENT);
  let outs: tf.Tensor[] = [];
  const start = performance.now();
  const info = await tf.profile(() => { outs = run(); });
  for (const o of outs) o.dataSync();
  const wall = performance.now() - start;
  tf.dispose(outs);
  const byName = new Map<string, number>();
  const byShape = new Map<string, { ms: number; count: number }>();
  for (const k of info.kernels) {
    // a custom-gradient op shows as an "unnamed scope" whose time includes its inner kernels, listed on their own
    if (k.name === 'unnamed scope') continue;
    const ms = k.kernelTimeMs as number;
    byName.set(k.name, (byName.get(k.name) ?? 0) + ms);
    const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(' ')}`;
    const e = byShape.get(key) ?? { ms: 0, count: 0 };
    byShape.set(key, { ms: e.ms + ms, count: e.count + 1 });
  }
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  metrics[`${kind}.wall_ms`] = wall;
  metrics[`${kind}.kernel_total_ms`] = total;
  metrics[`${kind}.kernel_count`] = [...byShape.values()].reduce((a, e) => a + e.count, 0);
  console.log(`\n${kind} ${LATENT}²: wall ${(wall / 1000).toFixed(2)} s, kernels ${(total / 1000).toFixed(2)} s in ${metrics[`${kind}.kernel_count`]} calls`);
  for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1])) {
    metrics[`${kind}.ms.${name}`] = ms;
    metrics[`${kind}.share.${name}`] = ms / total;
    if (ms / total >= 0.005) console.log(`  ${name.padEnd(24)} ${(ms / 1000).toFixed(2).padStart(8)} s  ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
  }
  const top = [...byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, TOP);
  console.log(`  top ${TOP} kernel + input shapes:`);
  top.forEach(([key, e], i) => {
    const line = `${(e.ms / 1000).toFixed(2)} s (${((100 * e.ms) / total).toFixed(1)}%, ${e.count}×) ${key}`;
    notes[`${kind}.top${String(i + 1).padStart(2, '0')}`] = line;
    console.log(`    ${line}`);
  });
}

await (async () => { const run = pass('fwd', 8); tf.dispose(run()); })(); // warm-up (XNNPACK operator setup)
for (const kind of PASSES) await profile(kind);
unet.dispose();
notes['ms'] = 'tf.profile kernelTimeMs summed per kernel name (wasm kernels are synchronous: wall time of each call)';
writeBenchResults('unet-profile', metrics, notes);
