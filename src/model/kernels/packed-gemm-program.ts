import type { PackedFormat } from './packed-weight';

/**
 * One tiled WGSL matrix product C[M, N] = A[M, K] · B[K, N] + bias for tfjs-backend-webgpu's program runner, where
 * B is read from a packed weight (packed-weight.ts) and dequantized while a tile is loaded into shared memory.
 * Each workgroup computes a 128×64 tile of C with 16×16 threads (8×4 outputs per thread), stepping through K in
 * slices of 16 (the two tiles take 12 KiB of the 16 KiB of workgroup memory WebGPU guarantees). The A and B
 * readers make it every layer IPGO runs:
 * - `linear`:            A = x [M, K] row-major,             B(k, n) = W[n, k]   (y = x·Wᵀ)
 * - `linearInputGrad`:   A = dy [M, K] row-major,            B(k, n) = W[k, n]   (dx = dy·W)
 * - `conv`:              A = the NHWC patch of output pixel m at tap k = (ky, kx, ci),  B(k, n) = W[n, k]
 * - `convInputGrad`:     A = dy at the output pixel that input pixel m reaches through tap (ky, kx), channel co,
 *                        B((ky, kx, co), ci) = W[co, (ky, kx, ci)]   (the transposed convolution, no flipped copy)
 * int8 scales belong to W's rows: applied once per output when rows are outputs, at load when rows are reduced.
 * Rows of C are processed from `mOffset`, so a very large layer is split into several short dispatches.
 */
export type GemmVariant = 'linear' | 'linearInputGrad' | 'conv' | 'convInputGrad';

export const TILE_M = 128;
export const TILE_N = 64;
const TILE_K = 16;
/** A and B values each of the 256 threads loads per K slice; output rows per thread. */
const LOADS_A = (TILE_M * TILE_K) / 256;
const LOADS_B = (TILE_N * TILE_K) / 256;
const ROWS_PER_THREAD = TILE_M / 16;

/** Uniforms in declaration order (all i32). */
export const GEMM_UNIFORMS = ['M', 'N', 'K', 'wordsPerRow', 'inH', 'inW', 'inC', 'outH', 'outW', 'kh', 'kw', 'stride', 'pad', 'mOffset'] as const;
export type GemmUniforms = Record<(typeof GEMM_UNIFORMS)[number], number>;

/**
 * Shape facts compiled into the shader (part of its key), so that the transposed convolution's common case does no
 * integer division per element (slow wherever a GPU lacks it, and on CPU-based Vulkan).
 */
export interface GemmSpecialization {
  /** stride 1: every tap of dy exists, no divisibility test */
  unitStride: boolean;
  /** the reduced channels are a multiple of the K slice, so one slice never straddles two taps */
  sliceInOneTap: boolean;
}

/** The specialization a call's uniforms allow (only the transposed convolution has any). */
export function gemmSpecialization(variant: GemmVariant, u: Pick<GemmUniforms, 'stride' | 'inC'>): GemmSpecialization {
  const convT = variant === 'convInputGrad';
  return { unitStride: convT && u.stride === 1, sliceInOneTap: convT && u.inC % TILE_K === 0 };
}

const rowsAreOutputs = (v: GemmVariant): boolean => v === 'linear' || v === 'conv';

function weightReader(format: PackedFormat): string {
  return format === 'int8'
    ? `fn weightAt(row: i32, col: i32) -> f32 {
        let word = W[row * uniforms.wordsPerRow + col / 4];
        return f32((word << u32(24 - 8 * (col % 4))) >> 24u);
      }`
    : `fn weightAt(row: i32, col: i32) -> f32 {
        let pair = unpack2x16float(bitcast<u32>(W[row * uniforms.wordsPerRow + col / 2]));
        return select(pair.x, pair.y, col % 2 == 1);
      }`;
}

/**
 * The A side in two steps, so that the index arithmetic is done once and not per element: `rowOf(m)` per output row
 * (fixed for a thread), `tapOf(k)` per K slice (a thread loads the same k for all its rows), then `readA(row, tap)`.
 */
