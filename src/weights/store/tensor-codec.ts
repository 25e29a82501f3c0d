/**
 * Stored tensor format: a checkpoint tensor is converted to the manifest's storage precision before it is written
 * to IndexedDB, and decoded back to a host tensor when the worker loads it.
 * - fp32: float32 bytes (an F32 source is kept byte for byte).
 * - fp16: IEEE half bits (an F16 source is kept byte for byte; others via quantize.ts, which keeps a tensor at
 *   fp32 when it exceeds the half range).
 * - int8: quantize.ts's per-output-channel symmetric int8 with its default policy (1-D, small, norm and embedding
 *   tensors stay fp16); scales and error stats go into the record's `quant`.
 * Integer tensors (position_ids, …) are stored as they are ('raw', with their source dtype).
 */
import { decodeTensorBytes, type HostTensor, type SafetensorsDtype } from '../formats/safetensors';
import { dequantize, policyOf, quantizeTensor, scalesOf, type QuantizationError, type QuantizedTensor } from '../formats/quantize';
import type { HostWeight } from '../../model/precision';
import type { StoragePrecision } from '../catalog/manifest';
import type { StoredTensor, TensorRecord, TensorStorage } from './storage';
import type { SourceTensor } from '../ingest/file-units';

const FLOAT_DTYPES: ReadonlySet<SafetensorsDtype> = new Set(['F64', 'F32', 'F16', 'BF16']);

/** Quantization details of a stored tensor (TensorRecord.quant). */
export interface StoredQuant {
  /** int8: one scale per output channel (shape[0]) in `scaleDtype`. */
  scales?: Uint8Array;
  scaleDtype?: 'f16' | 'f32';
  /** Measured when converting: max and RMS error relative to the source. */
  error: QuantizationError;
}

const STORAGE_OF: Record<'f32' | 'f16' | 'int8', TensorStorage> = { f32: 'fp32', f16: 'fp16', int8: 'int8' };

export function encodeForStorage(t: SourceTensor, precision: StoragePrecision): StoredTensor {
  const base = { name: t.name, shape: t.shape, sourceDtype: t.dtype };
  if (!FLOAT_DTYPES.has(t.dtype)) return { record: { ...base, storage: 'raw' }, bytes: t.bytes };
  if (precision === 'fp32' && t.dtype === 'F32') return { record: { ...base, storage: 'fp32' }, bytes: t.bytes };
  if (precision === 'fp16' && t.dtype === 'F16') return { record: { ...base, storage: 'fp16' }, bytes: t.bytes };
  // an aligned F32 source is read in place (quantization only reads it); everything else is decoded to a copy
  const data = t.dtype === 'F32' && t.bytes.byteOffset % 4 === 0
    ? new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4) : decodeTensorBytes(t.dtype, t.bytes);
  const host: HostTensor = { dtype: t.dtype, shape: t.shape, data };
  const dtype = precision === 'fp32' ? 'f32' : precision === 'fp16' ? 'f16' : 'int8';
  const q = quantizeTensor(t.name, host, policyOf(dtype === 'int8' ? { dtype } : { dtype, smallDtype: dtype }));
  const quant: StoredQuant | undefined = q.dtype === 'f32' && precision === 'fp32' ? undefined
    : { error: q.error, ...(q.scales ? { scales: q.scales, scaleDtype: q.scaleDtype } : {}) };
  return { record: { ...base, storage: STORAGE_OF[q.dtype as 'f32' | 'f16' | 'int8'], ...(quant ? { quant } : {}) }, bytes: q.data };
}

/** Decodes a stored tensor: floats → Float32Array (int8 dequantized), integers → Int32Array (as parseSafetensors). */
export function decodeStoredTensor(record: TensorRecord, bytes: Uint8Array): HostTensor {
  switch (record.storage) {
    case 'raw':
      return { dtype: record.sourceDtype as SafetensorsDtype, shape: record.shape, data: decodeTensorBytes(record.sourceDtype as SafetensorsDtype, bytes) };
    case 'fp32':
      return { dtype: 'F32', shape: record.shape, data: decodeTensorBytes('F32', bytes) };
    case 'fp16':
      return { dtype: 'F32', shape: record.shape, data: decodeTensorBytes('F16', bytes) };
    case 'int8': {
      const quant = record.quant as StoredQuant;
      const q: QuantizedTensor = { dtype: 'int8', shape: record.shape, data: bytes, scales: quant.scales, scaleDtype: quant.scaleDtype, error: quant.error };
      return { dtype: 'F32', shape: record.shape, data: dequantize(q) };
    }
  }
}

/**
 * A stored tensor as the model loader takes it: int8 as its codes and float32 row scales (packed for the device
 * as they are, or widened by the loader), everything else decoded as decodeStoredTensor does.
 */
export function storedToHostWeight(record: TensorRecord, bytes: Uint8Array): HostWeight {
  if (record.storage !== 'int8') {
    const host = decodeStoredTensor(record, bytes);
    return { shape: host.shape, data: host.data instanceof Uint8Array ? Int32Array.from(host.data) : (host.data as Float32Array | Int32Array) };
  }
  const quant = record.quant as StoredQuant;
  return { shape: record.shape, int8: { codes: new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), scales: scalesOf(quant) } };
}
