import type * as tf from '@tensorflow/tfjs';
import { f32ToF16 } from '../weights/safetensors';
import { DEFAULT_POLICY, policyOf, quantizeTensor } from '../weights/quantize';
import { type HostPacked, type PackedMatrix, hostPackedFromTorch, uploadPacked } from './kernels/packed-weight';

/**
 * What the device holds for each model's Linear and Conv2d weights: float32 tensors, or packed fp16 / int8 that
 * the kernels dequantize as they read (kernels/packed-ops.ts). Norms, biases and embeddings stay float32.
 */
export type WeightPrecision = 'fp32' | 'fp16' | 'int8';
export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp32', 'fp16', 'int8'];

export type ModelComponent = 'unet' | 'vaeDecoder' | 'textEncoder' | 'clipVision' | 'vitHVision';
export type PrecisionPolicy = Record<ModelComponent, WeightPrecision>;

export const ALL_FP32: PrecisionPolicy = { unet: 'fp32', vaeDecoder: 'fp32', textEncoder: 'fp32', clipVision: 'fp32', vitHVision: 'fp32' };

const INT8_ROWS = policyOf({ dtype: 'int8', scaleDtype: 'f32', minElements: 0, keepPatterns: [] });
/** Below this many values a weight packed "int8" is packed fp16 instead, as the installer's policy keeps it. */
export const INT8_MIN_ELEMENTS = DEFAULT_POLICY.minElements;

/**
 * Packs a float weight given in torch layout (Linear [out, in], Conv [out, in, kh, kw]) at `precision`; int8 is
 * quantized exactly as the installer does (symmetric per output channel, ties to even), with float32 scales; a
 * weight under INT8_MIN_ELEMENTS values is packed fp16 instead (the installer's policy for small tensors).
 * A weight with a non-finite value or out of fp16 range stays float (returns null), as the installer keeps it.
 */
export function packFloatWeight(name: string, torchShape: number[], data: Float32Array, precision: Exclude<WeightPrecision, 'fp32'>, logicalShape: number[]): PackedMatrix | null {
  let host: HostPacked;
  if (precision === 'fp16' || data.length < INT8_MIN_ELEMENTS) {
    const halves = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) halves[i] = f32ToF16(data[i]!);
    if (halves.some((h) => (h & 0x7c00) === 0x7c00)) return null;
    host = hostPackedFromTorch(torchShape, { packed: 'fp16', halves });
  } else {
    const q = quantizeTensor(name, { dtype: 'F32', shape: torchShape, data }, INT8_ROWS);
    if (q.dtype !== 'int8') return null;
    const codes = new Int8Array(q.data.buffer, q.data.byteOffset, q.data.byteLength);
    const scales = new Float32Array(q.scales!.buffer.slice(q.scales!.byteOffset, q.scales!.byteOffset + q.scales!.byteLength));
    host = hostPackedFromTorch(torchShape, { packed: 'int8', codes, scales });
  }
  return uploadPacked(host, logicalShape);
}

/** Host values of a float tensor the store has not uploaded yet (no device read-back; see WeightStore). */
export function hostValues(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}
