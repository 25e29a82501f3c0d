import * as tf from '@tensorflow/tfjs';
import { submitPendingWork } from './gpu-memory';

/**
 * A kept tensor whose values go to the device now. tfjs-webgpu otherwise keeps a new tensor's host array until the
 * tensor is first used, so after loading a whole model would still sit in host memory (and the device's byte
 * counters would not show it). An upload that goes through a staging buffer is submitted at once, so the staging
 * buffer is returned instead of piling up until the first kernel runs.
 */
export function deviceTensor(data: Float32Array | Int32Array, shape: number[], dtype: 'float32' | 'int32'): tf.Tensor {
  const t = tf.keep(tf.tensor(data, shape, dtype));
  if (tf.getBackend() === 'webgpu') {
    (tf.backend() as unknown as { uploadToGPU(dataId: object): void }).uploadToGPU(t.dataId);
    submitPendingWork();
  }
  return t;
}
