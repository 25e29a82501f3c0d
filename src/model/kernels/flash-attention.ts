import * as tf from '@tensorflow/tfjs';
import type { WebGpuBackendLike } from './webgpu-backend';

/**
 * Memory-efficient attention on WebGPU: o = softmax(q·kᵀ·scale [causal])·v for head-split q [BH, Lq, d],
 * k / v [BH, Lk, d], without ever holding an Lq×Lk score tensor (SD1.5's 64² latents would need 4096×4096 per
 * head). Forward: one thread per query row streams key tiles through shared memory with an online softmax and
 * keeps the row's log-sum-exp. Backward (flash-attention style): the probabilities are recomputed from that lse,
 * dq in a per-query-row pass and dk, dv in a per-key-row pass. Wired in with tf.customGrad; reference: plain
 * softmax(q·kᵀ)·v (the self-check compares both ways).
 */
const FWD = 'IpgoFlashAttention';
const BWD_Q = 'IpgoFlashAttentionGradQ';
const BWD_KV = 'IpgoFlashAttentionGradKV';

/** Head dims the kernels are compiled for: the VAE mid-block's single 512-wide head is the largest. */
export const MAX_FUSED_HEAD_DIM = 512;
const ROWS = 64;
/**
 * Head dims up to this are compiled as straight-line code over constant vec4 indices, so that a row's private
 * vectors live in registers instead of indexed local memory; wider heads loop over their vec4 columns.
 */
const UNROLL_HEAD_DIM = 160;

/** A head's d values as vec4 columns (the last one zero-padded). */
const columnsOf = (d: number): number => Math.ceil(d / 4);

/** Keys (or queries) per shared-memory tile: two [tile, d] float32 blocks within WebGPU's guaranteed 16 KiB. */
const tileOf = (d: number): number => Math.max(1, Math.min(32, Math.floor(512 / columnsOf(d))));

/** WGSL: `body(c)` for every vec4 column c of a head (see UNROLL_HEAD_DIM). */
function eachColumn(d: number, body: (c: string) => string): string {
  const d4 = columnsOf(d);
  if (d <= UNROLL_HEAD_DIM) return Array.from({ length: d4 }, (_, c) => body(String(c))).join('\n          ');
  return `for (var c = 0; c < ${d4}; c = c + 1) { ${body('c')} }`;
}

/** WGSL: the vec4 column `c` of the row starting at flat index `base` of a [.., d] buffer (zeros past d). */
function columnAt(src: string, base: string, c: string, d: number): string {
  const at = (i: number) => (d % 4 === 0 ? `${src}[${base} + 4 * ${c} + ${i}]` : `select(0.0, ${src}[${base} + 4 * ${c} + ${i}], 4 * ${c} + ${i} < ${d})`);
  return `vec4<f32>(${at(0)}, ${at(1)}, ${at(2)}, ${at(3)})`;
}

/** WGSL: stores the d values of vec4 array `v` (times `factor`) at flat index `base`. */
function storeRow(base: string, v: string, d: number, factor = ''): string {
  return eachColumn(d, (c) => [0, 1, 2, 3].map((i) => {
    const store = `result[${base} + 4 * ${c} + ${i}] = ${v}[${c}][${i}]${factor};`;
    return d % 4 === 0 ? store : `if (4 * ${c} + ${i} < ${d}) { ${store} }`;
  }).join(' '));
}

/**
 * WGSL: rows `start`… of [BH, rows, d] sources into the shared tiles (`tileA`, `tileB` in order; zeros past the
 * end), and `extra` (a per-row statement for e < tile, e.g. per-row scalars), between two barriers.
 */
function tileLoad(srcs: string[], start: string, rows: string, d: number, extra = ''): string {
  const d4 = columnsOf(d);
  const names = ['tileA', 'tileB'];
  return `
          workgroupBarrier();
          for (var e = i32(localId.x); e < ${tileOf(d) * d4}; e = e + ${ROWS}) {
            let r = ${start} + e / ${d4};
            let c = e % ${d4};
            ${srcs.map((src, n) => `${names[n]}[e] = select(vec4<f32>(0.0), ${columnAt(src, `(b * ${rows} + r) * ${d}`, 'c', d)}, r < ${rows});`).join('\n            ')}
            ${extra ? `if (e < ${tileOf(d)}) { let r1 = min(${start} + e, ${rows} - 1); ${extra} }` : ''}
          }
          workgroupBarrier();`;
}

