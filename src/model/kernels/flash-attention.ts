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

/** Head dims the kernels are compiled for (private arrays are sized by d). */
export const MAX_FUSED_HEAD_DIM = 160;
const ROWS = 64;


/** Keys (or queries) per shared-memory tile: one [tile, d] float32 block within WebGPU's guaranteed 16 KiB. */
const tileOf = (d: number): number => Math.max(1, Math.min(32, Math.floor(4096 / d)));

/** WGSL: the [tile, d] block of `src` ([BH, rows, d]) starting at row `start`, into shared memory (zeros past the end). */
function tileLoad(src: string, start: string, rows: string, d: number): string {
  const t = tileOf(d);
  return `
          workgroupBarrier();
          for (var e = i32(localId.x); e < ${t * d}; e = e + ${ROWS}) {
            let r = ${start} + e / ${d};
            tile[e] = select(0.0, ${src}[(b * ${rows} + r) * ${d} + e % ${d}], r < ${rows});
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
      var<workgroup> tile : array<f32, ${tileOf(this.d) * this.d}>;
      ${'fn main()'} {
        let b = i32(workgroupId.y);
        let ${name} = i32(workgroupId.x) * ${ROWS} + i32(localId.x);
        let live = ${name} < ${rows};
        let row = b * ${rows} + select(0, ${name}, live);`;
  }
  /** WGSL: `s` = Σ_c a·b over the d values of one row (`c` indexes both). */
  protected dot(a: string, b: string): string {
    return `var s = 0.0; for (var c = 0; c < ${this.d}; c = c + 1) { s = fma(${a}, ${b}, s); }`;
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
        var q : array<f32, ${d}>;
        var acc : array<f32, ${d}>;
        if (live) { for (var c = 0; c < ${d}; c = c + 1) { q[c] = Q[row * ${d} + c] * uniforms.scale; } }
        var m = -3.0e38;
        var l = 0.0;
        for (var j0 = 0; j0 < uniforms.lk; j0 = j0 + ${t}) {
          var p : array<f32, ${t}>;
          // K tile → scores and the online-softmax rescale
          ${tileLoad('K', 'j0', 'uniforms.lk', d)}
          var mNew = m;
          for (var jj = 0; jj < ${t}; jj = jj + 1) {
            let j = j0 + jj;
            ${this.dot('q[c]', `tile[jj * ${d} + c]`)}
            let valid = j < uniforms.lk${this.causal ? ' && j <= i' : ''};
            p[jj] = select(-3.0e38, s, valid);
            mNew = max(mNew, p[jj]);
          }
          let alpha = exp(m - mNew);
          l = l * alpha;
          for (var c = 0; c < ${d}; c = c + 1) { acc[c] = acc[c] * alpha; }
          for (var jj = 0; jj < ${t}; jj = jj + 1) {
            p[jj] = select(0.0, exp(p[jj] - mNew), p[jj] > -1.0e38);
            l = l + p[jj];
          }
          m = mNew;
          // V tile → accumulate
          ${tileLoad('V', 'j0', 'uniforms.lk', d)}
          for (var jj = 0; jj < ${t}; jj = jj + 1) {
            for (var c = 0; c < ${d}; c = c + 1) { acc[c] = fma(p[jj], tile[jj * ${d} + c], acc[c]); }
          }
        }
        if (live) {
          let base = row * ${d + 1};
          for (var c = 0; c < ${d}; c = c + 1) { result[base + c] = acc[c] / l; }
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
    const load = (src: string) => tileLoad(src, 'j0', 'uniforms.lk', d);
    return `${this.preamble('i', 'uniforms.lq')}
        var q : array<f32, ${d}>;
        var dy : array<f32, ${d}>;
        var dq : array<f32, ${d}>;
        let delta = DELTA[row];
        for (var c = 0; c < ${d}; c = c + 1) {
          q[c] = Q[row * ${d} + c] * uniforms.scale;
          dy[c] = DY[row * ${d} + c];
        }
        let lse = O[row * ${d + 1} + ${d}];
        for (var j0 = 0; j0 < uniforms.lk; j0 = j0 + ${t}) {
          var p : array<f32, ${t}>;
          ${load('K')}
          for (var jj = 0; jj < ${t}; jj = jj + 1) {
            let j = j0 + jj;
            ${this.dot('q[c]', `tile[jj * ${d} + c]`)}
            p[jj] = select(0.0, exp(s - lse), j < uniforms.lk${this.causal ? ' && j <= i' : ''});
          }
          ${load('V')}
          for (var jj = 0; jj < ${t}; jj = jj + 1) {
            ${this.dot('dy[c]', `tile[jj * ${d} + c]`)}
            p[jj] = p[jj] * (s - delta);
          }
          ${load('K')}
          for (var jj = 0; jj < ${t}; jj = jj + 1) {
            for (var c = 0; c < ${d}; c = c + 1) { dq[c] = fma(p[jj], tile[jj * ${d} + c], dq[c]); }
          }
        }
        if (live) { for (var c = 0; c < ${d}; c = c + 1) { result[row * ${d} + c] = dq[c] * uniforms.scale; } }
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
    const load = (src: string) => tileLoad(src, 'i0', 'uniforms.lq', d);
    return `${this.preamble('j', 'uniforms.lk')}
        var k : array<f32, ${d}>;
        var v : array<f32, ${d}>;
        var dk : array<f32, ${d}>;
        var dv : array<f32, ${d}>;
        for (var c = 0; c < ${d}; c = c + 1) { k[c] = K[row * ${d} + c]; v[c] = V[row * ${d} + c]; }
        for (var i0 = 0; i0 < uniforms.lq; i0 = i0 + ${t}) {
          var p : array<f32, ${t}>;
          ${load('Q')}
          for (var ii = 0; ii < ${t}; ii = ii + 1) {
            let i = i0 + ii;
            ${this.dot(`tile[ii * ${d} + c]`, 'k[c]')}
            let qrow = b * uniforms.lq + min(i, uniforms.lq - 1);
            p[ii] = select(0.0, exp(s * uniforms.scale - O[qrow * ${d + 1} + ${d}]), i < uniforms.lq && live${this.causal ? ' && j <= i' : ''});
          }
          ${load('DY')}
          for (var ii = 0; ii < ${t}; ii = ii + 1) {
            let i = i0 + ii;
            ${this.dot(`tile[ii * ${d} + c]`, 'v[c]')}
            for (var c = 0; c < ${d}; c = c + 1) { dv[c] = fma(p[ii], tile[ii * ${d} + c], dv[c]); }
            p[ii] = p[ii] * (s - DELTA[b * uniforms.lq + min(i, uniforms.lq - 1)]);
          }
          ${load('Q')}
          for (var ii = 0; ii < ${t}; ii = ii + 1) {
            for (var c = 0; c < ${d}; c = c + 1) { dk[c] = fma(p[ii], tile[ii * ${d} + c], dk[c]); }
          }
        }
        if (live) {
          for (var c = 0; c < ${d}; c = c + 1) {
            result[(row * 2) * ${d} + c] = dk[c] * uniforms.scale;
            result[(row * 2 + 1) * ${d} + c] = dv[c];
          }
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
