/** The app's single connection to the tensor worker, shared by every view through the store's actions. */
import { WorkerClient, createTensorWorker } from '../worker/client';
import { parseBackendName } from '../worker/backend-name';

export const engine = new WorkerClient(createTensorWorker);

/** `?backend=webgpu|wasm|cpu|auto` from the page URL; a bad value is reported, not silently ignored. */
export function backendFromUrl(search: string = globalThis.location?.search ?? ''): { backend?: ReturnType<typeof parseBackendName>; error?: string } {
  try {
    return { backend: parseBackendName(new URLSearchParams(search).get('backend')) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
