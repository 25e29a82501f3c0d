import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ClipTextConfig, type ClipTextModel, clipTextForward, loadClipTextModel } from '../../src/model/clip/text-model';
import { disposeParams } from '../../src/model/nn';
import { storeFromHost } from '../../src/model/weights';
import type { HostTensor } from '../../src/weights/formats/safetensors';
import { casesOf, describeGolden, fixturePath, goldenPath, readJson, readSafetensors, relL2, tensorOf } from '../golden';

/**
 * Golden 6b: tiny-sd/text_encoder against text_encoder.safetensors. Cases are discovered from the file: every row
 * of `padded.input_ids` (run as the whole padded batch, so batching and pooling with B > 1 are covered) and every
 * `unpadded.<i>` record (batch 1, its own length L).
 */
const TOL = 1e-4;
const golden = goldenPath('text_encoder.safetensors');
const weights = fixturePath('tiny-sd', 'text_encoder', 'model.safetensors');
const configFile = fixturePath('tiny-sd', 'text_encoder', 'config.json');

const fmt = (e: Record<string, number>): string => Object.entries(e).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ');

/** Slice row `r` of a host tensor whose first axis is the batch. */
function row(t: HostTensor, r: number): Float32Array {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return (t.data as Float32Array).subarray(r * per, (r + 1) * per);
}

describeGolden('text encoder (CLIPTextModel, tiny-sd)', [golden, weights, configFile], () => {
  const g = readSafetensors(golden);
  let model: ClipTextModel;
  let tensorsBefore = 0;

  beforeAll(() => {
    tensorsBefore = tf.memory().numTensors;
    const store = storeFromHost(readSafetensors(weights));
    model = loadClipTextModel(store, readJson<ClipTextConfig>(configFile));
    expect(store.unusedKeys()).toEqual([]);
    store.dispose();
  });
  afterAll(() => {
    disposeParams(model);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  const padIds = g.get('padded.input_ids');
  const padRows = padIds ? padIds.shape[0]! : 0;
  const layerKeys = [...g.keys()].filter((k) => /^padded\.encoder_layer_\d+$/.test(k)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

  for (let r = 0; r < padRows; r++) {
    it(`padded row ${r}`, () => {
      const ids = tensorOf(g, 'padded.input_ids');
      const input = tf.tensor2d(ids.data as Int32Array, ids.shape as [number, number], 'int32');
      const out = clipTextForward(model, input, { outputHiddenStates: true });
      const got = {
        embeddings: out.hiddenStates![0]!.dataSync() as Float32Array,
        last: out.lastHiddenState.dataSync() as Float32Array,
        pooled: out.pooledOutput.dataSync() as Float32Array,
        layers: layerKeys.map((_, i) => out.hiddenStates![i + 1]!.dataSync() as Float32Array),
      };
      const per = (a: Float32Array, ref: HostTensor) => relL2(a.subarray(r * (a.length / padRows), (r + 1) * (a.length / padRows)), row(ref, r));
      const errs: Record<string, number> = {
        embeddings: per(got.embeddings, tensorOf(g, 'padded.embeddings')),
        last_hidden_state: per(got.last, tensorOf(g, 'padded.last_hidden_state')),
        pooler_output: per(got.pooled, tensorOf(g, 'padded.pooler_output')),
      };
      layerKeys.forEach((k, i) => (errs[k.slice('padded.'.length)] = per(got.layers[i]!, tensorOf(g, k))));
      input.dispose();
      out.lastHiddenState.dispose();
      out.pooledOutput.dispose();
      out.hiddenStates!.forEach((t) => t.dispose());
      console.log(`text encoder padded row ${r}: rel L2 ${fmt(errs)}`);
      for (const [k, e] of Object.entries(errs)) expect(e, k).toBeLessThan(TOL);
    });
  }

  for (const c of casesOf(g, /^(unpadded\.\d+)\./)) {
    it(c, () => {
      const ids = tensorOf(g, `${c}.input_ids`);
      const input = tf.tensor2d(ids.data as Int32Array, ids.shape as [number, number], 'int32');
      const out = clipTextForward(model, input);
      const errs = {
        last_hidden_state: relL2(out.lastHiddenState.dataSync(), tensorOf(g, `${c}.last_hidden_state`).data as Float32Array),
        pooler_output: relL2(out.pooledOutput.dataSync(), tensorOf(g, `${c}.pooler_output`).data as Float32Array),
      };
      tf.dispose([input, out.lastHiddenState, out.pooledOutput]);
      console.log(`text encoder ${c} (L=${ids.shape[1]}): rel L2 ${fmt(errs)}`);
      for (const [k, e] of Object.entries(errs)) expect(e, k).toBeLessThan(TOL);
    });
  }
});
