/**
 * Golden 6e: LMS / Euler / DDIM (+ PNDM bonus) schedules, variants and step sequences from diffusers 0.25.1.
 * Everything is discovered from schedulers.json; one `it` per record.
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import {
  resolveSchedulerConfig,
  samplerSteps,
  SCHEDULER_JSON_KEYS,
  SCHEDULERS,
  trainSchedule,
  unsupportedSettings,
  type SamplerSteps,
  type SchedulerConfigJson,
  type SchedulerName,
} from '../../src/model/schedulers';
import { describeGolden, goldenPath, readJson, relL2 } from '../golden';

interface StepRecord {
  i: number;
  timestep: number;
  sample: number[];
  scaled_model_input: number[];
  model_output: number[];
  prev_sample: number[];
  pred_original_sample?: number[];
  lms_order?: number;
  lms_coeffs_diffusers?: number[];
  lms_coeffs_exact?: number[];
  sigma?: number;
  sigma_next?: number;
  alpha_prod_t?: number;
  alpha_prod_t_prev?: number;
}
interface ScheduleRecord { timesteps: number[]; timesteps_dtype?: string; init_noise_sigma: number; sigmas?: number[] }
interface SequenceRecord { shape: number[]; noise: number[]; init_noise_sigma: number; steps: StepRecord[] }
interface SchedulerRecord {
  effective_config: SchedulerConfigJson;
  schedules?: Record<string, ScheduleRecord>;
  variants?: Record<string, ScheduleRecord>;
  step_sequences?: Record<string, SequenceRecord>;
}
interface Golden {
  source_config: SchedulerConfigJson;
  train: { betas: number[]; alphas_cumprod: number[] };
  schedulers: Record<string, SchedulerRecord>;
}

const FILE = goldenPath('schedulers.json');
const SCALAR_REL = 1e-6; // README: timesteps, sigmas, LMS coefficients, init_noise_sigma
const NEAR_ZERO_ABS = 1e-6;
const STEP_REL_L2 = 1e-5;

/** Largest error in units of the tolerance (≤ 1 passes): rel 1e-6, abs 1e-6 for values near 0. */
function scalarErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(got.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const tol = Math.max(SCALAR_REL * Math.abs(ref[i]!), Math.abs(ref[i]!) < 1e-3 ? NEAR_ZERO_ABS : 0);
    const d = Math.abs(got[i]! - ref[i]!);
    worst = Math.max(worst, tol === 0 ? (d === 0 ? 0 : Infinity) : d / tol);
  }
  return worst;
}

function expectScalars(what: string, got: ArrayLike<number>, ref: ArrayLike<number>): void {
  const e = scalarErr(got, ref);
  expect(e, `${what}: error ${e.toExponential(2)}× tolerance\n got ${Array.from(got).slice(0, 6)}\n ref ${Array.from(ref).slice(0, 6)}`).toBeLessThanOrEqual(1);
}

function expectTensor(what: string, got: tf.Tensor, ref: number[]): number {
  const e = relL2(got.dataSync(), ref);
  expect(e, `${what} rel L2`).toBeLessThan(STEP_REL_L2);
  return e;
}

/** The first registered scheduler reproducing diffusers class `cls` (its plain variant). */
const nameOf = (cls: string): SchedulerName | undefined => SCHEDULERS.find((s) => s.diffusersClass === cls)?.name;

/** "timestep_spacing=leading,steps=10" → overrides + step count (values parsed as JSON when possible). */
function parseVariant(key: string): { overrides: SchedulerConfigJson; steps: number } {
  const overrides: SchedulerConfigJson = {};
  let steps = NaN;
  for (const part of key.split(',')) {
    const [k, raw] = part.split('=') as [string, string];
    let v: unknown = raw;
    try { v = JSON.parse(raw); } catch { /* plain string */ }
    if (k === 'steps') steps = Number(v);
    else overrides[k] = v;
  }
  return { overrides, steps };
}

/** Schedule details some schedulers expose (σ-based ones their sigmas, LMS its coefficients, DDIM its ᾱ). */
type Details = Partial<{ sigmas: Float32Array; coefficients: number[][]; alphas: { alphaProdT: number; alphaProdTPrev: number }[] }>;

function checkSchedule(s: SamplerSteps & Details, rec: ScheduleRecord): void {
  expectScalars('timesteps', s.timesteps, rec.timesteps);
  if (rec.timesteps_dtype === 'int64') expect(s.timesteps.every(Number.isInteger)).toBe(true);
  expectScalars('init_noise_sigma', [s.initNoiseSigma], [rec.init_noise_sigma]);
  if (rec.sigmas) expectScalars('sigmas', s.sigmas!, rec.sigmas);
}

