/**
 * A real-GPU check of the model code through WebGPU in Node (Dawn's `webgpu` package, the same WGSL kernels
 * Chrome runs): run on a lent GPU machine by bench/gpu/run-device-check.sh, never in CI.
 *  1. numerics: the built-in tiny pipeline (tools/make-tiny-model) on webgpu vs the cpu backend (rel L2);
 *  2. the IPGO objective's gradient on webgpu vs cpu (tiny model, K = 2);
 *  3. speed at SD1.5 shapes (random weights): one UNet forward at 64×64 latents, batch 2 (CFG), and one
 *     forward+backward w.r.t. the conditioning (checkpointed), with the device's peak memory from tf.memory().
 * Prints one JSON object on stdout.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTinyModel } from '../../tools/make-tiny-model';
import { fsModelFiles } from '../../tools/lib/fs-model-files';
import { loadStableDiffusion } from '../../src/model/load-pipeline';
import { declaredParams, loadFromSource, type WeightSource } from '../../src/model/params';
import { disposeStableDiffusion, textToImage } from '../../src/model/pipeline';
import { type UNet2DConditionModel, unetBinding } from '../../src/model/unet/unet';
import { PARAM_NAMES } from '../../src/ipgo/params';
import { tinyIpgoEvaluation } from '../../test/tiny-ipgo';
import { installNodeWebGpu } from '../../tools/lib/tf-node';

const out: Record<string, unknown> = {};
const log = (m: string) => process.stderr.write(m + '\n');

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i]! - b[i]!) ** 2; d += b[i]! ** 2; }
  return Math.sqrt(n / Math.max(d, 1e-30));
}

async function useBackend(name: string) {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed`);
  await tf.ready();
}

async function tinyRun(root: string) {
  const sd = await loadStableDiffusion(fsModelFiles(path.join(root, 'tiny-sd')));
  const { image, latents } = await textToImage(sd, { prompt: 'a red fox in the snow', padding: 'unpadded', steps: 4, guidanceScale: 7.5, scheduler: 'lms', height: 64, width: 64, seed: 3 });
  const px = Float32Array.from(await image.data());
  tf.dispose([image, latents]);
  const { loss, grads } = await tinyIpgoEvaluation(root, sd);
  disposeStableDiffusion(sd);
  return { px, loss, grads };
}

/**
 * SD1.5 UNet at its real shapes for timing: constant weights, because drawing 860 M random numbers in JS would
 * take longer than the measurement; kernel time does not depend on the values.
 */
async function randomSd15Unet(config: Record<string, unknown>): Promise<UNet2DConditionModel> {
  const b = unetBinding(config as never);
  const specs = declaredParams(b.build);
  const source: WeightSource = {
    listing: specs.map(({ key, shape }) => ({ key, shape })),
    read: async (key) => {
      const shape = specs.find((s) => s.key === key)!.shape;
      const fan = shape.slice(1).reduce((a, c) => a * c, 1) || 1;
      const norm = /norm/.test(key) && key.endsWith('.weight');
      return { shape, data: new Float32Array(shape.reduce((a, c) => a * c, 1)).fill(norm ? 1 : key.endsWith('.weight') ? 0.5 / Math.sqrt(fan) : 0.01) };
    },
  };
  return loadFromSource(source, b.build, b.opts);
}

async function timed(f: () => Promise<void>, reps = 3): Promise<number> {
  await f(); // warm-up (shader compilation)
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); await f(); ts.push(performance.now() - t0); }
  return ts.sort((a, b) => a - b)[reps >> 1]!;
}

async function main() {
  // Dawn for Node (`webgpu`) stays external to the bundle: build-device-bundle.sh ships it beside it.
  const adapter = await installNodeWebGpu();
  out.adapter = { info: (adapter as unknown as { info?: unknown }).info, maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-check-'));
  makeTinyModel(root);
  await useBackend('cpu');
  const ref = await tinyRun(root);
  await useBackend('webgpu');
  const gpu = await tinyRun(root);
  out.tiny_image_rel_l2_webgpu_vs_cpu = relL2(gpu.px, ref.px);
  out.tiny_loss = { cpu: ref.loss, webgpu: gpu.loss };
  out.tiny_grad_rel_l2_webgpu_vs_cpu = Object.fromEntries(PARAM_NAMES.map((n) => [n, relL2(gpu.grads[n]!, ref.grads[n]!)]));
  log(JSON.stringify(out));
  if (process.env.SKIP_SD15) return;

  const shapes = JSON.parse(fs.readFileSync(process.env.SD15_SHAPES ?? 'sd15-shapes.json', 'utf8')) as { sd15: { unet: { config_json: Record<string, unknown> } } };
  const unet = await randomSd15Unet(shapes.sd15.unet.config_json);
  const x = tf.randomNormal([2, 64, 64, 4]) as tf.Tensor4D;
  const ehs = tf.randomNormal([2, 77, 768]) as tf.Tensor3D;
  out.unet_weights_mb = tf.memory().numBytes / 2 ** 20;
  out.unet_fwd_64_b2_ms = await timed(async () => { const y = unet.forward(x, 500, ehs); await y.data(); y.dispose(); });
  log(JSON.stringify(out));
  const base = tf.memory().numBytes;
  let peak = 0;
  out.unet_fwd_bwd_64_b2_ms = await timed(async () => {
    const prof = await tf.profile(async () => {
      const g = tf.grad((c: tf.Tensor) => tf.sum(unet.forward(x, 500, c as tf.Tensor3D)))(ehs);
      await g.data(); g.dispose();
    });
    peak = Math.max(peak, prof.peakBytes - base);
  }, 1);
  out.unet_fwd_bwd_peak_above_weights_mb = peak / 2 ** 20;
  unet.dispose();
}

main().then(() => console.log(JSON.stringify(out)), (e) => { out.error = String(e?.stack ?? e); console.log(JSON.stringify(out)); process.exitCode = 1; });
