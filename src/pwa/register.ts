/**
 * Registers the service worker (production builds only: `vite dev` serves modules that no SW should cache) and
 * tracks whether a new version is waiting. A tiny external store, read by UpdateBanner with useSyncExternalStore.
 *
 * Update flow: the browser checks sw.js on each load (and we ask hourly); a changed sw.js installs next to the
 * running one and waits. The banner then offers "Reload": we post SKIP_WAITING to the waiting worker, it
 * activates and takes control (`controllerchange`), and only then do we reload, so the page and the cache agree.
 */
export interface PwaState {
  /** A new version is installed and waiting for the user's go-ahead. */
  updateReady: boolean;
  /** The user pressed Reload; the new version is activating. */
  updating: boolean;
}

const UPDATE_CHECK_MS = 60 * 60 * 1000;

let state: PwaState = { updateReady: false, updating: false };
const listeners = new Set<() => void>();
let registration: ServiceWorkerRegistration | undefined;
let started = false;

function setState(patch: Partial<PwaState>): void {
  state = { ...state, ...patch };
  for (const listener of listeners) listener();
}

export function subscribePwa(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function pwaState(): PwaState {
  return state;
}

/** Idempotent; safe to call from a React effect (StrictMode runs effects twice). */
export function startServiceWorker(): void {
  if (started || !import.meta.env.PROD || !('serviceWorker' in navigator)) return;
  started = true;
  if (document.readyState === 'complete') void register();
  else window.addEventListener('load', () => void register(), { once: true });
}

async function register(): Promise<void> {
  // sw.js sits next to index.html; resolving against the document keeps it (and its scope) right under a subpath.
  const url = new URL('sw.js', document.baseURI).href;
  try {
    // Resolves to undefined where an embedder blocks service workers (Playwright's serviceWorkers: 'block').
    registration = (await navigator.serviceWorker.register(url)) ?? undefined;
  } catch (e) {
    // The app works without a service worker (it just won't start offline); say so without failing anything.
    console.warn(`IPGO Studio: offline support unavailable (service worker registration failed: ${(e as Error).message})`);
    return;
  }
  if (registration) watchForUpdates(registration);
}

function watchForUpdates(reg: ServiceWorkerRegistration): void {
  // With no controller this is the first install, not an update.
  const markIfWaiting = () => {
    if (reg.waiting && navigator.serviceWorker.controller) setState({ updateReady: true });
  };
  markIfWaiting();
  reg.addEventListener('updatefound', () => {
    const installing = reg.installing;
    installing?.addEventListener('statechange', () => {
      if (installing.state === 'installed') markIfWaiting();
    });
  });
  // Offline, update() rejects; that is expected and the next check will do.
  setInterval(() => reg.update().catch(() => undefined), UPDATE_CHECK_MS);
}

/** Activates the waiting version and reloads once it controls the page. */
export function applyUpdate(): void {
  const waiting = registration?.waiting;
  if (!waiting) return;
  setState({ updating: true });
  navigator.serviceWorker.addEventListener('controllerchange', () => window.location.reload(), { once: true });
  waiting.postMessage({ type: 'SKIP_WAITING' });
}
