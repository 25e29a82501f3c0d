/** What the build writes into the service worker: the shell's files and a hash of their contents. */
export interface PrecacheManifest {
  /** First 16 hex digits of SHA-256 over the sorted (path, bytes) pairs; names the cache `ipgo-shell-<version>`. */
  version: string;
  /** Paths relative to the service worker's folder (= the app's folder), e.g. `index.html`, `assets/index-x.js`. */
  files: string[];
}

/**
 * Whether a built file belongs to the offline app shell. Model weights never do: the built-in models under
 * `models/` (random tiny) and `demo/` (the demo set) and any weight file format are fetched on demand and kept in IndexedDB, not in the SW cache (hundreds of
 * MB to GB for SD1.5). Source maps are for debugging online, and the service worker is not cached by itself.
 */
export function isShellFile(path: string): boolean {
  if (/^(models|demo)\//.test(path) || path.includes('/models/')) return false;
  if (/\.(safetensors|pth|pt|ckpt|bin|onnx|gguf|npz|h5)$/i.test(path)) return false;
  if (path.endsWith('.map') || path === 'sw.js') return false;
  if (path.split('/').some((part) => part.startsWith('.'))) return false;
  return true;
}
