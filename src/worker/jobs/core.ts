import { selectBackend } from '../backend';
import type { CoreJobs, JobHandlers } from '../protocol';
import { JobError } from '../protocol';
import { runMatmulBench } from './matmul-bench';
import * as tf from '@tensorflow/tfjs';
import { KERNEL_TOLERANCE, checkKernels } from '../../model/kernels/self-check';
import type { BackendName } from '../protocol';
import { setAppBase } from '../app-base';
import { destroyDevice, watchDevice } from '../gpu-device';

export const coreHandlers: JobHandlers<CoreJobs> = {
  init: async (params, ctx) => {
    setAppBase(params.appBase);
    ctx.progress({ stage: 'selecting backend' });
    const report = await selectBackend(params.backend, (m) => ctx.log(m));
    watchDevice(ctx.log);
    return report;
  },
  matmulBench: (params, ctx) => runMatmulBench(params, (p) => ctx.progress(p), () => ctx.cancelled()),
  kernelCheck: async () => ({ backend: tf.getBackend() as BackendName, tolerance: KERNEL_TOLERANCE, checks: await checkKernels() }),
  fault: async ({ mode }) => {
    if (mode === 'lose-device') return destroyDevice() as never;
    if (mode === 'crash') {
      // An exception outside any job's promise chain: the worker's global error path, as a real bug would be.
      setTimeout(() => {
        throw new Error('deliberate worker crash (fault injection)');
      });
      return new Promise<never>(() => {});
    }
    throw new JobError('internal', 'deliberate job failure (fault injection)');
  },
};
