/**
 * npm run bench:model — SD1.5 at its real shapes on Node tfjs (wasm by default; TF_BACKEND=cpu), random weights
 * built from fixtures/sd15-shapes.json: one text-encoder pass [1, 77], one UNet forward at 64×64 latents with batch 2
 * (CFG), one UNet forward+backward (gradients wrt the latents and the conditioning, as IPGO takes them; gradient
 * checkpointing on, the backend's default granularity) at BENCH_BWD_LATENT (32)² — 64² exceeds the 4 GiB wasm heap, see below — and
 * one VAE decode at 512². Medians of BENCH_REPEATS (3) runs; the forward+backward
 * uses BENCH_BWD_REPEATS (1 by default, to keep the run near 15 minutes on 2 cores — say so when reporting).
 * Before that, the checkpointing granularities are compared at BENCH_GRAN_SIZE (16)² latents (plain autodiff
 * included; at 64² plain autodiff would need ~33 GB; BENCH_GRAN_SIZE=0 skips it).
 *
 * Weights: the text encoder and the VAE decoder have their full random weights; the UNet's are shared per (kind,
 * shape) as in bench/unet.ts (same ops and shapes, ~590 MiB instead of 3.3 GB, which would not fit the 4 GiB wasm
 * heap beside activations). Memory: tf.profile's peakBytes minus the bytes held before the run (activations,
 * tape, scratch; weights excluded), and the process' peak RSS.
 *
 * PyTorch anchor, in the same run: bench/torch_unet.py (a compact SD1.5 UNet in torch, random weights) at the same
 * shapes and on as many threads as ours — the forward at BENCH_LATENT², the forward+backward at BENCH_BWD_LATENT² —
 * on PyTorch 2 from a venv the bench makes once (bench/lib/torch-python.ts; PYTHON=… picks another Python, Debian's
 * torch 1.13 is only the fallback, named in notes.torch_source). BENCH_TORCH_REPEATS (1 by default); BENCH_TORCH=0
 * skips it.
 * Writes bench/results/model.json.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { initNodeBackend } from '../tools/lib/tf-node';
import { clipTextForward, loadClipTextModel, type ClipTextConfig } from '../src/model/clip/text-model';
import { disposeParams } from '../src/model/nn';
import type { UNetConfigJson } from '../src/model/unet/config';
import { RandomParams } from '../test/random-params';
import { DEFAULT_CHECKPOINTING, DEFAULT_CHECKPOINTING_WASM, UNet2DConditionModel } from '../src/model/unet/unet';
import type { CheckpointGranularity } from '../src/model/unet/blocks';
import { AutoencoderKL } from '../src/model/vae/autoencoder-kl';
import { WeightStore } from '../src/model/weights';
import { writeBenchResults } from './lib/results';
import { resolveTorchPython, timeTorchUNet, torchNotes } from './lib/torch-python';

const env = process.env;
const REPEATS = Number(env.BENCH_REPEATS ?? 3);
const BWD_REPEATS = Number(env.BENCH_BWD_REPEATS ?? 1);
const LATENT = Number(env.BENCH_LATENT ?? 64);
const BWD_LATENT = Number(env.BENCH_BWD_LATENT ?? Math.min(LATENT, 32));
const GRAN_SIZE = Number(env.BENCH_GRAN_SIZE ?? 16);
const TORCH_REPEATS = Number(env.BENCH_TORCH_REPEATS ?? 1);
const BATCH = 2, L = 77;
const MiB = 2 ** 20;

interface Spec { key: string; shape: number[] }
interface Sd15 {
  unet: { config_json: UNetConfigJson; num_parameters: number };
  vae: { config_json: Record<string, unknown>; keys: Spec[] };
  text_encoder: { config_json: ClipTextConfig; keys: Spec[] };
}
const fixtures = path.resolve(env.FIXTURES_DIR ?? '../shared/fixtures');
const shapesFile = path.join(fixtures, 'sd15-shapes.json');
if (!fs.existsSync(shapesFile)) throw new Error(`${shapesFile} not found: set FIXTURES_DIR to the fixtures folder`);
const sd15 = JSON.parse(fs.readFileSync(shapesFile, 'utf8')).sd15 as Sd15;

const metrics: Record<string, number | null> = {};
const notes: Record<string, string> = {};

/**
 * Each section runs in its own process (BENCH_SECTION=name): tfjs-wasm's heap is 32-bit and never shrinks, so
 * after a 64² UNet forward a 512² VAE decode in the same process runs out of heap although it fits alone; and a
 * wasm abort leaves the module unusable. The parent merges the sections' figures and records a failed section as
 * null with its error.
 */
