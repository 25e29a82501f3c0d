/**
 * SD1.5 UNet2DConditionModel on Node tfjs (wasm by default; TF_BACKEND=cpu): forward and forward+backward
 * (gradients wrt sample and encoder_hidden_states, as IPGO needs) at reduced latent sizes, batch 2 (CFG), L = 77.
 * Usage: npx tsx bench/unet.ts   (BENCH_SIZES=8,16 by default, ~3 min on 2 cores; BENCH_CHUNKED=0 skips the largest size with attention
 * the run of the largest size with attention chunked into 16 query blocks, the layout 64×64 gets by default).
 *
 * Weights: the real SD1.5 config (fixtures/sd15-shapes.json → sd15.unet.config_json) with seeded random weights
 * shared among parameters of the same kind and shape (RandomParams share=true): exactly the ops and shapes of
 * the real model, but ~1/4 of the 3.44 GB of fp32 weights, which would not fit the 4 GB wasm heap with
 * activations. Peak memory is tf.profile's peakBytes minus the bytes held before the run (activations, kept
 * backward state, scratch). 64×64 (512² images) is extrapolated, not measured: t(N) = a·N + b·N² fitted on the
 * two largest sizes (N = latent pixels; convolutions are linear in N, self-attention quadratic; b is clamped at 0,
 * since at small N fixed per-op costs make the fit sublinear).
 *
 * PyTorch anchor, in the same run: bench/torch_unet.py (PyTorch 2 from the venv of bench/lib/torch-python.ts, or
 * PYTHON=…) at each size, forward and forward+backward, on as many threads as ours; `*_ratio_vs_torch` is ours over
 * PyTorch's. BENCH_TORCH=0 skips it; BENCH_TORCH_REPEATS (1) runs each.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import fs from 'node:fs';
import path from 'node:path';
import { initNodeBackend } from '../tools/lib/tf-node';
import type { UNetConfigJson } from '../src/model/unet/config';
import { RandomParams } from '../test/random-params';
import { UNet2DConditionModel } from '../src/model/unet/unet';
import { writeBenchResults } from './lib/results';
import { resolveTorchPython, timeTorchUNet, torchNotes } from './lib/torch-python';

const BATCH = 2, L = 77;
const SIZES = (process.env.BENCH_SIZES ?? '8,16').split(',').map(Number);
const CHUNKED = process.env.BENCH_CHUNKED !== '0';
const MiB = 2 ** 20;

const fixtures = path.resolve(process.env.FIXTURES_DIR ?? '../shared/fixtures');
const shapesFile = path.join(fixtures, 'sd15-shapes.json');
if (!fs.existsSync(shapesFile)) throw new Error(`${shapesFile} not found: set FIXTURES_DIR to the fixtures folder`);
const sd15 = JSON.parse(fs.readFileSync(shapesFile, 'utf8')).sd15.unet as { config_json: UNetConfigJson; num_parameters: number };

const backend = await initNodeBackend();
tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false); // tf.profile would otherwise read back every kernel output
const metrics: Record<string, number | null> = {};
const notes: Record<string, string> = {};

let t0 = performance.now();
const params = new RandomParams(42, true);
const unet = UNet2DConditionModel.fromSource(sd15.config_json, params);
metrics['build_s'] = (performance.now() - t0) / 1000;
if (params.declaredParameters !== sd15.num_parameters) throw new Error(`declared ${params.declaredParameters} parameters, SD1.5 has ${sd15.num_parameters}`);
metrics['weights_real_fp32_mib'] = (sd15.num_parameters * 4) / MiB;
metrics['weights_shared_in_run_mib'] = tf.memory().numBytes / MiB;
console.log(`backend ${backend} (threads ${backend === 'wasm' ? getThreadsCount() : 1}); SD1.5 UNet ${sd15.num_parameters} params, ` +
  `${metrics['weights_shared_in_run_mib']!.toFixed(0)} MiB of shared random weights built in ${metrics['build_s']!.toFixed(1)} s`);

function inputs(size: number) {
  return {
    sample: tf.randomNormal([BATCH, size, size, 4], 0, 1, 'float32', 1) as tf.Tensor4D,
    ehs: tf.randomNormal([BATCH, L, 768], 0, 1, 'float32', 2) as tf.Tensor3D,
    r: tf.randomNormal([BATCH, size, size, 4], 0, 1, 'float32', 3),
  };
}

/** Wall time and peak extra bytes of one run of `f` (which returns tensors to read back and dispose). */
async function measure(f: () => tf.Tensor[]): Promise<{ s: number; peakMiB: number }> {
  const base = tf.memory().numBytes;
  const start = performance.now();
  let outs: tf.Tensor[] = [];
  const info = await tf.profile(() => { outs = f(); });
  for (const o of outs) o.dataSync();
  const s = (performance.now() - start) / 1000;
  tf.dispose(outs);
  return { s, peakMiB: (info.peakBytes - base) / MiB };
}

