/**
 * Reward benchmark (Node, tfjs-wasm): real CLIP ViT-L/14 + LAION aesthetic head and OpenCLIP ViT-H/14 (HPSv2)
 * shapes from sd15-shapes.json with random weights, one 512² image (the VAE's output size) per call:
 * forward and forward+backward (d reward / d image) wall time and peak tfjs memory (tf.profile peakBytes: total,
 * and above what was allocated before the call = activations/gradients).
 *
 *   npx tsx bench/rewards.ts [--smoke] [--reps N]
 *
 * --smoke builds every tower with 1 layer (checks the script quickly; prints only). Writes bench/results/rewards.json.
 * Memory: the wasm heap is 32-bit (4 GiB). ViT-H/14's image tower alone is 2.53 GB of float32 weights; it fits
 * with its backward only because the encoder layers are gradient-checkpointed (clip-transformer.ts). The HPS text
 * tower (1.4 GB) is built first, encodes the prompt once and is freed before the image tower is built.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { KeyShape } from '../src/model/params';
import { disposeParams } from '../src/model/nn';
import { aestheticExpectedKeys, loadAestheticHead } from '../src/rewards/aesthetic';
import { type ClipModelConfig, clipExpectedKeys, loadClipModel } from '../src/model/clip/clip-model';
import { type OpenClipModelCfg, loadOpenClipModel, openClipExpectedKeys } from '../src/model/clip/openclip-model';
import { clipPixelValues } from '../src/rewards/preprocess';
import { type RewardContext, type RewardId, encodeRewardText, getReward, mixScore } from '../src/rewards/registry';
import { lazyRandomStore, randomStore } from '../test/random-weights';
import { initNodeBackend } from '../tools/lib/tf-node';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const fixtures = path.resolve(root, process.env.FIXTURES_DIR ?? '../shared/fixtures');
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const reps = Number(args[args.indexOf('--reps') + 1] ?? 1) || 1;
const IMAGE = 512;
const MB = 2 ** 20;

const metrics: Record<string, number> = {};
const put = (k: string, v: number) => {
  metrics[k] = Math.round(v * 10) / 10;
  console.log(`  ${k.padEnd(52)} ${metrics[k]}`);
};

async function timeIt(f: () => void): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Peak tfjs bytes during `f` (absolute and above the starting point); `f` is also the warm-up run. */
async function peakOf(f: () => void): Promise<{ peak: number; above: number }> {
  const start = tf.memory().numBytes;
  const info = await tf.profile(() => {
    f();
    return null as unknown as tf.Tensor;
  });
  return { peak: info.peakBytes, above: info.peakBytes - start };
}

/** One reward at 512²: forward, forward+backward. Every call reads its result back (dataSync) so work is done. */
async function measure(name: string, score: (x: tf.Tensor4D) => tf.Tensor1D, image: tf.Tensor4D, modes: ('fwd' | 'bwd')[] = ['fwd', 'bwd']): Promise<void> {
  const fwd = () => tf.tidy(() => score(image).dataSync());
  const bwd = () => tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(score(x as tf.Tensor4D)))(image).dataSync());
  for (const mode of modes) {
    const run = mode === 'fwd' ? fwd : bwd;
    const n0 = tf.memory().numTensors;
    const mem = await peakOf(run);
    const ms = await timeIt(run);
    if (tf.memory().numTensors !== n0) throw new Error(`${name} ${mode}: leaked ${tf.memory().numTensors - n0} tensors`);
    const label = mode === 'fwd' ? 'forward' : 'fwd_bwd';
    put(`${name}_${label}_ms`, ms);
    put(`${name}_${label}_peak_MB`, mem.peak / MB);
    put(`${name}_${label}_peak_above_weights_MB`, mem.above / MB);
  }
}

const withLayers = <T>(cfg: T, edit: (c: T) => void): T => {
  const c = structuredClone(cfg);
  edit(c);
  return c;
};