const SECTIONS = ['text_encoder', 'unet_granularity', 'unet_fwd', 'vae_decode', 'torch', 'unet_fwd_bwd'] as const;
type Section = (typeof SECTIONS)[number];
const RESULT_TAG = 'BENCH_SECTION_RESULT ';

if (env.BENCH_SECTION) {
  await runSection(env.BENCH_SECTION as Section);
  console.log(RESULT_TAG + JSON.stringify({ metrics, notes, rssMb: process.resourceUsage().maxRSS / 1024 }));
} else {
  await runAll();
}

interface SectionResult { metrics: typeof metrics; notes: typeof notes; rssMb: number }

/** Runs one section in its own process (with `extraEnv`); its figures, or its error. */
function runSectionProcess(section: Section, extraEnv: Record<string, string> = {}): SectionResult | { error: string } {
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...env, ...extraEnv, BENCH_SECTION: section }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * MiB,
  });
  const lines = (child.stdout ?? '').split('\n');
  for (const line of lines) if (line && !line.startsWith(RESULT_TAG)) console.log(line);
  const result = lines.find((l) => l.startsWith(RESULT_TAG));
  if (child.status === 0 && result) return JSON.parse(result.slice(RESULT_TAG.length)) as SectionResult;
  const err = (child.stderr ?? '').split('\n').find((l) => /Error|Aborted/.test(l) && l.length < 400) ?? `exit ${child.status}`;
  return { error: err.trim() };
}

async function runAll(): Promise<void> {
  console.log(`SD1.5 shapes on Node tfjs (${env.TF_BACKEND ?? 'wasm'}); repeats ${REPEATS}, fwd+bwd repeats ${BWD_REPEATS}, latents ${LATENT}² (fwd+bwd ${BWD_LATENT}²), batch ${BATCH}; one process per section`);
  let rss = 0;
  for (const section of SECTIONS) {
    const r = runSectionProcess(section);
    if ('error' in r) {
      notes[`section_${section}`] = `failed: ${r.error.slice(0, 200)}`;
      console.log(`  section ${section} failed: ${r.error}`);
      continue;
    }
    Object.assign(metrics, r.metrics);
    Object.assign(notes, r.notes);
    rss = Math.max(rss, r.rssMb);
  }
  threadsSpeedup();
  for (const key of ['text_encoder_ms', 'unet_fwd_ms', 'unet_fwd_bwd_ms', 'vae_decode_ms', 'unet_fwd_torch_ms', 'unet_fwd_bwd_torch_ms']) metrics[key] ??= null;
  const fwd = metrics['unet_fwd_ms'], torchFwd = metrics['unet_fwd_torch_ms'], ratio = metrics['unet_fwd_bwd_over_fwd'];
  metrics['unet_fwd_ratio_vs_torch'] = fwd && torchFwd ? fwd / torchFwd : null;
  const fwdBwd = metrics['unet_fwd_bwd_ms'], torchFwdBwd = metrics['unet_fwd_bwd_torch_ms'];
  metrics['unet_fwd_bwd_ratio_vs_torch'] = fwdBwd && torchFwdBwd ? fwdBwd / torchFwdBwd : null;
  notes['unet_fwd_ratio_vs_torch'] = `unet_fwd_ms / unet_fwd_torch_ms, both at ${LATENT}² latents, batch ${BATCH}, same run`;
  notes['unet_fwd_bwd_ratio_vs_torch'] = `unet_fwd_bwd_ms / unet_fwd_bwd_torch_ms, both at ${BWD_LATENT}² latents, batch ${BATCH}, same run (ours with gradient checkpointing, PyTorch without)`;
  if (fwd && ratio && BWD_LATENT !== LATENT) {
    metrics['estimate_unet_fwd_bwd_ms_at_latent'] = ratio * fwd;
    notes['estimate_unet_fwd_bwd_ms_at_latent'] = `estimate, not measured: unet_fwd_ms × (fwd+bwd / fwd at ${BWD_LATENT}²)`;
  }
  metrics['peak_rss_mb'] = rss;
  metrics['latent'] = LATENT;
  metrics['batch'] = BATCH;
  notes['peak_rss_mb'] = 'largest peak resident set size of the section processes (wasm heap included; it never shrinks)';
  notes['*_peak_mib'] = 'tf.profile peakBytes minus the bytes held before the run (weights excluded)';
  writeBenchResults('model', metrics, {
    backend: `${env.TF_BACKEND ?? 'wasm'} (1 thread)`,
    weights: 'random from sd15-shapes.json; UNet weights shared per (kind, shape) as in bench/unet.ts; text encoder and VAE decoder full',
    ...notes,
  });
}

