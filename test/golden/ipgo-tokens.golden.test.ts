/**
 * Golden 6g, the self-contained parts: boundary tokens (forward), the conditioning concat and conformity penalty,
 * and the backward of the token map (the vjp with d loss / d token must give d loss / d x, W, b).
 * Cases are discovered from the tensor names `<case>.prefix_tokens`; the rotation mode per case comes from
 * ipgo.json's `cases[].rotate` (falling back to a "norotation" name).
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { describeGolden, goldenPath, readJson, readSafetensors, relL2, tensorOf, casesOf } from '../golden';
import { boundaryTokens } from '../../src/ipgo/boundary-tokens';
import { buildConditioning, conformityPenalty } from '../../src/ipgo/conformity';
import type { BoundaryShape, RotationMode } from '../../src/ipgo/config';
import type { HostTensor } from '../../src/weights/formats/safetensors';

const FILE = goldenPath('ipgo.safetensors');
const JSON_FILE = goldenPath('ipgo.json');

interface IpgoJson {
  text_dim_D: number;
  num_tokens: number;
  proj_dim: number;
  bound: number;
  cases?: { name: string; rotate?: boolean }[];
}

const tfOf = (h: HostTensor): tf.Tensor => tf.tensor(h.data as Float32Array, h.shape, 'float32');

describeGolden('ipgo boundary tokens (6g)', [FILE, JSON_FILE], () => {
  const g = readSafetensors(FILE);
  const meta = readJson<IpgoJson>(JSON_FILE);
  const cases = casesOf(g, /^([^.]+)\.prefix_tokens$/).filter((c) => c !== 'inputs');
  const rotationOf = (name: string): RotationMode => {
    const c = meta.cases?.find((k) => k.name === name);
    const rotate = c?.rotate ?? !/norotation/.test(name);
    return rotate ? 'intended' : 'off';
  };

  for (const name of cases) {
    it(`${name}: tokens, conditioning, penalty and token-map backward`, () => {
      const before = tf.memory().numTensors;
      const shape: BoundaryShape = {
        textDim: meta.text_dim_D, numTokens: meta.num_tokens, rank: meta.proj_dim, bound: meta.bound, rotation: rotationOf(name),
      };
      const report: Record<string, number> = {};
      for (const side of ['prefix', 'suffix'] as const) {
        const x = tfOf(tensorOf(g, `inputs.x_${side}`)) as tf.Tensor2D;
        const W = tfOf(tensorOf(g, `inputs.W_${side}`)) as tf.Tensor2D;
        const b = tfOf(tensorOf(g, `inputs.b_${side}`)) as tf.Tensor1D;
        const refTokens = tensorOf(g, `${name}.${side}_tokens`);
        const tokens = boundaryTokens({ x, W, b }, shape);
        report[`${side}_tokens`] = relL2(tokens.dataSync(), refTokens.data as Float32Array);

        const dTok = tf.tidy(() => tf.reshape(tfOf(tensorOf(g, `${name}.grad.${side}_tokens`)), tokens.shape));
        const grads = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
          boundaryTokens({ x: xx as tf.Tensor2D, W: ww as tf.Tensor2D, b: bb as tf.Tensor1D }, shape))([x, W, b], dTok);
        (['x', 'W', 'b'] as const).forEach((p, i) => {
          report[`grad.${p}_${side}`] = relL2(grads[i]!.dataSync(), tensorOf(g, `${name}.grad.${p}_${side}`).data as Float32Array);
        });
        tf.dispose([x, W, b, tokens, dTok, ...grads]);
      }

      const h = tfOf(tensorOf(g, `${name}.prompt_embeds`)) as tf.Tensor3D;
      const tokensOf = (side: string): tf.Tensor2D => tf.tidy(() => tf.squeeze(tfOf(tensorOf(g, `${name}.${side}_tokens`)), [0]) as tf.Tensor2D);
      const pre = tokensOf('prefix'), suf = tokensOf('suffix');
      const cond = buildConditioning(pre, h, suf);
      report.cond_embeds = relL2(cond.dataSync(), tensorOf(g, `${name}.cond_embeds`).data as Float32Array);
      const refCond = tfOf(tensorOf(g, `${name}.cond_embeds`)) as tf.Tensor3D;
      const pen = conformityPenalty(refCond, h);
      report.penalty = relL2(pen.dataSync(), tensorOf(g, `${name}.penalty`).data as Float32Array);
      tf.dispose([h, pre, suf, cond, refCond, pen]);

      console.log(`[ipgo golden] ${name} (rotation ${shape.rotation}): ` +
        Object.entries(report).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', '));
      for (const side of ['prefix', 'suffix']) {
        expect(report[`${side}_tokens`]).toBeLessThan(1e-4);
        for (const p of ['x', 'W', 'b']) expect(report[`grad.${p}_${side}`]).toBeLessThan(1e-3);
      }
      expect(report.cond_embeds).toBeLessThan(1e-6);
      expect(report.penalty).toBeLessThan(1e-4);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
