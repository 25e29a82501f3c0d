/**
 * DPM-Solver++(2M) against an independent float64 transcription of diffusers' DPMSolverMultistepScheduler
 * (set_timesteps, _convert_to_karras, _sigma_to_t, convert_model_output, dpm_solver_first_order_update,
 * multistep_dpm_solver_second_order_update, step's lower_order_final), written from its formulas as they read —
 * λ = log α − log σ_t, D1 = (1/r0)(m0 − m1) — rather than from our folded coefficients.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { resolveSchedulerConfig, samplerSteps, trainSchedule, type DpmSolverSteps, type PredictionType, type SchedulerName } from './index';

/** SD1.5's scheduler_config.json (no timestep_spacing key, so DPMSolverMultistep's own default, linspace, applies). */
const SD15 = {
  _class_name: 'PNDMScheduler', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085,
  num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false,
};
/** diffusers' float32 training sigmas ((1 − ᾱ)/ᾱ)^0.5, checked against diffusers in the schedulers golden suite. */
const TRAIN_SIGMAS = Array.from(trainSchedule(resolveSchedulerConfig('dpmpp-2m', SD15)).sigmas);

// ---- the float64 reference ------------------------------------------------------------------------------------

const npRound = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

function refTimesteps(spacing: string, n: number, offset: number, N = 1000): number[] {
  const last = N; // searchsorted(flip(λ_t), lambda_min_clipped = −inf) = 0
  if (spacing === 'linspace') {
    const step = (last - 1) / n;
    return Array.from({ length: n + 1 }, (_, i) => (i === n ? last - 1 : i * step)).map(npRound).reverse().slice(0, n);
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(last / (n + 1));
    return Array.from({ length: n + 1 }, (_, i) => i * ratio).reverse().slice(0, n).map((t) => t + offset);
  }
  const out: number[] = [];
  for (let t = last; t > 0; t -= N / n) out.push(npRound(t) - 1);
  return out;
}

function refSigmaToT(sigma: number, logSigmas: number[]): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const cum = logSigmas.map((ls) => (logSigma - ls >= 0 ? 1 : 0)).reduce<number[]>((acc, v) => [...acc, (acc.at(-1) ?? 0) + v], []);
  let lowIdx = cum.indexOf(Math.max(...cum)); // argmax: first maximum
  lowIdx = Math.min(lowIdx, logSigmas.length - 2);
  const low = logSigmas[lowIdx]!, high = logSigmas[lowIdx + 1]!;
  const w = Math.min(Math.max((low - logSigma) / (low - high), 0), 1);
  return (1 - w) * lowIdx + w * (lowIdx + 1);
}

function refSchedule(spacing: string, n: number, karras: boolean): { timesteps: number[]; sigmas: number[] } {
  let timesteps = refTimesteps(spacing, n, 1);
  let sigmas: number[];
  if (karras) {
    const flipped = [...TRAIN_SIGMAS].reverse();
    const sigmaMin = flipped.at(-1)!, sigmaMax = flipped[0]!, rho = 7;
    const ramp = Array.from({ length: n }, (_, i) => (n === 1 ? 0 : i / (n - 1)));
    sigmas = ramp.map((r) => (sigmaMax ** (1 / rho) + r * (sigmaMin ** (1 / rho) - sigmaMax ** (1 / rho))) ** rho);
    const logSigmas = TRAIN_SIGMAS.map(Math.log);
    timesteps = sigmas.map((s) => npRound(refSigmaToT(s, logSigmas)));
  } else {
    sigmas = timesteps.map((t) => TRAIN_SIGMAS[t]!);
  }
  return { timesteps, sigmas: [...sigmas, 0].map(Math.fround) };
}

type Vec = Float64Array;
const lin = (terms: [number, Vec][]): Vec => {
  const out = new Float64Array(terms[0]![1].length);
  for (const [c, v] of terms) v.forEach((x, j) => (out[j]! += c * x));
  return out;
};
const alphaSigmaT = (sigma: number) => {
  const alpha = 1 / Math.sqrt(sigma ** 2 + 1);
  return { alpha, sigmaT: sigma * alpha };
};

function refConvert(sample: Vec, output: Vec, sigma: number, prediction: PredictionType): Vec {
  const { alpha, sigmaT } = alphaSigmaT(sigma);
  if (prediction === 'epsilon') return lin([[1 / alpha, sample], [-sigmaT / alpha, output]]);
  if (prediction === 'v_prediction') return lin([[alpha, sample], [-sigmaT, output]]);
  return output.slice();
}