function aReader(v: GemmVariant, spec: GemmSpecialization): string {
  switch (v) {
    case 'linear':
    case 'linearInputGrad':
      return `fn rowOf(m: i32) -> vec4<i32> { return vec4<i32>(m * uniforms.K, 0, 0, select(0, 1, m < uniforms.M)); }
      fn tapOf(k: i32) -> vec4<i32> { return vec4<i32>(k, 0, 0, select(0, 1, k < uniforms.K)); }
      fn readA(row: vec4<i32>, tap: vec4<i32>) -> f32 {
        if (row.w == 0 || tap.w == 0) { return 0.0; }
        return A[row.x + tap.x];
      }`;
    case 'conv':
      // m = (b, oy, ox) over the output, k = (ky, kx, ci) over the kernel: x[b, oy·s − p + ky, ox·s − p + kx, ci],
      // whose flat index is the row's base (its top-left tap) plus the tap's offset
      return `fn rowOf(m: i32) -> vec4<i32> {
        let ox = m % uniforms.outW; let t = m / uniforms.outW; let oy = t % uniforms.outH; let b = t / uniforms.outH;
        let iy = oy * uniforms.stride - uniforms.pad; let ix = ox * uniforms.stride - uniforms.pad;
        return vec4<i32>(((b * uniforms.inH + iy) * uniforms.inW + ix) * uniforms.inC, iy, ix, select(0, 1, m < uniforms.M));
      }
      fn tapOf(k: i32) -> vec4<i32> {
        let ci = k % uniforms.inC; let tap = k / uniforms.inC; let kx = tap % uniforms.kw; let ky = tap / uniforms.kw;
        return vec4<i32>((ky * uniforms.inW + kx) * uniforms.inC + ci, kx, ky, select(0, 1, k < uniforms.K));
      }
      fn readA(row: vec4<i32>, tap: vec4<i32>) -> f32 {
        let iy = row.y + tap.z;
        let ix = row.z + tap.y;
        if (row.w == 0 || tap.w == 0 || iy < 0 || iy >= uniforms.inH || ix < 0 || ix >= uniforms.inW) { return 0.0; }
        return A[row.x + tap.x];
      }`;
    case 'convInputGrad':
      // m = (b, iy, ix) over the conv's input, k = (ky, kx, co): dy[b, oy, ox, co] with oy·s − p + ky = iy.
      // Here inH/inW/inC describe dy (the conv's output) and outH/outW the conv's input.
      if (spec.unitStride) {
        // oy = iy + p − ky: the row's base (tap 0, 0) plus the tap's (negative) offset, as in the forward conv
        return `fn rowOf(m: i32) -> vec4<i32> {
        let ix = m % uniforms.outW; let t = m / uniforms.outW; let iy = t % uniforms.outH; let b = t / uniforms.outH;
        let y = iy + uniforms.pad; let x = ix + uniforms.pad;
        return vec4<i32>(((b * uniforms.inH + y) * uniforms.inW + x) * uniforms.inC, y, x, select(0, 1, m < uniforms.M));
      }
      fn tapOf(k: i32) -> vec4<i32> {
        let co = k % uniforms.inC; let tap = k / uniforms.inC; let kx = tap % uniforms.kw; let ky = tap / uniforms.kw;
        return vec4<i32>(co - (ky * uniforms.inW + kx) * uniforms.inC, kx, ky, select(0, 1, k < uniforms.K));
      }
      fn readA(row: vec4<i32>, tap: vec4<i32>) -> f32 {
        let oy = row.y - tap.z;
        let ox = row.z - tap.y;
        if (row.w == 0 || tap.w == 0 || oy < 0 || oy >= uniforms.inH || ox < 0 || ox >= uniforms.inW) { return 0.0; }
        return A[row.x + tap.x];
      }`;
      }
      return `fn rowOf(m: i32) -> vec4<i32> {
        let ix = m % uniforms.outW; let t = m / uniforms.outW; let iy = t % uniforms.outH; let b = t / uniforms.outH;
        return vec4<i32>(b * uniforms.inH, iy + uniforms.pad, ix + uniforms.pad, select(0, 1, m < uniforms.M));
      }
      fn tapOf(k: i32) -> vec4<i32> {
        let co = k % uniforms.inC; let tap = k / uniforms.inC;
        return vec4<i32>(co, tap % uniforms.kw, tap / uniforms.kw, select(0, 1, k < uniforms.K));
      }
      fn readA(row: vec4<i32>, tap: vec4<i32>) -> f32 {
        let ny = row.y - tap.z;
        let nx = row.z - tap.y;
        if (row.w == 0 || tap.w == 0 || ny < 0 || nx < 0 || ny % uniforms.stride != 0 || nx % uniforms.stride != 0) { return 0.0; }
        let oy = ny / uniforms.stride; let ox = nx / uniforms.stride;
        if (oy >= uniforms.inH || ox >= uniforms.inW) { return 0.0; }
        return A[((row.x + oy) * uniforms.inW + ox) * uniforms.inC + tap.x];
      }`;
  }
}

