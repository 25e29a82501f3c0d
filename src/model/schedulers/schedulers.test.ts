import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { denoise, SamplingCancelled } from '../pipeline';
import {
  ddimStep,
  eulerStep,
  inferenceTimesteps,
  lmsCoefficients,
  lmsStep,
  resolveSchedulerConfig,
  samplerSteps,
  SCHEDULERS,
  trainSchedule,
  type SamplerSteps,
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
    const s = samplerSteps('lms', SD15, 6);
    expect(s.timesteps).toEqual([999, f32(799.2), f32(599.4), f32(399.6), f32(199.8), 0]);
    expect(s.initNoiseSigma).toBeCloseTo(14.614645, 5);
  });
  it('leading / trailing spacings', () => {
    expect(inferenceTimesteps('leading', 1000, 10, 1, false)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(inferenceTimesteps('trailing', 1000, 4, 1, true)).toEqual([999, 749, 499, 249]);
    expect(inferenceTimesteps('linspace', 1000, 4, 1, true)).toEqual([999, 666, 333, 0]);
  });
  it('rejects settings it does not implement', () => {
    expect(() => samplerSteps('euler', SD15, 5, { use_karras_sigmas: true })).toThrow(/use_karras_sigmas/);
    expect(() => samplerSteps('lms', SD15, 5, { timestep_spacing: 'karras' })).toThrow(/timestep_spacing/);
    expect(() => samplerSteps('dpmpp-2m', SD15, 5, { solver_order: 3 })).toThrow(/solver_order=3/);
    expect(() => samplerSteps('nope' as 'lms', SD15, 5)).toThrow(/unknown scheduler "nope": use lms, euler/);
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
    const ge = tf.grad((m: tf.Tensor) => tf.sum(eulerStep({ sample: xs, modelOutput: m, sigma: 2, sigmaNext: 0.5 })))(es);
    for (const v of ge.dataSync()) expect(v).toBeCloseTo(-1.5, 5);
    const a = 0.3, ap = 0.6;
    const [dx, de] = tf.grads((s: tf.Tensor, m: tf.Tensor) => tf.sum(ddimStep({ sample: s, modelOutput: m, alphaProdT: a, alphaProdTPrev: ap }).prevSample))([xs, es]);
    for (const v of dx!.dataSync()) expect(v).toBeCloseTo(Math.sqrt(ap / a), 5);
    for (const v of de!.dataSync()) expect(v).toBeCloseTo(Math.sqrt(1 - ap) - (Math.sqrt(ap) * Math.sqrt(1 - a)) / Math.sqrt(a), 5);
    tf.dispose([xs, es, ge, dx!, de!]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** Runs all steps synchronously with ε = model(scale(z)); returns z_N and disposes the history. */
function runSteps(steps: SamplerSteps, z0: tf.Tensor, model: (x: tf.Tensor) => tf.Tensor): tf.Tensor {
  const history: tf.Tensor[] = [];
  let z = tf.mul(z0, steps.initNoiseSigma);
  steps.timesteps.forEach((_, i) => {
    const eps = model(steps.scale(i, z));
    const { next, item } = steps.step(i, z, eps, history);
    expect(z.isDisposed).toBe(false); // inputs are never disposed by a step
    if (item) history.push(item);
    z = next;
  });
  return z;
}

describe('the pure steps of every scheduler', () => {
  /** A smooth stand-in for the UNet: ε = tanh(0.3·x) + w. */
  const model = (w: tf.Tensor) => (xx: tf.Tensor) => tf.add(tf.tanh(tf.mul(xx, 0.3)), w);

  it('LMS: tf.grad through all 7 steps (order-4 window) matches finite differences', () => {
    const steps = samplerSteps('lms', SD15, 7);
    const x0 = tf.tensor([[0.3, -0.8, 1.1, -0.2]]);
    const w0 = tf.tensor([[0.05, -0.1, 0.2, 0.0]]);
    const dir = tf.tensor([[0.4, -0.3, 0.5, 0.7]]);
    const before = tf.memory().numTensors;
    const loss = (w: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(runSteps(steps, x0, model(w)), tf.tensor([[1, 2, -1, 0.5]]))));
    const g = tf.grad(loss)(w0);
    const analytic = tf.tidy(() => tf.sum(tf.mul(g, dir)).dataSync()[0]!);
    const h = 1e-2;
    const lp = tf.tidy(() => loss(tf.add(w0, tf.mul(dir, h))).dataSync()[0]!);
    const lm = tf.tidy(() => loss(tf.sub(w0, tf.mul(dir, h))).dataSync()[0]!);
    const numeric = (lp - lm) / (2 * h);
    expect(Math.abs(analytic - numeric) / Math.abs(numeric)).toBeLessThan(5e-3);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x0, w0, dir]);
  });

  it('every registered scheduler runs a full loop to finite latents without leaking', () => {
    for (const { name } of SCHEDULERS) {
      const before = tf.memory().numTensors;
      const steps = samplerSteps(name, SD15, 5);
      const z = tf.tidy(() => runSteps(steps, tf.ones([1, 2, 2, 4]), (x) => tf.mul(x, 0.1)));
      expect(Array.from(z.dataSync()).every(Number.isFinite), name).toBe(true);
      z.dispose();
      expect(tf.memory().numTensors, name).toBe(before);
    }
  });

  it('PNDM runs n + 1 UNet calls, repeating the second-to-last spaced timestep', () => {
    // leading spacing, 4 steps: 751, 501, 251, 1 ascending-reversed, with 501 repeated (PLMS without PRK)
    expect(samplerSteps('pndm', SD15, 4).timesteps).toEqual([751, 501, 501, 251, 1]);
  });
});

describe('denoise: the one sampling loop', () => {
  const predictNoise = (x: tf.Tensor4D) => tf.mul(tf.tanh(x), 0.5) as tf.Tensor4D;

  it('equals the pure steps run by hand, keeps what it is asked to, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const steps = samplerSteps('dpmpp-2m', SD15, 6);
    const noise = tf.randomNormal([1, 2, 2, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const record = await denoise({ steps, initNoise: noise, predictNoise, keepInputs: (i) => i >= 4 });
    const byHand = tf.tidy(() => runSteps(steps, noise, (x) => predictNoise(x as tf.Tensor4D)));
    expect(Array.from(record.latents.dataSync())).toEqual(Array.from(byHand.dataSync()));
    expect(Object.keys(record.inputs)).toEqual(['4', '5']);
    expect(Object.keys(record.noises)).toEqual(['4', '5']);
    expect(record.items.length).toBe(6);
    tf.dispose([byHand, noise, record.latents, ...record.inputs, ...record.noises, ...record.items.filter((x): x is tf.Tensor => x !== null)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops with SamplingCancelled and frees what it holds', async () => {
    const before = tf.memory().numTensors;
    const noise = tf.ones([1, 2, 2, 4]) as tf.Tensor4D;
    let calls = 0;
    const run = denoise({ steps: samplerSteps('lms', SD15, 5), initNoise: noise, predictNoise, keepInputs: () => true, isCancelled: () => ++calls > 3 });
    await expect(run).rejects.toBeInstanceOf(SamplingCancelled);
    noise.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
