import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { ConvParams, LinearParams } from './nn';
import { packedConvFilter } from './kernels/packed-ops';
import { dequantizeMatrix, disposePacked, hostPackedFromTorch, uploadPacked } from './kernels/packed-weight';
import { conv2d, linear, matMul2d, matMulConstLeft, matMulWeightT, transposeLarge, WEIGHT_RIGHT_MIN_ROWS } from './input-grad-ops';

const relErr = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);
const maxRel = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(tf.max(tf.abs(b)).dataSync()[0]!, 1e-30));

/** The same layers by plain tfjs autodiff (gradients through everything), the reference semantics. */
const refConv = (x: tf.Tensor4D, p: ConvParams & { w: tf.Tensor4D }) =>
  tf.add(tf.conv2d(x, p.w, p.stride, p.pad === 0 ? 'valid' : [[0, 0], [p.pad, p.pad], [p.pad, p.pad], [0, 0]]), p.b!);
const refLinear = (x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D) =>
  tf.add(tf.matMul(x.reshape([-1, w.shape[1]]), w, false, true), b).reshape([...x.shape.slice(0, -1), w.shape[0]]);

describe('input-gradient conv2d / linear', () => {
  it.each([
    [3, 1, 1, [2, 7, 6, 5]], [3, 2, 1, [2, 7, 6, 5]], [3, 2, 0, [1, 9, 8, 3]], [1, 1, 0, [2, 4, 4, 6]],
    // ≥ 128 pixels: on wasm dx is a forward conv with the flipped kernel (see convInputGrad)
    [3, 1, 1, [2, 8, 8, 5]], [1, 1, 0, [2, 8, 9, 6]],
    // kernel taps × input channels > 4 × pixels: on wasm dx comes from per-tap products (see convInputGrad)
    [3, 1, 1, [1, 3, 4, 40]], [1, 1, 0, [1, 2, 3, 120]],
    // stride 2, "same", even input: on wasm the stride-1 paths on dy spread to the even pixels (flip, per-tap, loop)
    [3, 2, 1, [2, 16, 12, 3]], [3, 2, 1, [1, 4, 4, 40]], [3, 2, 1, [1, 4, 6, 2]],
  ] as const)('conv2d k=%i stride=%i pad=%i: value and dx equal autodiff through tf.conv2d', (k, stride, pad, xShape) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomNormal([...xShape], 0, 1, 'float32', 1) as tf.Tensor4D;
      const p: ConvParams & { w: tf.Tensor4D } = { w: tf.randomNormal([k, k, xShape[3], 4], 0, 1, 'float32', 2) as tf.Tensor4D, b: tf.randomNormal([4], 0, 1, 'float32', 3) as tf.Tensor1D, stride, pad };
      const ref = refConv(x, p);
      const r = tf.randomNormal(ref.shape, 0, 1, 'float32', 4);
      expect(relErr(conv2d(x, p), ref)).toBe(0);
      const g = (f: (t: tf.Tensor4D) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), r)))(x);
      expect(relErr(g((t) => conv2d(t, p)), g((t) => refConv(t, p)))).toBeLessThan(1e-6);
      expect(relErr(g((t) => conv2d(t, p, true)), g((t) => refConv(t, p)))).toBeLessThan(1e-6);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('conv2d with a temporary weight (saved, not closed over): the backward runs after the weight\'s scope ended', () => {
    const x = tf.randomNormal([1, 6, 6, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const w0 = tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 10) as tf.Tensor4D;
    const g = tf.grad((t: tf.Tensor) => tf.tidy(() => tf.sum(conv2d(t as tf.Tensor4D, { w: tf.mul(w0, 1) as tf.Tensor4D, stride: 1, pad: 1 }, true))))(x);
    const ref = tf.grad((t: tf.Tensor) => tf.sum(tf.conv2d(t as tf.Tensor4D, w0, 1, [[0, 0], [1, 1], [1, 1], [0, 0]])))(x);
    expect(relErr(g, ref)).toBeLessThan(1e-6);
    tf.dispose([x, w0, g, ref]);
  });

  it('linear (torch layout [out, in]): value and dx equal autodiff through x·Wᵀ + b (3-D input)', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 5, 6], 0, 1, 'float32', 5);
      const p = { w: tf.randomNormal([3, 6], 0, 1, 'float32', 6) as tf.Tensor2D, b: tf.randomNormal([3], 0, 1, 'float32', 7) as tf.Tensor1D };
      const r = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 8);
      expect(maxRel(linear(x, p), refLinear(x, p.w, p.b))).toBeLessThan(1e-6);
      const g = (f: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), r)))(x);
      expect(relErr(g((t) => linear(t, p)), g((t) => refLinear(t, p.w, p.b)))).toBeLessThan(1e-6);
    });
  });

  it.each([[7, 'left'], [WEIGHT_RIGHT_MIN_ROWS + 3, 'right']] as const)('linear with %i rows (weight on the %s on wasm): value and dx equal x·Wᵀ and dy·W', (rows, _side) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomNormal([rows, 6], 0, 1, 'float32', 11) as tf.Tensor2D;
      const w = tf.randomNormal([5, 6], 0, 1, 'float32', 12) as tf.Tensor2D;
      const dy = tf.randomNormal([rows, 5], 0, 1, 'float32', 13);
      expect(maxRel(matMulWeightT(x, w), tf.matMul(x, w, false, true))).toBeLessThan(1e-6);
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(matMulWeightT(t as tf.Tensor2D, w), dy)))(x);
      expect(maxRel(dx, tf.matMul(dy as tf.Tensor2D, w))).toBeLessThan(1e-6);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('transposeLarge equals tf.transpose exactly (the two-pass path from 2^20 values)', () => {
    tf.tidy(() => {
      for (const shape of [[1024, 1040], [48, 5]] as const) {
        const t = tf.randomNormal([...shape], 0, 1, 'float32', 14) as tf.Tensor2D;
        expect(transposeLarge(t).shape).toEqual([shape[1], shape[0]]);
        expect(tf.max(tf.abs(tf.sub(transposeLarge(t), tf.transpose(t)))).dataSync()[0]).toBe(0);
      }
    });
  });

  it('packed (int8) weights: linear and conv2d values and input gradients equal the same weights in float32', () => {
    const before = tf.memory().numTensors;
    const codes = Int8Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => ((i * 37) % 255) - 127);
    const scales = Float32Array.from([0.01, 0.02, 0.005, 0.03]);
    const conv = uploadPacked(hostPackedFromTorch([4, 3, 3, 3], { packed: 'int8', codes, scales }), [3, 3, 3, 4]);
    const lin = uploadPacked(hostPackedFromTorch([4, 27], { packed: 'int8', codes, scales }), [4, 27]);
    tf.tidy(() => {
      const x = tf.randomNormal([2, 6, 5, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
      const t = tf.randomNormal([2, 5, 27], 0, 1, 'float32', 12);
      const b = tf.tensor1d([0.1, -0.2, 0.3, 0.4]);
      const filter = packedConvFilter(conv, { kh: 3, kw: 3 });
      const dense = dequantizeMatrix(lin);
      const g = (f: (t: tf.Tensor) => tf.Tensor, at: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.sum(tf.sin(f(u))))(at);
      for (const stride of [2, 1]) { // on wasm, stride 1 takes convInputGrad's per-tap path
        const convP = (w: ConvParams['w']) => (u: tf.Tensor) => conv2d(u as tf.Tensor4D, { w, b, stride, pad: 1 });
        expect(maxRel(convP(conv)(x), convP(filter)(x))).toBeLessThan(1e-6);
        expect(maxRel(g(convP(conv), x), g(convP(filter), x))).toBeLessThan(1e-6);
      }
      const linP = (w: LinearParams['w']) => (u: tf.Tensor) => linear(u, { w, b });
      expect(maxRel(linP(lin)(t), linP(dense)(t))).toBeLessThan(1e-6);
      expect(maxRel(g(linP(lin), t), g(linP(dense), t))).toBeLessThan(1e-6);
    });
    disposePacked(conv);
    disposePacked(lin);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('matmul variants: same values and input gradients as tf.matMul; no leaks', () => {
    const before = tf.memory().numTensors;
    const a = tf.randomNormal([5, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
    const b = tf.randomNormal([7, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
    const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, tf.range(0, y.size).reshape(y.shape)));
    const [refA, refB] = tf.grads((x: tf.Tensor, y: tf.Tensor) => loss(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]);
    const [gA, gB] = tf.grads((x: tf.Tensor, y: tf.Tensor) => loss(matMul2d(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]);
    const bT = tf.transpose(b) as tf.Tensor2D;
    const gRight = tf.grad((x: tf.Tensor) => loss(matMulWeightT(x as tf.Tensor2D, bT)))(a);
    expect(tf.tidy(() => maxRel(matMulWeightT(a, bT), tf.matMul(a, b)))).toBeLessThan(1e-6);
    const gLeft = tf.grad((y: tf.Tensor) => loss(matMulConstLeft(a, y as tf.Tensor2D)))(b);
    for (const [got, ref] of [[gA, refA], [gB, refB], [gRight, refA], [gLeft, refB]] as const) expect(maxRel(got!, ref!)).toBeLessThan(1e-6);
    tf.dispose([a, b, bT, refA!, refB!, gA!, gB!, gRight, gLeft]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
