import * as tf from '@tensorflow/tfjs';
import { f32ToF16 } from '../weights/formats/safetensors';
import { DEFAULT_POLICY, policyOf, quantizeTensor, scalesOf } from '../weights/formats/quantize';
import { type HostPacked, type PackedFormat, type PackedMatrix, convToOutTaps, dequantizeHost, disposePacked, hostPackedFromTorch, isPacked, packedBytes, uploadPacked } from './kernels/packed-weight';
import type { ParamSpec } from './params';
import { type EmbeddingTable, MAX_PARAM_TENSOR_BYTES } from './nn';
import { deviceTensor } from './device-tensor';

/**
 * What the device holds for each model's Linear and Conv2d weights: float32 tensors, or packed fp16 / int8 that
 * the kernels dequantize as they read (kernels/packed-ops.ts). Norms, biases and embeddings stay float32.
 */
export type WeightPrecision = 'fp32' | 'fp16' | 'int8';
export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp32', 'fp16', 'int8'];

export type ModelComponent = 'unet' | 'vaeDecoder' | 'textEncoder' | 'clipVision' | 'vitHVision';
export type PrecisionPolicy = Record<ModelComponent, WeightPrecision>;

export const ALL_FP32: PrecisionPolicy = { unet: 'fp32', vaeDecoder: 'fp32', textEncoder: 'fp32', clipVision: 'fp32', vitHVision: 'fp32' };

/**
 * The default: int8 where the weights are large and the measured error small (the UNet, the ViT-H tower), fp16
 * where a component is small or its error shows in the image (VAE decoder, text encoder, CLIP-L). Measurements:
 * bench/results/gpu.json (`precision_error_*`) and the README.
 */
export const DEFAULT_PRECISION: PrecisionPolicy = { unet: 'int8', vaeDecoder: 'fp16', textEncoder: 'fp16', clipVision: 'fp16', vitHVision: 'int8' };

export const COMPONENT_LABELS: Record<ModelComponent, string> = {
  unet: 'UNet', vaeDecoder: 'VAE decoder', textEncoder: 'Text encoder', clipVision: 'CLIP ViT-L/14 vision', vitHVision: 'OpenCLIP ViT-H/14 vision',
};

/**
 * Whether a checkpoint tensor is a weight matrix the layers read packed (every float tensor of rank ≥ 2 except the
 * lookup tables), judged from its name and shape alone: for sizing what an installed model will hold.
 */
export function isPackableTensor(name: string, shape: number[], float: boolean): boolean {
  return float && shape.length >= 2 && !/embedding/.test(name);
}

/** Device bytes of one tensor held at `precision` (packed when packable, else float32 / int32). */
export function deviceBytesOf(name: string, shape: number[], float: boolean, precision: WeightPrecision): number {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (precision === 'fp32' || !isPackableTensor(name, shape, float)) return 4 * numel;
  return packedBytes({ packed: packedFormatOf(precision, numel), rows: shape[0]!, cols: numel / shape[0]! });
}

/** A tensor's host values as a checkpoint gives them; an int8-stored weight may come as its codes and row scales. */
export interface HostWeight {
  shape: number[];
  data?: Float32Array | Int32Array;
  int8?: { codes: Int8Array; scales: Float32Array };
}

/** A parameter as the device holds it. */
export type DeviceParam = tf.Tensor | PackedMatrix | EmbeddingTable;

export function disposeDeviceParam(p: DeviceParam): void {
  if (isPacked(p)) disposePacked(p);
  else if ('parts' in p) tf.dispose(p.parts);
  else p.dispose();
}

/** Below this many values a weight asked for as int8 is packed fp16 instead, as the installer's policy keeps it. */
export const INT8_MIN_ELEMENTS = DEFAULT_POLICY.minElements;

/** The packed format a weight of `numel` values gets at `precision`. */
const packedFormatOf = (precision: 'fp16' | 'int8', numel: number): PackedFormat =>
  precision === 'int8' && numel >= INT8_MIN_ELEMENTS ? 'int8' : 'fp16';
const INT8_ROWS = policyOf({ dtype: 'int8', scaleDtype: 'f32', minElements: 0, keepPatterns: [] });

/**
 * One checkpoint tensor → what its layer reads, on the device (spec.kind, params.ts): Linear weights in torch
 * layout, conv weights as packed [out, (kh, kw, in)] or tfjs's float [kh, kw, in, out], patch embeddings as a
 * Linear over (ky, kx, c) patches; packed at `precision` where that applies. Every reordering is done here, on
 * the host, one tensor at a time, so the device never holds a second copy.
 */
