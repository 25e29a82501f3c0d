/**
 * Child of tools/lib/tf-node.test.ts: starts the Node backend with IPGO_WASM_THREADS threads, runs a conv and a
 * matmul big enough for XNNPACK to split across threads, prints {threads, values, leaked} as one JSON line.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { initNodeBackend } from '../tools/lib/tf-node';

await initNodeBackend('wasm');
const before = tf.memory().numTensors;
const values = tf.tidy(() => {
  const x = tf.randomNormal([1, 32, 32, 16], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 16, 32], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const y = tf.conv2d(x, w, 1, 'same');
  const m = tf.matMul(tf.reshape(y, [1024, 32]), tf.randomNormal([32, 64], 0, 1, 'float32', 3));
  return Array.from(tf.concat([tf.sum(y, [0, 1, 2]), tf.sum(m, 0)]).dataSync());
});
console.log(JSON.stringify({ threads: getThreadsCount(), values, leaked: tf.memory().numTensors - before }));
