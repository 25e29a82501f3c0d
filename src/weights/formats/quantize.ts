/**
 * Weight quantization for storage and transfer (pure functions, no DOM: usable in a worker as tensors stream in).
 * - fp16: each value rounded to the nearest half (ties to even).
 * - int8: symmetric, per output channel (the first torch dim: Linear [out,in], Conv [out,in,kh,kw]):
 *   scale_c = max|w_c| / 127, q = round(w / scale_c) in [-127, 127] (ties to even), w ≈ q · scale_c. Scales are stored as fp16
 *   (rounded up, so no value clips) or fp32.
 * A policy picks the format per tensor: 1-D tensors, small tensors and names matching `keepPatterns` (norms,
 * embeddings…) stay at `smallDtype`. Each quantized record carries its max and RMS relative error, measured while
 * quantizing, for the model record.
 */
import { f16ToF32, f32ToF16, type HostTensor } from './safetensors';

export type QuantizedDtype = 'f32' | 'f16' | 'int8' | 'i32';

export interface QuantizedTensor {
  dtype: QuantizedDtype;
  shape: number[];
  /** f32/i32: 4 bytes per value, f16: 2, int8: 1 (little-endian). */
  data: Uint8Array;
  /** int8 only: one scale per output channel (shape[0]). */
  scales?: Uint8Array;
  scaleDtype?: 'f16' | 'f32';
  error: QuantizationError;
}

export interface QuantizationError {
  /** max |w − ŵ| / max |w| (0 for an all-zero tensor). */
  maxRel: number;
  /** ‖w − ŵ‖₂ / ‖w‖₂. */
  rmsRel: number;
}

export interface QuantizationPolicy {
  /** Format for the large weight tensors. */
  dtype: 'f32' | 'f16' | 'int8';
  /** Format for tensors the policy keeps small (1-D, under minElements, or matching keepPatterns). */
  smallDtype: 'f32' | 'f16';
  /** Tensors with fewer elements stay at smallDtype. */
  minElements: number;
  /** Names that stay at smallDtype whatever their size (norm weights, embeddings, …). */
  keepPatterns: RegExp[];
  scaleDtype: 'f16' | 'f32';
}

export const DEFAULT_POLICY: QuantizationPolicy = {
  dtype: 'int8',
  smallDtype: 'f16',
  minElements: 4096,
  // Norms and biases are tiny and sensitive; embeddings are lookup tables where a per-row scale buys little.
  keepPatterns: [/norm/i, /(^|\.)ln_/, /bias$/, /embedding/i, /position/i, /class_embedding/, /logit_scale/],
  scaleDtype: 'f16',
};

export function policyOf(overrides: Partial<QuantizationPolicy>): QuantizationPolicy {
  return { ...DEFAULT_POLICY, ...overrides };
}

/** The format `policy` gives a float tensor called `name` of this shape. */
export function chooseDtype(name: string, shape: number[], policy: QuantizationPolicy): 'f32' | 'f16' | 'int8' {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (shape.length < 2 || numel < policy.minElements || policy.keepPatterns.some((p) => p.test(name))) return policy.smallDtype;
  return policy.dtype;
}

const F16_MAX = 65504;

/** Quantizes one host tensor by the policy; integer tensors pass through as i32. */
export function quantizeTensor(name: string, t: HostTensor, policy: QuantizationPolicy): QuantizedTensor {
  if (!(t.data instanceof Float32Array)) {
    const ints = Int32Array.from(t.data);
    return { dtype: 'i32', shape: t.shape, data: bytesOf(ints), error: { maxRel: 0, rmsRel: 0 } };
  }
  let dtype = chooseDtype(name, t.shape, policy);
  // int8 needs every row's max anyway; the tensor's max is the largest of them (one pass instead of two)
  const rowMax = dtype === 'int8' ? rowMaxAbs(t.data, t.shape[0]!) : undefined;
  const maxAbs = rowMax ? rowMax.reduce((m, r) => Math.max(m, r), 0) : maxAbsOf(t.data);
  if (!Number.isFinite(maxAbs) || (dtype === 'f16' && maxAbs > F16_MAX)) dtype = 'f32'; // Inf/NaN or out of half range: keep exact
  if (dtype === 'f32') return { dtype, shape: t.shape, data: bytesOf(Float32Array.from(t.data)), error: { maxRel: 0, rmsRel: 0 } };
  if (dtype === 'f16') return quantizeF16(t.shape, t.data, maxAbs);
  return quantizeInt8(t.shape, t.data, rowMax!, maxAbs, policy.scaleDtype);
}

