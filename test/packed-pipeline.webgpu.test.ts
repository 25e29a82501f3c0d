/**
 * GPU-resident packed weights on the tiny pipeline, on WebGPU in Node: the UNet, VAE decoder and text encoder
 * bound at int8 / fp16 keep the final image within the stored-weights bounds of test/quantized-pipeline.test.ts
 * (rel-L2 2e-2 and 1e-3 of fp32), hold fewer device bytes than fp32 (and exactly the packed bytes plus the float
 * norms, biases and embeddings: no float32 copy of a packed weight is left), and run one IPGO evaluation whose
 * gradients equal, to float rounding, those of the same model with every packed weight widened to float32 and run
 * by tfjs's own kernels (the kernels are exact; what differs from fp32 is the quantization alone, reported and
 * bounded). Same prompt, seed and noise; 2 LMS steps at 64×64, and the IPGO gradient through both (K = 2): on a
 * software GPU the time goes with the number of UNet evaluations, not with the image size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { PARAM_NAMES } from '../src/ipgo/params';
import { packedConvFilter } from '../src/model/kernels/packed-ops';
import { type PackedMatrix, disposePacked, isPacked, packedBytes } from '../src/model/kernels/packed-weight';
import { loadStableDiffusion } from '../src/model/load-pipeline';
import { type StableDiffusion, disposeStableDiffusion, textToImage } from '../src/model/pipeline';
import type { PrecisionPolicy, WeightPrecision } from '../src/model/precision';
import { fsModelFiles } from '../tools/lib/fs-model-files';
import { makeTinyModel } from '../tools/make-tiny-model';
import { relL2 } from './golden';
import { tinyIpgoEvaluation } from './tiny-ipgo';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'packed-pipeline-'));
makeTinyModel(root);
const files = () => fsModelFiles(path.join(root, 'tiny-sd'));
const STEPS = 2;
const policy = (p: WeightPrecision): Partial<PrecisionPolicy> => ({ unet: p, vaeDecoder: p, textEncoder: p });

/** Device bytes a model set must hold: packed matrices at their packed size, every other tensor as float32. */
function expectedBytes(sd: StableDiffusion): number {
  const seen = new Set<unknown>();
  let bytes = 0;
  const visit = (o: unknown): void => {
    if (o === null || typeof o !== 'object' || seen.has(o)) return;
    seen.add(o);
    if (isPacked(o)) { bytes += packedBytes(o); return; }
    if (o instanceof tf.Tensor) { bytes += o.size * 4; return; }
    for (const v of Array.isArray(o) ? o : Object.values(o)) visit(v);
  };
  visit([sd.textEncoder, sd.unet, sd.vae]);
  return bytes;
}

async function render(sd: StableDiffusion): Promise<Float32Array> {
  const { image, latents } = await textToImage(sd, {
    prompt: 'a watercolor painting of a lighthouse at dusk', padding: 'max_length', steps: STEPS, guidanceScale: 7.5,
    scheduler: 'lms', height: 64, width: 64, seed: 42,
  });
  const px = Float32Array.from(await image.data());
  tf.dispose([image, latents]);
  return px;
}

async function ipgoEvaluation(sd: StableDiffusion) {
  const { loss, grads } = await tinyIpgoEvaluation(root, sd, STEPS);
  return { loss, grads: Float32Array.from(PARAM_NAMES.flatMap((n) => [...grads[n]!])) };
}

