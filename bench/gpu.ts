/**
 * npm run bench:gpu — what SD1.5 holds on a GPU, and what the packed kernels cost, on WebGPU in Node (Dawn).
 * Run by `tools/with-node-webgpu.sh --lavapipe`: Mesa's lavapipe, a software Vulkan device that keeps "GPU"
 * memory in host RAM, so full-size models load here; tfjs-webgpu's own byte counters give the resident bytes.
 *
 * Weights part (issue: weights stay packed on the GPU):
 * - resident bytes of each model at SD1.5 / CLIP-L / ViT-H shapes with random weights (full, not shared), loaded
 *   through the app's streaming loader (loadFromSource) from a source that draws each tensor when it is read;
 * - load_host_peak_mb: peak growth of heapUsed + arrayBuffers while the UNet loads (the host-side copies);
 * - qlinear_over_fp32 / qconv_over_fp32: the packed int8 kernel's time over tfjs's float32 kernel at SD1.5 layer
 *   shapes, same device, same run (medians of BENCH_REPEATS after a warm-up);
 * - precision_error_*: the tiny pipeline's image rel-L2 against fp32 with one component at fp16 / int8 (how the
 *   defaults were chosen), on wasm.
 * - precision_error_sd15_*: each component's output at fp16 / int8 against fp32 at real shapes, random weights.
 * - attention_fused_over_naive (+ _fwd_bwd_): the fused attention over the query-chunked tfjs ops at SD1.5's 64² self-attention.
 * - ipgo_peak_gpu_mb_*: one IPGO update's peak GPU memory at SD1.5 shapes (bench/ipgo-memory.ts on a counting
 *   null device), per phase, and preflight_error; conv_backprop_input_tiled_over_tfjs (kernels part).
 * Writes bench/results/gpu.json (BENCH_PARTS=weights,kernels,attention,ipgo,sd15-precision,precision selects parts).
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ClipModel, type ClipModelConfig, clipBinding, clipImageEmbeds } from '../src/model/clip/clip-model';
import { type OpenClipModel, type OpenClipModelCfg, openClipBinding, openClipImageFeatures } from '../src/model/clip/openclip-model';
import { type ClipTextConfig, type ClipTextModel, clipTextBinding, clipTextForward } from '../src/model/clip/text-model';
import { packedConv2d, packedConv2dInputGrad, packedMatMul } from '../src/model/kernels/packed-ops';
import { chunkedAttention } from '../src/model/unet/attention';
import { disposePacked } from '../src/model/kernels/packed-weight';
import { loadStableDiffusion } from '../src/model/load-pipeline';
import { disposeParams } from '../src/model/nn';
import { type ModelBinding, type WeightSource, declaredParams, loadFromSource } from '../src/model/params';
import { disposeStableDiffusion, textToImage } from '../src/model/pipeline';
import { ALL_FP32, DEFAULT_PRECISION, type ModelComponent, type WeightPrecision, packFloatWeight } from '../src/model/precision';
import type { UNetConfigJson } from '../src/model/unet/config';
import { type UNet2DConditionModel, unetBinding } from '../src/model/unet/unet';
import { type AutoencoderKL, vaeBinding } from '../src/model/vae/autoencoder-kl';
import { fsModelFiles } from '../tools/lib/fs-model-files';
import { initNodeBackend } from '../tools/lib/tf-node';
import { makeTinyModel } from '../tools/make-tiny-model';
import { writeBenchResults } from './lib/results';
import { decoderParameterCount, predictUpdatePeak } from '../src/ipgo/preflight';
import { submitPendingWork } from '../src/model/gpu-memory';
import { parseVaeConfig } from '../src/model/vae/config';

const env = process.env;
const REPEATS = Number(env.BENCH_REPEATS ?? 3);
const MiB = 2 ** 20;
const fixtures = path.resolve(env.FIXTURES_DIR ?? '../shared/fixtures');
const shapesFile = path.join(fixtures, 'sd15-shapes.json');
if (!fs.existsSync(shapesFile)) throw new Error(`${shapesFile} not found: set FIXTURES_DIR to the fixtures folder`);
const shapes = JSON.parse(fs.readFileSync(shapesFile, 'utf8')) as {
  sd15: { unet: { config_json: UNetConfigJson }; vae: { config_json: Record<string, unknown> }; text_encoder: { config_json: ClipTextConfig } };
  clip_vit_l14: { config_essentials: ClipModelConfig };
  openclip_vit_h14: { open_clip_model_config: OpenClipModelCfg };
};

const metrics: Record<string, number | null> = {};
const notes: Record<string, string> = {};
const log = (m: string) => process.stderr.write(`${m}\n`);

/** Bytes tfjs-webgpu holds in buffers for live tensors (its pool of freed buffers not included). */
const gpuBytes = (): number => (tf.memory() as tf.MemoryInfo & { numBytesInGPU: number }).numBytesInGPU;
/** Submits pending device work, so buffers waiting on it are returned and the counters settle. */
const flush = submitPendingWork;
const hostBytes = (): number => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };

