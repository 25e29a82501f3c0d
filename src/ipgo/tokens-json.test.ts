import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { boundaryTokens } from './boundary-tokens';
import type { BoundaryShape } from './config';
import { float32ToBase64 } from './float32-base64';
import { createParams, disposeIpgoParams, initHostParams, readParams, sideParams, type HostParams } from './params';
import { Rng } from './rng';
import { applyImportedTokens, exportTokens, parseTokensFile, type IpgoTokensFile } from './tokens-json';

const SHAPE: BoundaryShape = { numTokens: 2, rank: 3, textDim: 16, bound: 1, rotation: 'intended' };

function makeFile(host: HostParams, shape = SHAPE): IpgoTokensFile {
  return exportTokens({
    params: host, shape, modelId: 'test/tiny', prompts: ['a red fox'], rewardWeights: { aesthetic: 1 },
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

  const nanData = (n: number): string => float32ToBase64(Float32Array.from({ length: n }, (_, i) => (i === 5 ? NaN : 0.1)));
  const wrongW = (): string => float32ToBase64(Float32Array.from({ length: 16 * 6 }, (_, i) => (i % 7 === 0 ? 1 : 0)));
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{oops', /not valid JSON/],
    ['wrong format', mutate(file, (o) => { o.format = 'tokens'; }), /format must be "ipgo-tokens"/],
    ['wrong version', mutate(file, (o) => { o.version = 2; }), /unsupported version 2 \(this app reads version 1\)/],
    ['missing field', mutate(file, (o) => { delete o.prompts; }), /missing field "prompts"/],
    ['unknown field', mutate(file, (o) => { o.extra = 1; }), /unknown field "extra"/],
    ['D mismatch', mutate(file, (o) => { o.textDim = 768; }), /token width D = 768 does not match the loaded model's text width 16/],
    ['bad rotation', mutate(file, (o) => { o.rotation = 'yes'; }), /rotation must be "intended" or "off"/],
    ['wrong x shape', mutate(file, (o) => { o.params.prefix.x.shape = [2, 7]; }), /params.prefix.x: shape must be \[2,8\], got \[2,7\]/],
    ['short data', mutate(file, (o) => { o.params.suffix.b.data = float32ToBase64(new Float32Array(15)); }), /params.suffix.b: data holds 15 values, shape \[16\] needs 16/],
    ['bad base64', mutate(file, (o) => { o.params.suffix.b.data = 'abc!'; }), /params.suffix.b: data is not valid base64/],
    ['non-finite', mutate(file, (o) => { o.params.prefix.x.data = nanData(16); }), /params.prefix.x: non-finite value NaN at flat index 5/],
    ['W not orthonormal', mutate(file, (o) => { o.params.suffix.W.data = wrongW(); }), /params.suffix.W: columns are not orthonormal/],
    ['tokens inconsistent', mutate(file, (o) => { o.rotation = 'off'; }), /tokens.prefix do not match the stored parameters/],
    ['wrong token shape', mutate(file, (o) => { o.tokens.suffix.shape = [16, 2]; }), /tokens.suffix: shape must be \[2,16\]/],
    ['bad date', mutate(file, (o) => { o.createdAt = 'yesterday'; }), /createdAt must be an ISO 8601 date-time/],
    ['bad weights', mutate(file, (o) => { o.rewardWeights = { clip: 'high' }; }), /rewardWeights.clip must be a finite number/],
    ['bad prompts', mutate(file, (o) => { o.prompts = [1]; }), /prompts must be an array of strings/],
  ];
  for (const [name, input, message] of cases) {
    it(`rejects: ${name}`, () => {
      expect(() => parseTokensFile(input, { textDim: 16 })).toThrow(message);
    });
  }

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
