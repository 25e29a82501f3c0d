/**
 * A WebGPU device that allocates and counts without holding the bytes: Dawn's null backend (no shader runs,
 * read-backs are zeros) with every large storage buffer created at a few bytes but reporting its requested size.
 * tfjs-webgpu then runs unchanged — its buffer pool, its byte counters, our packed weights — at SD1.5 / 512²
 * sizes, far past the null device's 512 MiB cap, in seconds instead of the hours a software GPU would take.
 *
 * What stays real: uniform, staging (MAP_READ / MAP_WRITE) and small buffers, so read-backs have the right length.
 * Copies from or into a shrunk buffer fail validation; those errors are counted and swallowed (the values are
 * meaningless on this device anyway). The shim's own tally (`live`, `peak`) counts every buffer at its requested
 * size from creation to destroy — the same quantity as tfjs-webgpu's numBytesAllocatedInGPU (pool included),
 * plus buffers created outside tfjs's buffer manager.
 */
export interface CountingGpu {
  /** Bytes of buffers created and not destroyed, at their requested sizes. */
  live: number;
  /** Highest `live` since the last `resetPeak()`. */
  peak: number;
  /** Validation errors swallowed (copies touching a shrunk buffer). */
  errors: number;
  resetPeak(): void;
}

const SHRINK_ABOVE = 64 * 1024;
const SHRUNK_SIZE = 16;

/** Creates the null-backend GPU and installs it as navigator.gpu (before tfjs-backend-webgpu is imported). */
export async function installCountingGpu(): Promise<CountingGpu> {
  const { create, globals } = (await import('webgpu')) as unknown as { create(flags: string[]): GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, globals);
  const gpu = create(['backend=null']);
  const tally: CountingGpu = { live: 0, peak: 0, errors: 0, resetPeak() { this.peak = this.live; } };
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  Object.defineProperty(gpu, 'requestAdapter', {
    value: async (options?: GPURequestAdapterOptions) => {
      const adapter = await requestAdapter(options);
      if (!adapter) return adapter;
      const requestDevice = adapter.requestDevice.bind(adapter);
      Object.defineProperty(adapter, 'requestDevice', {
        value: async (descriptor?: GPUDeviceDescriptor) => countingDevice(await requestDevice(descriptor), tally),
      });
      return adapter;
    },
  });
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true, writable: true });
  return tally;
}

function countingDevice(device: GPUDevice, tally: CountingGpu): GPUDevice {
  device.addEventListener('uncapturederror', (e) => {
    tally.errors++;
    e.preventDefault();
  });
  const createBuffer = device.createBuffer.bind(device);
  let scratch = new ArrayBuffer(0);
  Object.defineProperty(device, 'createBuffer', {
    value: (desc: GPUBufferDescriptor): GPUBuffer => {
      const mapped = (desc.usage & (GPUBufferUsage.MAP_READ | GPUBufferUsage.MAP_WRITE)) !== 0;
      const shrink = !mapped && (desc.usage & GPUBufferUsage.STORAGE) !== 0 && desc.size > SHRINK_ABOVE;
      const buffer = createBuffer(shrink ? { ...desc, size: SHRUNK_SIZE } : desc);
      if (shrink) {
        Object.defineProperty(buffer, 'size', { value: desc.size });
        // an upload writes the whole range; it goes to a scratch array that is thrown away
        Object.defineProperty(buffer, 'getMappedRange', {
          value: () => {
            if (scratch.byteLength < desc.size) scratch = new ArrayBuffer(desc.size);
            return scratch;
          },
        });
      }
      tally.live += desc.size;
      tally.peak = Math.max(tally.peak, tally.live);
      const destroy = buffer.destroy.bind(buffer);
      let destroyed = false;
      Object.defineProperty(buffer, 'destroy', {
        value: () => {
          if (!destroyed) tally.live -= desc.size;
          destroyed = true;
          destroy();
        },
      });
      return buffer;
    },
  });
  return device;
}