/**
 * The unet_fwd section once more on two tfjs-wasm threads (IPGO_WASM_THREADS, tools/lib/tf-node.ts), in its own
 * process: threads_speedup is the one-thread unet_fwd_ms over it. Skipped off wasm and with BENCH_THREADS=0.
 */
function threadsSpeedup(): void {
  if ((env.TF_BACKEND ?? 'wasm') !== 'wasm' || env.BENCH_THREADS === '0') return;
  const one = notes['threads'] ? null : metrics['unet_fwd_ms'] ?? null; // the sections ran on one thread unless told
  console.log(`UNet fwd ${LATENT}² on 2 wasm threads, own process…`);
  const r = runSectionProcess('unet_fwd', { IPGO_WASM_THREADS: '2' });
  const two = 'error' in r || r.notes['threads'] !== '2' ? null : r.metrics['unet_fwd_ms'] ?? null;
  if ('error' in r) notes['unet_fwd_ms_threads2'] = `failed: ${r.error.slice(0, 200)}`;
  Object.assign(metrics, { unet_fwd_ms_threads1: one, unet_fwd_ms_threads2: two, threads_speedup: one && two ? one / two : null });
  notes['threads_speedup'] = `unet_fwd_ms_threads1 (= unet_fwd_ms) / unet_fwd_ms_threads2: the unet_fwd section (${LATENT}², batch 2, ` +
    `median of ${REPEATS}) on 1 and on 2 threads, each in its own process, same run; tfjs-wasm threaded SIMD build (tools/lib/tf-node.ts)`;
}

async function runSection(section: Section): Promise<void> {
  const backend = await initNodeBackend();
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false); // tf.profile would otherwise read back every kernel output
  const threads = backend === 'wasm' ? getThreadsCount() : 1;
  if (threads !== 1) notes['threads'] = String(threads);
  if (section === 'text_encoder') return textEncoder();
  if (section === 'vae_decode') return vaeDecode();
  if (section === 'torch') return torch(threads);
  const unet = buildUNet();
  await once(() => { const { sample, ehs } = unetInputs(8); const y = unet.forward(sample, 500, ehs); tf.dispose([sample, ehs]); return [y]; }); // warm-up
  if (section === 'unet_granularity') await unetGranularity(unet);
  if (section === 'unet_fwd') await unetFwd(unet);
  if (section === 'unet_fwd_bwd') await unetFwdBwd(unet);
  unet.dispose();
}

/** Seeded random weights for a key list (norm gammas near 1, weights N(0,1)/√fan_in), as a WeightStore. */
function randomStore(specs: Spec[], filter: (key: string) => boolean = () => true): WeightStore {
  const m = new Map<string, tf.Tensor>();
  specs.filter((s) => filter(s.key)).forEach(({ key, shape }, i) => m.set(key, tf.tidy(() => {
    if (key.endsWith('position_ids')) return tf.range(0, shape[shape.length - 1]!, 1, 'int32').reshape(shape);
    const r = tf.randomNormal(shape, 0, 1, 'float32', i);
    if (shape.length > 1) return tf.div(r, Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)));
    return /norm|layer_norm|ln_/.test(key) && key.endsWith('.weight') ? tf.add(1, tf.mul(r, 0.1)) : tf.mul(r, 0.05);
  })));
  return new WeightStore(m);
}

interface Run { ms: number; peakMiB: number }

/** Wall time and peak extra tensor bytes of one run of `f` (its outputs are read back, then disposed). */
async function once(f: () => tf.Tensor[]): Promise<Run> {
  const base = tf.memory().numBytes;
  const start = performance.now();
  let outs: tf.Tensor[] = [];
  const info = await tf.profile(() => { outs = f(); });
  for (const o of outs) o.dataSync();
  const ms = performance.now() - start;
  tf.dispose(outs);
  return { ms, peakMiB: (info.peakBytes - base) / MiB };
}

