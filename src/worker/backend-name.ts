import type { BackendName } from './protocol';

export const BACKEND_PREFERENCE: BackendName[] = ['webgpu', 'wasm', 'cpu'];

/** Parses a `?backend=` value; undefined means automatic. Throws a message naming the valid values. */
export function parseBackendName(value: string | null | undefined): BackendName | undefined {
  if (value === null || value === undefined || value === '' || value === 'auto') return undefined;
  if ((BACKEND_PREFERENCE as string[]).includes(value)) return value as BackendName;
  throw new Error(`unknown backend "${value}" in ?backend=: use webgpu, wasm, cpu or auto`);
}
