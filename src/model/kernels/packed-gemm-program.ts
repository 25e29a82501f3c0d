import type { PackedFormat } from './packed-weight';

/**
 * One tiled WGSL matrix product C[M, N] = A[M, K] · B[K, N] + bias for tfjs-backend-webgpu's program runner, where
 * B is read from a packed weight (packed-weight.ts) and dequantized while a tile is loaded into shared memory.
 * Each workgroup computes a 64×64 tile of C with 16×16 threads (4×4 outputs per thread), stepping through K in
 * slices of 16. The A and B readers make it every layer IPGO runs:
 * - `linear`:            A = x [M, K] row-major,             B(k, n) = W[n, k]   (y = x·Wᵀ)
 * - `linearInputGrad`:   A = dy [M, K] row-major,            B(k, n) = W[k, n]   (dx = dy·W)
 * - `conv`:              A = the NHWC patch of output pixel m at tap k = (ky, kx, ci),  B(k, n) = W[n, k]
 * - `convInputGrad`:     A = dy at the output pixel that input pixel m reaches through tap (ky, kx), channel co,
 *                        B((ky, kx, co), ci) = W[co, (ky, kx, ci)]   (the transposed convolution, no flipped copy)
 * int8 scales belong to W's rows: applied once per output when rows are outputs, at load when rows are reduced.
 * Rows of C are processed from `mOffset`, so a very large layer is split into several short dispatches.
 */
export type GemmVariant = 'linear' | 'linearInputGrad' | 'conv' | 'convInputGrad';

export const TILE_M = 64;
export const TILE_N = 64;
const TILE_K = 16;

/** Uniforms in declaration order (all i32). */
export const GEMM_UNIFORMS = ['M', 'N', 'K', 'wordsPerRow', 'inH', 'inW', 'inC', 'outH', 'outW', 'kh', 'kw', 'stride', 'pad', 'mOffset'] as const;
export type GemmUniforms = Record<(typeof GEMM_UNIFORMS)[number], number>;

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

function aReader(v: GemmVariant): string {
  switch (v) {
    case 'linear':
    case 'linearInputGrad':
      return `fn readA(m: i32, k: i32) -> f32 {
        if (m >= uniforms.M || k >= uniforms.K) { return 0.0; }
        return A[m * uniforms.K + k];
      }`;
    case 'conv':
      // m = (b, oy, ox) over the output, k = (ky, kx, ci) over the kernel: x[b, oy·s − p + ky, ox·s − p + kx, ci]
      return `fn readA(m: i32, k: i32) -> f32 {
        if (m >= uniforms.M || k >= uniforms.K) { return 0.0; }
        let ox = m % uniforms.outW; let t = m / uniforms.outW; let oy = t % uniforms.outH; let b = t / uniforms.outH;
        let ci = k % uniforms.inC; let tap = k / uniforms.inC; let kx = tap % uniforms.kw; let ky = tap / uniforms.kw;
        let iy = oy * uniforms.stride - uniforms.pad + ky;
        let ix = ox * uniforms.stride - uniforms.pad + kx;
        if (iy < 0 || iy >= uniforms.inH || ix < 0 || ix >= uniforms.inW) { return 0.0; }
        return A[((b * uniforms.inH + iy) * uniforms.inW + ix) * uniforms.inC + ci];
      }`;
    case 'convInputGrad':
      // m = (b, iy, ix) over the conv's input, k = (ky, kx, co): dy[b, oy, ox, co] with oy·s − p + ky = iy.
      // Here inH/inW/inC describe dy (the conv's output) and outH/outW the conv's input.
      return `fn readA(m: i32, k: i32) -> f32 {
        if (m >= uniforms.M || k >= uniforms.K) { return 0.0; }
        let ix = m % uniforms.outW; let t = m / uniforms.outW; let iy = t % uniforms.outH; let b = t / uniforms.outH;
        let co = k % uniforms.inC; let tap = k / uniforms.inC; let kx = tap % uniforms.kw; let ky = tap / uniforms.kw;
        let ny = iy + uniforms.pad - ky;
        let nx = ix + uniforms.pad - kx;
        if (ny < 0 || nx < 0 || ny % uniforms.stride != 0 || nx % uniforms.stride != 0) { return 0.0; }
        let oy = ny / uniforms.stride; let ox = nx / uniforms.stride;
        if (oy >= uniforms.inH || ox >= uniforms.inW) { return 0.0; }
        return A[((b * uniforms.inH + oy) * uniforms.inW + ox) * uniforms.inC + co];
      }`;
  }
}

