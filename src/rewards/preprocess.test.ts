import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { CLIP_MEAN, CLIP_STD, antialiasBilinearMatrix, bilinearMatrix, clipPixelValues, resizeImage, resizePlan } from './preprocess';

/**
 * Reference values from torch 1.13 `F.interpolate(x_nchw, size, mode="bilinear", align_corners=False,
 * antialias=…)` on x[b, h, w, c] = 0.5 + 0.5·sin(1.3h + 0.7w + 0.9c + 2.1b), B = 2, H = 7, W = 5, C = 3.
 */
const TORCH = {
  down: { size: [3, 4], // channel 0 of batch 0, then Σy and Σ y·(flat NHWC index)
    bilinear: { c0: [0.8323464, 0.871556, 0.651693, 0.3175243, 0.1369967, 0.0334214, 0.2566325, 0.6596583, 0.7580688, 0.8873215, 0.7441378, 0.4227957], sum: 34.73686981201172, wsum: 1205.171875 },
    antialias: { c0: [0.7695284, 0.7486042, 0.573175, 0.3493213, 0.3330746, 0.2976507, 0.3886569, 0.5510625, 0.6654645, 0.7787002, 0.7169753, 0.5176142], sum: 34.47707748413086, wsum: 1192.658935546875 },
  },
  up: { size: [11, 9], bilinear: { sum: 284.8234558105469, wsum: 82182.453125 }, antialias: { sum: 284.823486328125, wsum: 82182.453125 } },
};

function testImage(): tf.Tensor4D {
  const [B, H, W, C] = [2, 7, 5, 3];
  const v = new Float32Array(B * H * W * C);
  let i = 0;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) {
    v[i++] = 0.5 + 0.5 * Math.sin(1.3 * h + 0.7 * w + 0.9 * c + 2.1 * b);
  }
  return tf.tensor4d(v, [B, H, W, C]);
}

/** Plain-loop reference: y[b,o,p,c] = Σ_h Σ_w mh[o,h]·x[b,h,w,c]·mw[p,w] (independent of the tf code path). */
function refResize(x: tf.Tensor4D, mh: Float32Array, oh: number, mw: Float32Array, ow: number): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  const xv = x.dataSync();
  const y = new Float32Array(B * oh * ow * C);
  for (let b = 0; b < B; b++) for (let o = 0; o < oh; o++) for (let p = 0; p < ow; p++) for (let c = 0; c < C; c++) {
    let acc = 0;
    for (let h = 0; h < H; h++) {
      const a = mh[o * H + h]!;
      if (a === 0) continue;
      for (let w = 0; w < W; w++) acc += a * mw[p * W + w]! * xv[((b * H + h) * W + w) * C + c]!;
    }
    y[((b * oh + o) * ow + p) * C + c] = acc;
  }
  return tf.tensor4d(y, [B, oh, ow, C]);
}

const stats = (y: tf.Tensor4D) => {
  const d = y.dataSync();
  let sum = 0, wsum = 0;
  d.forEach((v, i) => ((sum += v), (wsum += v * i)));
  return { sum, wsum, c0: Array.from(d).filter((_, i) => i % 3 === 0).slice(0, y.shape[1] * y.shape[2]) };
};

