/**
 * Issue 4's accuracy bar for stored weights: on the tiny pipeline, int8 weights (quantize.ts's default policy:
 * per-output-channel symmetric int8, small/norm/embedding tensors fp16) keep the final image within rel-L2 2e-2 of
 * fp32, and fp16 weights within 1e-3. Same prompt, seed and noise; 4 LMS steps at 64×64. The weights go
 * quantizeStateDict → dequantizeStateDict → the same loader (loadStableDiffusion) through a ModelFiles wrapper.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStableDiffusion, type ModelFiles } from '../src/model/load-pipeline';
import { disposeStableDiffusion, textToImage } from '../src/model/pipeline';
import { sourceFromHost } from '../src/model/weights';
import { dequantizeStateDict, policyOf, quantizeStateDict, type QuantizationPolicy } from '../src/weights/formats/quantize';
import { parseSafetensors } from '../src/weights/formats/safetensors';
import { fsModelFiles } from '../tools/lib/fs-model-files';
import { makeTinyModel } from '../tools/make-tiny-model';
import { fixturePath, relL2 } from './golden';

/** The shared tiny-sd fixture when present, else a freshly generated tiny model (same generator). */
function tinyPipelineDir(): { dir: string; cleanup: () => void } {
  const fixture = fixturePath('tiny-sd');
  if (fs.existsSync(path.join(fixture, 'model_index.json'))) return { dir: fixture, cleanup: () => {} };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quantized-pipeline-'));
  makeTinyModel(tmp);
  return { dir: path.join(tmp, 'tiny-sd'), cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}

/** The folder's ModelFiles, with every weight file quantized by `policy` and dequantized back to float32. */
function quantizedFiles(dir: string, policy: QuantizationPolicy, worst: { rmsRel: number; maxRel: number }): ModelFiles {
  const files = fsModelFiles(dir);
  return {
    ...files,
    async weights(p) {
      const q = quantizeStateDict(parseSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, p)))), policy);
      for (const r of q.report) {
        worst.rmsRel = Math.max(worst.rmsRel, r.rmsRel);
        worst.maxRel = Math.max(worst.maxRel, r.maxRel);
      }
      return sourceFromHost(dequantizeStateDict(q.tensors));
    },
  };
}

async function render(files: ModelFiles): Promise<Float32Array> {
  const sd = await loadStableDiffusion(files);
  try {
    const { image, latents } = await textToImage(sd, {
      prompt: 'a watercolor painting of a lighthouse at dusk', padding: 'max_length', steps: 4, guidanceScale: 7.5,
      scheduler: 'lms', height: 64, width: 64, seed: 42,
    });
    latents.dispose();
    const px = image.dataSync() as Float32Array;
    image.dispose();
    return px;
  } finally {
    disposeStableDiffusion(sd);
  }
}

describe('quantized weights on the tiny pipeline (4 LMS steps, 64×64)', () => {
  const { dir, cleanup } = tinyPipelineDir();
  afterAll(cleanup);
  let reference: Float32Array | undefined;
  const fp32 = async () => (reference ??= await render(fsModelFiles(dir)));

  const cases = [
    { label: 'int8 (default policy)', policy: policyOf({}), bound: 2e-2 },
    { label: 'fp16', policy: policyOf({ dtype: 'f16', smallDtype: 'f16' }), bound: 1e-3 },
  ];
  for (const c of cases) {
    it(`${c.label}: final image within rel-L2 ${c.bound} of fp32`, async () => {
      const before = tf.memory().numTensors;
      const ref = await fp32();
      const worst = { rmsRel: 0, maxRel: 0 };
      const got = await render(quantizedFiles(dir, c.policy, worst));
      const err = relL2(got, ref);
      console.log(`[quantized-pipeline] ${c.label}: image rel-L2 ${err.toExponential(3)} (bound ${c.bound}); ` +
        `worst tensor rmsRel ${worst.rmsRel.toExponential(2)}, maxRel ${worst.maxRel.toExponential(2)}`);
      expect(got.every(Number.isFinite)).toBe(true);
      expect(worst.rmsRel).toBeGreaterThan(0); // the weights did change
      expect(err).toBeGreaterThan(0);
      expect(err).toBeLessThan(c.bound);
      expect(tf.memory().numTensors).toBe(before);
    }, 300_000);
  }
});