abstract class RowProgram {
  readonly workgroupSize: [number, number, number] = [ROWS, 1, 1];
  readonly dispatchLayout = { x: [1], y: [0] };
  readonly dispatch: [number, number, number];
  readonly uniforms = 'lq : i32, lk : i32, scale : f32,';
  shaderKey: string;
  constructor(readonly outputShape: number[], readonly variableNames: string[], rows: number, bh: number, readonly d: number, readonly causal: boolean, name: string) {
    this.dispatch = [Math.ceil(rows / ROWS), bh, 1];
    this.shaderKey = `${name}_${d}_${causal}`;
  }
  abstract getUserCode(): string;
  /** WGSL: the shared tile, then main()'s opening: this thread's row `name` of `rows` per head, its flat `row`. */
  protected preamble(name: string, rows: string): string {
    return `
      var<workgroup> tileA : array<vec4<f32>, ${tileOf(this.d) * columnsOf(this.d)}>;
      var<workgroup> tileB : array<vec4<f32>, ${tileOf(this.d) * columnsOf(this.d)}>;
      var<workgroup> rowsA : array<f32, ${tileOf(this.d)}>;
      var<workgroup> rowsB : array<f32, ${tileOf(this.d)}>;
      ${'fn main()'} {
        let b = i32(workgroupId.y);
        let ${name} = i32(workgroupId.x) * ${ROWS} + i32(localId.x);
        let live = ${name} < ${rows};
        let row = b * ${rows} + select(0, ${name}, live);`;
  }
  /** WGSL: private vec4 arrays, zeroed. */
  protected rows(...names: string[]): string {
    return names.map((n) => `var ${n} : array<vec4<f32>, ${columnsOf(this.d)}>;`).join('\n        ');
  }
  /** WGSL: `let out` = Σ_c v·(row `jj` of shared `tile`), v a private vec4 array. */
  protected dot(out: string, v: string, tile: string, jj: string): string {
    const d4 = columnsOf(this.d);
    return `var ${out}4 = vec4<f32>(0.0);
            ${eachColumn(this.d, (c) => `${out}4 = fma(${v}[${c}], ${tile}[${jj} * ${d4} + ${c}], ${out}4);`)}
            let ${out} = (${out}4.x + ${out}4.y) + (${out}4.z + ${out}4.w);`;
  }
  /** WGSL: acc += p · (row `jj` of shared `tile`). */
  protected axpy(acc: string, p: string, tile: string, jj: string): string {
    const d4 = columnsOf(this.d);
    return `{ let pv = vec4<f32>(${p}); ${eachColumn(this.d, (c) => `${acc}[${c}] = fma(pv, ${tile}[${jj} * ${d4} + ${c}], ${acc}[${c}]);`)} }`;
  }
  /** WGSL: private row `v` = row `row` of `src` [.., d] (times `factor`). */
  protected loadRow(v: string, src: string, row: string, factor = ''): string {
    return eachColumn(this.d, (c) => `${v}[${c}] = ${columnAt(src, `${row} * ${this.d}`, c, this.d)}${factor};`);
  }
}