/**
 * Every declared tensor of a binding, drawn when read: uniform with the std of N(0, 1/fan_in) (weights) or small
 * values (1-D), deterministic per key. Samples the host bytes at every read (the loader awaits each one).
 */
function randomSource<T>(b: ModelBinding<T>, onRead: () => void = () => {}): WeightSource {
  const specs = declaredParams(b.build).filter((s) => !s.optional);
  return {
    listing: specs.map(({ key, shape }) => ({ key, shape })),
    read: async (key) => {
      onRead();
      const shape = specs.find((s) => s.key === key)!.shape;
      const n = shape.reduce((a, c) => a * c, 1);
      const fanIn = shape.length > 1 ? n / shape[0]! : 1;
      const half = Math.sqrt(3 / fanIn);
      let s = [...key].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261) >>> 0;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        data[i] = (s / 4294967296 * 2 - 1) * half;
      }
      return { shape, data };
    },
  };
}

async function residentMb<T>(name: string, binding: ModelBinding<T>): Promise<number> {
  const before = gpuBytes();
  const t0 = performance.now();
  const model = await loadFromSource(randomSource(binding), binding.build, binding.opts);
  const mb = (gpuBytes() - before) / MiB;
  log(`${name}: ${mb.toFixed(1)} MiB resident, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  disposeParams(model);
  flush();
  if (gpuBytes() !== before) throw new Error(`${name}: ${gpuBytes() - before} bytes left on the device after dispose`);
  return mb;
}

const sd = shapes.sd15;
const unet = (p: WeightPrecision) => unetBinding(sd.unet.config_json, { precision: p });
const vaeDecoder = (p: WeightPrecision) => vaeBinding(sd.vae.config_json, { decoderOnly: true, precision: p });
const textEncoder = (p: WeightPrecision) => clipTextBinding(sd.text_encoder.config_json, p);
const clipVision = (p: WeightPrecision) => clipBinding(shapes.clip_vit_l14.config_essentials, ['vision'], p);
const vitHVision = (p: WeightPrecision) => openClipBinding(shapes.openclip_vit_h14.open_clip_model_config, ['vision'], p);

async function weightsPart(): Promise<void> {
  for (const p of ['fp32', 'fp16', 'int8'] as const) metrics[`resident_mb_unet_${p}`] = await residentMb(`UNet ${p}`, unet(p));
  const d = DEFAULT_PRECISION;
  metrics.resident_mb_vae_decoder = await residentMb(`VAE decoder ${d.vaeDecoder}`, vaeDecoder(d.vaeDecoder));
  metrics.resident_mb_text_encoder = await residentMb(`text encoder ${d.textEncoder}`, textEncoder(d.textEncoder));
  metrics.resident_mb_clip_l_vision = await residentMb(`CLIP-L vision ${d.clipVision}`, clipVision(d.clipVision));
  metrics.resident_mb_vit_h_vision = await residentMb(`ViT-H vision ${d.vitHVision}`, vitHVision(d.vitHVision));
  notes.resident = `default policy ${JSON.stringify(d)}; each model loaded alone through loadFromSource, bytes from tf.memory().numBytesInGPU`;

  // the SD1.5 set held together at the default policy (what a tuning run keeps loaded besides its reward towers)
  const before = gpuBytes();
  const models = [];
  for (const b of [unet(d.unet), vaeDecoder(d.vaeDecoder), textEncoder(d.textEncoder)] as ModelBinding<unknown>[]) {
    models.push(await loadFromSource(randomSource(b), b.build, b.opts));
  }
  metrics.resident_mb_sd15_default = (gpuBytes() - before) / MiB;
  disposeParams(models);

  // host-side peak while the UNet loads at the default precision
  const b = unet(d.unet);
  const base = hostBytes();
  let peak = base;
  const sample = () => { peak = Math.max(peak, hostBytes()); };
  const timer = setInterval(sample, 2);
  const model = await loadFromSource(randomSource(b, sample), b.build, b.opts);
  sample();
  clearInterval(timer);
  metrics.load_host_peak_mb = (peak - base) / MiB;
  notes.load_host_peak_mb = `UNet at ${d.unet}: peak growth of process.memoryUsage() heapUsed + arrayBuffers, sampled at every tensor read and every 2 ms (no forced GC)`;
  disposeParams(model);
}

/**
 * Deterministic host values (a tensor made on the device cannot be read back synchronously in Node, so inputs are
 * made on the host): sin-spread over [−amplitude, amplitude].
 */
const host = (n: number, seed: number, amplitude = 0.5) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7919 + i * 12.9898) * amplitude);
const rnd = (shape: number[], seed: number, amplitude = 0.5) => tf.tensor(host(shape.reduce((a, c) => a * c, 1), seed, amplitude), shape);

/** Median wall time of `f` (ms) after one warm-up, reading back one value so the device work is included. */
async function timeMs(f: () => tf.Tensor, repeats = REPEATS): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    const y = f();
    const s = tf.sum(y);
    await s.data();
    tf.dispose([y, s]);
    return performance.now() - t0;
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) times.push(await once());
  times.sort((a, c) => a - c);
  return times[times.length >> 1]!;
}

/**
 * This machine's speed drifts by ±15 % between minutes, so the two kernels are timed back to back in each of
 * BENCH_ROUNDS rounds (order alternating) and the median of the per-round ratios is reported.
 */
async function ratioInRounds(reference: () => tf.Tensor, candidate: () => tf.Tensor, rounds = Number(env.BENCH_ROUNDS ?? 5), repeats = REPEATS): Promise<{ ratio: number; note: string }> {
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [a, b] = r % 2 ? [await timeMs(candidate, repeats), await timeMs(reference, repeats)] : [0, 0];
    const ref = r % 2 ? b : await timeMs(reference, repeats);
    const cand = r % 2 ? a : await timeMs(candidate, repeats);
    ratios.push(cand / ref);
  }
  const sorted = [...ratios].sort((p, q) => p - q);
  return { ratio: sorted[sorted.length >> 1]!, note: `median of ${rounds} rounds, per-round ratios ${ratios.map((x) => x.toFixed(3)).join(', ')}` };
}

async function kernelsPart(): Promise<void> {
  // SD1.5 shapes: a transformer projection at the 32² latent level (batch 2: 2048 tokens × 640), and a 3×3
  // resnet conv at the 16² level (640 → 640 channels), where both kernels run for seconds on a software device
  const [m, k, n] = [2048, 640, 640];
  const wl = rnd([n, k], 1);
  const ql = packFloatWeight('bench.linear', [n, k], host(n * k, 1), 'int8', [n, k])!;
  const x = rnd([m, k], 2) as tf.Tensor2D;
  const linear = await ratioInRounds(() => tf.matMul(x, wl as tf.Tensor2D, false, true), () => packedMatMul(x, ql));
  metrics.qlinear_over_fp32 = linear.ratio;
  notes.qlinear_over_fp32 = `x [${m}, ${k}] · Wᵀ [${n}, ${k}], int8 over tfjs float32 matMul: ${linear.note}`;

  const [b, h, c] = [2, 16, 640];
  const wc = rnd([c, c, 3, 3], 3);
  const qc = packFloatWeight('bench.conv', [c, c, 3, 3], host(c * c * 9, 3), 'int8', [3, 3, c, c])!;
  const filter = tf.tidy(() => tf.transpose(wc, [2, 3, 1, 0])) as tf.Tensor4D;
  const xc = rnd([b, h, h, c], 4) as tf.Tensor4D;
  const pad: tf.backend_util.ExplicitPadding = [[0, 0], [1, 1], [1, 1], [0, 0]];
  const conv = await ratioInRounds(() => tf.conv2d(xc, filter, 1, pad), () => packedConv2d(xc, qc, { kh: 3, kw: 3, stride: 1, pad: 1 }));
  metrics.qconv_over_fp32 = conv.ratio;
  notes.qconv_over_fp32 = `[${b}, ${h}, ${h}, ${c}] 3×3 → ${c}, int8 over tfjs float32 conv2d: ${conv.note}`;
  tf.dispose([wl, x, wc, filter, xc]);
  disposePacked(ql);
  disposePacked(qc);
  await convBackpropInput();
}

/**
 * The input gradient of SD1.5 UNet 3×3 convolutions (what IPGO's backward runs through the UNet): the packed
 * GEMM's transposed-convolution reader on the int8 weight against tfjs-webgpu's Conv2DBackpropInput on the float32
 * filter, same device, same run; the metric is the worst shape's ratio.
 */
async function convBackpropInput(): Promise<void> {
  const ratios: string[] = [];
  let worst = 0;
  for (const [b, h, c] of [[2, 16, 640], [2, 32, 320]] as const) {
    const wc = host(c * c * 9, 5);
    const q = packFloatWeight('bench.convT', [c, c, 3, 3], wc, 'int8', [3, 3, c, c])!;
    const filter = tf.tidy(() => tf.transpose(tf.tensor4d(wc, [c, c, 3, 3]), [2, 3, 1, 0])) as tf.Tensor4D;
    const dy = rnd([b, h, h, c], 6) as tf.Tensor4D;
    const r = await ratioInRounds(
      () => tf.conv2dTranspose(dy, filter, [b, h, h, c], 1, 'same'),
      () => packedConv2dInputGrad(dy, q, { kh: 3, kw: 3, stride: 1, pad: 1 }, [b, h, h, c]), 3, 1);
    worst = Math.max(worst, r.ratio);
    ratios.push(`dy [${b}, ${h}, ${h}, ${c}] 3×3: ${r.ratio.toFixed(3)} (${r.note})`);
    tf.dispose([filter, dy]);
    disposePacked(q);
  }
  metrics.conv_backprop_input_tiled_over_tfjs = worst;
  notes.conv_backprop_input_tiled_over_tfjs = `packed int8 input-gradient conv over tfjs Conv2DBackpropInput (float32), worst of: ${ratios.join('; ')}`;
}

/** The fused attention against the query-chunked tfjs ops (issue 13), forward and forward + backward. */
async function attentionPart(): Promise<void> {
  // issue 13's attention: SD1.5's 64² self-attention (4096 tokens, 8 heads of 40, batch 2), forward and backward
  const [ab, al, heads, hd] = [2, 4096, 8, 40];
  const [aq, ak, av] = [1, 2, 3].map((sd) => rnd([ab, al, heads * hd], 10 + sd)) as tf.Tensor3D[];
  const ar = rnd([ab, al, heads * hd], 14);
  const fwdBwd = (fused: boolean) => () => {
    const [gq, gk, gv] = tf.grads((a: tf.Tensor, b2: tf.Tensor, c2: tf.Tensor) =>
      tf.sum(tf.mul(chunkedAttention(a as tf.Tensor3D, b2 as tf.Tensor3D, c2 as tf.Tensor3D, heads, undefined, fused), ar)))([aq!, ak!, av!]);
    const total = tf.tidy(() => tf.add(tf.add(tf.sum(gq!), tf.sum(gk!)), tf.sum(gv!)));
    tf.dispose([gq!, gk!, gv!]);
    return total;
  };
  // a few seconds per call on a software device: fewer rounds, one timed call after the warm-up
  const attention = await ratioInRounds(() => chunkedAttention(aq!, ak!, av!, heads, undefined, false), () => chunkedAttention(aq!, ak!, av!, heads), 3, 1);
  metrics.attention_fused_over_naive = attention.ratio;
  notes.attention_fused_over_naive = `forward, [${ab}, ${al}, ${heads}×${hd}]: fused kernel over the query-chunked tfjs ops (64 MiB score blocks): ${attention.note}`;
  const attentionBwd = await ratioInRounds(fwdBwd(false), fwdBwd(true), 1, 1);
  metrics.attention_fwd_bwd_fused_over_naive = attentionBwd.ratio;
  notes.attention_fwd_bwd_fused_over_naive = `forward + backward (dq, dk, dv), same shapes: ${attentionBwd.note}`;
  tf.dispose([aq!, ak!, av!, ar]);
}

/**
 * Each component at SD1.5 / CLIP-L / ViT-H shapes with random weights (the same values at every precision), run once
 * at fp32, fp16 and int8 on the device: the output's rel-L2 against fp32. Inputs kept small so that a software
 * device runs them in seconds: UNet at 8×8 latents (batch 1, 77 tokens), VAE decoder 8×8 → 64×64, text encoder 77
 * tokens, vision towers at 56×56 pixels (their position tables sized to it).
 */
async function sd15PrecisionPart(): Promise<void> {
  const input = (shape: number[], seed: number) => rnd(shape, seed, 1);
  const vision56 = <T>(c: T & { vision_config?: { image_size: number } }) => ({ ...c, vision_config: { ...c.vision_config!, image_size: 56 } });
  const clip56 = vision56(shapes.clip_vit_l14.config_essentials);
  const h = shapes.openclip_vit_h14.open_clip_model_config;
  const vitH56 = { ...h, vision_cfg: { ...h.vision_cfg, image_size: 56 } };
  const cases: { name: string; binding: (p: WeightPrecision) => ModelBinding<unknown>; run: (m: never) => tf.Tensor }[] = [
    { name: 'unet', binding: unet, run: (m: UNet2DConditionModel) => m.forward(input([1, 8, 8, 4], 1) as tf.Tensor4D, 500, input([1, 77, 768], 2) as tf.Tensor3D) },
    { name: 'vaeDecoder', binding: vaeDecoder, run: (m: AutoencoderKL) => m.decode(input([1, 8, 8, 4], 3) as tf.Tensor4D) },
    { name: 'textEncoder', binding: textEncoder, run: (m: ClipTextModel) => clipTextForward(m, tf.tensor2d([Array.from({ length: 77 }, (_, i) => (i * 7919) % 49406)], undefined, 'int32')).lastHiddenState },
    { name: 'clipVision', binding: (p) => clipBinding(clip56, ['vision'], p), run: (m: ClipModel) => clipImageEmbeds(m, input([1, 56, 56, 3], 4) as tf.Tensor4D) },
    { name: 'vitHVision', binding: (p) => openClipBinding(vitH56, ['vision'], p), run: (m: OpenClipModel) => openClipImageFeatures(m, input([1, 56, 56, 3], 5) as tf.Tensor4D) },
  ];
  for (const c of cases) {
    const outputs: Partial<Record<WeightPrecision, Float32Array>> = {};
    for (const p of ['fp32', 'fp16', 'int8'] as const) {
      const b = c.binding(p);
      const model = await loadFromSource(randomSource(b), b.build, b.opts);
      const t0 = performance.now();
      const y = tf.tidy(() => c.run(model as never));
      outputs[p] = Float32Array.from(await y.data());
      y.dispose();
      disposeParams(model);
      flush();
      log(`${c.name} ${p}: ran in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const ref = outputs.fp32!;
    const rel = (a: Float32Array) => Math.sqrt(a.reduce((s2, v, i) => s2 + (v - ref[i]!) ** 2, 0) / ref.reduce((s2, v) => s2 + v * v, 0));
    metrics[`precision_error_sd15_${c.name}_fp16`] = rel(outputs.fp16!);
    metrics[`precision_error_sd15_${c.name}_int8`] = rel(outputs.int8!);
  }
  notes.precision_error_sd15 = 'real shapes, random weights (uniform, std 1/√fan_in), one output per component at fp16 / int8 against fp32: '
    + 'UNet 8×8 latents + 77 tokens, VAE decoder 8×8 → 64×64, text encoder 77 tokens, CLIP-L / ViT-H vision at 56×56';
}

