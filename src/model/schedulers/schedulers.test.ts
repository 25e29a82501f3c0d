import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  createScheduler,
  ddimStep,
  eulerStep,
  inferenceTimesteps,
  LMSDiscreteScheduler,
  lmsCoefficients,
  lmsStep,
  resolveSchedulerConfig,
  trainSchedule,
} from './index';
import { f32, fma32, interpOverArange, numpyArange, roundHalfEven, torchLinspaceF32 } from './float32';

/** SD1.5's scheduler_config.json (PNDM; no timestep_spacing key). */
const SD15 = {
  _class_name: 'PNDMScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

describe('float32 / numpy reproductions', () => {
  it('roundHalfEven rounds ties to even like numpy.round', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3]);
  });
  it('numpyArange has numpy’s length for non-integer steps', () => {
    expect(numpyArange(1000, 0, -1000 / 3).length).toBe(3);
    expect(numpyArange(1000, 0, -250).length).toBe(4);
  });
  it('interpOverArange interpolates linearly and clamps', () => {
    const fp = [0, 10, 30];
    expect([interpOverArange(-1, fp), interpOverArange(0.25, fp), interpOverArange(1.5, fp), interpOverArange(7, fp)]).toEqual([0, 2.5, 20, 30]);
  });
  it('fma32 rounds a·b + c once', () => {
    // a·b + c = 1 + 2^-23 + 2^-24 − 2^-70: the double sum rounds onto the float32 midpoint 1 + 2^-23 + 2^-24,
    // which ties to even (1 + 2^-22); the exact value lies below it, so a single rounding gives 1 + 2^-23.
    const a = 1 + 2 ** -23, b = 2 ** -24 * (1 - 2 ** -23), c = 1 + 2 ** -23;
    expect(f32(a * b + c)).toBe(1 + 2 ** -22);
    expect(fma32(a, b, c)).toBe(1 + 2 ** -23);
    expect(fma32(3, 0.5, 1)).toBe(2.5);
  });
  it('torchLinspaceF32 hits both end points exactly and is monotone', () => {
    const l = torchLinspaceF32(0.1, 0.9, 1000);
    expect(l[0]).toBe(f32(0.1));
    expect(l[999]).toBe(f32(0.9));
    for (let i = 1; i < l.length; i++) expect(l[i]!).toBeGreaterThan(l[i - 1]!);
  });
});

