import type * as tf from '@tensorflow/tfjs';

/** The part of tfjs-backend-webgpu's backend that the custom kernels call (its program runner). */
export interface WebGpuBackendLike {
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  runWebGPUProgram(program: unknown, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms: { type: string; data: number[] }[], output?: tf.TensorInfo): tf.TensorInfo;
}
