import * as tf from '@tensorflow/tfjs';
import { afterEach, expect } from 'vitest';
import { initNodeBackend } from '../tools/lib/tf-node';

await initNodeBackend('webgpu');

// WebGPU reports an invalid command asynchronously, as an event nobody awaits: without this a suite could pass
// while every dispatch after the bad one did nothing. Each test fails on an error raised while it ran.
const errors: string[] = [];
const device = (tf.backend() as unknown as { device: GPUDevice }).device;
device.addEventListener('uncapturederror', (e) => {
  if (errors.length < 5) errors.push((e as GPUUncapturedErrorEvent).error.message);
});
afterEach(async () => {
  await new Promise((resolve) => setTimeout(resolve, 0)); // let queued error events arrive
  const seen = errors.splice(0);
  expect(seen, 'uncaptured WebGPU errors').toEqual([]);
});
