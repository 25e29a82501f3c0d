import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declaredParams } from '../model/params';
import { preparePrompt, textTowers, type IpgoModels, type PromptContext } from '../ipgo/prompt-context';
import { BUILTIN_TINY, builtinModelsRoot, loadIpgoModels } from '../../tools/lib/ipgo-models';
import { BUILTIN_REWARD_DIRS, fsRewardModelFiles } from '../../tools/lib/fs-model-files';
import {
  REWARDS, REWARD_IDS, REWARD_MODELS, type RewardId, type RewardMix, defaultMix, getReward, mixScore, modelsFor, rewardModel,
  rewardModelBinding, rewardModelOfKind, rewardModelOfRole, textsFor,
} from './registry';

/**
 * The registries as lists: every reward resolves to models that exist and can serve it, every reward model is
 * installable in every model set, and a mix over every reward scores as the weighted sum of its parts on the
 * built-in tiny models, with the prompt's text features prepared from the definitions alone.
 */
const duplicates = (xs: readonly string[]) => xs.filter((x, i) => xs.indexOf(x) !== i);

interface Manifest { id: string; kind: string; set: string }
const manifests = fs.readdirSync('weights-manifest').filter((f) => f.endsWith('.json') && f !== 'schema.json')
  .map((f) => JSON.parse(fs.readFileSync(path.join('weights-manifest', f), 'utf8')) as Manifest);

describe('the reward registry', () => {
  it('has no duplicate reward ids, model ids, model roles or manifest kinds', () => {
    expect(duplicates(REWARD_IDS)).toEqual([]);
    expect(duplicates(REWARD_MODELS.map((m) => m.id))).toEqual([]);
    expect(duplicates(REWARD_MODELS.map((m) => m.role))).toEqual([]);
    expect(duplicates(REWARD_MODELS.map((m) => m.needs.kind))).toEqual([]);
    expect(REWARD_MODELS.map((m) => m.role)).not.toContain('sd'); // the model selection's key for Stable Diffusion
  });

  it('every reward\'s models resolve; a reward that reads the prompt reads it through one of its models\' text tower', () => {
    for (const r of REWARDS) {
      expect(r.models.length, r.id).toBeGreaterThan(0);
      for (const m of r.models) expect(rewardModel(m).id).toBe(m);
      if (r.text !== null) {
        const reader = rewardModelOfRole(r.text);
        expect(r.models, `${r.id} reads the text of ${reader.id}`).toContain(reader.id);
        expect(reader.text, `${reader.id} has a text tower`).toBeDefined();
      }
      expect(getReward(r.id)).toBe(r);
      expect(r.display.min).toBeLessThan(r.display.max);
      expect(Number.isFinite(r.defaultWeight), r.id).toBe(true);
    }
    expect(() => getReward('nope' as RewardId)).toThrow(/unknown reward "nope" \(aesthetic/);
  });

  it('every reward model is served in every model set by a manifest of its kind', () => {
    for (const m of REWARD_MODELS) {
      for (const [set, id] of Object.entries(m.installs)) {
        const manifest = manifests.find((x) => x.id === id);
        expect(manifest, `${m.id} in set ${set}: manifest ${id}`).toBeDefined();
        expect({ kind: manifest!.kind, set: manifest!.set }).toEqual({ kind: m.needs.kind, set });
        expect(rewardModelOfKind(manifest!.kind)).toBe(m.id);
      }
    }
  });

  it('the default mix holds the rewards with a non-zero default weight', () => {
    const mix = defaultMix();
    expect(Object.keys(mix).length).toBeGreaterThan(0);
    for (const r of REWARDS) expect(mix[r.id] ?? 0).toBe(r.defaultWeight);
  });
});

describe('a mix over every reward (built-in tiny models)', () => {
  const all = [...REWARD_IDS];
  const mix = Object.fromEntries(all.map((id, i) => [id, 0.5 + i])) as RewardMix;
  let set: Awaited<ReturnType<typeof loadIpgoModels>>;
  let models: IpgoModels;
  let ctx: PromptContext;
  let before = 0;

  beforeAll(async () => {
    before = tf.memory().numTensors;
    set = await loadIpgoModels(BUILTIN_TINY, BUILTIN_TINY, mix);
    models = set.models;
    ctx = preparePrompt(models, 'a red fox in the snow', 2, mix);
  }, 120_000);
  afterAll(() => {
    ctx?.dispose();
    set?.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('loads each model every reward needs, under its role, and prepares each text feature the rewards read', () => {
    expect(Object.keys(models.rewards).sort()).toEqual(modelsFor(all).map((m) => rewardModel(m).role).sort());
    expect(Object.keys(ctx.text).sort()).toEqual(textsFor(all).sort());
    for (const t of Object.values(ctx.text)) {
      const norms = tf.tidy(() => tf.norm(t!, 'euclidean', -1).dataSync());
      for (const n of norms) expect(n).toBeCloseTo(1, 5);
    }
    // every loaded text tower is among the parts that may leave the GPU once the prompt is prepared
    expect(textTowers(models).length).toBe(1 + 2 * textsFor(all).length);
  });

  it('scores as the weighted sum of its rewards, without leaking tensors', () => {
    const rc = { models: models.rewards, text: ctx.text };
    const image = tf.randomUniform([2, 32, 32, 3], 0.1, 0.9, 'float32', 5) as tf.Tensor4D;
    const start = tf.memory().numTensors;
    const got = mixScore(mix, image, rc);
    const parts = tf.tidy(() => tf.addN(all.map((id) => tf.mul(getReward(id).score(image, rc), mix[id]!))));
    expect(got.shape).toEqual([2]);
    const [g, p] = [got.dataSync(), parts.dataSync()];
    for (let i = 0; i < 2; i++) expect(Number.isFinite(g[i]!)).toBe(true);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(got, parts))).dataSync()[0]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(p[0]!)));
    tf.dispose([got, parts]);
    expect(tf.memory().numTensors).toBe(start);
    image.dispose();
  });

  it('a model binds its text tower only when a reward reads the prompt through it', async () => {
    const root = builtinModelsRoot();
    for (const m of REWARD_MODELS.filter((x) => x.text !== undefined)) {
      const files = await fsRewardModelFiles(m.id, path.join(root, BUILTIN_REWARD_DIRS[m.id]));
      const readers = REWARDS.filter((r) => r.text === m.role).map((r) => r.id);
      const imageOnly = REWARDS.filter((r) => r.models.includes(m.id) && r.text !== m.role).map((r) => r.id);
      const count = (ids: RewardId[]) => declaredParams(rewardModelBinding(m.id, files.config, ids).build).length;
      expect(count(readers), m.id).toBeGreaterThan(count(imageOnly));
    }
  });
});
