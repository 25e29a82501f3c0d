import * as tf from '@tensorflow/tfjs';
import { f32ToF16 } from '../../weights/formats/safetensors';
import { flashAttention } from './flash-attention';
import { packedConv2d, packedConv2dInputGrad, packedConvFilter, packedMatMul, packedMatMulInputGrad } from './packed-ops';
import { type HostPacked, type PackedFormat, type PackedMatrix, dequantizeHost, disposePacked, hostPackedFromTorch, uploadPacked } from './packed-weight';

/**
 * Every custom kernel against its reference op on the active backend: the same packed values dequantized on the
 * host, then tfjs's own float32 op. Sizes are odd and cross the kernels' output tiles and K slices.
 * Run by the kernel test suites (Node on WebGPU and wasm) and by the Diagnostics view in the browser.
 */
export interface KernelCheck {
  name: string;
  /** max |kernel − reference| / max |reference|. */
  maxRel: number;
}

/** The bound every kernel must meet (float32 summation order is all that may differ). */
export const KERNEL_TOLERANCE = 1e-5;

const LINEAR_CASES: [number, number, number][] = [[1, 3, 2], [5, 7, 9], [70, 33, 65], [130, 64, 129]];
// k, stride, pad, [B, H, W, C], out channels
const CONV_CASES: [number, number, number, [number, number, number, number], number][] = [
  [3, 1, 1, [2, 7, 6, 5], 7], [3, 2, 1, [1, 9, 8, 4], 66], [3, 2, 0, [1, 9, 9, 3], 5], [1, 1, 0, [2, 5, 4, 33], 17],
  [3, 1, 1, [1, 12, 11, 20], 70],
  // out channels a multiple of the K slice: the transposed convolution's specialized shaders (unit stride, and not)
  [3, 1, 1, [1, 10, 9, 24], 32], [3, 2, 1, [1, 9, 8, 20], 16],
];

/** The packed kernels on any backend (off WebGPU they dequantize per layer) and, on WebGPU, the fused attention. */
export async function checkKernels(formats: PackedFormat[] = ['int8', 'fp16']): Promise<KernelCheck[]> {
  const out = await checkPackedKernels(formats);
  if (tf.getBackend() === 'webgpu') out.push(...(await checkFlashAttention()));
  return out;
}

// [BH, Lq, Lk, d, causal]: cross-attention (77 keys), causal self-attention, the largest unrolled head dim, tiny
// sizes, a head dim that is not a multiple of 4, the VAE mid-block's single 512-wide head (a looped shader)
const ATTENTION_CASES: [number, number, number, number, boolean][] = [
  [3, 70, 77, 40, false], [2, 65, 65, 64, true], [2, 33, 20, 160, false], [1, 5, 3, 8, false], [2, 19, 23, 10, true], [1, 40, 37, 512, false],
];

async function checkFlashAttention(): Promise<KernelCheck[]> {
  const out: KernelCheck[] = [];
  for (const [bh, lq, lk, d, causal] of ATTENTION_CASES) {
    out.push(...(await compare(`attention [${bh}, ${lq}→${lk}, ${d}]${causal ? ' causal' : ''}`, () => {
      const [q, k, v] = [[bh, lq, d], [bh, lk, d], [bh, lk, d]].map((sh, i) => tf.randomNormal(sh as [number, number, number], 0, 1, 'float32', 20 + i)) as tf.Tensor3D[];
      const r = tf.randomNormal([bh, lq, d], 0, 1, 'float32', 23);
      const scale = 1 / Math.sqrt(d);
      const reference = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        let s = tf.mul(tf.matMul(a, b, false, true), scale);
        if (causal) s = tf.add(s, tf.sub(tf.linalg.bandPart(tf.ones([lq, lk]), -1, 0), 1).mul(1e9));
        return tf.matMul(tf.softmax(s, -1), c);
      };
      const loss = (f: typeof reference) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a, b, c), r));
      const fused = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => flashAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, scale, causal);
      const [gq, gk, gv] = tf.grads(loss(fused))([q!, k!, v!]);
      const [rq, rk, rv] = tf.grads(loss(reference))([q!, k!, v!]);
      return { forward: [fused(q!, k!, v!), reference(q!, k!, v!)], 'dq': [gq!, rq!], 'dk': [gk!, rk!], 'dv': [gv!, rv!] };
    })));
  }
  return out;
}