const forward = (size: number, chunkBytes?: number) => async () => {
  const { sample, ehs, r } = inputs(size);
  const m = await measure(() => [unet.forward(sample, 500, ehs, { attentionChunkBytes: chunkBytes })]);
  tf.dispose([sample, ehs, r]);
  return m;
};
const forwardBackward = (size: number, chunkBytes?: number) => async () => {
  const { sample, ehs, r } = inputs(size);
  const f = (x: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(unet.forward(x as tf.Tensor4D, 500, e as tf.Tensor3D, { attentionChunkBytes: chunkBytes }), r));
  const m = await measure(() => tf.grads(f)([sample, ehs]));
  tf.dispose([sample, ehs, r]);
  return m;
};

async function record(key: string, run: () => Promise<{ s: number; peakMiB: number }>) {
  const m = await run();
  metrics[`${key}.s`] = m.s;
  metrics[`${key}.peak_mib`] = m.peakMiB;
  console.log(`${key}: ${m.s.toFixed(2)} s, peak +${m.peakMiB.toFixed(0)} MiB`);
}

await forward(SIZES[0]!)(); // warm-up (wasm/XNNPACK operator setup)
for (const size of SIZES) {
  await record(`fwd_${size}x${size}`, forward(size));
  await record(`fwd_bwd_${size}x${size}`, forwardBackward(size));
}
if (process.env.BENCH_TORCH !== '0') torchAnchor();
const largest = SIZES[SIZES.length - 1]!;
if (CHUNKED) {
  // 64×64 with the default 64 MiB budget splits each 4096-query self-attention into 16 chunks; do the same here.
  const chunk = BATCH * 8 * largest ** 2 * (largest ** 2 / 16) * 4;
  await record(`fwd_bwd_${largest}x${largest}_chunked16`, forwardBackward(largest, chunk));
  notes[`fwd_bwd_${largest}x${largest}_chunked16.s`] = `attentionChunkBytes ${chunk / MiB} MiB: self-attention in 16 query chunks with recomputing backward`;
}

/** PyTorch at every size, same batch, tokens and thread count; ratios are ours over PyTorch's. */
function torchAnchor(): void {
  const tp = resolveTorchPython();
  Object.assign(notes, torchNotes(tp));
  if (!tp) return;
  const threads = backend === 'wasm' ? getThreadsCount() : 1;
  const repeats = Number(process.env.BENCH_TORCH_REPEATS ?? 1);
  for (const size of SIZES) {
    const t = timeTorchUNet(tp, { latent: size, batch: BATCH, tokens: L, repeats, backward: true, threads });
    for (const [what, ms] of [['fwd', t.unet_fwd_ms], ['fwd_bwd', t.unet_fwd_bwd_ms!]] as const) {
      const key = `${what}_${size}x${size}`;
      metrics[`${key}_torch.s`] = ms / 1000;
      metrics[`${key}_ratio_vs_torch`] = metrics[`${key}.s`]! / (ms / 1000);
      console.log(`${key}_torch: ${(ms / 1000).toFixed(2)} s (ours ${metrics[`${key}_ratio_vs_torch`]!.toFixed(2)}×)`);
    }
  }
  notes['*_torch.s'] = `PyTorch ${tp.version} CPU (${tp.source}), ${threads} thread(s), bench/torch_unet.py, median of ${repeats}`;
}

// Extrapolation to 64×64 latents from the two largest sizes: y = a·N + b·N².
if (SIZES.length >= 2) {
  const [s1, s2] = SIZES.slice(-2) as [number, number];
  const [n1, n2, n3] = [s1 * s1, s2 * s2, 64 * 64];
  const fit = (y1: number, y2: number) => {
    const b = Math.max(0, (y2 / n2 - y1 / n1) / (n2 - n1));
    const a = y2 / n2 - b * n2;
    return a * n3 + b * n3 * n3;
  };
  for (const what of ['fwd', 'fwd_bwd', 'fwd_bwd_peak']) {
    if (what === 'fwd_bwd_peak') {
      metrics['extrapolated_fwd_bwd_64x64.peak_mib'] = fit(metrics[`fwd_bwd_${s1}x${s1}.peak_mib`]!, metrics[`fwd_bwd_${s2}x${s2}.peak_mib`]!);
      notes['extrapolated_fwd_bwd_64x64.peak_mib'] = `extrapolated (not measured) from ${s1}² and ${s2}² (unchunked; chunking bounds the N² part)`;
      continue;
    }
    metrics[`extrapolated_${what}_64x64.s`] = fit(metrics[`${what}_${s1}x${s1}.s`]!, metrics[`${what}_${s2}x${s2}.s`]!);
    notes[`extrapolated_${what}_64x64.s`] = `extrapolated (not measured) from ${s1}² and ${s2}² with a·N + b·N²`;
  }
}
metrics['batch'] = BATCH;
metrics['tokens'] = L;
notes['peak_mib'] = 'tf.profile peakBytes minus bytes held before the run; weights excluded';

unet.dispose();
writeBenchResults('unet', metrics, { backend: `${backend}${backend === 'wasm' ? ` (${getThreadsCount()} threads)` : ''}`, weights: 'SD1.5 config, seeded random weights shared per (kind, shape)', ...notes });
