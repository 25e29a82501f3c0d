import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rewardModel, rewardModelBinding, rewardModelConfig, rewardModelOfKind } from './registry';
import { compareKeys, declaredParams, formatBindReport, type KeyShape } from '../model/params';
import { fixturePath } from '../../test/golden';

interface ManifestFile { path: string; role: string }
const manifests = fs.readdirSync('weights-manifest').filter((f) => f.endsWith('.json') && f !== 'schema.json')
  .map((f) => JSON.parse(fs.readFileSync(path.join('weights-manifest', f), 'utf8')) as { id: string; kind: string; files: ManifestFile[] });
const rewardManifests = manifests.filter((m) => rewardModelOfKind(m.kind) !== undefined);

describe('what each reward model needs (its definition\'s needs)', () => {
  it('every reward manifest carries what its loader needs: weights, and a config file unless one is built in', () => {
    expect(rewardManifests.map((m) => m.id).sort()).toEqual(expect.arrayContaining(['clip-vit-l14', 'hpsv2', 'laion-aesthetic-l14']));
    for (const m of rewardManifests) {
      const needs = rewardModel(rewardModelOfKind(m.kind)!).needs;
      expect(m.files.filter((f) => f.role === 'model'), `${m.id}: one weight file (role "model")`).toHaveLength(1);
      if (needs.config && needs.config.builtin === undefined) {
        expect(m.files.some((f) => f.role === 'config'), `${m.id}: needs ${needs.config.describe}`).toBe(true);
      }
    }
  });

  it('a model without its config file loads with the built-in one, or fails naming what is missing', () => {
    expect(rewardModelConfig('hpsv2-vit-h14', undefined)).toBe(rewardModel('hpsv2-vit-h14').needs.config!.builtin);
    const own = { embed_dim: 8 };
    expect(rewardModelConfig('hpsv2-vit-h14', own)).toBe(own);
    expect(() => rewardModelConfig('clip-vit-l14', undefined)).toThrow(/clip-vit-l14 model needs Hugging Face CLIPModel's config.json/);
    expect(rewardModelConfig('laion-aesthetic', undefined)).toBeUndefined();
  });

  const shapesFile = fixturePath('sd15-shapes.json');
  it.skipIf(!fs.existsSync(shapesFile))('HPSv2 with the built-in config binds the real ViT-H-14 key list exactly', () => {
    const keys = (JSON.parse(fs.readFileSync(shapesFile, 'utf8')) as { openclip_vit_h14: { keys: KeyShape[] } }).openclip_vit_h14.keys;
    const binding = rewardModelBinding('hpsv2-vit-h14', undefined, ['hps']);
    expect(formatBindReport(compareKeys(declaredParams(binding.build), keys, binding.opts.aliases))).toBe('');
  });
});
