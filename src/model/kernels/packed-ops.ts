import * as tf from '@tensorflow/tfjs';
import { GEMM_UNIFORMS, PackedGemmProgram, gemmSpecialization, PackedToFilterProgram, TILE_M, type GemmUniforms, type GemmVariant } from './packed-gemm-program';
import { type PackedMatrix, dequantizeMatrix, wordsPerRow } from './packed-weight';
import type { WebGpuBackendLike } from './webgpu-backend';
import { torchPadding } from '../nn';

/**
 * Linear and Conv2d on packed weights (packed-weight.ts). On WebGPU they run the `PackedGemm` kernel registered
 * below (the weight is dequantized inside the shader, never materialised in float32); on any other backend the
 * layer's weight is dequantized on the fly, used and freed (one layer in float32 at a time). Forward and input
 * gradient only: IPGO never needs weight gradients.
 */
export const PACKED_GEMM = 'IpgoPackedGemm';
export const PACKED_TO_FILTER = 'IpgoPackedToFilter';

/** Multiply-adds per dispatch above which a layer is split over several dispatches (rows of the output). */
export const MAX_MACS_PER_DISPATCH = 2 ** 32;


type GemmAttrs = GemmUniforms & { variant: GemmVariant; format: PackedMatrix['packed']; outShape: number[] };

function runPackedGemm({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const a = attrs as unknown as GemmAttrs;
  const gpu = backend as WebGpuBackendLike;
  const ordered = [inputs.a!, inputs.words!, ...(inputs.scales ? [inputs.scales] : []), ...(inputs.bias ? [inputs.bias] : [])];
  const out = gpu.makeTensorInfo(a.outShape, 'float32');
  const rowsPerDispatch = Math.max(TILE_M, Math.floor(MAX_MACS_PER_DISPATCH / Math.max(1, a.N * a.K) / TILE_M) * TILE_M);
  for (let mOffset = 0; mOffset < a.M; mOffset += rowsPerDispatch) {
    const program = new PackedGemmProgram(a.outShape, a.variant, a.format, inputs.bias !== undefined, Math.min(rowsPerDispatch, a.M - mOffset), gemmSpecialization(a.variant, a));
    const uniforms = GEMM_UNIFORMS.map((u) => ({ type: 'int32', data: [u === 'mOffset' ? mOffset : a[u]] }));
    gpu.runWebGPUProgram(program, ordered, 'float32', uniforms, out);
  }
  return out;
}

function runPackedToFilter({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const a = attrs as unknown as { format: PackedMatrix['packed']; filterShape: number[]; wordsPerRow: number };
  const gpu = backend as WebGpuBackendLike;
  const out = gpu.makeTensorInfo(a.filterShape, 'float32');
  const ordered = [inputs.words!, ...(inputs.scales ? [inputs.scales] : [])];
  const uniforms = [{ type: 'int32', data: [a.wordsPerRow] }];
  return gpu.runWebGPUProgram(new PackedToFilterProgram(a.filterShape, a.format), ordered, 'float32', uniforms, out);
}

let registered = false;
/** Registers the packed kernels with tfjs-backend-webgpu (idempotent; harmless where WebGPU is absent). */
export function registerPackedKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: PACKED_GEMM, backendName: 'webgpu', kernelFunc: runPackedGemm as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: PACKED_TO_FILTER, backendName: 'webgpu', kernelFunc: runPackedToFilter as unknown as tf.KernelFunc });
}

const onWebGpu = (): boolean => tf.getBackend() === 'webgpu';

const baseUniforms = (w: PackedMatrix): GemmUniforms => ({
  M: 0, N: 0, K: 0, wordsPerRow: wordsPerRow(w.packed, w.cols), inH: 1, inW: 1, inC: 1, outH: 1, outW: 1, kh: 1, kw: 1, stride: 1, pad: 0, mOffset: 0,
});