function bReader(v: GemmVariant, scaled: boolean, spec: GemmSpecialization): string {
  const scale = (row: string) => (scaled ? ` * S[${row}]` : '');
  if (v === 'convInputGrad' && spec.sliceInOneTap) {
    // the K slice lies in one tap: its first channel and the tap's column base come once per slice (sliceOf)
    return `fn sliceOf(k0: i32) -> vec2<i32> { return vec2<i32>(k0 % uniforms.inC, (k0 / uniforms.inC) * uniforms.N); }
      fn readB(slice: vec2<i32>, k: i32, kk: i32, n: i32) -> f32 {
        if (k >= uniforms.K || n >= uniforms.N) { return 0.0; }
        let co = slice.x + kk;
        return weightAt(co, slice.y + n)${scale('co')};
      }`;
  }
  const sliceOf = 'fn sliceOf(k0: i32) -> vec2<i32> { return vec2<i32>(0); }\n      ';
  switch (v) {
    case 'linear':
    case 'conv':
      return `${sliceOf}fn readB(slice: vec2<i32>, k: i32, kk: i32, n: i32) -> f32 {
        if (k >= uniforms.K || n >= uniforms.N) { return 0.0; }
        return weightAt(n, k);
      }`;
    case 'linearInputGrad':
      return `${sliceOf}fn readB(slice: vec2<i32>, k: i32, kk: i32, n: i32) -> f32 {
        if (k >= uniforms.K || n >= uniforms.N) { return 0.0; }
        return weightAt(k, n)${scale('k')};
      }`;
    case 'convInputGrad':
      // k = (ky, kx, co) → W row co, column (ky, kx, ci = n); uniforms.N is the conv's input channels
      return `${sliceOf}fn readB(slice: vec2<i32>, k: i32, kk: i32, n: i32) -> f32 {
        if (k >= uniforms.K || n >= uniforms.N) { return 0.0; }
        let co = k % uniforms.inC; let tap = k / uniforms.inC;
        return weightAt(co, tap * uniforms.N + n)${scale('co')};
      }`;
  }
}

export class PackedGemmProgram {
  readonly variableNames: string[];
  readonly uniforms = GEMM_UNIFORMS.map((u) => `${u} : i32,`).join(' ');
  readonly workgroupSize: [number, number, number] = [16, 16, 1];
  readonly dispatchLayout = { x: [1], y: [0] };
  readonly dispatch: [number, number, number];
  shaderKey: string;

  constructor(
    readonly outputShape: number[],
    readonly variant: GemmVariant,
    readonly format: PackedFormat,
    readonly hasBias: boolean,
    /** rows of C in this dispatch (from mOffset) */
    dispatchRows: number,
    readonly spec: GemmSpecialization = { unitStride: false, sliceInOneTap: false },
  ) {
    const n = outputShape[outputShape.length - 1]!;
    this.variableNames = ['A', 'W', ...(format === 'int8' ? ['S'] : []), ...(hasBias ? ['bias'] : [])];
    this.dispatch = [Math.ceil(n / TILE_N), Math.ceil(dispatchRows / TILE_M), 1];
    this.shaderKey = `packedGemm_${variant}_${format}_${hasBias}_${spec.unitStride}_${spec.sliceInOneTap}`;
  }