function bReader(v: GemmVariant, scaled: boolean): string {
  const scale = (row: string) => (scaled ? ` * S[${row}]` : '');
  switch (v) {
    case 'linear':
    case 'conv':
      return `fn readB(k: i32, n: i32) -> f32 {
        if (k >= uniforms.K || n >= uniforms.N) { return 0.0; }
        return weightAt(n, k);
      }`;
    case 'linearInputGrad':
      return `fn readB(k: i32, n: i32) -> f32 {
        if (k >= uniforms.K || n >= uniforms.N) { return 0.0; }
        return weightAt(k, n)${scale('k')};
      }`;
    case 'convInputGrad':
      // k = (ky, kx, co) → W row co, column (ky, kx, ci = n); uniforms.N is the conv's input channels
      return `fn readB(k: i32, n: i32) -> f32 {
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
  ) {
    const n = outputShape[outputShape.length - 1]!;
    this.variableNames = ['A', 'W', ...(format === 'int8' ? ['S'] : []), ...(hasBias ? ['bias'] : [])];
    this.dispatch = [Math.ceil(n / TILE_N), Math.ceil(dispatchRows / TILE_M), 1];
    this.shaderKey = `packedGemm_${variant}_${format}_${hasBias}`;
  }

  getUserCode(): string {
    const scaled = this.format === 'int8';
    const outScale = scaled && rowsAreOutputs(this.variant) ? ' * S[n]' : '';
    const bias = this.hasBias ? ' + bias[n]' : '';
    const loadBRowsN = rowsAreOutputs(this.variant);
    return `
      ${weightReader(this.format)}
      ${aReader(this.variant)}
      ${bReader(this.variant, scaled && !rowsAreOutputs(this.variant))}
      var<workgroup> As : array<array<f32, ${TILE_M}>, ${TILE_K}>;
      var<workgroup> Bs : array<array<f32, ${TILE_N}>, ${TILE_K}>;

      ${'fn main()'} {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let tid = ty * 16 + tx;
        let m0 = uniforms.mOffset + i32(workgroupId.y) * ${TILE_M};
        let n0 = i32(workgroupId.x) * ${TILE_N};
        var acc : array<array<f32, 4>, 4>;
        for (var k0 = 0; k0 < uniforms.K; k0 = k0 + ${TILE_K}) {
          for (var i = 0; i < 4; i = i + 1) {
            let idx = tid + i * 256;
            // consecutive threads read consecutive k of one row of A (row-major activations)
            As[idx % ${TILE_K}][idx / ${TILE_K}] = readA(m0 + idx / ${TILE_K}, k0 + idx % ${TILE_K});
            ${loadBRowsN
              // W rows are n: consecutive threads read consecutive k of one row (one packed word per 4 threads)
              ? `Bs[idx % ${TILE_K}][idx / ${TILE_K}] = readB(k0 + idx % ${TILE_K}, n0 + idx / ${TILE_K});`
              : `Bs[idx / ${TILE_N}][idx % ${TILE_N}] = readB(k0 + idx / ${TILE_N}, n0 + idx % ${TILE_N});`}
          }
          workgroupBarrier();
          for (var kk = 0; kk < ${TILE_K}; kk = kk + 1) {
            var a : array<f32, 4>;
            var b : array<f32, 4>;
            for (var i = 0; i < 4; i = i + 1) {
              a[i] = As[kk][ty * 4 + i];
              b[i] = Bs[kk][tx * 4 + i];
            }
            for (var i = 0; i < 4; i = i + 1) {
              for (var j = 0; j < 4; j = j + 1) {
                acc[i][j] = fma(a[i], b[j], acc[i][j]);
              }
            }
          }
          workgroupBarrier();
        }
        for (var i = 0; i < 4; i = i + 1) {
          let m = m0 + ty * 4 + i;
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
  readonly uniforms = 'wordsPerRow : i32, cols : i32,';
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
