/**
 * Token export v1 on the built-in tiny model: export → JSON text → import → apply to a new prompt reproduces the
 * trained parameters, tokens and tuned image bit-exactly; files from another text encoder, with non-finite values,
 * other dimensions or broken structure are rejected with messages naming the problem, and a rejected import
 * changes nothing. The schema in schema/ipgo-tokens.schema.json is checked against real exports.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPrepared } from '../src/ipgo/session';
import { promptWiseConfig } from '../src/ipgo/config';
import { float32ToBase64 } from '../src/ipgo/float32-base64';
import { PARAM_NAMES, readParams } from '../src/ipgo/params';
import type { IpgoModels } from '../src/ipgo/prompt-context';
import { textEncoderFingerprint, type TextEncoderFingerprint } from '../src/ipgo/text-encoder-fingerprint';
import { exportTokens, parseTokensFile, type IpgoTokensFile } from '../src/ipgo/tokens-json';
import { tokensSchemaViolations } from '../src/ipgo/tokens-json-schema';
import { IpgoTrainer, tokensOf, type EpochRecord, type SamplingSetup } from '../src/ipgo/trainer';
import { disposeRun, freshRun } from '../src/ipgo/run-state';
import { clipTextExpectedKeys, loadClipTextModel } from '../src/model/clip/text-model';
import { disposeParams } from '../src/model/nn';
import { storeFromHost } from '../src/model/weights';
import { parseSafetensors, serializeSafetensors } from '../src/weights/formats/safetensors';
import { loadIpgoModels } from '../tools/lib/ipgo-models';
import type { LoadedModelSet } from '../src/ipgo/model-set';
import { makeTinyModel, randomWeights } from '../tools/make-tiny-model';
import { TEXT_ENCODER_CONFIG } from '../tools/tiny-model-configs';

let root: string;
let set: LoadedModelSet;
let models: IpgoModels;
let fp: TextEncoderFingerprint;
let otherFp: TextEncoderFingerprint;
const sampling: SamplingSetup = { scheduler: 'lms', height: 32, width: 32, noiseSeed: 5 };
const config = promptWiseConfig(32, {
  tokens: { numTokens: 2, rank: 4, textDim: 32, bound: 1, rotation: 'intended' }, inferenceSteps: 4, gradLastK: 2, epochs: 2, seed: 9, adam: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
});
const schema = JSON.parse(fs.readFileSync(path.resolve('schema/ipgo-tokens.schema.json'), 'utf8'));

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ipgo-tokens-'));
  makeTinyModel(root);
  set = await loadIpgoModels(path.join(root, 'tiny-sd'), root, { aesthetic: 1 });
  models = set.models;
  fp = await textEncoderFingerprint(models.sd);
  // Another text encoder of the same width (other random weights): what "tokens from another model" looks like.
  const store = storeFromHost(parseSafetensors(serializeSafetensors(randomWeights(clipTextExpectedKeys(TEXT_ENCODER_CONFIG), 77), { format: 'pt' })));
  const other = loadClipTextModel(store, TEXT_ENCODER_CONFIG);
  store.dispose();
  otherFp = await textEncoderFingerprint({ ...models.sd, textEncoder: other });
  disposeParams(other);
});

afterAll(() => {
  set.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('ipgo-tokens v1 with the tiny model', () => {
  let file: IpgoTokensFile;
  let text: string;

  it('export → import → apply is exact (parameters, tokens, tuned image), and the file follows the schema', async () => {
    const before = tf.memory().numTensors;
    const trainer = new IpgoTrainer(models, config, sampling, { aesthetic: 1 });
    const ctx = trainer.prepare('a red fox in the snow');
    const run = freshRun(config);
    const history: EpochRecord[] = [];
    await trainer.trainPrompt(run, ctx, { onEpoch: (r) => void history.push(r) });
    ctx.dispose();
    const host = await readParams(run.params);
    // The reference: the trained parameters applied to a new prompt, before any export.
    const newPrompt = 'a wooden cabin by a lake';
    const newCtx = trainer.prepare(newPrompt);
    const refTuned = await trainer.tuned(run, newCtx);
    const refRaw = await trainer.raw(newCtx);
    newCtx.dispose();

    file = exportTokens({ params: host, config, sampling, modelId: 'tiny-sd', textEncoder: fp, prompts: ['a red fox in the snow'],
      rewardWeights: { aesthetic: 1 }, history, reward: run.best!.reward });
    text = JSON.stringify(file);
    expect(tokensSchemaViolations(JSON.parse(text))).toEqual([]);

    const imported = parseTokensFile(text, { textDim: 32, modelId: 'tiny-sd', textEncoder: await textEncoderFingerprint(models.sd) });
    expect(imported.warnings).toEqual([]);
    for (const n of PARAM_NAMES) expect(imported.params[n]).toEqual(host[n]);
    const tokens = tokensOf(host, config);
    expect(imported.tokens.prefix).toEqual(Float32Array.from(tokens.prefix));
    expect(imported.tokens.suffix).toEqual(Float32Array.from(tokens.suffix));
    expect(imported.config).toEqual(config);
    expect(imported.sampling).toEqual(sampling);
    expect(imported.history.map((r) => r.loss)).toEqual(history.map((r) => r.loss));

    const applyCtx = trainer.prepare(newPrompt);
    const applied = await applyPrepared(trainer, imported, applyCtx);
    applyCtx.dispose();
    expect(applied.tuned.image.data).toEqual(refTuned.image.data);
    expect(applied.tuned.rewards).toEqual(refTuned.rewards);
    expect(applied.raw.image.data).toEqual(refRaw.image.data);
    // The tokens do something: the tuned image is not the raw one.
    expect(applied.tuned.image.data).not.toEqual(applied.raw.image.data);
    disposeRun(run);
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the schema describes every config field, and rejects a broken file naming each path', () => {
    expect(Object.keys(schema.$defs.config.properties).sort()).toEqual(Object.keys(config).sort());
    const bad = JSON.parse(text);
    bad.config.adam.extra = 1;
    bad.sampling.scheduler = 'pndm';
    expect(tokensSchemaViolations(bad)).toEqual(['config.adam.extra: not a known field', 'sampling.scheduler: must be one of "lms", "euler", "ddim", "dpmpp-2m", "dpmpp-2m-karras", got "pndm"']);
  });

  const edit = (patch: (o: any) => void): string => {
    const o = JSON.parse(text);
    patch(o);
    return JSON.stringify(o);
  };
  const rejects: [string, () => string, RegExp][] = [
    ['another text encoder', () => text, /text encoder fingerprint does not match the loaded model \(rel L2 .*\): the tokens were trained with "tiny-sd", the loaded model is "other-sd"/],
    ['malformed JSON', () => text.slice(0, 200), /ipgo-tokens: not valid JSON/],
    ['non-finite token', () => edit((o) => { o.tokens.suffix.data = float32ToBase64(Float32Array.from({ length: 64 }, (_, i) => (i === 3 ? Infinity : 0))); }), /tokens.suffix: non-finite value Infinity at flat index 3/],
    ['non-finite fingerprint', () => edit((o) => { o.textEncoder.values.data = float32ToBase64(new Float32Array(64).fill(NaN)); }), /textEncoder.values: non-finite value NaN at flat index 0/],
    ['wrong dimension', () => edit((o) => { o.textDim = 768; o.config.tokens.textDim = 768; }), /token width D = 768 does not match the loaded model's text width 32/],
    ['wrong parameter shape', () => edit((o) => { o.params.prefix.W.shape = [32, 9]; }), /params.prefix.W: shape must be \[32,8\], got \[32,9\]/],
    ['missing history', () => edit((o) => { delete o.history; }), /history: missing \(a required field\)/],
  ];
  for (const [name, make, message] of rejects) {
    it(`rejects ${name}, and a rejected import changes nothing`, async () => {
      const input = make();
      const run = freshRun(config);
      const before = await readParams(run.params);
      const tensors = tf.memory().numTensors;
      const expectation = name === 'another text encoder' ? { textDim: 32, modelId: 'other-sd', textEncoder: otherFp } : { textDim: 32, modelId: 'tiny-sd', textEncoder: fp };
      expect(() => parseTokensFile(input, expectation)).toThrow(message);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(await readParams(run.params)).toEqual(before);
      disposeRun(run);
    });
  }
});
