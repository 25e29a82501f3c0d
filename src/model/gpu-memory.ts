import * as tf from '@tensorflow/tfjs';

/**
 * GPU memory as tfjs-webgpu holds it. Its buffer manager keeps every freed buffer in a pool and reuses one only
 * for a request of exactly the same size and usage, so between phases of different shapes (sampling → reward →
 * backward) the pool holds the previous phase's activations on top of the next phase's: memory that is free for
 * tfjs but not for the GPU. Its `numBytesAllocated` only grows while the pool is kept, so read at the end of a
 * phase it is that phase's peak, pool included.
 */
interface WebGpuBufferManager {
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
}

interface WebGpuBackendInternals {
  bufferManager: WebGpuBufferManager;
  commandEncoder: unknown;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

function webgpuBackend(): WebGpuBackendInternals | null {
  if (tf.getBackend() !== 'webgpu') return null;
  const b = tf.backend() as unknown as Partial<WebGpuBackendInternals>;
  return b.bufferManager?.freeBuffers instanceof Map ? (b as WebGpuBackendInternals) : null;
}

/** Bytes tfjs-webgpu has allocated on the device, its pool of freed buffers included; null off WebGPU. */
export function allocatedGpuBytes(): number | null {
  return webgpuBackend()?.bufferManager.numBytesAllocated ?? null;
}

/**
 * Submits the work tfjs-webgpu has recorded but not yet submitted (it batches dispatches), ending the open compute
 * pass first as its own read-backs do — a command encoder finished with a pass still open is invalid, and so
 * would be every dispatch after it. Tensors freed meanwhile return their buffers only then. No-op off WebGPU.
 */
export function submitPendingWork(): void {
  const b = webgpuBackend();
  if (!b?.commandEncoder) return;
  b.endComputePassEncoder();
  b.submitQueue();
}

/**
 * Returns tfjs-webgpu's pool of freed buffers to the GPU. Pending work is submitted first: a buffer that a
 * submitted command still reads may be destroyed (the GPU frees it once that work is done), one recorded in an
 * unsubmitted encoder may not. Returns the bytes released (0 off WebGPU).
 */
export function releaseBufferPool(): number {
  const b = webgpuBackend();
  if (!b) return 0;
  submitPendingWork();
  const m = b.bufferManager;
  let released = 0;
  for (const buffers of m.freeBuffers.values()) {
    for (const buffer of buffers) {
      released += buffer.size;
      buffer.destroy();
    }
    buffers.length = 0;
  }
  m.numFreeBuffers = 0;
  m.numBytesAllocated -= released;
  return released;
}

export type UpdatePhase = 'sampling' | 'reward' | 'backward';

const SUBMIT_BATCH_FLAG = 'WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE';

/**
 * The memory plan's bookkeeping for one update: at each phase boundary the phase's peak (allocated bytes, pool
 * included) is recorded and the pool is released, so the next phase starts from the tensors that are alive.
 * During the update every dispatch is submitted at once: tfjs-webgpu batches 15 by default, and a tensor freed
 * meanwhile keeps its buffer until the batch is submitted — at 512² that is up to 15 dead 128 MiB activations.
 */
export class PhaseMemory {
  readonly peaks: Partial<Record<UpdatePhase, number>> = {};
  /** Highest allocation seen in the current phase before a release inside it. */
  private running = 0;
  private savedSubmitBatch: number | null = null;

  /** Call once before the update: starts the first phase from live tensors only. */
  begin(): void {
    this.running = 0;
    if (webgpuBackend()) {
      this.savedSubmitBatch = tf.env().getNumber(SUBMIT_BATCH_FLAG);
      tf.env().set(SUBMIT_BATCH_FLAG, 1);
    }
    releaseBufferPool();
  }

  /** Call once after the update (also when it failed): restores the submit batching. */
  finish(): void {
    if (this.savedSubmitBatch !== null) tf.env().set(SUBMIT_BATCH_FLAG, this.savedSubmitBatch);
    this.savedSubmitBatch = null;
  }

  /** Inside a phase, between units of work of different shapes (stages, replayed steps): returns the pool. */
  release(): void {
    this.running = Math.max(this.running, allocatedGpuBytes() ?? 0);
    releaseBufferPool();
  }

  end(phase: UpdatePhase): void {
    const bytes = allocatedGpuBytes();
    if (bytes === null) return;
    this.peaks[phase] = Math.max(this.peaks[phase] ?? 0, bytes, this.running);
    this.running = 0;
    releaseBufferPool();
  }

  /** The update's peak (the largest phase peak), or null off WebGPU. */
  get peak(): number | null {
    const values = Object.values(this.peaks);
    return values.length ? Math.max(...values) : null;
  }
}