export function prepareParam(spec: ParamSpec, host: HostWeight, precision: WeightPrecision): DeviceParam {
  const kind = spec.kind;
  if (kind === undefined) {
    return host.data instanceof Int32Array ? deviceTensor(host.data, host.shape, 'int32') : deviceTensor(floatsOf(host), host.shape, 'float32');
  }
  if (kind === 'embedding') return embeddingTable(floatsOf(host), host.shape as [number, number]);
  const [rows, ...rest] = host.shape as [number, ...number[]];
  const cols = rest.reduce((a, b) => a * b, 1);
  if (kind === 'linearInOut') {
    // stored [in, out]: the Linear is its transpose [out, in]
    return prepareParam({ ...spec, kind: 'linear' }, { shape: [cols, rows], data: transposeHost(floatsOf(host), rows, cols) }, precision);
  }
  if (kind === 'patch') {
    const [, c, kh, kw] = host.shape as [number, number, number, number];
    return prepareParam({ ...spec, kind: 'linear' }, { shape: [rows, kh * kw * c], data: convToOutTaps(floatsOf(host), host.shape) }, precision);
  }
  const logical = kind === 'conv' ? [host.shape[2]!, host.shape[3]!, host.shape[1]!, rows] : host.shape;
  const packed = precision === 'fp32' ? null : packWeight(spec.key, host, precision, logical);
  if (packed) return packed;
  if (kind === 'linear') return deviceTensor(floatsOf(host), host.shape, 'float32');
  return deviceTensor(convToFilter(floatsOf(host), host.shape), logical, 'float32');
}

/** A weight packed at `precision`, or null where it must stay float32 (non-finite values, out of fp16 range). */
function packWeight(name: string, host: HostWeight, precision: 'fp16' | 'int8', logical: number[]): PackedMatrix | null {
  if (host.int8 && packedFormatOf(precision, host.int8.codes.length) === 'int8') {
    return uploadPacked(hostPackedFromTorch(host.shape, { packed: 'int8', ...host.int8 }), logical); // the stored codes, as installed
  }
  return packFloatWeight(name, host.shape, floatsOf(host), precision, logical);
}

/**
 * Packs a float weight given in torch layout (Linear [out, in], Conv [out, in, kh, kw]) at `precision`; int8 is
 * quantized exactly as the installer does (symmetric per output channel, ties to even), with float32 scales; a
 * weight under INT8_MIN_ELEMENTS values is packed fp16 instead (the installer's policy for small tensors).
 */
export function packFloatWeight(name: string, torchShape: number[], data: Float32Array, precision: 'fp16' | 'int8', logicalShape: number[]): PackedMatrix | null {
  let host: HostPacked;
  if (packedFormatOf(precision, data.length) === 'fp16') {
    const halves = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) halves[i] = f32ToF16(data[i]!);
    if (halves.some((h) => (h & 0x7c00) === 0x7c00)) return null;
    host = hostPackedFromTorch(torchShape, { packed: 'fp16', halves });
  } else {
    const q = quantizeTensor(name, { dtype: 'F32', shape: torchShape, data }, INT8_ROWS);
    if (q.dtype !== 'int8') return null;
    const codes = new Int8Array(q.data.buffer, q.data.byteOffset, q.data.byteLength);
    host = hostPackedFromTorch(torchShape, { packed: 'int8', codes, scales: scalesOf(q) });
  }
  return uploadPacked(host, logicalShape);
}

function floatsOf(h: HostWeight): Float32Array {
  if (h.data instanceof Float32Array) return h.data;
  if (h.data) return Float32Array.from(h.data);
  const { codes, scales } = h.int8!;
  return dequantizeHost({ packed: 'int8', rows: scales.length, cols: codes.length / scales.length, codes, scales });
}

/** A [rows, dim] table as row blocks of at most MAX_PARAM_TENSOR_BYTES each. */
function embeddingTable(data: Float32Array, [rows, dim]: [number, number]): EmbeddingTable {
  const rowsPerPart = Math.max(1, Math.min(rows, Math.floor(MAX_PARAM_TENSOR_BYTES / (4 * dim))));
  const parts: tf.Tensor2D[] = [];
  for (let r = 0; r < rows; r += rowsPerPart) {
    const n = Math.min(rowsPerPart, rows - r);
    parts.push(deviceTensor(data.subarray(r * dim, (r + n) * dim), [n, dim], 'float32') as tf.Tensor2D);
  }
  return { parts, rowsPerPart };
}

/** [rows, cols] row-major → [cols, rows]. */
function transposeHost(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** torch conv [out, in, kh, kw] → tfjs filter [kh, kw, in, out]. */
function convToFilter(data: Float32Array, [o, c, kh, kw]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let oi = 0; oi < o!; oi++)
    for (let ci = 0; ci < c!; ci++)
      for (let y = 0; y < kh!; y++)
        for (let x = 0; x < kw!; x++) out[((y * kw! + x) * c! + ci) * o! + oi] = data[((oi * c! + ci) * kh! + y) * kw! + x]!;
  return out;
}