async function median(name: string, repeats: number, f: () => tf.Tensor[]): Promise<Run> {
  const runs: Run[] = [];
  for (let i = 0; i < repeats; i++) {
    runs.push(await once(f));
    console.log(`  ${name} run ${i + 1}/${repeats}: ${(runs[i]!.ms / 1000).toFixed(2)} s, peak +${runs[i]!.peakMiB.toFixed(0)} MiB`);
  }
  const sorted = runs.map((r) => r.ms).sort((a, b) => a - b);
  return { ms: sorted[Math.floor((sorted.length - 1) / 2)]!, peakMiB: Math.max(...runs.map((r) => r.peakMiB)) };
}

async function textEncoder(): Promise<void> {
  const store = randomStore(sd15.text_encoder.keys);
  const te = loadClipTextModel(store, sd15.text_encoder.config_json);
  store.dispose();
  const ids = tf.tensor2d([Array.from({ length: L }, (_, i) => (i === 0 ? 49406 : i === L - 1 ? 49407 : 320 + i))], [1, L], 'int32');
  const run = () => [clipTextForward(te, ids).lastHiddenState];
  await once(run); // warm-up
  const r = await median('text encoder', REPEATS, run);
  metrics['text_encoder_ms'] = r.ms;
  metrics['text_encoder_peak_mib'] = r.peakMiB;
  ids.dispose();
  disposeParams(te);
}

function buildUNet(): UNet2DConditionModel {
  const params = new RandomParams(42, true);
  const unet = UNet2DConditionModel.fromSource(sd15.unet.config_json, params);
  if (params.declaredParameters !== sd15.unet.num_parameters) throw new Error(`declared ${params.declaredParameters} UNet parameters, SD1.5 has ${sd15.unet.num_parameters}`);
  metrics['unet_weights_shared_mib'] = tf.memory().numBytes / MiB;
  return unet;
}

function unetInputs(size: number) {
  return {
    sample: tf.randomNormal([BATCH, size, size, 4], 0, 1, 'float32', 1) as tf.Tensor4D,
    ehs: tf.randomNormal([BATCH, L, 768], 0, 1, 'float32', 2) as tf.Tensor3D,
    r: tf.randomNormal([BATCH, size, size, 4], 0, 1, 'float32', 3),
  };
}
function fwdBwd(unet: UNet2DConditionModel, size: number, checkpointing: boolean | CheckpointGranularity) {
  const { sample, ehs, r } = unetInputs(size);
  const f = (x: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(unet.forward(x as tf.Tensor4D, 500, e as tf.Tensor3D, { checkpointing }), r));
  return { run: () => tf.grads(f)([sample, ehs]), dispose: () => tf.dispose([sample, ehs, r]) };
}

async function unetGranularity(unet: UNet2DConditionModel): Promise<void> {
  if (GRAN_SIZE > 0) console.log(`checkpointing granularity at ${GRAN_SIZE}² latents (forward+backward, 1 run each):`);
  for (const mode of GRAN_SIZE > 0 ? (['off', 'module', 'layer', 'large-layers'] as const) : []) {
    const b = fwdBwd(unet, GRAN_SIZE, mode);
    const r = await median(`fwd+bwd ${GRAN_SIZE}² checkpointing ${mode}`, 1, b.run);
    b.dispose();
    metrics[`unet_fwd_bwd_${GRAN_SIZE}_${mode}_ms`] = r.ms;
    metrics[`unet_fwd_bwd_${GRAN_SIZE}_${mode}_peak_mib`] = r.peakMiB;
  }
}

async function unetFwd(unet: UNet2DConditionModel): Promise<void> {
  const { sample, ehs, r: unused } = unetInputs(LATENT);
  unused.dispose();
  const r = await median(`UNet fwd ${LATENT}²`, REPEATS, () => [unet.forward(sample, 500, ehs)]);
  metrics['unet_fwd_ms'] = r.ms;
  metrics['unet_fwd_peak_mib'] = r.peakMiB;
  tf.dispose([sample, ehs]);
}