describe('schedules from the SD1.5 config', () => {
  it('LMS/Euler default to linspace, DDIM/PNDM to leading', () => {
    expect(resolveSchedulerConfig('lms', SD15).timestepSpacing).toBe('linspace');
    expect(resolveSchedulerConfig('euler', SD15).timestepSpacing).toBe('linspace');
    expect(resolveSchedulerConfig('ddim', SD15).timestepSpacing).toBe('leading');
    expect(resolveSchedulerConfig('lms', SD15, { timestep_spacing: 'leading' }).timestepSpacing).toBe('leading');
  });
  it('LMS 6 steps: the IPGO schedule (999, 799.2, …, 0; σ_max 14.614645)', () => {
    const s = createScheduler('lms', SD15);
    s.setTimesteps(6);
    expect(s.timesteps).toEqual([999, f32(799.2), f32(599.4), f32(399.6), f32(199.8), 0]);
    expect(s.initNoiseSigma).toBeCloseTo(14.614645, 5);
  });
  it('leading / trailing spacings', () => {
    expect(inferenceTimesteps('leading', 1000, 10, 1, false)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(inferenceTimesteps('trailing', 1000, 4, 1, true)).toEqual([999, 749, 499, 249]);
    expect(inferenceTimesteps('linspace', 1000, 4, 1, true)).toEqual([999, 666, 333, 0]);
  });
  it('rejects settings it does not implement', () => {
    expect(() => createScheduler('euler', SD15, { use_karras_sigmas: true })).toThrow(/use_karras_sigmas/);
    expect(() => createScheduler('lms', SD15, { timestep_spacing: 'karras' })).toThrow(/timestep_spacing/);
  });
  it('ᾱ is decreasing and σ = sqrt((1 − ᾱ)/ᾱ)', () => {
    const t = trainSchedule(resolveSchedulerConfig('lms', SD15));
    for (let i = 1; i < 1000; i++) expect(t.alphasCumprod[i]!).toBeLessThan(t.alphasCumprod[i - 1]!);
    expect(t.sigmas[999]).toBeCloseTo(Math.sqrt((1 - t.alphasCumprod[999]!) / t.alphasCumprod[999]!), 5);
  });
});

describe('LMS coefficients (closed form)', () => {
  const sigmas = [14.6, 7.8, 4.6, 2.9, 1.7, 0.9, 0.3, 0];
  it('sum to σ_{i+1} − σ_i (the Lagrange basis sums to one)', () => {
    for (let i = 0; i < sigmas.length - 1; i++) {
      const order = Math.min(i + 1, 4);
      const c = lmsCoefficients(sigmas, i, order);
      expect(c.reduce((a, b) => a + b, 0)).toBeCloseTo(sigmas[i + 1]! - sigmas[i]!, 12);
    }
  });
  it('match a fine Simpson quadrature of the basis polynomials', () => {
    const i = 5, order = 4;
    const c = lmsCoefficients(sigmas, i, order);
    for (let k = 0; k < order; k++) {
      const basis = (tau: number) => {
        let p = 1;
        for (let j = 0; j < order; j++) if (j !== k) p *= (tau - sigmas[i - j]!) / (sigmas[i - k]! - sigmas[i - j]!);
        return p;
      };
      const a = sigmas[i]!, b = sigmas[i + 1]!, n = 2000, h = (b - a) / n;
      let s = basis(a) + basis(b);
      for (let m = 1; m < n; m++) s += (m % 2 ? 4 : 2) * basis(a + m * h);
      expect(c[k]!).toBeCloseTo((s * h) / 3, 10);
    }
  });
});

describe('pure steps are differentiable in sample and model output', () => {
  const x = () => tf.tensor([[0.5, -1.0, 2.0, 0.25]]);
  const e = () => tf.tensor([[0.1, 0.3, -0.2, 0.7]]);

  it('lmsStep: with ε-prediction d = ε, so ∂x_next/∂x = 1 and ∂x_next/∂ε = c_0', () => {
    const before = tf.memory().numTensors;
    const [xs, es] = [x(), e()];
    const hist = [tf.fill([1, 4], 0.5)];
    const coeffs = [-2, 0.5];
    const [gx, ge] = tf.grads((s: tf.Tensor, m: tf.Tensor) => tf.sum(lmsStep({ sample: s, modelOutput: m, sigma: 3, history: hist, coeffs }).prevSample))([xs, es]);
    for (const v of gx!.dataSync()) expect(v).toBeCloseTo(1, 6); // x − x̂₀ = σε does not depend on x
    for (const v of ge!.dataSync()) expect(v).toBeCloseTo(-2, 5);
    tf.dispose([xs, es, gx!, ge!, ...hist]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('eulerStep and ddimStep gradients match their closed forms', () => {
    const before = tf.memory().numTensors;
    const [xs, es] = [x(), e()];
    const ge = tf.grad((m: tf.Tensor) => tf.sum(eulerStep({ sample: xs, modelOutput: m, sigma: 2, sigmaNext: 0.5 }).prevSample))(es);
    for (const v of ge.dataSync()) expect(v).toBeCloseTo(-1.5, 5);
    const a = 0.3, ap = 0.6;
    const [dx, de] = tf.grads((s: tf.Tensor, m: tf.Tensor) => tf.sum(ddimStep({ sample: s, modelOutput: m, alphaProdT: a, alphaProdTPrev: ap }).prevSample))([xs, es]);
    for (const v of dx!.dataSync()) expect(v).toBeCloseTo(Math.sqrt(ap / a), 5);
    for (const v of de!.dataSync()) expect(v).toBeCloseTo(Math.sqrt(1 - ap) - (Math.sqrt(ap) * Math.sqrt(1 - a)) / Math.sqrt(a), 5);
    tf.dispose([xs, es, ge, dx!, de!]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('stateful schedulers', () => {
  /** A fake "model": ε = tanh(0.3·x) + w, smooth in x and w. */
  const model = (xx: tf.Tensor, w: tf.Tensor) => tf.add(tf.tanh(tf.mul(xx, 0.3)), w);

  function sample(s: LMSDiscreteScheduler, w: tf.Tensor, x0: tf.Tensor): tf.Tensor {
    s.setTimesteps(7);
    let xx = tf.mul(x0, s.initNoiseSigma);
    for (const t of s.timesteps) {
      const prev = xx;
      const inp = s.scaleModelInput(xx, t);
      const out = s.step(model(inp, w), t, xx);
      xx = out.prevSample;
      expect(prev.isDisposed).toBe(false); // inputs are never disposed by the scheduler
    }
    return xx;
  }

  it('LMS: tf.grad through all 7 steps (order-4 window, retired history) matches finite differences', () => {
    const s = LMSDiscreteScheduler.fromConfig(SD15);
    const x0 = tf.tensor([[0.3, -0.8, 1.1, -0.2]]);
    const w0 = tf.tensor([[0.05, -0.1, 0.2, 0.0]]);
    const dir = tf.tensor([[0.4, -0.3, 0.5, 0.7]]);
    const before = tf.memory().numTensors;
    const loss = (w: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(sample(s, w, x0), tf.tensor([[1, 2, -1, 0.5]]))));
    const g = tf.grad(loss)(w0);
    const analytic = tf.tidy(() => tf.sum(tf.mul(g, dir)).dataSync()[0]!);
    const h = 1e-2;
    const lp = tf.tidy(() => loss(tf.add(w0, tf.mul(dir, h))).dataSync()[0]!);
    const lm = tf.tidy(() => loss(tf.sub(w0, tf.mul(dir, h))).dataSync()[0]!);
    const numeric = (lp - lm) / (2 * h);
    expect(Math.abs(analytic - numeric) / Math.abs(numeric)).toBeLessThan(5e-3);
    g.dispose();
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x0, w0, dir]);
  });

  it('every scheduler runs a full loop without leaking and reset() frees its history', () => {
    for (const name of ['lms', 'euler', 'ddim', 'pndm'] as const) {
      const before = tf.memory().numTensors;
      const s = createScheduler(name, SD15);
      s.setTimesteps(5);
      let xx = tf.tidy(() => tf.mul(tf.ones([1, 2, 2, 4]), s.initNoiseSigma));
      for (const t of s.timesteps) {
        const next = tf.tidy(() => s.step(tf.mul(s.scaleModelInput(xx, t), 0.1), t, xx).prevSample);
        xx.dispose();
        xx = next;
      }
      expect(Number.isFinite(xx.dataSync()[0]!)).toBe(true);
      xx.dispose();
      s.reset();
      expect(tf.memory().numTensors, name).toBe(before);
      s.dispose();
    }
  });
});