/** diffusers' step loop: returns every latent z_0 … z_n. */
function refSample(sigmas: number[], z0: Vec, outputs: Vec[], prediction: PredictionType): Vec[] {
  const n = sigmas.length - 1;
  const lambda = (s: number) => {
    const { alpha, sigmaT } = alphaSigmaT(s);
    return Math.log(alpha) - Math.log(sigmaT);
  };
  const zs = [z0];
  const modelOutputs: Vec[] = [];
  let lowerOrderNums = 0;
  for (let i = 0; i < n; i++) {
    const sample = zs[i]!;
    const lowerOrderFinal = i === n - 1; // final_sigmas_type "zero" (and lower_order_final for n < 15)
    const m0 = refConvert(sample, outputs[i]!, sigmas[i]!, prediction);
    modelOutputs.push(m0);
    const { alpha: alphaT, sigmaT } = alphaSigmaT(sigmas[i + 1]!);
    const { sigmaT: sigmaS0 } = alphaSigmaT(sigmas[i]!);
    const h = lambda(sigmas[i + 1]!) - lambda(sigmas[i]!);
    let next: Vec;
    if (lowerOrderNums < 1 || lowerOrderFinal) {
      next = lin([[sigmaT / sigmaS0, sample], [-(alphaT * (Math.exp(-h) - 1)), m0]]);
    } else {
      const m1 = modelOutputs[modelOutputs.length - 2]!;
      const h0 = lambda(sigmas[i]!) - lambda(sigmas[i - 1]!);
      const r0 = h0 / h;
      const D1 = lin([[1 / r0, m0], [-1 / r0, m1]]);
      next = lin([[sigmaT / sigmaS0, sample], [-(alphaT * (Math.exp(-h) - 1)), m0], [-0.5 * (alphaT * (Math.exp(-h) - 1)), D1]]);
    }
    if (lowerOrderNums < 2) lowerOrderNums += 1;
    zs.push(next);
  }
  return zs;
}

// ---- the checks ---------------------------------------------------------------------------------------------------

function relL2(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let j = 0; j < ref.length; j++) {
    num += (got[j]! - ref[j]!) ** 2;
    den += ref[j]! ** 2;
  }
  return Math.sqrt(num / den);
}

function randomVec(len: number, seed: number): Float64Array {
  const t = tf.randomNormal([len], 0, 1, 'float32', seed);
  const out = Float64Array.from(t.dataSync());
  t.dispose();
  return out;
}

describe('DPM-Solver++(2M) schedule', () => {
  it('SD1.5 leading timesteps, derived by hand from set_timesteps (step_ratio = 1000 // (n + 1), + steps_offset 1)', () => {
    // n = 10: ratio 90 → arange(11)·90 reversed without the last (0) → 900 … 90, + 1
    const steps = (n: number) => samplerSteps('dpmpp-2m', SD15, n, { timestep_spacing: 'leading' }).timesteps;
    expect(steps(10)).toEqual([901, 811, 721, 631, 541, 451, 361, 271, 181, 91]);
    // n = 20: ratio 47 → 20·47 + 1 = 941 down to 1·47 + 1 = 48; n = 25: ratio 38 → 951 … 39; n = 50: ratio 19 → 951 … 20
    expect(steps(20)).toEqual(Array.from({ length: 20 }, (_, i) => 941 - 47 * i));
    expect(steps(25)).toEqual(Array.from({ length: 25 }, (_, i) => 951 - 38 * i));
    expect(steps(50)).toEqual(Array.from({ length: 50 }, (_, i) => 951 - 19 * i));
  });

  it('SD1.5 without timestep_spacing takes the class default, linspace: round(linspace(0, 999, n + 1)) without 0', () => {
    expect(resolveSchedulerConfig('dpmpp-2m', SD15).timestepSpacing).toBe('linspace');
    // numpy: linspace(0, 999, 11) = 0, 99.9, …, 499.5, …, 999; round half to even gives 500
    expect(samplerSteps('dpmpp-2m', SD15, 10).timesteps).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
  });

  for (const spacing of ['linspace', 'leading', 'trailing']) {
    for (const karras of [false, true]) {
      it(`timesteps and sigmas match the reference (${spacing}${karras ? ', Karras' : ''}; 50, 25, 20, 10, 1 steps)`, () => {
        for (const n of [50, 25, 20, 10, 1]) {
          const s = samplerSteps('dpmpp-2m', SD15, n, { timestep_spacing: spacing, use_karras_sigmas: karras }) as DpmSolverSteps;
          const ref = refSchedule(spacing, n, karras);
          expect(s.timesteps, `n=${n}`).toEqual(ref.timesteps);
          expect(Array.from(s.sigmas), `n=${n}`).toEqual(ref.sigmas);
          expect(s.initNoiseSigma).toBe(1);
        }
      });
    }
  }

  it('Karras: from σ_max to σ_min of the training schedule, then 0; the named variant sets it', () => {
    const s = samplerSteps('dpmpp-2m-karras', SD15, 10) as DpmSolverSteps;
    expect(s.config.useKarrasSigmas).toBe(true);
    expect(s.timesteps[0]).toBe(999);
    expect(s.timesteps.at(-1)).toBe(0);
    expect(s.sigmas[0]).toBe(Math.fround(TRAIN_SIGMAS[999]!));
    expect(s.sigmas[9]).toBe(Math.fround(TRAIN_SIGMAS[0]!));
    expect(s.sigmas[10]).toBe(0);
  });

  it('first and last steps are 1st order, the others 2nd order', () => {
    expect((samplerSteps('dpmpp-2m', SD15, 5) as DpmSolverSteps).orders).toEqual([1, 2, 2, 2, 1]);
    expect((samplerSteps('dpmpp-2m', SD15, 1) as DpmSolverSteps).orders).toEqual([1]);
    expect([0, 1, 2, 3, 4].map((i) => samplerSteps('dpmpp-2m', SD15, 5).historyUsed(i))).toEqual([0, 1, 1, 1, 0]);
  });
});

