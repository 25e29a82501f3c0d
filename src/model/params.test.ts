import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { randomStore } from '../../test/random-weights';
import { type ClipTextConfig, clipTextBinding, clipTextExpectedKeys, clipTextForward } from './clip/text-model';
import { disposeParams, embeddingLookup } from './nn';
import { loadFromSource, loadFromStore } from './params';
import { storeSource } from './weights';

const text: ClipTextConfig = {
  vocab_size: 50, hidden_size: 8, intermediate_size: 16, num_attention_heads: 2, num_hidden_layers: 1,
  max_position_embeddings: 7, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5,
};

describe('parameter binding', () => {
  it('an embedding table split into row blocks looks up exactly what one table does', () => {
    tf.tidy(() => {
      const full = tf.randomNormal([10, 3], 0, 1, 'float32', 1) as tf.Tensor2D;
      const ids = tf.tensor2d([[0, 3, 4, 9], [8, 5, 1, 2]], undefined, 'int32');
      const split = { parts: [full.slice([0, 0], [4, 3]), full.slice([4, 0], [4, 3]), full.slice([8, 0], [2, 3])] as tf.Tensor2D[], rowsPerPart: 4 };
      expect(embeddingLookup(split, ids).arraySync()).toEqual(tf.gather(full, ids).arraySync());
    });
  });

  it('a streamed WeightSource and a WeightStore bind the same model; the source is closed, nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const b = clipTextBinding(text);
    const store = randomStore(clipTextExpectedKeys(text), 3);
    const fromStore = loadFromStore(store, b.build, b.opts);
    store.dispose();
    let closed = false;
    const src = storeSource(randomStore(clipTextExpectedKeys(text), 3));
    const fromSource = await loadFromSource({ ...src, close: () => { closed = true; src.close!(); } }, b.build, b.opts);
    expect(closed).toBe(true);
    const ids = tf.tensor2d([[49406, 3, 7, 49407].map((i) => i % 50)], undefined, 'int32');
    const [a, c] = [fromStore, fromSource].map((m) => clipTextForward(m, ids));
    expect(a!.lastHiddenState.arraySync()).toEqual(c!.lastHiddenState.arraySync());
    tf.dispose([ids, a!.lastHiddenState, a!.pooledOutput, c!.lastHiddenState, c!.pooledOutput]);
    disposeParams([fromStore, fromSource]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a source missing a key fails before reading any tensor, naming the key; nothing is left on the device', async () => {
    const before = tf.memory().numTensors;
    const src = storeSource(randomStore(clipTextExpectedKeys(text).filter((k) => !k.key.endsWith('final_layer_norm.bias')), 4));
    let reads = 0;
    const b = clipTextBinding(text);
    await expect(loadFromSource({ ...src, read: (k) => { reads++; return src.read(k); } }, b.build, b.opts)).rejects.toThrow(/1 missing \(text_model\.final_layer_norm\.bias\)/);
    expect(reads).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});