async function checkPackedKernels(formats: PackedFormat[]): Promise<KernelCheck[]> {
  const out: KernelCheck[] = [];
  for (const format of formats) {
    for (const [m, k, n] of LINEAR_CASES) {
      const { w, dense } = randomPacked(format, [n, k], m * 31 + k, [n, k]);
      out.push(...(await compare(`${format} linear ${m}×${k}→${n}`, () => {
        const x = tf.randomNormal([m, k], 0, 1, 'float32', 1) as tf.Tensor2D;
        const bias = tf.randomNormal([n], 0, 1, 'float32', 2) as tf.Tensor1D;
        const dy = tf.randomNormal([m, n], 0, 1, 'float32', 3) as tf.Tensor2D;
        const d = dense();
        return {
          forward: [packedMatMul(x, w, bias), tf.add(tf.matMul(x, d, false, true), bias)],
          'input gradient': [packedMatMulInputGrad(dy, w), tf.matMul(dy, d)],
        };
      })));
      disposePacked(w);
    }
    for (const [k, stride, pad, xShape, outC] of CONV_CASES) {
      const g = { kh: k, kw: k, stride, pad };
      const { w, dense } = randomPacked(format, [outC, xShape[3], k, k], outC * 7 + k, [k, k, xShape[3], outC]);
      out.push(...(await compare(`${format} conv ${k}×${k}/${stride} pad ${pad} [${xShape}]→${outC}`, () => {
        const x = tf.randomNormal(xShape, 0, 1, 'float32', 4) as tf.Tensor4D;
        const bias = tf.randomNormal([outC], 0, 1, 'float32', 5) as tf.Tensor1D;
        const filter = tf.transpose(dense().reshape([outC, k, k, xShape[3]]), [1, 2, 3, 0]) as tf.Tensor4D;
        const padding = pad === 0 ? 'valid' : ([[0, 0], [pad, pad], [pad, pad], [0, 0]] as tf.backend_util.ExplicitPadding);
        const ref = tf.add(tf.conv2d(x, filter, stride, padding), bias) as tf.Tensor4D;
        const dy = tf.randomNormal(ref.shape, 0, 1, 'float32', 6) as tf.Tensor4D;
        return {
          forward: [packedConv2d(x, w, g, bias), ref],
          'input gradient': [packedConv2dInputGrad(dy, w, g, xShape), tf.conv2dTranspose(dy, filter, xShape, stride, padding)],
          widened: [packedConvFilter(w, g), filter],
        };
      })));
      disposePacked(w);
    }
  }
  return out;
}

/** Runs `f` and measures each named [kernel, reference] pair, freeing everything `f` made. */
async function compare(name: string, f: () => Record<string, [tf.Tensor, tf.Tensor]>): Promise<KernelCheck[]> {
  const pairs = tf.tidy(() => Object.entries(f()).map(([what, [a, b]]) => [what, tf.keep(a), tf.keep(b)] as const));
  const out: KernelCheck[] = [];
  for (const [what, a, b] of pairs) {
    const [x, y] = await Promise.all([a.data(), b.data()]);
    let d = a.shape.join() === b.shape.join() ? 0 : Infinity, m = 0;
    for (let i = 0; i < y.length; i++) { d = Math.max(d, Math.abs(x[i]! - y[i]!)); m = Math.max(m, Math.abs(y[i]!)); }
    out.push({ name: `${name} ${what}`, maxRel: d / Math.max(m, 1e-30) });
  }
  tf.dispose(pairs.flatMap(([, a, b]) => [a, b]));
  return out;
}

function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** A random weight of torch shape packed as `format` (int8: per-row scale max|w|/127), with its float values. */
function randomPacked(format: PackedFormat, torchShape: number[], seed: number, logicalShape: number[]): { w: PackedMatrix; dense: () => tf.Tensor2D } {
  const rows = torchShape[0]!, cols = torchShape.slice(1).reduce((a, b) => a * b, 1);
  const r = uniform(seed);
  const w = Float32Array.from({ length: rows * cols }, () => r());
  const done = (h: HostPacked) => ({ w: uploadPacked(h, logicalShape), dense: () => tf.tensor2d(dequantizeHost(h), [rows, cols]) });
  if (format === 'fp16') return done(hostPackedFromTorch(torchShape, { packed: 'fp16', halves: Uint16Array.from(w, f32ToF16) }));
  const scales = new Float32Array(rows), codes = new Int8Array(rows * cols);
  for (let o = 0; o < rows; o++) {
    let m = 0;
    for (let i = 0; i < cols; i++) m = Math.max(m, Math.abs(w[o * cols + i]!));
    scales[o] = m / 127;
    for (let i = 0; i < cols; i++) codes[o * cols + i] = Math.round(w[o * cols + i]! / scales[o]!);
  }
  return done(hostPackedFromTorch(torchShape, { packed: 'int8', codes, scales }));
}