/** VAE decode at 8·LATENT. */
async function vaeDecode(): Promise<void> {
  const cfg = sd15.vae.config_json;
  const store = randomStore(sd15.vae.keys, (k) => !k.startsWith('encoder.') && !k.startsWith('quant_conv.'));
  const vae = AutoencoderKL.fromWeights(cfg, store, { decoderOnly: true });
  store.dispose();
  const z = tf.randomNormal([1, LATENT, LATENT, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
  await once(() => { const small = tf.slice(z, [0, 0, 0, 0], [1, 8, 8, 4]) as tf.Tensor4D; const y = vae.decode(small); small.dispose(); return [y]; }); // warm-up
  const r = await median(`VAE decode ${8 * LATENT}²`, REPEATS, () => [vae.decode(z)]);
  metrics['vae_decode_ms'] = r.ms;
  metrics['vae_decode_peak_mib'] = r.peakMiB;
  z.dispose();
  vae.dispose();
}

/** PyTorch anchor: the same UNet shapes on the same number of threads, forward at LATENT², fwd+bwd at BWD_LATENT². */
async function torch(threads: number): Promise<void> {
  metrics['unet_fwd_torch_ms'] = null;
  metrics['unet_fwd_bwd_torch_ms'] = null;
  if (env.BENCH_TORCH === '0') {
    Object.assign(notes, { torch_version: 'not run', torch_source: 'BENCH_TORCH=0' });
    return;
  }
  const tp = resolveTorchPython();
  Object.assign(notes, torchNotes(tp));
  if (!tp) return;
  const common = { batch: BATCH, tokens: L, repeats: TORCH_REPEATS, threads };
  const what = `PyTorch ${tp.version} CPU (${tp.source}), ${threads} thread(s), bench/torch_unet.py (compact SD1.5 UNet, random weights), median of ${TORCH_REPEATS}`;
  console.log(`PyTorch ${tp.version} (${tp.source}): bench/torch_unet.py, batch ${BATCH}, ${threads} thread(s), ${TORCH_REPEATS} run(s): fwd ${LATENT}², fwd+bwd ${BWD_LATENT}²…`);
  const bwd = timeTorchUNet(tp, { ...common, latent: BWD_LATENT, backward: true });
  const fwd = BWD_LATENT === LATENT ? bwd : timeTorchUNet(tp, { ...common, latent: LATENT, backward: false });
  console.log(`  PyTorch fwd ${LATENT}²: ${(fwd.unet_fwd_ms / 1000).toFixed(2)} s; fwd ${BWD_LATENT}²: ${(bwd.unet_fwd_ms / 1000).toFixed(2)} s; fwd+bwd ${BWD_LATENT}²: ${(bwd.unet_fwd_bwd_ms! / 1000).toFixed(2)} s`);
  metrics['unet_fwd_torch_ms'] = fwd.unet_fwd_ms;
  metrics['unet_fwd_bwd_torch_ms'] = bwd.unet_fwd_bwd_ms;
  notes['unet_fwd_torch_ms'] = `${what}; at ${LATENT}²`;
  notes['unet_fwd_bwd_torch_ms'] = `${what}; at ${BWD_LATENT}², gradients wrt latents and conditioning`;
}

/**
 * At BWD_LATENT² (32² by default). At 64² the checkpointed backward needs 3–4 GiB beside the weights (measured
 * +331 MiB at 16², +944 MiB at 32²), which with the weights exceeds tfjs-wasm's 4 GiB heap in Node (it aborted).
 */
async function unetFwdBwd(unet: UNet2DConditionModel): Promise<void> {
  const b = fwdBwd(unet, BWD_LATENT, true);
  try {
    const r = await median(`UNet fwd+bwd ${BWD_LATENT}²`, BWD_REPEATS, b.run);
    metrics['unet_fwd_bwd_ms'] = r.ms;
    metrics['unet_fwd_bwd_peak_mib'] = r.peakMiB;
    if (BWD_LATENT !== LATENT) {
      const fwd = await median(`UNet fwd ${BWD_LATENT}² (for the ratio)`, 1, () => { const { sample, ehs, r: x } = unetInputs(BWD_LATENT); x.dispose(); const y = unet.forward(sample, 500, ehs); tf.dispose([sample, ehs]); return [y]; });
      metrics['unet_fwd_bwd_over_fwd'] = r.ms / fwd.ms;
    }
    notes['unet_fwd_bwd_ms'] = `measured at ${BWD_LATENT}² latents (batch ${BATCH}, gradients wrt latents and conditioning, checkpointing on: ${tf.getBackend() === 'wasm' ? DEFAULT_CHECKPOINTING_WASM : DEFAULT_CHECKPOINTING}); median of ${BWD_REPEATS} run(s) (BENCH_BWD_REPEATS)`;
  } catch (e) {
    metrics['unet_fwd_bwd_ms'] = null;
    metrics['unet_fwd_bwd_peak_mib'] = null;
    notes['unet_fwd_bwd_ms'] = `failed at ${BWD_LATENT}²: ${(e as Error).message.slice(0, 200)}`;
    console.log(`  UNet fwd+bwd ${BWD_LATENT}²: failed: ${(e as Error).message}`);
  }
  b.dispose();
  metrics['unet_fwd_bwd_latent'] = BWD_LATENT;
}
