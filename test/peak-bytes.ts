import * as tf from '@tensorflow/tfjs';

/**
 * Peak of tfjs's tensor bytes while `query` runs, above the bytes held when it starts. tf.profile computes the
 * same figure but keeps a record per kernel and takes Math.max over them with a spread, which overflows the call
 * stack past ~10⁵ kernels (one tiny IPGO update at K = 4 runs more); this keeps only the running maximum, through
 * the same engine hook (the profile's kernel list).
 */
export async function peakBytesDuring(query: () => Promise<void> | void): Promise<number> {
  const state = tf.engine().state as unknown as { profiling: boolean; numBytes: number; activeProfile: { kernels: unknown } };
  const start = state.numBytes;
  let peak = start;
  const saved = state.activeProfile.kernels;
  state.activeProfile.kernels = { push: (k: { totalBytesSnapshot: number }) => { peak = Math.max(peak, k.totalBytesSnapshot); } };
  state.profiling = true;
  try {
    await query();
  } finally {
    state.profiling = false;
    state.activeProfile.kernels = saved;
  }
  return Math.max(peak, state.numBytes) - start;
}
