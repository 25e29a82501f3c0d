/**
 * The catalog jobs as the worker runs them (handlers driven in Node): the studio's catalog crosses the worker
 * boundary intact and agrees with the domain's lists and the models themselves; checkTokens accepts a valid
 * token file and turns every bad one into invalid-input naming the problem.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogHandlers } from '../src/worker/jobs/catalog';
import { JobError, type JobContext, type JobName } from '../src/worker/protocol';
import { IPGO_SCHEDULERS, checkSampling } from '../src/ipgo/config-check';
import { promptWiseConfig, type BoundaryShape } from '../src/ipgo/config';
import { initHostParams } from '../src/ipgo/params';
import { Rng } from '../src/ipgo/rng';
import { FINGERPRINT_METHOD, FINGERPRINT_PROBE } from '../src/ipgo/text-encoder-fingerprint';
import { exportTokens } from '../src/ipgo/tokens-json';
import { REWARDS, REWARD_MODELS } from '../src/rewards/registry';
import { builtinModelsRoot } from '../tools/lib/ipgo-models';
import { fixturePath } from './golden';

function context<K extends JobName>(): JobContext<K> {
  const abort = new AbortController();
  return { progress: () => {}, cancelled: () => false, signal: abort.signal, onControl: () => {}, log: () => {} };
}

const catalog = () => catalogHandlers.catalog({}, context<'catalog'>());
const checkTokens = (text: string) => catalogHandlers.checkTokens({ text }, context<'checkTokens'>());

interface Manifest { id: string; kind: string; set: string }
const manifests = fs.readdirSync('weights-manifest').filter((f) => f.endsWith('.json') && f !== 'schema.json')
  .map((f) => JSON.parse(fs.readFileSync(path.join('weights-manifest', f), 'utf8')) as Manifest);

describe('catalog job', () => {
  it('crosses the worker boundary intact (plain data only)', async () => {
    const c = await catalog();
    expect(structuredClone(c)).toEqual(c);
  });

  it('lists every reward of the registry, in its order, with its words, display range and default weight', async () => {
    const c = await catalog();
    expect(c.rewards).toEqual(REWARDS.map((r) => ({
      id: r.id, label: r.label, description: r.description, display: { min: r.display.min, max: r.display.max }, defaultWeight: r.defaultWeight,
    })));
  });

  it('offers the samplers IPGO trains with, each named after the diffusers class it reproduces', async () => {
    const c = await catalog();
    expect(c.schedulers.map((s) => s.name)).toEqual([...IPGO_SCHEDULERS]);
    expect(c.schedulers.find((s) => s.name === 'lms')!.label).toBe('LMS');
    expect(new Set(c.schedulers.map((s) => s.label)).size).toBe(c.schedulers.length);
  });

  it('gives model sets whose defaults are runnable: installed models of the set for every role, a known sampler', async () => {
    const c = await catalog();
    expect(c.modelSets.length).toBeGreaterThan(0);
    for (const set of c.modelSets) {
      expect(set.defaults.models).toEqual(set.models);
      const sd = manifests.find((m) => m.id === set.models.sd);
      expect(sd, `${set.id}: ${set.models.sd}`).toMatchObject({ kind: 'sd15-pipeline', set: set.id });
      for (const m of REWARD_MODELS) {
        expect(manifests.find((x) => x.id === set.models[m.role]), `${set.id}: ${m.role}`).toMatchObject({ kind: m.needs.kind, set: set.id });
      }
      expect(() => checkSampling({ scheduler: set.defaults.scheduler, height: set.defaults.height, width: set.defaults.width, noiseSeed: set.defaults.seed })).not.toThrow();
      expect(c.textDims[set.models.sd]).toBe(set.textDim);
      for (const key of ['numTokens', 'rank', 'steps', 'scheduler', 'lr']) expect(c.help[key], key).toBeTruthy();
    }
  });

  it('text widths are those of the models themselves (tiny: its generated text encoder; SD1.5: the recorded config)', async () => {
    const c = await catalog();
    const tinyConfig = JSON.parse(fs.readFileSync(path.join(builtinModelsRoot(), 'tiny-sd', 'text_encoder', 'config.json'), 'utf8')) as { hidden_size: number };
    expect(c.textDims['tiny-sd']).toBe(tinyConfig.hidden_size);
    const shapes = fixturePath('sd15-shapes.json');
    if (fs.existsSync(shapes)) {
      const sd15 = JSON.parse(fs.readFileSync(shapes, 'utf8')) as { sd15: { text_encoder: { config_json: { hidden_size: number } } } };
      expect(c.textDims.sd15).toBe(sd15.sd15.text_encoder.config_json.hidden_size);
    }
  });
});

describe('checkTokens job', () => {
  const tokensFile = (modelId: string, textDim: number) => {
    const shape: BoundaryShape = { numTokens: 2, rank: 3, textDim, bound: 1, rotation: 'intended' };
    const rng = new Rng(2);
    return exportTokens({
      params: initHostParams(shape, new Rng(3)), config: promptWiseConfig(textDim, { tokens: shape }),
      sampling: { scheduler: 'lms', height: 64, width: 64, noiseSeed: 7 }, modelId, prompts: ['a red fox'], rewardWeights: { aesthetic: 1 }, history: [],
      textEncoder: { method: FINGERPRINT_METHOD, probe: FINGERPRINT_PROBE, textDim, values: Float32Array.from({ length: 2 * textDim }, () => rng.normal()) },
    });
  };
  const invalid = async (text: string, message: RegExp) => {
    const e = await checkTokens(text).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(JobError);
    expect((e as JobError).code).toBe('invalid-input');
    expect((e as JobError).message).toMatch(message);
  };

  it('returns a valid file for a model the studio runs, as it was written', async () => {
    const file = tokensFile('tiny-sd', 32);
    expect(await checkTokens(JSON.stringify(file))).toEqual(JSON.parse(JSON.stringify(file)));
  });

  it('rejects text that is not JSON, a model the studio does not run, and tokens of another width', async () => {
    await invalid('{"format": ', /^not a JSON file: /);
    await invalid(JSON.stringify(tokensFile('other-model', 32)), /modelId "other-model" is not a model this app runs \(demo-sd, tiny-sd, sd15\)/);
    await invalid('null', /modelId undefined is not a model this app runs/);
    await invalid(JSON.stringify(tokensFile('tiny-sd', 16)), /token width D = 16 does not match the loaded model's text width 32/);
  });
});
