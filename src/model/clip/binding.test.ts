import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { compareKeys, formatBindReport, type KeyShape } from '../params';
import { disposeParams } from '../nn';
import { type ClipTextConfig, clipTextExpectedKeys, loadClipTextModel } from './text-model';
import { WeightStore } from '../weights';
import { fixturePath } from '../../../test/golden';
import { randomStore } from '../../../test/random-weights';
import { aestheticExpectedKeys, loadAestheticHead } from '../../rewards/aesthetic';
import { type ClipModelConfig, clipExpectedKeys, loadClipModel } from './clip-model';
import { type OpenClipModelCfg, loadOpenClipModel, openClipExpectedKeys } from './openclip-model';

/**
 * Dry binding against the real checkpoints' key/shape lists (sd15-shapes.json, no weights): the key list each
 * builder declares for the real config must match exactly (zero missing, zero unexpected, zero wrong shapes).
 * The builders bind through the same declaration, which the tiny round trips below check.
 */
const shapesFile = fixturePath('sd15-shapes.json');
interface ShapesJson {
  sd15: { text_encoder: { config_json: ClipTextConfig; keys: KeyShape[] } };
  clip_vit_l14: { config_essentials: ClipModelConfig; keys: KeyShape[]; num_parameters: number };
  openclip_vit_h14: { open_clip_model_config: OpenClipModelCfg; keys: KeyShape[]; num_parameters: number };
}

const params = (keys: KeyShape[]) => keys.reduce((n, k) => n + k.shape.reduce((a, b) => a * b, 1), 0);

describe.skipIf(!fs.existsSync(shapesFile))('dry bind against the real key/shape lists (sd15-shapes.json)', () => {
  const shapes = (fs.existsSync(shapesFile) ? JSON.parse(fs.readFileSync(shapesFile, 'utf8')) : {}) as ShapesJson;
  const cases: [string, () => ReturnType<typeof clipTextExpectedKeys>, () => KeyShape[]][] = [
    ['SD1.5 text encoder', () => clipTextExpectedKeys(shapes.sd15.text_encoder.config_json), () => shapes.sd15.text_encoder.keys],
    ['CLIP ViT-L/14 (HF CLIPModel)', () => clipExpectedKeys(shapes.clip_vit_l14.config_essentials), () => shapes.clip_vit_l14.keys],
    ['OpenCLIP ViT-H-14 (HPSv2)', () => openClipExpectedKeys(shapes.openclip_vit_h14.open_clip_model_config), () => shapes.openclip_vit_h14.keys],
  ];
  it.each(cases)('%s: zero missing, zero unexpected, zero wrong shapes', (_name, spec, listing) => {
    const report = compareKeys(spec(), listing());
    expect(formatBindReport(report)).toBe('');
  });

  it('parameter counts of the declared keys equal the published ones', () => {
    const required = (s: ReturnType<typeof clipExpectedKeys>) => s.filter((k) => !k.optional);
    expect(params(required(clipExpectedKeys(shapes.clip_vit_l14.config_essentials)))).toBe(shapes.clip_vit_l14.num_parameters - 1); // − logit_scale
    expect(params(required(openClipExpectedKeys(shapes.openclip_vit_h14.open_clip_model_config)))).toBe(shapes.openclip_vit_h14.num_parameters - 1);
  });

  it('the aesthetic head takes the CLIP L/14 projection width', () => {
    expect(aestheticExpectedKeys(shapes.clip_vit_l14.config_essentials.projection_dim)[0]!.shape).toEqual([1024, 768]);
  });
});

const tinyText: ClipTextConfig = {
  vocab_size: 50, hidden_size: 8, intermediate_size: 16, num_attention_heads: 2, num_hidden_layers: 2,
  max_position_embeddings: 12, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5,
};
const tinyClip: ClipModelConfig = {
  projection_dim: 6,
  text_config: tinyText,
  vision_config: { hidden_size: 8, intermediate_size: 16, num_attention_heads: 2, num_hidden_layers: 1, image_size: 8, patch_size: 4, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5 },
};
const tinyOpen: OpenClipModelCfg = {
  embed_dim: 6,
  vision_cfg: { image_size: 8, patch_size: 4, width: 8, layers: 1, head_width: 4 },
  text_cfg: { context_length: 12, vocab_size: 50, width: 8, heads: 2, layers: 1 },
};

describe('builders bind exactly the declared keys', () => {
  const roundTrips: [string, KeyShape[], (ws: WeightStore) => unknown][] = [
    ['text encoder', clipTextExpectedKeys(tinyText), (ws) => loadClipTextModel(ws, tinyText)],
    ['CLIPModel', clipExpectedKeys(tinyClip), (ws) => loadClipModel(ws, tinyClip)],
    ['open_clip', openClipExpectedKeys(tinyOpen), (ws) => loadOpenClipModel(ws, tinyOpen)],
    ['aesthetic', aestheticExpectedKeys(6), (ws) => loadAestheticHead(ws, 6)],
  ];

  it.each(roundTrips)('%s: every key taken, optional ones included; no leaks', (_n, keys, build) => {
    const before = tf.memory().numTensors;
    const store = randomStore(keys);
    const model = build(store);
    expect(store.unusedKeys()).toEqual([]);
    store.dispose();
    disposeParams(model);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(roundTrips)('%s: a missing key is named, and so is an unexpected one (strict, as torch loads them)', (_n, keys, build) => {
    const required = keys.filter((k) => !('optional' in k && k.optional));
    const victim = required[required.length - 1]!;
    const store = randomStore(keys.filter((k) => k !== victim));
    expect(() => build(store)).toThrow(victim.key);
    store.dispose();
    const extra = randomStore([...keys, { key: 'something.else', shape: [2] }]);
    const before = tf.memory().numTensors;
    expect(() => build(extra)).toThrow(/1 unexpected \(something\.else\)/);
    expect(tf.memory().numTensors).toBe(before); // nothing left on the device
    extra.dispose();
  });

  it('a wrong shape is reported with both shapes', () => {
    const keys = clipTextExpectedKeys(tinyText).map((k) => (k.key.endsWith('final_layer_norm.bias') ? { ...k, shape: [9] } : k));
    const store = randomStore(keys);
    expect(() => loadClipTextModel(store, tinyText)).toThrow(/final_layer_norm\.bias.*\[9\].*\[8\]/);
    store.dispose();
  });

  it('towers can be loaded alone (the text tower keys stay unused)', () => {
    const store = randomStore(clipExpectedKeys(tinyClip));
    const model = loadClipModel(store, tinyClip, ['vision']);
    expect(model.text).toBeUndefined();
    expect(store.unusedKeys().every((k) => k.startsWith('text_model.') || k === 'text_projection.weight')).toBe(true);
    store.dispose();
    disposeParams(model);
  });
});
