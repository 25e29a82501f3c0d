/**
 * The service worker: the app shell offline, nothing else. Built by tools/pwa-build.ts into dist/sw.js (types
 * stripped, `__PRECACHE__` defined in front), next to index.html, so its default scope is the app's folder whether
 * the app is hosted at / or at a subpath.
 *
 * - install: fetches every shell file (index.html, JS/CSS chunks, the tensor worker, the tfjs .wasm files, the
 *   manifest, icons) into `ipgo-shell-<content hash>`, bypassing the HTTP cache so a new version never mixes in
 *   stale files. It does not skipWaiting: a running tune keeps its version until the user accepts the update.
 * - activate: deletes older `ipgo-shell-*` caches and claims open pages, so the first visit is controlled too.
 * - fetch: navigations get the cached index.html (the app starts offline; views are #/hash routes), precached files
 *   come from the cache, both with the COOP/COEP headers set (src/pwa/isolation.ts), everything else — model weights above all — goes to the network untouched: weights live in
 *   IndexedDB (the app's own store), never in this cache.
 * - message {type: 'SKIP_WAITING'}: the page's "Update available — Reload" button.
 */
import type { PrecacheManifest } from './precache-manifest';

declare const self: ServiceWorkerGlobalScope;
declare const __PRECACHE__: PrecacheManifest;
/** src/pwa/isolation.ts's COOP/COEP headers. */
declare const __ISOLATION_HEADERS__: Record<string, string>;

const CACHE_PREFIX = 'ipgo-shell-';
const CACHE = CACHE_PREFIX + __PRECACHE__.version;
const SHELL_URLS = __PRECACHE__.files.map((path) => new URL(path, self.location.href).href);
const SHELL = new Set(SHELL_URLS);
const INDEX_URL = new URL('index.html', self.location.href).href;
const SCOPE_PATH = new URL('./', self.location.href).pathname;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL_URLS.map((url) => new Request(url, { cache: 'reload' })))),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const stale = (await caches.keys()).filter((key) => key.startsWith(CACHE_PREFIX) && key !== CACHE);
      await Promise.all(stale.map((key) => caches.delete(key)));
      await self.clients.claim();
    })(),
  );
});

/** A page load of the app: the scope folder, index.html, or an extension-less path under it (not `models/x.json`). */
function isAppNavigation(request: Request, url: URL): boolean {
  if (request.mode !== 'navigate' || !url.pathname.startsWith(SCOPE_PATH)) return false;
  const last = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  return last === '' || last === 'index.html' || !last.includes('.');
}

/**
 * The response with the cross-origin isolation headers set: offline, and on a host that does not send them, the
 * page and its workers are still isolated (tfjs-wasm keeps its threads). A fresh Response, since cached ones are
 * immutable.
 */
function isolated(response: Response): Response {
  if (response.type === 'opaque' || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(__ISOLATION_HEADERS__)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function fromShell(cacheUrl: string, request: Request): Promise<Response> {
  const cached = await (await caches.open(CACHE)).match(cacheUrl);
  return isolated(cached ?? (await fetch(request)));
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (isAppNavigation(request, url)) {
    event.respondWith(fromShell(INDEX_URL, request));
    return;
  }
  const key = url.origin + url.pathname;
  if (SHELL.has(key)) event.respondWith(fromShell(key, request));
});

self.addEventListener('message', (event) => {
  if ((event.data as { type?: string } | null)?.type === 'SKIP_WAITING') void self.skipWaiting();
});
