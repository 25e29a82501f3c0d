import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Adam } from './adam';

/** torch.optim.Adam (_single_tensor_adam, no weight decay) in float64, for loss ½‖p − c‖² (grad = p − c). */
function torchAdamReference(p0: number[], c: number[], steps: number, lr: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[][] {
  const p = [...p0], m = p.map(() => 0), v = p.map(() => 0);
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    for (let i = 0; i < p.length; i++) {
      const g = p[i]! - c[i]!;
      m[i] = m[i]! + (g - m[i]!) * (1 - b1);
      v[i] = v[i]! * b2 + g * g * (1 - b2);
      const stepSize = lr / (1 - b1 ** t);
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** t) + eps;
      p[i] = p[i]! - stepSize * m[i]! / denom;
    }
    out.push([...p]);
  }
  return out;
}

describe('Adam (torch semantics)', () => {
  it('matches the torch update formula for 3 steps on a tiny problem', () => {
    const before = tf.memory().numTensors;
    // The last gradient, 2^-27 ≈ 7.5e-9, is below ε (and exactly representable in float32): it tests ε's placement.
    const p0 = [0.5, -1.25, 2.0, 2 ** -20], c = [0.1, 0.2, -0.3, 2 ** -20 - 2 ** -27];
    const lr = 0.05;
    const ref = torchAdamReference(p0, c, 3, lr);
    const params = tf.tidy(() => ({ a: tf.variable(tf.tensor1d(p0.slice(0, 2))), b: tf.variable(tf.tensor2d([p0.slice(2)], [1, 2])) }));
    const opt = new Adam(params, { lr });
    const cA = tf.tensor1d(c.slice(0, 2)), cB = tf.tensor2d([c.slice(2)], [1, 2]);
    for (let t = 0; t < 3; t++) {
      const grads = { a: tf.sub(params.a, cA), b: tf.sub(params.b, cB) };
      opt.step(grads);
      tf.dispose(Object.values(grads));
      const got = [...params.a.dataSync(), ...params.b.dataSync()];
      got.forEach((v, i) => expect(Math.abs(v - ref[t]![i]!)).toBeLessThan(2e-7 * Math.max(1, Math.abs(ref[t]![i]!))));
    }
    // First step moves every entry by lr·g/(|g| + eps): ≈ lr unless |g| is comparable to ε (the last entry: ≈ 0.43·lr).
    expect(Math.abs(ref[0]![0]! - p0[0]!)).toBeCloseTo(lr * 0.4 / (0.4 + 1e-8), 12);
    expect(Math.abs(ref[0]![3]! - p0[3]!)).toBeCloseTo(lr * 2 ** -27 / (2 ** -27 + 1e-8), 12);
    expect(opt.stepCount).toBe(3);
    opt.dispose();
    tf.dispose([params.a, params.b, cA, cB]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('state round-trips exactly (a restored optimizer continues bit-identically)', async () => {
    const mk = (): { p: tf.Variable } => ({ p: tf.variable(tf.tensor1d([0.3, -0.7, 1.1])) });
    const a = mk(), b = mk();
    const optA = new Adam(a, { lr: 0.01 }), optB = new Adam(b, { lr: 0.01 });
    const g1 = tf.tensor1d([0.2, -0.1, 0.05]), g2 = tf.tensor1d([-0.3, 0.4, 0.01]);
    optA.step({ p: g1 });
    optA.step({ p: g2 });
    const state = await optA.getState();
    b.p.assign(a.p);
    optB.setState(state);
    optA.step({ p: g1 });
    optB.step({ p: g1 });
    expect(Array.from(b.p.dataSync())).toEqual(Array.from(a.p.dataSync()));
    expect(optB.stepCount).toBe(3);
    expect(() => optB.setState({ ...state, m: { p: new Float32Array(2) } })).toThrow(/m\["p"\] must have 3 values/);
    expect(() => optB.step({} as { p: tf.Tensor })).toThrow(/missing gradient for "p"/);
    optA.dispose();
    optB.dispose();
    tf.dispose([a.p, b.p, g1, g2]);
  });
});