function gemm(a: tf.Tensor, w: PackedMatrix, variant: GemmVariant, outShape: number[], u: Partial<GemmUniforms>, bias?: tf.Tensor1D): tf.Tensor {
  registerPackedKernels();
  const inputs: tf.NamedTensorMap = { a, words: w.words };
  if (w.scales) inputs.scales = w.scales;
  if (bias) inputs.bias = bias;
  const attrs = { ...baseUniforms(w), ...u, variant, format: w.packed, outShape };
  return tf.engine().runKernel(PACKED_GEMM, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** y [M, rows] = x [M, cols] · Wᵀ (+ bias). */
export function packedMatMul(x: tf.Tensor2D, w: PackedMatrix, bias?: tf.Tensor1D): tf.Tensor2D {
  const [m, k] = x.shape;
  if (k !== w.cols) throw new Error(`packed linear: input has ${k} features, the weight ${w.cols}`);
  if (onWebGpu()) return gemm(x, w, 'linear', [m, w.rows], { M: m, N: w.rows, K: k }, bias) as tf.Tensor2D;
  return tf.tidy(() => {
    const y = tf.matMul(x, dequantizeMatrix(w), false, true);
    return (bias ? tf.add(y, bias) : y) as tf.Tensor2D;
  });
}

/** dx [M, cols] = dy [M, rows] · W. */
export function packedMatMulInputGrad(dy: tf.Tensor2D, w: PackedMatrix): tf.Tensor2D {
  const [m, n] = dy.shape;
  if (onWebGpu()) return gemm(dy, w, 'linearInputGrad', [m, w.cols], { M: m, N: w.cols, K: n }) as tf.Tensor2D;
  return tf.tidy(() => tf.matMul(dy, dequantizeMatrix(w)));
}

export interface ConvGeometry {
  kh: number;
  kw: number;
  stride: number;
  pad: number;
}

/** The packed conv weight [out, kh·kw·in] widened to tfjs's float filter [kh, kw, in, out] (a temporary). */
export function packedConvFilter(w: PackedMatrix, g: Pick<ConvGeometry, 'kh' | 'kw'>): tf.Tensor4D {
  const filterShape = [g.kh, g.kw, w.cols / (g.kh * g.kw), w.rows];
  if (onWebGpu()) {
    registerPackedKernels();
    const inputs: tf.NamedTensorMap = w.scales ? { words: w.words, scales: w.scales } : { words: w.words };
    const attrs = { format: w.packed, filterShape, wordsPerRow: wordsPerRow(w.packed, w.cols) };
    return tf.engine().runKernel(PACKED_TO_FILTER, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }
  return tf.tidy(() => tf.transpose(dequantizeMatrix(w).reshape([w.rows, g.kh, g.kw, w.cols / (g.kh * g.kw)]), [1, 2, 3, 0]) as tf.Tensor4D);
}

/** NHWC conv with torch's symmetric zero padding (+ bias). */
export function packedConv2d(x: tf.Tensor4D, w: PackedMatrix, g: ConvGeometry, bias?: tf.Tensor1D): tf.Tensor4D {
  const [b, h, wd, c] = x.shape;
  if (c * g.kh * g.kw !== w.cols) throw new Error(`packed conv: input has ${c} channels, the weight ${w.cols / (g.kh * g.kw)}`);
  const oh = Math.floor((h + 2 * g.pad - g.kh) / g.stride) + 1;
  const ow = Math.floor((wd + 2 * g.pad - g.kw) / g.stride) + 1;
  if (onWebGpu()) {
    const u = { M: b * oh * ow, N: w.rows, K: w.cols, inH: h, inW: wd, inC: c, outH: oh, outW: ow, ...g };
    return gemm(x, w, 'conv', [b, oh, ow, w.rows], u, bias) as tf.Tensor4D;
  }
  return tf.tidy(() => {
    const y = tf.conv2d(x, packedConvFilter(w, g), g.stride, torchPadding(g.pad));
    return (bias ? tf.add(y, bias) : y) as tf.Tensor4D;
  });
}

/** dx [B, H, W, in] of a conv, given dy [B, Ho, Wo, out] and the conv's input shape. */
export function packedConv2dInputGrad(dy: tf.Tensor4D, w: PackedMatrix, g: ConvGeometry, xShape: [number, number, number, number]): tf.Tensor4D {
  const [b, h, wd, c] = xShape;
  const [, oh, ow, co] = dy.shape;
  if (onWebGpu()) {
    // A-side dims describe dy (inH/inW/inC), the output side the conv's input (outH/outW, N = its channels)
    const u = { M: b * h * wd, N: c, K: g.kh * g.kw * co, inH: oh, inW: ow, inC: co, outH: h, outW: wd, ...g };
    return gemm(dy, w, 'convInputGrad', [b, h, wd, c], u) as tf.Tensor4D;
  }
  return tf.tidy(() => tf.conv2dTranspose(dy, packedConvFilter(w, g), xShape, g.stride, torchPadding(g.pad)));
}