/** Forward: o [BH, Lq, d] and lse [BH, Lq] side by side in one output [BH, Lq, d + 1]. */
class ForwardProgram extends RowProgram {
  constructor(bh: number, lq: number, d: number, causal: boolean) {
    super([bh, lq, d + 1], ['Q', 'K', 'V'], lq, bh, d, causal, 'flashFwd');
  }
  getUserCode(): string {
    const d = this.d, t = tileOf(d);
    return `${this.preamble('i', 'uniforms.lq')}
        ${this.rows('q', 'acc')}
        ${this.loadRow('q', 'Q', 'row', ' * uniforms.scale')}
        var m = -3.0e38;
        var l = 0.0;
        for (var j0 = 0; j0 < uniforms.lk; j0 = j0 + ${t}) {
          // a run-time bound: a constant one lets the shader compiler unroll the tile loops into huge code
          let tn = min(${t}, uniforms.lk - j0);
          var p : array<f32, ${t}>;
          // K, V tiles → scores and the online-softmax rescale, then accumulate
          ${tileLoad(['K', 'V'], 'j0', 'uniforms.lk', d)}
          var mNew = m;
          for (var jj = 0; jj < tn; jj = jj + 1) {
            let j = j0 + jj;
            ${this.dot('s', 'q', 'tileA', 'jj')}
            p[jj] = ${this.causal ? 'select(-3.0e38, s, j <= i)' : 's'};
            mNew = max(mNew, p[jj]);
          }
          let alpha = exp(m - mNew);
          l = l * alpha;
          ${eachColumn(d, (c) => `acc[${c}] = acc[${c}] * alpha;`)}
          for (var jj = 0; jj < tn; jj = jj + 1) {
            p[jj] = select(0.0, exp(p[jj] - mNew), p[jj] > -1.0e38);
            l = l + p[jj];
          }
          m = mNew;
          for (var jj = 0; jj < tn; jj = jj + 1) {
            ${this.axpy('acc', 'p[jj]', 'tileB', 'jj')}
          }
        }
        if (live) {
          let base = row * ${d + 1};
          let inv = 1.0 / l;
          ${storeRow('base', 'acc', d, ' * inv')}
          result[base + ${d}] = m + log(l);
        }
      }
    `;
  }
}

/** dq [BH, Lq, d]: per query row, P from the saved lse, dS = P (dO·v − Δ), dq = scale Σ dS k (Δ = rowsum(dO ⊙ O)). */
class GradQProgram extends RowProgram {
  constructor(bh: number, lq: number, d: number, causal: boolean) {
    super([bh, lq, d], ['Q', 'K', 'V', 'O', 'DY', 'DELTA'], lq, bh, d, causal, 'flashGradQ');
  }
  getUserCode(): string {
    const d = this.d, t = tileOf(d);
    return `${this.preamble('i', 'uniforms.lq')}
        ${this.rows('q', 'dy', 'dq')}
        let delta = DELTA[row];
        ${this.loadRow('q', 'Q', 'row', ' * uniforms.scale')}
        ${this.loadRow('dy', 'DY', 'row')}
        let lse = O[row * ${d + 1} + ${d}];
        for (var j0 = 0; j0 < uniforms.lk; j0 = j0 + ${t}) {
          let tn = min(${t}, uniforms.lk - j0);
          ${tileLoad(['K', 'V'], 'j0', 'uniforms.lk', d)}
          for (var jj = 0; jj < tn; jj = jj + 1) {
            ${this.dot('s', 'q', 'tileA', 'jj')}
            let p = ${this.causal ? 'select(0.0, exp(s - lse), j0 + jj <= i)' : 'exp(s - lse)'};
            ${this.dot('dp', 'dy', 'tileB', 'jj')}
            ${this.axpy('dq', 'p * (dp - delta)', 'tileA', 'jj')}
          }
        }
        if (live) { ${storeRow(`row * ${d}`, 'dq', d, ' * uniforms.scale')} }
      }
    `;
  }
}

/** dk, dv [BH, Lk, 2, d]: per key row, dv = Σ P dO, dk = scale Σ dS q (queries streamed in tiles). */
class GradKVProgram extends RowProgram {
  constructor(bh: number, lk: number, d: number, causal: boolean) {
    super([bh, lk, 2, d], ['Q', 'K', 'V', 'O', 'DY', 'DELTA'], lk, bh, d, causal, 'flashGradKV');
  }
  getUserCode(): string {
    const d = this.d, t = tileOf(d);
    return `${this.preamble('j', 'uniforms.lk')}
        ${this.rows('k', 'v', 'dk', 'dv')}
        ${this.loadRow('k', 'K', 'row')}
        ${this.loadRow('v', 'V', 'row')}
        for (var i0 = 0; i0 < uniforms.lq; i0 = i0 + ${t}) {
          let tn = min(${t}, uniforms.lq - i0);
          // Q, dO tiles and their rows' lse and Δ
          ${tileLoad(['Q', 'DY'], 'i0', 'uniforms.lq', d, `rowsA[e] = O[(b * uniforms.lq + r1) * ${d + 1} + ${d}]; rowsB[e] = DELTA[b * uniforms.lq + r1];`)}
          for (var ii = 0; ii < tn; ii = ii + 1) {
            ${this.dot('s', 'k', 'tileA', 'ii')}
            let p = ${this.causal ? 'select(0.0, exp(s * uniforms.scale - rowsA[ii]), j <= i0 + ii)' : 'exp(s * uniforms.scale - rowsA[ii])'};
            ${this.axpy('dv', 'p', 'tileB', 'ii')}
            ${this.dot('dp', 'v', 'tileB', 'ii')}
            ${this.axpy('dk', 'p * (dp - rowsB[ii])', 'tileA', 'ii')}
          }
        }
        if (live) {
          ${storeRow('(row * 2) * ' + d, 'dk', d, ' * uniforms.scale')}
          ${storeRow('(row * 2 + 1) * ' + d, 'dv', d)}
        }
      }
    `;
  }
}