describe('packed weights on the tiny pipeline (WebGPU in Node)', () => {
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const reference: { px?: Float32Array; bytes?: number; ipgo?: { loss: number; grads: Float32Array } } = {};

  it('fp32 reference: image, device bytes, one IPGO evaluation', async () => {
    const before = tf.memory().numTensors;
    const sd = await loadStableDiffusion(files());
    reference.bytes = expectedBytes(sd);
    reference.px = await render(sd);
    reference.ipgo = await ipgoEvaluation(sd);
    disposeStableDiffusion(sd);
    expect(tf.memory().numTensors).toBe(before);
  });

  // quantization's own effect on the gradient (measured: int8 1.1e-1 at 2 steps, 7.6e-2 at 4; fp16 2.0e-3 at 4 steps; rel-L2 on these random weights)
  for (const [precision, bound, ipgoBound] of [['int8', 2e-2, 0.15], ['fp16', 1e-3, 5e-3]] as const) {
    it(`${precision}: image within rel-L2 ${bound} of fp32, only packed bytes on the device, IPGO gradients exact for its weights`, async () => {
      const before = tf.memory();
      const sd = await loadStableDiffusion(files(), () => {}, policy(precision));
      const resident = tf.memory().numBytes - before.numBytes;
      const packed = [sd.unet, sd.vae, sd.textEncoder].flatMap((m) => collectPacked(m));
      expect(packed.length).toBeGreaterThan(0);
      expect(resident).toBe(expectedBytes(sd));
      // every Linear / Conv2d weight is packed; what they saved is all the model saved
      const floatBytes = packed.reduce((n, p) => n + 4 * p.rows * p.cols, 0), packedTotal = packed.reduce((n, p) => n + packedBytes(p), 0);
      expect(packedTotal / floatBytes).toBeLessThan(precision === 'int8' ? 0.3 : 0.55);
      expect(resident).toBe(reference.bytes! - floatBytes + packedTotal);
      const px = await render(sd);
      const ipgo = await ipgoEvaluation(sd);
      widenPackedWeights([sd.unet, sd.vae, sd.textEncoder]);
      const widened = await ipgoEvaluation(sd);
      disposeStableDiffusion(sd);
      const imageErr = relL2(px, reference.px!), gradErr = relL2(ipgo.grads, reference.ipgo!.grads);
      const kernelErr = relL2(ipgo.grads, widened.grads);
      console.log(`[packed-pipeline] ${precision}: image rel-L2 ${imageErr.toExponential(3)}, device bytes ${resident} vs fp32 ${reference.bytes}, ` +
        `IPGO loss ${ipgo.loss.toPrecision(6)} vs ${reference.ipgo!.loss.toPrecision(6)}, gradient rel-L2 vs fp32 ${gradErr.toExponential(3)}, ` +
        `vs the same weights widened ${kernelErr.toExponential(3)}`);
      expect(imageErr).toBeGreaterThan(0);
      expect(imageErr).toBeLessThan(bound);
      expect(kernelErr).toBeLessThan(1e-4);
      expect(gradErr).toBeLessThan(ipgoBound);
      expect(tf.memory().numTensors).toBe(before.numTensors);
    });
  }
});

function collectPacked(o: unknown, seen = new Set<unknown>()): PackedMatrix[] {
  if (o === null || typeof o !== 'object' || seen.has(o) || o instanceof tf.Tensor) return [];
  seen.add(o);
  if (isPacked(o)) return [o];
  return (Array.isArray(o) ? o : Object.values(o)).flatMap((v) => collectPacked(v, seen));
}

/** Replaces every packed weight of the modules, in place, by its float32 values in the layout tfjs's kernels use. */
function widenPackedWeights(modules: unknown[]): void {
  const seen = new Set<unknown>();
  const visit = (o: unknown): void => {
    if (o === null || typeof o !== 'object' || seen.has(o) || o instanceof tf.Tensor) return;
    seen.add(o);
    const layer = o as { w?: unknown };
    if (isPacked(layer.w)) {
      const p = layer.w;
      const filter = packedConvFilter(p, { kh: p.shape.length === 4 ? p.shape[0]! : 1, kw: p.shape.length === 4 ? p.shape[1]! : 1 });
      layer.w = p.shape.length === 4 ? filter : tf.tidy(() => tf.transpose(filter.reshape([p.cols, p.rows])));
      if (layer.w !== filter) filter.dispose();
      disposePacked(p);
      return;
    }
    for (const v of Array.isArray(o) ? o : Object.values(o)) visit(v);
  };
  visit(modules);
}
