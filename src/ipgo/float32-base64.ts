/**
 * Float32 arrays as JSON-safe base64 strings (little-endian IEEE-754 bytes), so checkpoints and token files
 * round-trip bit-exactly. No Node Buffer: btoa/atob exist in browsers, workers and Node ≥ 16.
 */

export interface EncodedTensor {
  dtype: 'float32';
  shape: number[];
  /** base64 of the little-endian float32 bytes, row-major. */
  data: string;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const CHUNK = 0x8000;

export function float32ToBase64(values: Float32Array): string {
  const bytes = new Uint8Array(values.length * 4);
  if (LITTLE_ENDIAN) bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  else {
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  }
  let bin = '';
  for (let i = 0; i < bytes.length; i += CHUNK) bin += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(bin);
}

/** Decodes base64 float32 data; throws on malformed base64 or a byte count that is not a multiple of 4. */
export function base64ToFloat32(b64: string): Float32Array {
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new Error('data is not valid base64');
  }
  const bin = atob(b64);
  if (bin.length % 4 !== 0) throw new Error(`data has ${bin.length} bytes, not a multiple of 4 (float32)`);
  const out = new Float32Array(bin.length / 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < bin.length; i++) view.setUint8(i, bin.charCodeAt(i));
  if (!LITTLE_ENDIAN) for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export function encodeTensor(values: Float32Array, shape: number[]): EncodedTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== values.length) throw new Error(`encodeTensor: ${values.length} values do not fill shape [${shape}]`);
  return { dtype: 'float32', shape: [...shape], data: float32ToBase64(values) };
}

/**
 * Decodes and checks an encoded tensor against an expected shape; `where` names it in error messages.
 * Throws a message saying exactly what is wrong (structure, dtype, shape, byte count, non-finite values).
 */
export function decodeTensor(raw: unknown, expectedShape: number[], where: string, opts: { finite?: boolean } = {}): Float32Array {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where}: expected an object {dtype, shape, data}`);
  const t = raw as Record<string, unknown>;
  if (t.dtype !== 'float32') throw new Error(`${where}: dtype must be "float32", got ${JSON.stringify(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((v) => Number.isInteger(v) && (v as number) >= 0)) {
    throw new Error(`${where}: shape must be an array of non-negative integers`);
  }
  if (t.shape.length !== expectedShape.length || t.shape.some((v, i) => v !== expectedShape[i])) {
    throw new Error(`${where}: shape must be [${expectedShape}], got [${t.shape}]`);
  }
  let values: Float32Array;
  try {
    values = base64ToFloat32(t.data as string);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  const size = expectedShape.reduce((a, b) => a * b, 1);
  if (values.length !== size) throw new Error(`${where}: data holds ${values.length} values, shape [${expectedShape}] needs ${size}`);
  if (opts.finite ?? true) {
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${where}: non-finite value ${values[bad]} at flat index ${bad}`);
  }
  return values;
}