  getUserCode(): string {
    const scaled = this.format === 'int8';
    const outScale = scaled && rowsAreOutputs(this.variant) ? ' * S[n]' : '';
    const bias = this.hasBias ? ' + bias[n]' : '';
    const loadBRowsN = rowsAreOutputs(this.variant);
    return `
      ${weightReader(this.format)}
      ${aReader(this.variant, this.spec)}
      ${bReader(this.variant, scaled && !rowsAreOutputs(this.variant), this.spec)}
      // [k][m / 4] and [k][n / 4]: a thread reads its rows and its 4 columns as vec4s
      var<workgroup> As : array<array<vec4<f32>, ${TILE_M / 4}>, ${TILE_K}>;
      var<workgroup> Bs : array<array<vec4<f32>, ${TILE_N / 4}>, ${TILE_K}>;

      ${'fn main()'} {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let tid = ty * 16 + tx;
        let m0 = uniforms.mOffset + i32(workgroupId.y) * ${TILE_M};
        let n0 = i32(workgroupId.x) * ${TILE_N};
        var acc : array<vec4<f32>, ${ROWS_PER_THREAD}>;
        // this thread loads A rows m0 + tid / TILE_K + i · 256 / TILE_K (i < LOADS) at k0 + tid % TILE_K:
        // consecutive threads read consecutive k of one row (row-major activations)
        var rows : array<vec4<i32>, ${LOADS_A}>;
        for (var i = 0; i < ${LOADS_A}; i = i + 1) { rows[i] = rowOf(m0 + tid / ${TILE_K} + i * (256 / ${TILE_K})); }
        for (var k0 = 0; k0 < uniforms.K; k0 = k0 + ${TILE_K}) {
          let tap = tapOf(k0 + tid % ${TILE_K});
          let slice = sliceOf(k0);
          for (var i = 0; i < ${LOADS_A}; i = i + 1) {
            let idx = tid + i * 256;
            let am = idx / ${TILE_K};
            As[idx % ${TILE_K}][am / 4][am % 4] = readA(rows[i], tap);
          }
          for (var i = 0; i < ${LOADS_B}; i = i + 1) {
            let idx = tid + i * 256;
            ${loadBRowsN
              // W rows are n: consecutive threads read consecutive k of one row (one packed word per 4 threads)
              ? `let bn = idx / ${TILE_K}; let kk = idx % ${TILE_K}; Bs[kk][bn / 4][bn % 4] = readB(slice, k0 + kk, kk, n0 + bn);`
              : `let bn = idx % ${TILE_N}; let kk = idx / ${TILE_N}; Bs[kk][bn / 4][bn % 4] = readB(slice, k0 + kk, kk, n0 + bn);`}
          }
          workgroupBarrier();
          for (var kk = 0; kk < ${TILE_K}; kk = kk + 1) {
            let b = Bs[kk][tx];
            for (var r = 0; r < ${ROWS_PER_THREAD / 4}; r = r + 1) {
              let a = As[kk][ty * ${ROWS_PER_THREAD / 4} + r];
              acc[4 * r] = fma(vec4<f32>(a.x), b, acc[4 * r]);
              acc[4 * r + 1] = fma(vec4<f32>(a.y), b, acc[4 * r + 1]);
              acc[4 * r + 2] = fma(vec4<f32>(a.z), b, acc[4 * r + 2]);
              acc[4 * r + 3] = fma(vec4<f32>(a.w), b, acc[4 * r + 3]);
            }
          }
          workgroupBarrier();
        }
        for (var i = 0; i < ${ROWS_PER_THREAD}; i = i + 1) {
          let m = m0 + ty * ${ROWS_PER_THREAD} + i;
          if (m >= uniforms.M) { continue; }
          for (var j = 0; j < 4; j = j + 1) {
            let n = n0 + tx * 4 + j;
            if (n < uniforms.N) {
              result[m * uniforms.N + n] = acc[i][j]${outScale}${bias};
            }
          }
        }
      }
    `;
  }
}

/**
 * Widens a packed conv weight [out, (kh, kw, in)] to tfjs's float filter [kh, kw, in, out], one value per thread:
 * for the rare layer that must slice its weight (the VAE decoder's channel-chunked convs at large sizes).
 */
export class PackedToFilterProgram {
  readonly variableNames: string[];
  readonly uniforms = 'wordsPerRow : i32,';
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];
  readonly size = true;
  shaderKey: string;

  constructor(readonly outputShape: number[], readonly format: PackedFormat) {
    this.variableNames = ['W', ...(format === 'int8' ? ['S'] : [])];
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    const n = outputShape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(n / 64), 1, 1];
    this.shaderKey = `packedToFilter_${format}`;
  }

  getUserCode(): string {
    return `
      ${weightReader(this.format)}
      ${'fn main(index : i32)'} {
        if (index >= uniforms.size) { return; }
        let outC = uniforms.outShape[3];
        let co = index % outC;
        let col = index / outC;   // (ky, kx, ci) flattened, the packed row's order
        result[index] = weightAt(co, col)${this.format === 'int8' ? ' * S[co]' : ''};
      }
    `;
  }
}