describeGolden('schedulers', [FILE], () => {
  const g = readJson<Golden>(FILE);
  const source = g.source_config;

  it('train: betas and alphas_cumprod (float32, as torch computes them)', () => {
    const sch = trainSchedule(resolveSchedulerConfig('lms', source));
    expectScalars('betas', sch.betas, g.train.betas);
    expectScalars('alphas_cumprod', sch.alphasCumprod, g.train.alphas_cumprod);
  });

  for (const [cls, rec] of Object.entries(g.schedulers)) {
    const name = nameOf(cls);
    if (!name) {
      it.skip(`${cls}: no port of this scheduler class`, () => {});
      continue;
    }
    const build = (steps: number, overrides: SchedulerConfigJson = {}): SamplerSteps & Details => samplerSteps(name, source, steps, overrides);

    it(`${cls} effective_config`, () => {
      const cfg = resolveSchedulerConfig(name, source) as unknown as Record<string, unknown>;
      for (const [field, key] of Object.entries(SCHEDULER_JSON_KEYS)) {
        if (key in rec.effective_config) expect(cfg[field], `${cls}.${key}`).toEqual(rec.effective_config[key]);
      }
      expect(unsupportedSettings(rec.effective_config)).toEqual([]);
    });

    for (const [steps, sched] of Object.entries(rec.schedules ?? {})) {
      it(`${cls} schedule steps=${steps}`, () => {
        checkSchedule(build(Number(steps)), sched);
      });
    }

    for (const [key, variant] of Object.entries(rec.variants ?? {})) {
      it(`${cls} variant ${key}`, () => {
        const { overrides, steps } = parseVariant(key);
        checkSchedule(build(steps, overrides), variant);
      });
    }

    for (const [steps, seq] of Object.entries(rec.step_sequences ?? {})) {
      it(`${cls} step_sequence steps=${steps}`, () => {
        const before = tf.memory().numTensors;
        const s = build(Number(steps));
        expectScalars('init_noise_sigma', [s.initNoiseSigma], [seq.init_noise_sigma]);
        expect(s.timesteps.length).toBe(seq.steps.length);
        let sample = tf.tidy(() => tf.mul(tf.tensor(seq.noise, seq.shape), s.initNoiseSigma));
        const history: tf.Tensor[] = [];
        const errs: number[] = [];
        for (const st of seq.steps) {
          expectScalars(`step ${st.i} timestep`, [s.timesteps[st.i]!], [st.timestep]);
          errs.push(expectTensor(`step ${st.i} sample`, sample, st.sample));
          if (st.sigma !== undefined) expectScalars(`step ${st.i} sigma`, [s.sigmas![st.i]!, s.sigmas![st.i + 1]!], [st.sigma!, st.sigma_next!]);
          if (st.lms_coeffs_exact) {
            const c = s.coefficients![st.i]!;
            expect(c.length).toBe(st.lms_order);
            expectScalars(`step ${st.i} lms_coeffs_exact`, c, st.lms_coeffs_exact);
            expectScalars(`step ${st.i} lms_coeffs_diffusers`, c, st.lms_coeffs_diffusers!);
          }
          if (st.alpha_prod_t !== undefined) {
            const a = s.alphas![st.i]!;
            expectScalars(`step ${st.i} alphas`, [a.alphaProdT, a.alphaProdTPrev], [st.alpha_prod_t, st.alpha_prod_t_prev!]);
          }
          const eps = tf.tensor(st.model_output, seq.shape);
          const scaled = s.scale(st.i, sample);
          errs.push(expectTensor(`step ${st.i} scaled_model_input`, scaled, st.scaled_model_input));
          const { next, item } = s.step(st.i, sample, eps, history);
          errs.push(expectTensor(`step ${st.i} prev_sample`, next, st.prev_sample));
          if (st.pred_original_sample) {
            const x0 = s.predictOriginal!(st.i, sample, eps);
            errs.push(expectTensor(`step ${st.i} pred_original_sample`, x0, st.pred_original_sample));
            x0.dispose();
          }
          if (item) history.push(item);
          tf.dispose([eps, scaled, sample]);
          sample = next;
        }
        tf.dispose([sample, ...history]);
        expect(tf.memory().numTensors).toBe(before);
        console.log(`${cls} steps=${steps}: max rel L2 ${Math.max(...errs).toExponential(2)}`);
      });
    }
  }
});