interface Attrs { scale: number; causal: boolean }
type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
const uniformsOf = (lq: number, lk: number, scale: number) => [
  { type: 'int32', data: [lq] }, { type: 'int32', data: [lk] }, { type: 'float32', data: [scale] },
];

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  const run = (make: (bh: number, lq: number, lk: number, d: number, causal: boolean) => RowProgram, names: string[]) =>
    (({ inputs, backend, attrs }: KernelArgs) => {
      const { scale, causal } = attrs as unknown as Attrs;
      const [bh, lq, d] = inputs.q!.shape as [number, number, number];
      const lk = inputs.k!.shape[1]!;
      const gpu = backend as WebGpuBackendLike;
      return gpu.runWebGPUProgram(make(bh, lq, lk, d, causal), names.map((n) => inputs[n]!), 'float32', uniformsOf(lq, lk, scale));
    }) as unknown as tf.KernelFunc;
  tf.registerKernel({ kernelName: FWD, backendName: 'webgpu', kernelFunc: run((bh, lq, _lk, d, c) => new ForwardProgram(bh, lq, d, c), ['q', 'k', 'v']) });
  tf.registerKernel({ kernelName: BWD_Q, backendName: 'webgpu', kernelFunc: run((bh, lq, _lk, d, c) => new GradQProgram(bh, lq, d, c), ['q', 'k', 'v', 'o', 'dy', 'delta']) });
  tf.registerKernel({ kernelName: BWD_KV, backendName: 'webgpu', kernelFunc: run((bh, _lq, lk, d, c) => new GradKVProgram(bh, lk, d, c), ['q', 'k', 'v', 'o', 'dy', 'delta']) });
}

/** Whether the fused kernels serve this call (WebGPU, head dim within the compiled range). */
export function fusedAttentionApplies(headDim: number): boolean {
  return tf.getBackend() === 'webgpu' && headDim <= MAX_FUSED_HEAD_DIM;
}

/**
 * softmax(q·kᵀ·scale)·v on head-split [BH, L, d] tensors, causal when asked (query i sees keys j ≤ i);
 * differentiable in q, k and v. WebGPU only (see fusedAttentionApplies).
 */
export function flashAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, scale: number, causal = false): tf.Tensor3D {
  register();
  const attrs = { scale, causal } as unknown as tf.NamedAttrMap;
  const d = q.shape[2];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qi, ki, vi, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    const ol = tf.engine().runKernel(FWD, { q: qi, k: ki, v: vi }, attrs) as tf.Tensor3D;
    save([qi, ki, vi, ol]);
    return {
      value: tf.slice(ol, [0, 0, 0], [-1, -1, d]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, so] = saved as tf.Tensor3D[];
        return tf.tidy(() => {
          const delta = tf.sum(tf.mul(dy, tf.slice(so!, [0, 0, 0], [-1, -1, d])), -1);
          const dq = tf.engine().runKernel(BWD_Q, { q: sq!, k: sk!, v: sv!, o: so!, dy, delta }, attrs) as tf.Tensor3D;
          const dkv = tf.engine().runKernel(BWD_KV, { q: sq!, k: sk!, v: sv!, o: so!, dy, delta }, attrs) as tf.Tensor;
          const [dk, dv] = tf.unstack(dkv, 2);
          return [dq, dk!, dv!];
        });
      },
    };
  });
  return f(q, k, v) as tf.Tensor3D;
}
