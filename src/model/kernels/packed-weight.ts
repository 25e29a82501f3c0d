import * as tf from '@tensorflow/tfjs';
import { f16ToF32 } from '../../weights/formats/safetensors';
import { deviceTensor } from '../device-tensor';

/**
 * A weight matrix that stays packed on the device: `rows` output channels of `cols` values each, int8 (four per
 * 32-bit word, one float32 scale per row: w = q · scale) or fp16 (two per word). Each row starts on a word
 * boundary (rows are padded with zeros to a whole word), so a row's values never share a word with the next row.
 * Linear weights are their torch [out, in] matrix; conv weights are [out, kh·kw·in] in (ky, kx, in) order, the
 * order of an NHWC patch, so the conv kernels read them without any transpose.
 */
export type PackedFormat = 'int8' | 'fp16';

export interface PackedMatrix {
  packed: PackedFormat;
  rows: number;
  cols: number;
  /** int32 [rows · wordsPerRow(cols)]. */
  words: tf.Tensor1D;
  /** float32 [rows], int8 only. */
  scales?: tf.Tensor1D;
  /** The logical float layout the layer would otherwise hold (Linear [out, in]; Conv [kh, kw, in, out]). */
  shape: number[];
}

export const valuesPerWord = (f: PackedFormat): number => (f === 'int8' ? 4 : 2);
export const wordsPerRow = (f: PackedFormat, cols: number): number => Math.ceil(cols / valuesPerWord(f));

export function isPacked(w: unknown): w is PackedMatrix {
  return typeof w === 'object' && w !== null && 'packed' in w;
}

/** Bytes the packed matrix holds on the device (words and scales). */
export function packedBytes(p: Pick<PackedMatrix, 'packed' | 'rows' | 'cols'>): number {
  return 4 * p.rows * wordsPerRow(p.packed, p.cols) + (p.packed === 'int8' ? 4 * p.rows : 0);
}

/** Host side of a packed matrix: int8 codes row-major [rows, cols] with their scales, or fp16 bit patterns. */
export type HostPacked =
  | { packed: 'int8'; rows: number; cols: number; codes: Int8Array; scales: Float32Array }
  | { packed: 'fp16'; rows: number; cols: number; halves: Uint16Array };

/** The bytes of a row-major array. */
const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Copies `rows` rows of `rowBytes` from `src` (rows `srcStride` bytes apart) to `dst` (`dstStride` apart). */
function copyRows(src: Uint8Array, srcStride: number, dst: Uint8Array, dstStride: number, rows: number, rowBytes: number): void {
  for (let r = 0; r < rows; r++) dst.set(src.subarray(r * srcStride, r * srcStride + rowBytes), r * dstStride);
}

/** Packs host codes into row-aligned 32-bit words (little-endian lanes, as WGSL reads them). */
export function packWords(h: HostPacked): Int32Array {
  const wpr = wordsPerRow(h.packed, h.cols);
  const words = new Int32Array(h.rows * wpr);
  const rowBytes = (h.cols * 4) / valuesPerWord(h.packed);
  copyRows(bytesOf(h.packed === 'int8' ? h.codes : h.halves), rowBytes, bytesOf(words), wpr * 4, h.rows, rowBytes);
  return words;
}

/** Uploads a host packed matrix; `shape` is the layer's logical float layout. */
export function uploadPacked(h: HostPacked, shape: number[]): PackedMatrix {
  const words = deviceTensor(packWords(h), [h.rows * wordsPerRow(h.packed, h.cols)], 'int32') as tf.Tensor1D;
  const scales = h.packed === 'int8' ? (deviceTensor(h.scales, [h.rows], 'float32') as tf.Tensor1D) : undefined;
  return { packed: h.packed, rows: h.rows, cols: h.cols, words, scales, shape };
}

/** The float values [rows, cols] of host codes (codes · scale, or the halves widened). */
export function dequantizeHost(h: HostPacked): Float32Array {
  if (h.packed === 'int8') return Float32Array.from(h.codes, (q, i) => q * h.scales[Math.floor(i / h.cols)]!);
  return Float32Array.from(h.halves, f16ToF32);
}

/** The host codes of an uploaded packed matrix (synchronous read: for the cpu and wasm backends). */
export function downloadPacked(p: PackedMatrix): HostPacked {
  const words = bytesOf(p.words.dataSync() as Int32Array);
  const rowBytes = (p.cols * 4) / valuesPerWord(p.packed);
  const unpack = (dst: Uint8Array) => copyRows(words, wordsPerRow(p.packed, p.cols) * 4, dst, rowBytes, p.rows, rowBytes);
  if (p.packed === 'int8') {
    const codes = new Int8Array(p.rows * p.cols);
    unpack(bytesOf(codes));
    return { packed: 'int8', rows: p.rows, cols: p.cols, codes, scales: p.scales!.dataSync() as Float32Array };
  }
  const halves = new Uint16Array(p.rows * p.cols);
  unpack(bytesOf(halves));
  return { packed: 'fp16', rows: p.rows, cols: p.cols, halves };
}

/** The packed matrix as a float32 tensor [rows, cols] (the reference the kernels are checked against). */
export function dequantizeMatrix(p: PackedMatrix): tf.Tensor2D {
  return tf.tensor2d(dequantizeHost(downloadPacked(p)), [p.rows, p.cols]);
}

export function disposePacked(p: PackedMatrix): void {
  p.words.dispose();
  p.scales?.dispose();
}

/**
 * Host packing from a checkpoint's torch layout: Linear [out, in] as is; Conv [out, in, kh, kw] reordered to
 * [out, kh, kw, in] (once, at install or bind time). `values`: int8 codes or fp16 bit patterns in torch order.
 */
export function hostPackedFromTorch(
  torchShape: number[], q: { packed: 'int8'; codes: Int8Array; scales: Float32Array } | { packed: 'fp16'; halves: Uint16Array },
): HostPacked {
  const rows = torchShape[0]!;
  const cols = torchShape.slice(1).reduce((a, b) => a * b, 1);
  const reorder = <T extends Int8Array | Uint16Array>(src: T): T => (torchShape.length === 4 ? convToOutTaps(src, torchShape) : src);
  return q.packed === 'int8'
    ? { packed: 'int8', rows, cols, codes: reorder(q.codes), scales: q.scales }
    : { packed: 'fp16', rows, cols, halves: reorder(q.halves) };
}

type RowMajor = Int8Array | Uint16Array | Float32Array;

/** torch conv [out, in, kh, kw] → [out, (kh, kw, in)]: each output channel's taps in the order of an NHWC patch. */
export function convToOutTaps<T extends RowMajor>(src: T, [o, c, kh, kw]: number[]): T {
  const out = new (src.constructor as { new (n: number): T })(src.length);
  const cols = c! * kh! * kw!;
  for (let oi = 0; oi < o!; oi++)
    for (let ci = 0; ci < c!; ci++)
      for (let y = 0; y < kh!; y++)
        for (let x = 0; x < kw!; x++) out[oi * cols + (y * kw! + x) * c! + ci] = src[oi * cols + (ci * kh! + y) * kw! + x]!;
  return out;
}