async function benchClip(shapes: { config_essentials: ClipModelConfig }, image: tf.Tensor4D): Promise<void> {
  const cfg = smoke ? withLayers(shapes.config_essentials, (c) => { c.vision_config.num_hidden_layers = 1; c.text_config.num_hidden_layers = 1; }) : shapes.config_essentials;
  console.log('CLIP ViT-L/14 (+ LAION aesthetic head)');
  const before = tf.memory().numBytes;
  let t0 = performance.now();
  const store = lazyRandomStore(clipExpectedKeys(cfg) as KeyShape[], 21);
  const clip = loadClipModel(store, cfg);
  store.dispose();
  put('clip_l14_build_random_ms', performance.now() - t0);
  put('clip_l14_weights_MB', (tf.memory().numBytes - before) / MB);
  const headStore = randomStore(aestheticExpectedKeys(cfg.projection_dim), 22);
  const aesthetic = loadAestheticHead(headStore, cfg.projection_dim);
  headStore.dispose();

  const ids = tf.tensor2d([[49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 49407]], [1, 10], 'int32');
  t0 = performance.now();
  const text = encodeRewardText({ clip }, { clip: ids });
  text.clip!.dataSync();
  put('clip_l14_text_encode_L10_ms', performance.now() - t0);
  ids.dispose();

  const ctx: RewardContext = { models: { clip, aesthetic }, text };
  for (const id of ['aesthetic', 'clip'] as RewardId[]) await measure(id, (x) => getReward(id).score(x, ctx), image);
  await measure('mix_aesthetic_clip', (x) => mixScore({ aesthetic: 1, clip: 1 }, x, ctx), image, ['fwd']);
  await measure('aesthetic_antialias', (x) => getReward('aesthetic').score(x, { ...ctx, preprocess: { filter: 'bilinear-antialias' } }), image, ['fwd']);
  tf.dispose(text.clip!);
  disposeParams(clip);
  disposeParams(aesthetic);
}

async function benchHps(shapes: { open_clip_model_config: OpenClipModelCfg }, image: tf.Tensor4D): Promise<void> {
  const cfg = smoke ? withLayers(shapes.open_clip_model_config, (c) => { c.vision_cfg.layers = 1; c.text_cfg.layers = 1; }) : shapes.open_clip_model_config;
  console.log('OpenCLIP ViT-H/14 (HPSv2)');
  // Text tower first (1.4 GB), encode the prompt once, free it: both towers together would not fit next to the
  // backward pass in the 4 GiB wasm heap.
  let store = lazyRandomStore(openClipExpectedKeys(cfg, ['text']) as KeyShape[], 31);
  const textModel = loadOpenClipModel(store, cfg, ['text']);
  store.dispose();
  const ids = tf.tensor2d([[49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 49407, ...new Array(67).fill(0)]], [1, 77], 'int32');
  let t0 = performance.now();
  const text = encodeRewardText({ hps: textModel }, { hps: ids });
  text.hps!.dataSync();
  put('hps_text_encode_ms', performance.now() - t0);
  ids.dispose();
  disposeParams(textModel);

  const before = tf.memory().numBytes;
  t0 = performance.now();
  store = lazyRandomStore(openClipExpectedKeys(cfg, ['vision']) as KeyShape[], 32);
  const vision = loadOpenClipModel(store, cfg, ['vision']);
  store.dispose();
  put('hps_h14_vision_build_random_ms', performance.now() - t0);
  put('hps_h14_vision_weights_MB', (tf.memory().numBytes - before) / MB);
  await measure('hps', (x) => getReward('hps').score(x, { models: { hps: vision }, text }), image);
  disposeParams(vision);
  tf.dispose(text.hps!);
}

async function main(): Promise<void> {
  const backend = await initNodeBackend();
  const shapes = JSON.parse(fs.readFileSync(path.join(fixtures, 'sd15-shapes.json'), 'utf8'));
  put('load_average_1min_at_start', os.loadavg()[0]!);
  console.log(`reward benchmark: backend ${backend}, ${IMAGE}² input, reps ${reps}${smoke ? ', SMOKE (1 layer per tower)' : ''}`);
  const image = tf.randomUniform([1, IMAGE, IMAGE, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  for (const filter of ['bilinear', 'bilinear-antialias'] as const) {
    const f = () => tf.tidy(() => clipPixelValues(image, 224, { filter }).dataSync());
    f();
    put(`preprocess_512_to_224_${filter.replace('-', '_')}_ms`, await timeIt(f));
  }
  await benchClip(shapes.clip_vit_l14, image);
  await benchHps(shapes.openclip_vit_h14, image);
  image.dispose();

  const cpus = os.cpus();
  // Shared CI/dev machines: the 1-minute load average says how much the timings were contended.
  put('load_average_1min_at_end', os.loadavg()[0]!);
  const out = {
    machine: `${cpus[0]?.model ?? 'cpu'} ×${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, tfjs ${tf.version.tfjs} ${backend}${smoke ? ' (SMOKE: 1 layer per tower)' : ''}`,
    date: new Date().toISOString(),
    metrics,
  };
  console.log(`\n${out.machine}\n${'metric'.padEnd(52)} value\n${'-'.repeat(62)}`);
  for (const [k, v] of Object.entries(metrics)) console.log(`${k.padEnd(52)} ${v}`);
  if (smoke) return;
  const file = path.join(root, 'bench', 'results', 'rewards.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(root, file)}`);
}

await main();