describe('DPM-Solver++(2M) sampling against the float64 reference', () => {
  const shape = [1, 4, 4, 4];
  const len = 64;
  const cases: [SchedulerName, PredictionType][] = [['dpmpp-2m', 'epsilon'], ['dpmpp-2m', 'v_prediction'], ['dpmpp-2m-karras', 'epsilon'], ['dpmpp-2m-karras', 'v_prediction']];
  for (const [name, prediction] of cases) {
    it(`${name}, ${prediction}: every latent within rel L2 2e-6 (50, 25, 20, 10 steps)`, () => {
      const before = tf.memory().numTensors;
      for (const n of [50, 25, 20, 10]) {
        const steps = samplerSteps(name, SD15, n, { prediction_type: prediction }) as DpmSolverSteps;
        const z0 = randomVec(len, n);
        const outputs = Array.from({ length: n }, (_, i) => randomVec(len, 1000 + i));
        const ref = refSample(Array.from(steps.sigmas, Number), z0, outputs, prediction);
        const history: tf.Tensor[] = [];
        let z = tf.tensor(Float32Array.from(z0), shape);
        let worst = 0;
        for (let i = 0; i < n; i++) {
          const eps = tf.tensor(Float32Array.from(outputs[i]!), shape);
          const x0 = steps.predictOriginal!(i, z, eps);
          expect(relL2(x0.dataSync(), refConvert(Float64Array.from(z.dataSync()), outputs[i]!, steps.sigmas[i]!, prediction))).toBeLessThan(1e-6);
          const { next, item } = steps.step(i, z, eps, history);
          history.push(item!);
          tf.dispose([eps, z, x0]);
          z = next;
          worst = Math.max(worst, relL2(z.dataSync(), ref[i + 1]!));
        }
        expect(worst, `n=${n}`).toBeLessThan(2e-6);
        tf.dispose([z, ...history]);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('DPM-Solver++(2M) step vjp', () => {
  it('tf.grads of a 2nd-order step in (z, ε, x̂₀ of the previous step) equals the linear combination’s Jacobian', () => {
    const before = tf.memory().numTensors;
    for (const prediction of ['epsilon', 'v_prediction'] as const) {
      const steps = samplerSteps('dpmpp-2m', SD15, 10, { prediction_type: prediction }) as DpmSolverSteps;
      const i = 4;
      const [z, eps, prev, cot] = [1, 2, 3, 4].map((seed) => tf.randomNormal([1, 2, 2, 4], 0, 1, 'float32', seed));
      const [gz, geps, gprev] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const { next, item } = steps.step(i, a, b, [c]);
        item!.dispose();
        return tf.sum(tf.mul(next, cot!));
      })([z!, eps!, prev!]);
      // reference coefficients from diffusers' formulas in float64: next = A·x + B·m0 + C·m1
      const [sigmaT, sigmaS0, sigmaS1] = [steps.sigmas[i + 1]!, steps.sigmas[i]!, steps.sigmas[i - 1]!];
      const lambda = (s: number) => Math.log(alphaSigmaT(s).alpha) - Math.log(alphaSigmaT(s).sigmaT);
      const h = lambda(sigmaT) - lambda(sigmaS0), r0 = (lambda(sigmaS0) - lambda(sigmaS1)) / h;
      const e = alphaSigmaT(sigmaT).alpha * (Math.exp(-h) - 1);
      const A = alphaSigmaT(sigmaT).sigmaT / alphaSigmaT(sigmaS0).sigmaT, B = -e - (0.5 * e) / r0, C = (0.5 * e) / r0;
      // m0 = p·x + q·ε (convert_model_output)
      const { alpha, sigmaT: st } = alphaSigmaT(sigmaS0);
      const [p, q] = prediction === 'epsilon' ? [1 / alpha, -st / alpha] : [alpha, -st];
      const c = cot!.dataSync();
      const expectScaled = (g: tf.Tensor, k: number) => expect(relL2(g.dataSync(), Array.from(c, (v) => v * k))).toBeLessThan(1e-5);
      expectScaled(gz!, A + B * p);
      expectScaled(geps!, B * q);
      expectScaled(gprev!, C);
      tf.dispose([z!, eps!, prev!, cot!, gz!, geps!, gprev!]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
