/**
 * safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then
 * the raw little-endian tensor bytes. This module parses a header and decodes single tensors; it never copies the
 * whole file, so a streaming reader can feed it byte ranges.
 */

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Total header size in bytes, including the 8-byte length prefix: the data section starts here. */
  dataStart: number;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

export const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Largest header we accept: real checkpoints have headers of a few hundred KiB. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Reads the header length from the first 8 bytes; throws on an implausible value. */
export function readHeaderLength(first8: Uint8Array): number {
  if (first8.byteLength < 8) throw new SafetensorsError('file too short for a safetensors header (need 8 bytes)');
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const len = view.getBigUint64(0, true);
  if (len === 0n || len > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`bad safetensors header length ${len} (allowed 1..${MAX_HEADER_BYTES})`);
  }
  return Number(len);
}

/**
 * Parses and validates the JSON header. `fileSize`, when known, bounds every tensor's byte range.
 * Validates dtype, shape × dtype size = byte length, and non-overlapping in-bounds ranges.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize?: number): SafetensorsHeader {
  const dataStart = 8 + headerBytes.byteLength;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new SafetensorsError(`safetensors header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsError('safetensors header must be a JSON object');
  }
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = validateMetadata(raw);
      continue;
    }
    entries.push(validateEntry(name, raw));
  }
  const dataSize = fileSize === undefined ? undefined : fileSize - dataStart;
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin < cursor) throw new SafetensorsError(`tensor "${e.name}" overlaps the previous tensor`);
    if (dataSize !== undefined && e.end > dataSize) {
      throw new SafetensorsError(`tensor "${e.name}" ends at byte ${e.end} past the data section (${dataSize} bytes): file truncated?`);
    }
    cursor = e.end;
  }
  return { dataStart, entries, metadata };
}

function validateMetadata(raw: unknown): Record<string, string> {
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
    throw new SafetensorsError('safetensors __metadata__ must map strings to strings');
  }
  return raw as Record<string, string>;
}

/** Size of the data section the header describes (the end of its last tensor). */
export function dataSectionSize(header: SafetensorsHeader): number {
  return header.entries.reduce((m, e) => Math.max(m, e.end), 0);
}

function validateEntry(name: string, raw: unknown): SafetensorsEntry {
  const r = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof r !== 'object' || r === null) throw new SafetensorsError(`tensor "${name}": entry is not an object`);
  const dtype = r.dtype as SafetensorsDtype;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
    throw new SafetensorsError(`tensor "${name}": unknown dtype ${JSON.stringify(r.dtype)}`);
  }
  const shape = r.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(`tensor "${name}": bad shape ${JSON.stringify(shape)}`);
  }
  const offs = r.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[1] < offs[0]) {
    throw new SafetensorsError(`tensor "${name}": bad data_offsets ${JSON.stringify(offs)}`);
  }
  const numel = shape.reduce((a: number, b: number) => a * b, 1);
  if (!Number.isSafeInteger(numel * DTYPE_BYTES[dtype]) || numel * DTYPE_BYTES[dtype] !== offs[1] - offs[0]) {
    throw new SafetensorsError(
      `tensor "${name}": shape ${JSON.stringify(shape)} × ${dtype} needs ${numel * DTYPE_BYTES[dtype]} bytes, offsets give ${offs[1] - offs[0]}`);
  }
  return { name, dtype, shape: shape as number[], begin: offs[0], end: offs[1] };
}

/** Rounds a float to the nearest IEEE half (ties to even) and returns its bits; overflow gives ±Infinity. */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000; // subnormal half: shift the implicit bit in, round to nearest even
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // may carry into the exponent: still correct
  return sign | h;
}
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Converts IEEE half-precision bits to a float. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export type DecodedArray = Float32Array | Int32Array | Uint8Array;

/**
 * The bytes as a typed array of their element type: a copy, so that any offset is aligned. Typed arrays read in
 * the platform's byte order, little-endian (as safetensors) on every platform the app and its tools run on.
 */
function copyAs<T>(Elements: new (buffer: ArrayBuffer) => T, bytes: Uint8Array): T {
  return new Elements(bytes.slice().buffer);
}

/**
 * Decodes one tensor's raw little-endian bytes. Floats become Float32Array (F64 rounded, F16/BF16 widened);
 * integers become Int32Array (I64 must fit in int32, as token ids and position ids do); U8/BOOL stay bytes.
 */
export function decodeTensorBytes(dtype: SafetensorsDtype, bytes: Uint8Array): DecodedArray {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': return copyAs(Float32Array, bytes);
    case 'F64': return Float32Array.from(copyAs(Float64Array, bytes));
    case 'I32': return copyAs(Int32Array, bytes);
    case 'I16': return Int32Array.from(copyAs(Int16Array, bytes));
    case 'I8': return Int32Array.from(copyAs(Int8Array, bytes));
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) throw new SafetensorsError(`I64 value ${v} does not fit in int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'U8':
    case 'BOOL':
      return bytes.slice();
  }
}

export interface HostTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: DecodedArray;
}

/** Parses a whole in-memory safetensors file (fixtures, goldens, small models). */
export function parseSafetensors(file: Uint8Array): Map<string, HostTensor> {
  const headerLen = readHeaderLength(file.subarray(0, 8));
  if (8 + headerLen > file.byteLength) throw new SafetensorsError(`header length ${headerLen} exceeds file size ${file.byteLength}`);
  const header = parseHeader(file.subarray(8, 8 + headerLen), file.byteLength);
  const out = new Map<string, HostTensor>();
  for (const e of header.entries) {
    const bytes = file.subarray(header.dataStart + e.begin, header.dataStart + e.end);
    out.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeTensorBytes(e.dtype, bytes) });
  }
  return out;
}

/** Serializes float32/int32 host tensors to safetensors bytes (used by tools/make-tiny-model and tests). */
export function serializeSafetensors(tensors: Map<string, { shape: number[]; data: Float32Array | Int32Array }>,
  metadata: Record<string, string> = {}): Uint8Array {
  const raw = [...tensors.keys()].sort().map((name) => {
    const t = tensors.get(name)!;
    return { name, dtype: (t.data instanceof Float32Array ? 'F32' : 'I32') as SafetensorsDtype, shape: t.shape,
      bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  });
  return serializeSafetensorsRaw(raw, metadata);
}

export interface RawTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Little-endian element bytes, row-major. */
  bytes: Uint8Array;
}

/** Serializes tensors of any dtype, in the given order, from their raw little-endian bytes. */
export function serializeSafetensorsRaw(tensors: RawTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel * DTYPE_BYTES[t.dtype] !== t.bytes.byteLength) {
      throw new SafetensorsError(`tensor "${t.name}": ${t.bytes.byteLength} bytes do not hold ${JSON.stringify(t.shape)} × ${t.dtype}`);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const headerBytes0 = new TextEncoder().encode(json);
  json += ' '.repeat((8 - ((headerBytes0.byteLength + 8) % 8)) % 8); // align the data section to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const t of tensors) {
    out.set(t.bytes, pos);
    pos += t.bytes.byteLength;
  }
  return out;
}