function quantizeF16(shape: number[], x: Float32Array, maxAbs: number): QuantizedTensor {
  const h = new Uint16Array(x.length);
  const err = new ErrorMeter(maxAbs);
  const table = f16Table();
  for (let i = 0; i < x.length; i++) {
    h[i] = f32ToF16(x[i]!);
    err.add(x[i]!, table[h[i]!]!);
  }
  return { dtype: 'f16', shape, data: bytesOf(h), error: err.result() };
}

function quantizeInt8(shape: number[], x: Float32Array, rowMax: Float32Array, maxAbs: number, scaleDtype: 'f16' | 'f32'): QuantizedTensor {
  const rows = shape[0]!;
  const cols = rows ? x.length / rows : 0;
  const scales = new Float32Array(rows);
  let useF16 = scaleDtype === 'f16';
  for (let r = 0; r < rows; r++) {
    scales[r] = rowMax[r]! / 127;
    if (!(scales[r]! <= F16_MAX) || (scales[r]! > 0 && scales[r]! < 6.2e-5)) useF16 = false; // outside normal halves
  }
  const scaleBits = useF16 ? new Uint16Array(rows) : undefined;
  if (scaleBits) {
    const table = f16Table();
    for (let r = 0; r < rows; r++) {
      let bits = f32ToF16(scales[r]!);
      if (table[bits]! < scales[r]!) bits++; // round the scale up so |w| / scale never exceeds 127
      scaleBits[r] = bits;
      scales[r] = table[bits]!;
    }
  }
  const q = new Int8Array(x.length);
  let maxErr = 0;
  let errSq = 0;
  let refSq = 0;
  for (let r = 0; r < rows; r++) {
    const row = quantizeRow(x, q, r * cols, (r + 1) * cols, scales[r]!);
    maxErr = Math.max(maxErr, row.maxErr);
    errSq += row.errSq;
    refSq += row.refSq;
  }
  const err = ErrorMeter.of(maxAbs, maxErr, errSq, refSq);
  return {
    dtype: 'int8', shape, data: bytesOf(q),
    scales: scaleBits ? bytesOf(scaleBits) : bytesOf(scales), scaleDtype: scaleBits ? 'f16' : 'f32',
    error: err.result(),
  };
}

/** Adding then subtracting 1.5·2^52 rounds a double (|y| < 2^51) to the nearest integer, ties to even. */
const ROUNDER = 6755399441055744;

/**
 * q[i] = round(x[i] / s) in [-127, 127] over [begin, end), with the row's error sums. The loop is branch-free on
 * the data (ROUNDER instead of Math.round, Math.max for the max error): with random signs a data-dependent branch
 * mispredicts half the time.
 */
function quantizeRow(x: Float32Array, q: Int8Array, begin: number, end: number, s: number): { maxErr: number; errSq: number; refSq: number } {
  let maxErr = 0;
  let errSq = 0;
  let refSq = 0;
  // a double: 1/s stays finite even for the smallest subnormal float scale
  const inv = s > 0 ? 1 / s : 0;
  for (let i = begin; i < end; i++) {
    const w = x[i]!;
    let v = w * inv + ROUNDER - ROUNDER;
    v = v > 127 ? 127 : v < -127 ? -127 : v;
    q[i] = v;
    const d = w - v * s;
    maxErr = Math.max(maxErr, Math.abs(d));
    errSq += d * d;
    refSq += w * w;
  }
  return { maxErr, errSq, refSq };
}

/** Back to float32 (int8: q · scale per row; f16: exact widening). i32 records give their integers as floats. */
export function dequantize(q: QuantizedTensor): Float32Array {
  const n = q.shape.reduce((a, b) => a * b, 1);
  switch (q.dtype) {
    case 'f32': return new Float32Array(aligned(q.data).buffer, 0, n);
    case 'i32': return Float32Array.from(new Int32Array(aligned(q.data).buffer, 0, n));
    case 'f16': {
      const h = new Uint16Array(aligned(q.data).buffer, 0, n);
      const table = f16Table();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[h[i]!]!;
      return out;
    }
    case 'int8': {
      const v = new Int8Array(q.data.buffer, q.data.byteOffset, n);
      const scales = scalesOf(q);
      const rows = q.shape[0]!;
      const cols = rows ? n / rows : 0;
      const out = new Float32Array(n);
      for (let r = 0; r < rows; r++) {
        const s = scales[r]!;
        for (let i = r * cols; i < (r + 1) * cols; i++) out[i] = v[i]! * s;
      }
      return out;
    }
  }
}

