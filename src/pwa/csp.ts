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
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  // The tensor worker is a same-origin module script. tfjs-wasm would only make blob: workers for its threaded
  // build, which needs cross-origin isolation (SharedArrayBuffer) that this app does not have, so blob: stays out.
  'worker-src': ["'self'"],
  // Model downloads: the Hub, its redirects to the LFS/Xet CDNs (*.hf.co, cdn-lfs*.huggingface.co), and local model
  // servers / bundle URLs on this machine.
  'connect-src': [
    "'self'",
    'https://huggingface.co',
    'https://*.huggingface.co',
    'https://cdn-lfs.huggingface.co',
    'https://*.hf.co',
    'http://127.0.0.1:*',
    'http://localhost:*',
  ],
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
