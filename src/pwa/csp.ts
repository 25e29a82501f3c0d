/**
 * The app's Content-Security-Policy, one directive per line with the reason for each source. The build writes it
 * into index.html as a <meta http-equiv> (the app is static-hosted; a meta tag travels with the files) and
 * `vite preview` also sends it as a header, so the tensor worker, which gets its policy from its own response and
 * not from the page, runs under it in tests too (a host that can set headers should send the same string).
 * It is not applied in `vite dev`: React Fast Refresh injects an inline script there.
 */
export const CSP_DIRECTIVES: Record<string, string[]> = {
  'default-src': ["'self'"],
  // No 'unsafe-eval' and no inline scripts. 'wasm-unsafe-eval' lets tfjs-backend-wasm and hash-wasm compile their
  // WebAssembly (WebAssembly.instantiate / compile count as eval without it); it does not allow eval() or Function().
  // tfjs-wasm's pthread workers importScripts() the emscripten factory as a same-origin file, so no blob: here.
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  // The tensor worker is a same-origin module script. tfjs-wasm's pthread workers (its threads, when the app is
  // cross-origin isolated, src/pwa/isolation.ts) are blob: workers: the package ships their script only as a
  // string, which the tensor worker turns into a blob: URL (src/worker/backend.ts), as tfjs itself does.
  'worker-src': ["'self'", 'blob:'],
  // Model downloads and bundles: any https origin — the Hub and its CDN redirects, mirrors, and the bundle hosts
  // users add (a meta CSP cannot be widened at run time, so it cannot list them one by one) — and model servers on
  // this machine over plain http. connect-src governs fetch only: scripts, workers and styles stay 'self'.
  'connect-src': ["'self'", 'https:', 'http://127.0.0.1:*', 'http://localhost:*'],
  // Generated images are shown from canvases, blob: URLs (downloads, previews) and data: URLs.
  'img-src': ["'self'", 'blob:', 'data:'],
  // Stylesheets only from our bundle. React's `style={{…}}` and uPlot write element.style through the CSSOM, which
  // CSP does not govern, so neither 'unsafe-inline' nor a style-src-attr exception is needed.
  'style-src': ["'self'"],
  'font-src': ["'self'"],
  'manifest-src': ["'self'"],
  'object-src': ["'none'"],
  'frame-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'none'"],
};

export function cspString(directives: Record<string, string[]> = CSP_DIRECTIVES): string {
  return Object.entries(directives).map(([name, sources]) => `${name} ${sources.join(' ')}`).join('; ');
}

/**
 * Why the app cannot fetch a URL (a bundle, a mirror, a Hub endpoint) under connect-src (null: it can): https anywhere, plain http only
 * from this machine (an https page may not fetch http from elsewhere either).
 */
export function fetchableUrlProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return 'Enter a full https:// URL (http:// only for localhost / 127.0.0.1).';
  }
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:') {
    return u.hostname === '127.0.0.1' || u.hostname === 'localhost' ? null
      : `http:// is allowed only on this machine (localhost, 127.0.0.1): serve ${u.host} over https://.`;
  }
  return `${u.protocol} URLs cannot be fetched: enter an https:// URL.`;
}
