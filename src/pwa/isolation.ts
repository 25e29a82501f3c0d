/**
 * The headers that make the app cross-origin isolated (`crossOriginIsolated`, hence SharedArrayBuffer and shared
 * WebAssembly memory, which tfjs-wasm's threads need). `vite dev` / `vite preview` send them on every response, a
 * static host must too (README, "Static hosting"), and the service worker adds them to every response it serves
 * from its cache, so the installed app stays isolated offline and on hosts that cannot set headers.
 */
export const CROSS_ORIGIN_ISOLATION_HEADERS: Record<string, string> = {
  // A browsing-context group of our own: no cross-origin window keeps a handle on ours (opener, popups).
  'Cross-Origin-Opener-Policy': 'same-origin',
  // require-corp rather than credentialless: every cross-origin load the app makes is a CORS fetch() (Hub API,
  // weight files, bundles; src/weights/install uses fetch's default mode 'cors'), which require-corp admits without
  // Cross-Origin-Resource-Policy headers; the no-cors subresources credentialless would rescue (cross-origin images,
  // scripts) are already barred by the CSP; and Safari supports require-corp but not credentialless.
  'Cross-Origin-Embedder-Policy': 'require-corp',
};