/** The tiny pipeline's image with one component at `precision`, against all-fp32 (wasm). */
async function precisionPart(): Promise<void> {
  await initNodeBackend('wasm');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gpu-'));
  makeTinyModel(root);
  const files = () => fsModelFiles(path.join(root, 'tiny-sd'));
  const render = async (policy: Partial<typeof ALL_FP32>) => {
    const s = await loadStableDiffusion(files(), () => {}, policy);
    const { image, latents } = await textToImage(s, {
      prompt: 'a watercolor painting of a lighthouse at dusk', padding: 'max_length', steps: 4, guidanceScale: 7.5,
      scheduler: 'lms', height: 64, width: 64, seed: 42,
    });
    const px = Float32Array.from(await image.data());
    tf.dispose([image, latents]);
    disposeStableDiffusion(s);
    return px;
  };
  const ref = await render(ALL_FP32);
  const relL2 = (a: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - ref[i]!) ** 2, 0) / ref.reduce((s, v) => s + v * v, 0));
  for (const component of ['unet', 'vaeDecoder', 'textEncoder'] as ModelComponent[]) {
    for (const p of ['fp16', 'int8'] as const) metrics[`precision_error_${component}_${p}`] = relL2(await render({ ...ALL_FP32, [component]: p }));
  }
  metrics.precision_error_default = relL2(await render(DEFAULT_PRECISION));
  notes.precision_error = 'tiny pipeline (random weights), 4 LMS steps at 64×64: final image rel-L2 against all-fp32 with only that component changed';
  fs.rmSync(root, { recursive: true, force: true });
}

