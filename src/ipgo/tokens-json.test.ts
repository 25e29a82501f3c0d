import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { boundaryTokens } from './boundary-tokens';
import { promptWiseConfig, type BoundaryShape } from './config';
import { float32ToBase64 } from './float32-base64';
import { createParams, disposeIpgoParams, initHostParams, readParams, sideParams, type HostParams } from './params';
import { Rng } from './rng';
import { FINGERPRINT_METHOD, FINGERPRINT_PROBE, type TextEncoderFingerprint } from './text-encoder-fingerprint';
import { applyImportedTokens, exportTokens, parseTokensFile, type IpgoTokensFile } from './tokens-json';
import { tokensSchemaViolations } from './tokens-json-schema';
import type { EpochRecord } from './trainer';

const SHAPE: BoundaryShape = { numTokens: 2, rank: 3, textDim: 16, bound: 1, rotation: 'intended' };

const fingerprint = (seed: number, textDim = 16): TextEncoderFingerprint => {
  const rng = new Rng(seed);
  return { method: FINGERPRINT_METHOD, probe: FINGERPRINT_PROBE, textDim, values: Float32Array.from({ length: 2 * textDim }, () => rng.normal()) };
};
const FP = fingerprint(1);
const HISTORY: EpochRecord[] = [
  { epoch: 0, rewards: { aesthetic: 4.0 }, weightedReward: 4.0, penalty: 0.5, loss: -3.9995, lr: 1e-3, gradNorm: 2, clipScale: 0.5,
    applied: true, orthonormalityError: 1e-7, ms: 12 },
  { epoch: 1, rewards: { aesthetic: NaN }, weightedReward: NaN, penalty: 0.5, loss: NaN, lr: 1e-3, gradNorm: NaN, clipScale: 1,
    applied: false, skippedReason: 'non-finite loss', orthonormalityError: 1e-7, ms: 11 },
];

function makeFile(host: HostParams, shape = SHAPE): IpgoTokensFile {
  return exportTokens({
    params: host, config: promptWiseConfig(shape.textDim, { tokens: shape }), sampling: { scheduler: 'lms', height: 32, width: 32, noiseSeed: 7 },
    modelId: 'test/tiny', textEncoder: FP, prompts: ['a red fox'], rewardWeights: { aesthetic: 1 }, history: HISTORY,
    createdAt: new Date('2025-01-02T03:04:05Z'), reward: 4.25,
  });
}

/** A deep copy with one change, as an untyped object. */
function mutate(file: IpgoTokensFile, patch: (o: any) => void): unknown {
  const o = JSON.parse(JSON.stringify(file));
  patch(o);
  return o;
}

