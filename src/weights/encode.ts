/**
 * Converts a checkpoint tensor to its storage precision (the manifest's `precision`) before it is written to
 * IndexedDB. Float tensors become fp32 / fp16 (IEEE half bits, round to nearest even) / int8 (quantize.ts);
 * integer tensors (e.g. position_ids) are stored as they are ('raw', with their source dtype).
 */
import { decodeTensorBytes, f32ToF16, type SafetensorsDtype } from './safetensors';
import type { StoragePrecision } from './manifest';
import type { StoredTensor } from './storage';
import type { SourceTensor } from './file-units';

const FLOAT_DTYPES: ReadonlySet<SafetensorsDtype> = new Set(['F64', 'F32', 'F16', 'BF16']);

export function encodeForStorage(t: SourceTensor, precision: StoragePrecision): StoredTensor {
  const base = { name: t.name, shape: t.shape, sourceDtype: t.dtype };
  if (!FLOAT_DTYPES.has(t.dtype)) return { record: { ...base, storage: 'raw' }, bytes: t.bytes };
  if (precision === 'fp32') {
    if (t.dtype === 'F32') return { record: { ...base, storage: 'fp32' }, bytes: t.bytes };
    const f32 = decodeTensorBytes(t.dtype, t.bytes) as Float32Array;
    return { record: { ...base, storage: 'fp32' }, bytes: new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength) };
  }
  if (precision === 'fp16') {
    if (t.dtype === 'F16') return { record: { ...base, storage: 'fp16' }, bytes: t.bytes };
    const f32 = decodeTensorBytes(t.dtype, t.bytes) as Float32Array;
    const half = new Uint16Array(f32.length);
    for (let i = 0; i < f32.length; i++) half[i] = f32ToF16(f32[i]!);
    return { record: { ...base, storage: 'fp16' }, bytes: new Uint8Array(half.buffer) };
  }
  throw new Error(`TODO int8 via quantize.ts (${precision})`);
}