/**
 * One IPGO update's GPU memory at SD1.5 shapes, 256² and 512², aesthetic and HPSv2 (bench/ipgo-memory.ts, in a
 * child process on the counting null device), and the preflight's prediction of each peak (preflight_error: the
 * worst |predicted − measured| / measured).
 */
async function ipgoPart(): Promise<void> {
  const run = (extra: Record<string, string>) => {
    const out = execFileSync('npx', ['tsx', 'bench/ipgo-memory.ts'], { env: { ...env, ...extra }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    return JSON.parse(out.trim().split('\n').pop()!) as { metrics: Record<string, number>; notes: Record<string, string> };
  };
  const r = run({});
  Object.assign(metrics, r.metrics);
  Object.assign(notes, r.notes);
  const vae = parseVaeConfig(sd.vae.config_json);
  const unetWidth = (sd.unet.config_json as { block_out_channels: number[] }).block_out_channels[0]!;
  const decoderParams = decoderParameterCount(sd.vae.config_json);
  const errors: string[] = [];
  let worst = 0;
  for (const reward of ['aesthetic', 'hps']) {
    for (const size of [256, 512]) {
      const measured = r.metrics[`ipgo_peak_gpu_mb_${size}_${reward}`]!;
      const residentBytes = (r.metrics.resident_mb_sd15_update! + r.metrics[`resident_mb_reward_${reward}`]!) * MiB;
      const predicted = predictUpdatePeak({
        residentBytes, latentHeight: size / 8, latentWidth: size / 8, vaeScale: 8, unetWidth, vaeWidth: vae.blockOutChannels[0]!, decoderParams,
      }).peak / MiB;
      const e = Math.abs(predicted - measured) / measured;
      worst = Math.max(worst, e);
      errors.push(`${reward} ${size}²: predicted ${predicted.toFixed(0)} MiB, measured ${measured.toFixed(0)} MiB (${(e * 100).toFixed(1)} %)`);
    }
  }
  metrics.preflight_error = worst;
  notes.preflight_error = errors.join('; ');
  const noPlan = run({ BENCH_MEMORY_PLAN: '0' });
  for (const [k, v] of Object.entries(noPlan.metrics)) if (k.startsWith('ipgo_peak_gpu_mb_')) metrics[`${k}_no_pool_release`] = v;
  notes.ipgo_no_pool_release = 'the same updates with the buffer pool kept between phases (tfjs-webgpu\'s default): what the pool release saves';
}

const backend = await initNodeBackend('webgpu');
const adapterNote = env.VK_ICD_FILENAMES ?? 'default Vulkan driver';
notes.device = `tfjs ${backend} on Dawn (webgpu npm), Vulkan ICD ${adapterNote}`;
log(notes.device);
// BENCH_PARTS=kernels (say) runs one part; results of the parts not run are kept from the last full run
const ALL_PARTS = ['weights', 'kernels', 'attention', 'ipgo', 'sd15-precision', 'precision'];
const parts = (env.BENCH_PARTS ?? ALL_PARTS.join(',')).split(',');
const previous = fs.existsSync('bench/results/gpu.json') && parts.length < ALL_PARTS.length
  ? (JSON.parse(fs.readFileSync('bench/results/gpu.json', 'utf8')) as { metrics: typeof metrics; notes: typeof notes }) : null;
if (previous) { Object.assign(metrics, previous.metrics); Object.assign(notes, previous.notes); }
if (parts.includes('weights')) await weightsPart();
if (parts.includes('kernels')) await kernelsPart();
if (parts.includes('attention')) await attentionPart();
if (parts.includes('ipgo')) await ipgoPart();
if (parts.includes('sd15-precision')) await sd15PrecisionPart();
if (parts.includes('precision')) await precisionPart();
writeBenchResults('gpu', metrics, notes);
