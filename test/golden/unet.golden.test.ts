import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nchwToNhwc, nhwcToNchw } from '../../src/model/nn';
import { UNet2DConditionModel } from '../../src/model/unet/unet';
import { storeFromHost } from '../../src/model/weights';
import type { HostTensor } from '../../src/weights/formats/safetensors';
import { casesOf, describeGolden, fixturePath, goldenPath, readJson, readSafetensors, relL2, tensorOf } from '../golden';

/**
 * Golden 6c: tiny-sd/unet against unet.safetensors. Cases `caseN.` are discovered from the file; each runs the
 * UNet on its sample / timestep / encoder_hidden_states and compares `out` (rel L2 < 1e-4). The recorded
 * intermediates (`caseN.intermediate.*`) are compared too, so a failure names the first stage that diverges.
 */
const TOL = 1e-4;
const golden = goldenPath('unet.safetensors');
const weights = fixturePath('tiny-sd', 'unet', 'diffusion_pytorch_model.safetensors');
const configFile = fixturePath('tiny-sd', 'unet', 'config.json');

const hostToTf = (t: HostTensor): tf.Tensor => tf.tensor(t.data as Float32Array, t.shape, 'float32');

/** Our intermediates are NHWC; the golden's 4-D ones are NCHW. */
const toNchwData = (t: tf.Tensor): Float32Array =>
  tf.tidy(() => (t.rank === 4 ? nhwcToNchw(t as tf.Tensor4D) : t).dataSync() as Float32Array);

describeGolden('UNet2DConditionModel (tiny-sd/unet)', [golden, weights, configFile], () => {
  const g = readSafetensors(golden);
  let unet: UNet2DConditionModel;
  let tensorsBefore = 0;

  beforeAll(() => {
    tensorsBefore = tf.memory().numTensors;
    const store = storeFromHost(readSafetensors(weights));
    unet = UNet2DConditionModel.fromWeights(readJson(configFile), store);
    expect(store.unusedKeys()).toEqual([]);
    store.dispose();
  });
  afterAll(() => {
    unet.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  for (const c of casesOf(g, /^(case\d+)\./)) {
    it(c, () => {
      const before = tf.memory().numTensors;
      const refOut = tensorOf(g, `${c}.out`);
      const sample = tf.tidy(() => nchwToNhwc(hostToTf(tensorOf(g, `${c}.sample`)) as tf.Tensor4D));
      const ehs = hostToTf(tensorOf(g, `${c}.encoder_hidden_states`)) as tf.Tensor3D;
      const timestep = (tensorOf(g, `${c}.timestep`).data as Float32Array)[0]!;
      const intermediates = new Map<string, tf.Tensor>();
      const out = unet.forward(sample, timestep, ehs, { intermediates });
      const got = toNchwData(out);

      const prefix = `${c}.intermediate.`;
      const stages = [...g.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
      const stageErrors = stages.map((name) => {
        const mine = intermediates.get(name);
        const ref = tensorOf(g, prefix + name);
        if (!mine) return `${name}: not recorded by the port`;
        if (mine.size !== ref.data.length) return `${name}: size ${mine.size} != golden ${ref.data.length}`;
        const e = relL2(toNchwData(mine), ref.data as Float32Array);
        return e < TOL ? null : `${name}: rel L2 ${e.toExponential(2)}`;
      }).filter((s): s is string => s !== null);

      const err = relL2(got, refOut.data as Float32Array);
      console.log(`[unet golden] ${c}: t=${timestep} sample [${tensorOf(g, `${c}.sample`).shape}] L=${ehs.shape[1]} out rel L2 ${err.toExponential(2)}`);
      tf.dispose([sample, ehs, out, ...intermediates.values()]);
      expect(tf.memory().numTensors).toBe(before);
      expect(stageErrors, `intermediates off (first divergence localizes the bug): ${stageErrors.join('; ')}`).toEqual([]);
      expect(out.shape).toEqual([refOut.shape[0], refOut.shape[2], refOut.shape[3], refOut.shape[1]]);
      expect(err).toBeLessThan(TOL);
    });
  }
});