describe('ipgo-tokens v1 file', () => {
  const host = initHostParams(SHAPE, new Rng(3));
  const file = makeFile(host);

  it('round-trips through JSON text: parameters bit-exact, tokens equal the training map', () => {
    const imported = parseTokensFile(JSON.stringify(file), { textDim: 16, modelId: 'test/tiny' });
    expect(imported.params).toEqual(host);
    expect(imported.shape).toEqual(SHAPE);
    expect(imported.prompts).toEqual(['a red fox']);
    expect(imported.rewardWeights).toEqual({ aesthetic: 1 });
    expect(imported.createdAt).toBe('2025-01-02T03:04:05.000Z');
    expect(imported.reward).toBe(4.25);
    expect(imported.warnings).toEqual([]);
    expect(imported.config).toEqual(promptWiseConfig(16, { tokens: SHAPE }));
    expect(imported.sampling).toEqual({ scheduler: 'lms', height: 32, width: 32, noiseSeed: 7 });
    expect(imported.history).toEqual(HISTORY);
    expect(imported.textEncoder.values).toEqual(FP.values);
    const params = createParams(host, SHAPE);
    const t = boundaryTokens(sideParams(params, 'suffix'), SHAPE);
    const got = t.dataSync();
    imported.tokens.suffix.forEach((v, i) => expect(Math.abs(v - got[i]!)).toBeLessThan(1e-5));
    t.dispose();
    disposeIpgoParams(params);
  });

  it('warns (does not fail) on another model id with the same width', () => {
    expect(parseTokensFile(file, { textDim: 16, modelId: 'other/model' }).warnings[0]).toMatch(/trained with "test\/tiny"/);
  });

  it('accepts a fingerprint within tolerance (a quantized copy), rejects another text encoder', () => {
    const near = { ...FP, values: FP.values.map((v, i) => v * (1 + 1e-3 * Math.sin(i))) };
    expect(parseTokensFile(file, { textDim: 16, modelId: 'test/tiny', textEncoder: near }).warnings).toEqual([]);
    expect(() => parseTokensFile(file, { textDim: 16, modelId: 'other/model', textEncoder: fingerprint(2) }))
      .toThrow(/text encoder fingerprint does not match the loaded model \(rel L2 .* > 0.03\): the tokens were trained with "test\/tiny", the loaded model is "other\/model"/);
  });

  const nanData = (n: number): string => float32ToBase64(Float32Array.from({ length: n }, (_, i) => (i === 5 ? NaN : 0.1)));
  const wrongW = (): string => float32ToBase64(Float32Array.from({ length: 16 * 6 }, (_, i) => (i % 7 === 0 ? 1 : 0)));
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{oops', /not valid JSON/],
    ['wrong format', mutate(file, (o) => { o.format = 'tokens'; }), /format must be "ipgo-tokens"/],
    ['wrong version', mutate(file, (o) => { o.version = 2; }), /unsupported version 2 \(this app reads version 1\)/],
    ['missing field', mutate(file, (o) => { delete o.prompts; }), /ipgo-tokens: prompts: missing \(a required field\)/],
    ['unknown field', mutate(file, (o) => { o.extra = 1; }), /ipgo-tokens: extra: not a known field/],
    ['wrong type', mutate(file, (o) => { o.numTokens = '2'; }), /ipgo-tokens: numTokens: must be integer, got "2"/],
    ['D mismatch', mutate(file, (o) => { o.textDim = 768; o.config.tokens.textDim = 768; }), /token width D = 768 does not match the loaded model's text width 16/],
    ['bad rotation', mutate(file, (o) => { o.rotation = 'yes'; }), /rotation: must be one of "intended", "off", got "yes"/],
    ['wrong x shape', mutate(file, (o) => { o.params.prefix.x.shape = [2, 7]; }), /params.prefix.x: shape must be \[2,8\], got \[2,7\]/],
    ['short data', mutate(file, (o) => { o.params.suffix.b.data = float32ToBase64(new Float32Array(15)); }), /params.suffix.b: data holds 15 values, shape \[16\] needs 16/],
    ['bad base64', mutate(file, (o) => { o.params.suffix.b.data = 'abc!'; }), /params.suffix.b: data is not valid base64/],
    ['non-finite', mutate(file, (o) => { o.params.prefix.x.data = nanData(16); }), /params.prefix.x: non-finite value NaN at flat index 5/],
    ['W not orthonormal', mutate(file, (o) => { o.params.suffix.W.data = wrongW(); }), /params.suffix.W: columns are not orthonormal/],
    ['tokens inconsistent', mutate(file, (o) => { o.rotation = 'off'; o.config.tokens.rotation = 'off'; }), /tokens.prefix do not match the stored parameters/],
    ['wrong token shape', mutate(file, (o) => { o.tokens.suffix.shape = [16, 2]; }), /tokens.suffix: shape must be \[2,16\]/],
    ['bad date', mutate(file, (o) => { o.createdAt = 'yesterday'; }), /createdAt: must be a date-time string, got "yesterday"/],
    ['bad weights', mutate(file, (o) => { o.rewardWeights = { clip: 'high' }; }), /rewardWeights.clip: must be number, got "high"/],
    ['bad prompts', mutate(file, (o) => { o.prompts = [1]; }), /prompts\[0\]: must be string, got 1/],
    ['config missing a field', mutate(file, (o) => { delete o.config.adam.lr; }), /config.adam.lr: missing/],
    ['config bad value', mutate(file, (o) => { o.config.gradLastK = 0; }), /config.gradLastK: must be at least 1, got 0/],
    ['config vs shape', mutate(file, (o) => { o.config.tokens.rank = 2; }), /rank \(3\) differs from config.tokens.rank \(2\)/],
    ['bad sampling', mutate(file, (o) => { o.sampling.scheduler = 'pndm'; }), /sampling.scheduler: must be one of "lms", "euler", "ddim", "dpmpp-2m", "dpmpp-2m-karras", got "pndm"/],
    ['fingerprint width', mutate(file, (o) => { o.textEncoder.values.shape = [2, 8]; }), /textEncoder.values: shape must be \[2,16\], got \[2,8\]/],
    ['fingerprint method', mutate(file, (o) => { o.textEncoder.method = 'sha256'; }), /textEncoder.method: must be "probe-states-v1", got "sha256"/],
    ['history not array', mutate(file, (o) => { o.history = {}; }), /history: must be array, got \{\}/],
    ['history bad number', mutate(file, (o) => { o.history[0].loss = 'low'; }), /history\[0\].loss: must be number or null, got "low"/],
    ['history unknown', mutate(file, (o) => { o.history[1].foo = 1; }), /history\[1\].foo: not a known field/],
  ];
  for (const [name, input, message] of cases) {
    it(`rejects: ${name}`, () => {
      expect(() => parseTokensFile(input, { textDim: 16 })).toThrow(message);
    });
  }

  it('lists every schema violation with its path, not only the first', () => {
    const broken = mutate(file, (o) => { o.bound = -1; o.params.prefix.W.dtype = 'float16'; delete o.tokens.suffix; });
    expect(() => parseTokensFile(broken, { textDim: 16 })).toThrow(
      'ipgo-tokens: bound: must be greater than 0, got -1; params.prefix.W.dtype: must be "float32", got "float16"; tokens.suffix: missing (a required field)');
  });

  it('an exported file follows the schema', () => {
    expect(tokensSchemaViolations(JSON.parse(JSON.stringify(file)))).toEqual([]);
  });

  it('never partially applies: a file for other shapes leaves every variable untouched', async () => {
    const before = tf.memory().numTensors;
    const bigger: BoundaryShape = { ...SHAPE, numTokens: 3 };
    const imported = parseTokensFile(makeFile(initHostParams(bigger, new Rng(4)), bigger), { textDim: 16 });
    const params = createParams(host, SHAPE);
    expect(() => applyImportedTokens(params, imported)).toThrow(/x_prefix: variable is \[2,8\], the shape needs \[3,11\]/);
    expect(await readParams(params)).toEqual(host);
    const same = parseTokensFile(makeFile(initHostParams(SHAPE, new Rng(5))), { textDim: 16 });
    applyImportedTokens(params, same);
    expect(await readParams(params)).toEqual(same.params);
    disposeIpgoParams(params);
    expect(tf.memory().numTensors).toBe(before);
  });
});