describe('CLIP preprocessing', () => {
  it.each([
    ['down', 'bilinear'], ['down', 'antialias'], ['up', 'bilinear'], ['up', 'antialias'],
  ] as const)('%s-sampling, %s, matches torch', (dir, key) => {
    // The torch reference is non-square (7×5 → 3×4 and → 11×9): check the axis matrices through the plain-loop
    // product; resizeImage (square outputs) is checked against the same product below.
    const x = testImage();
    const ref = TORCH[dir][key];
    const [oh, ow] = TORCH[dir].size as [number, number];
    const m = key === 'bilinear' ? bilinearMatrix : antialiasBilinearMatrix;
    const y = refResize(x, m(7, oh), oh, m(5, ow), ow);
    const s = stats(y);
    expect(Math.abs(s.sum - ref.sum)).toBeLessThan(1e-4);
    expect(Math.abs(s.wsum - ref.wsum) / ref.wsum).toBeLessThan(1e-6);
    if ('c0' in ref) s.c0.forEach((v, i) => expect(v).toBeCloseTo(ref.c0[i]!, 6));
    tf.dispose([x, y]);
  });

  it('resizeImage equals the two-axis matrix product (square sizes) for both filters, up and down', () => {
    const x = tf.randomUniform([2, 12, 12, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    for (const filter of ['bilinear', 'bilinear-antialias'] as const) {
      for (const size of [5, 12, 17]) {
        const m = filter === 'bilinear' ? bilinearMatrix : antialiasBilinearMatrix;
        const got = resizeImage(x, size, { filter });
        const ref = refResize(x, m(12, size), size, m(12, size), size);
        expect(got.shape).toEqual([2, size, size, 3]);
        expect(tf.tidy(() => tf.max(tf.abs(tf.sub(got, ref))).dataSync()[0]!)).toBeLessThan(1e-6);
        tf.dispose([got, ref]);
      }
    }
    x.dispose();
  });

  it('up-sampling: the antialiased filter equals plain bilinear (as in torch)', () => {
    for (const [i, o] of [[7, 11], [5, 9], [8, 32]] as const) {
      const a = antialiasBilinearMatrix(i, o), b = bilinearMatrix(i, o);
      a.forEach((v, k) => expect(v).toBeCloseTo(b[k]!, 6));
    }
  });

  it('rows of every matrix sum to 1; a same-size resize is the identity', () => {
    for (const f of [bilinearMatrix, antialiasBilinearMatrix]) {
      for (const [i, o] of [[512, 224], [64, 32], [7, 3], [5, 11]] as const) {
        const m = f(i, o);
        for (let r = 0; r < o; r++) expect(m.subarray(r * i, (r + 1) * i).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      }
      const id = f(6, 6);
      id.forEach((v, k) => expect(v).toBe(Math.floor(k / 6) === k % 6 ? 1 : 0));
    }
  });

  it("'cover' = torchvision Resize(short side) + CenterCrop: plan and pixels", () => {
    expect(resizePlan(512, 768, 224, 'cover')).toEqual({ rh: 224, rw: 336, top: 0, left: 56 });
    expect(resizePlan(768, 512, 224, 'cover')).toEqual({ rh: 336, rw: 224, top: 56, left: 0 });
    expect(resizePlan(5, 8, 4, 'cover')).toEqual({ rh: 4, rw: 6, top: 0, left: 1 });
    // 5 → 4 is 1/2 a pixel each side: Python round(0.5) = 0.
    expect(resizePlan(4, 5, 4, 'cover')).toEqual({ rh: 4, rw: 5, top: 0, left: 0 });
    const x = tf.randomUniform([1, 8, 12, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const got = resizeImage(x, 6, { fit: 'cover', filter: 'bilinear-antialias' });
    const full = refResize(x, antialiasBilinearMatrix(8, 6), 6, antialiasBilinearMatrix(12, 9), 9);
    const ref = full.slice([0, 0, 2, 0], [1, 6, 6, 3]);
    full.dispose();
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(got, ref))).dataSync()[0]!)).toBeLessThan(1e-6);
    tf.dispose([x, got, ref]);
  });

  it('normalises with the CLIP mean/std per channel and has the resize gradient (no leaks)', () => {
    const before = tf.memory().numTensors;
    const x = tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D;
    const px = clipPixelValues(x, 2);
    const v = px.dataSync();
    for (let c = 0; c < 3; c++) expect(v[c]).toBeCloseTo((0.5 - CLIP_MEAN[c]!) / CLIP_STD[c]!, 5);
    // d Σ px / d x: each output pixel spreads weight 1/std over its sources; 4 → 2 bilinear averages 2×2 blocks.
    const g = tf.grad((img: tf.Tensor) => tf.sum(clipPixelValues(img as tf.Tensor4D, 2)))(x);
    const gv = g.dataSync();
    for (let i = 0; i < gv.length; i++) expect(gv[i]).toBeCloseTo(0.25 / CLIP_STD[i % 3]!, 5);
    tf.dispose([x, px, g]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