/** The per-row scales of an int8 record as float32. */
export function scalesOf(q: Pick<QuantizedTensor, 'scales' | 'scaleDtype'>): Float32Array {
  if (!q.scales) throw new Error('int8 tensor without scales');
  if (q.scaleDtype === 'f32') return new Float32Array(aligned(q.scales).buffer);
  const table = f16Table();
  return Float32Array.from(new Uint16Array(aligned(q.scales).buffer), (b) => table[b]!);
}

/** Bytes a record takes (data + scales). */
const quantizedByteLength = (q: QuantizedTensor): number => q.data.byteLength + (q.scales?.byteLength ?? 0);

export interface QuantizedStateDict {
  tensors: Map<string, QuantizedTensor>;
  /** Per-tensor format and error, for the model record. */
  report: { name: string; dtype: QuantizedDtype; maxRel: number; rmsRel: number; bytes: number }[];
  totalBytes: number;
}

export function quantizeStateDict(host: Map<string, HostTensor>, policy: QuantizationPolicy = DEFAULT_POLICY): QuantizedStateDict {
  const tensors = new Map<string, QuantizedTensor>();
  const report: QuantizedStateDict['report'] = [];
  let totalBytes = 0;
  for (const [name, t] of host) {
    const q = quantizeTensor(name, t, policy);
    tensors.set(name, q);
    const bytes = quantizedByteLength(q);
    totalBytes += bytes;
    report.push({ name, dtype: q.dtype, ...q.error, bytes });
  }
  return { tensors, report, totalBytes };
}

/** Host tensors (F32, or I32 for integer records) ready for WeightStore / storeFromHost. */
export function dequantizeStateDict(q: Map<string, QuantizedTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of q) {
    out.set(name, t.dtype === 'i32'
      ? { dtype: 'I32', shape: t.shape, data: new Int32Array(aligned(t.data).buffer, 0, t.shape.reduce((a, b) => a * b, 1)) }
      : { dtype: 'F32', shape: t.shape, data: dequantize(t) });
  }
  return out;
}

class ErrorMeter {
  private maxErr = 0;
  private errSq = 0;
  private refSq = 0;

  constructor(private readonly maxAbs: number) {}

  /** A meter from sums accumulated elsewhere (hot loops keep them in locals). */
  static of(maxAbs: number, maxErr: number, errSq: number, refSq: number): ErrorMeter {
    const m = new ErrorMeter(maxAbs);
    m.maxErr = maxErr;
    m.errSq = errSq;
    m.refSq = refSq;
    return m;
  }

  add(ref: number, got: number): void {
    const d = Math.abs(ref - got);
    if (d > this.maxErr) this.maxErr = d;
    this.errSq += d * d;
    this.refSq += ref * ref;
  }

  result(): QuantizationError {
    return {
      maxRel: this.maxAbs > 0 ? this.maxErr / this.maxAbs : 0,
      rmsRel: this.refSq > 0 ? Math.sqrt(this.errSq / this.refSq) : 0,
    };
  }
}

/** max |x| (NaN when x holds a NaN: Math.max propagates it). */
function maxAbsOf(x: Float32Array, begin = 0, end = x.length): number {
  let m = 0;
  for (let i = begin; i < end; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

function rowMaxAbs(x: Float32Array, rows: number): Float32Array {
  const cols = rows ? x.length / rows : 0;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = maxAbsOf(x, r * cols, (r + 1) * cols);
  return out;
}

let table16: Float32Array | undefined;
/** All 65536 half values as floats: dequantizing by lookup is several times faster than decoding bits. */
function f16Table(): Float32Array {
  if (!table16) {
    table16 = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table16[i] = f16ToF32(i);
  }
  return table16;
}

const bytesOf = (a: Float32Array | Int32Array | Uint16Array | Int8Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A copy at offset 0 of a fresh buffer, so wider typed-array views are aligned and never alias the record. */
const aligned = (b: Uint8Array): Uint8Array => b.slice();
