/**
 * The WebGPU device behind tfjs, watched: a lost device (driver reset, out of memory, another tab, `destroy()`)
 * resolves `GPUDevice.lost`, and errors nobody captured arrive as `uncapturederror` events. tfjs-webgpu watches
 * neither, so without this a lost device shows up later as some read-back failing with an unrelated message.
 * The worker checks `deviceLoss()` between steps, ends a run with `device-lost` (its last per-epoch checkpoint
 * stays with the UI), and `recoverDevice()` re-creates the backend on a new device before the next job.
 */
import * as tf from '@tensorflow/tfjs';
import { JobError } from './protocol';

interface Watched {
  device: GPUDevice;
  lost: GPUDeviceLostInfo | null;
}

let watched: Watched | null = null;

function backendDevice(): GPUDevice | null {
  if (tf.getBackend() !== 'webgpu') return null;
  return (tf.backend() as unknown as { device?: GPUDevice }).device ?? null;
}

/** Starts watching the current backend's device (no-op off WebGPU or when already watched). */
export function watchDevice(log: (m: string, level?: 'info' | 'warn' | 'error') => void = () => {}): void {
  const device = backendDevice();
  if (!device || watched?.device === device) return;
  const w: Watched = { device, lost: null };
  watched = w;
  void device.lost.then((info) => {
    w.lost = info;
    log(`GPU device lost (${info.reason}): ${info.message || 'no message'}`, 'error');
  });
  let count = 0;
  device.addEventListener('uncapturederror', (e) => {
    const err = (e as GPUUncapturedErrorEvent).error;
    const kind = err.constructor?.name ?? 'GPUError';
    count++;
    // one bad command usually invalidates everything after it: the first few are the ones that say why
    if (count <= 5) {
      log(`uncaptured WebGPU error (${kind}): ${err.message}`, 'error');
    } else if (count % 1000 === 0) {
      log(`${count} uncaptured WebGPU errors so far (the first ones are logged above)`, 'error');
    }
  });
}

/** Why the watched device is gone, or null while it is usable. */
export function deviceLoss(): string | null {
  const w = watched;
  if (!w?.lost) return null;
  const reason = w.lost.reason === 'destroyed' ? 'destroyed' : 'lost by the browser or driver';
  return `the GPU device was ${reason}${w.lost.message ? ` (${w.lost.message})` : ''}`;
}

/** Throws a `device-lost` job error when the device is gone; `doing` says what stopped. */
export function throwIfDeviceLost(doing: string): void {
  const loss = deviceLoss();
  if (loss) throw new JobError('device-lost', `${doing} stopped: ${loss}. The last epoch's checkpoint is kept: press Resume to continue on a new device.`);
}

/**
 * After a failure: a lost device rejects pending read-backs (AbortError) before its `lost` promise settles, so give
 * that a moment, then report the loss if it is one (`throwIfDeviceLost`).
 */
export async function throwIfDeviceLostAfterError(doing: string): Promise<void> {
  const w = watched;
  if (w && !w.lost) await Promise.race([w.device.lost, new Promise((resolve) => setTimeout(resolve, 250))]);
  throwIfDeviceLost(doing);
}

/**
 * After a loss: drops every tensor of the dead backend (they cannot be read any more) and starts tfjs-webgpu again
 * on a new device. Returns true when it did (the caller must reload its models), false when nothing was lost.
 */
export async function recoverDevice(log: (m: string) => void = () => {}): Promise<boolean> {
  if (!deviceLoss()) return false;
  const flags = { ...tf.env().getFlags() };
  tf.engine().reset(); // disposes every backend instance and tensor record; the registered factories stay
  for (const [name, value] of Object.entries(flags)) tf.env().set(name, value);
  if (!(await tf.setBackend('webgpu'))) throw new JobError('device-lost', 'the GPU device was lost and WebGPU could not start again: reload the page');
  await tf.ready();
  watched = null;
  watchDevice(log);
  log('WebGPU backend re-created on a new device');
  return true;
}

/**
 * Runs `work` inside an out-of-memory error scope: an allocation the GPU refused becomes an `out-of-memory` job
 * error naming `what` (with advice), instead of silently invalid buffers. Off WebGPU it just runs `work`.
 */
export async function withOutOfMemoryScope<T>(what: string, work: () => Promise<T>): Promise<T> {
  const device = backendDevice();
  if (!device) return work();
  device.pushErrorScope('out-of-memory');
  let result: T;
  try {
    result = await work();
  } finally {
    const error = await device.popErrorScope().catch(() => null);
    if (error) {
      throw new JobError('out-of-memory', `${what}: the GPU ran out of memory (${error.message}). Lower the resolution, `
        + 'set the models to int8 in the Models view, or close other GPU-heavy tabs');
    }
  }
  return result;
}

/** Fault injection (Diagnostics): destroys the device as a driver reset would lose it. */
export function destroyDevice(): void {
  const device = backendDevice();
  if (!device) throw new JobError('invalid-input', 'no WebGPU device to destroy: the worker is not on the webgpu backend');
  watchDevice();
  device.destroy();
}
