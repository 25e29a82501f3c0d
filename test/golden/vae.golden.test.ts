/**
 * Golden 6d: AutoencoderKL (tiny-sd/vae) decode cases (decode0, decode1, … discovered from the file) and encode.
 * Goldens are NCHW; the model is NHWC. One `it` per case; intermediates are checked too, to localise a failure.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { storeFromHost } from '../../src/model/weights';
import { nchwToNhwc, nhwcToNchw } from '../../src/model/nn';
import { AutoencoderKL, latentsToImage01, type Tap } from '../../src/model/vae';
import { casesOf, describeGolden, fixturePath, goldenPath, readJson, readSafetensors, relL2, tensorOf } from '../golden';

const GOLDEN = goldenPath('vae.safetensors');
const CONFIG = fixturePath('tiny-sd/vae/config.json');
const WEIGHTS = fixturePath('tiny-sd/vae/diffusion_pytorch_model.safetensors');
const TOL = 1e-4; // README: single modules rel L2 < 1e-4

describeGolden('vae', [GOLDEN, CONFIG, WEIGHTS], () => {
  const g = readSafetensors(GOLDEN);
  let vae: AutoencoderKL;
  let baseline = 0;

  beforeAll(() => {
    const store = storeFromHost(readSafetensors(WEIGHTS));
    vae = AutoencoderKL.fromWeights(readJson(CONFIG), store);
    expect(store.unusedKeys()).toEqual([]);
    store.dispose();
    baseline = tf.memory().numTensors;
  });
  afterAll(() => vae?.dispose());

  const nhwc = (key: string) => tf.tidy(() => {
    const t = tensorOf(g, key);
    return nchwToNhwc(tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]));
  });
  /** rel L2 of an NHWC result against an NCHW golden tensor. */
  const compare = (got: tf.Tensor4D, key: string): number => {
    const ref = tensorOf(g, key);
    const nchw = nhwcToNchw(got);
    expect(nchw.shape, key).toEqual(ref.shape);
    const e = relL2(nchw.dataSync(), ref.data as Float32Array);
    nchw.dispose();
    return e;
  };
  /** Records intermediates whose names the golden also stores under `<case>.intermediate.*`. */
  const recorder = (c: string, seen: Map<string, tf.Tensor4D>): Tap => (name, t) => {
    if (g.has(`${c}.intermediate.${name}`)) seen.set(name, tf.keep(t.clone()));
  };

  for (const c of casesOf(g, /^(decode\d*)\./)) {
    it(`${c}: decode(latents / scaling_factor) and image`, () => {
      const seen = new Map<string, tf.Tensor4D>();
      const input = nhwc(`${c}.decoder_input`);
      const latents = nhwc(`${c}.latents`);
      const raw = vae.decode(input, recorder(c, seen));
      const image = latentsToImage01(vae, latents);
      const errs: Record<string, number> = { raw: compare(raw, `${c}.raw`), image: compare(image, `${c}.image`) };
      for (const [name, t] of seen) errs[name] = compare(t, `${c}.intermediate.${name}`);
      console.log(`vae ${c}: ${Object.entries(errs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      tf.dispose([input, latents, raw, image, ...seen.values()]);
      expect(seen.size, 'intermediates found').toBeGreaterThan(0);
      for (const [k, v] of Object.entries(errs)) expect(v, `${c} ${k} rel L2`).toBeLessThan(TOL);
      expect(tf.memory().numTensors).toBe(baseline);
    });
  }

  for (const c of casesOf(g, /^(encode\d*)\./)) {
    it(`${c}: moments, mean, logvar, std`, () => {
      const seen = new Map<string, tf.Tensor4D>();
      const image = nhwc(`${c}.image`);
      const tap: Tap = (name, t) => {
        if (name === 'moments') seen.set(name, tf.keep(t.clone()));
      };
      const dist = vae.encode(image, tap);
      const errs: Record<string, number> = {
        mean: compare(dist.mean, `${c}.mean`),
        logvar: compare(dist.logvar, `${c}.logvar`),
        std: compare(dist.std, `${c}.std`),
      };
      if (g.has(`${c}.moments`)) errs.moments = compare(seen.get('moments')!, `${c}.moments`);
      console.log(`vae ${c}: ${Object.entries(errs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      tf.dispose([image, dist.mean, dist.logvar, dist.std, ...seen.values()]);
      for (const [k, v] of Object.entries(errs)) expect(v, `${c} ${k} rel L2`).toBeLessThan(TOL);
      expect(tf.memory().numTensors).toBe(baseline);
    });
  }
});
