import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { contentSecurityPolicy, pwaServiceWorker } from './tools/pwa-build.js';
import { cspString } from './src/pwa/csp.js';
import { CROSS_ORIGIN_ISOLATION_HEADERS } from './src/pwa/isolation.js';

// The app is served on 127.0.0.1 (a secure context: WebGPU, IndexedDB and service workers all work there).
// base './' keeps every URL relative, so the built app (and its service worker scope) works from any subpath.
export default defineConfig({
  plugins: [react(), contentSecurityPolicy(), pwaServiceWorker()],
  base: './',
  // COOP/COEP on every response (dev and preview): cross-origin isolation, which tfjs-wasm's threads need.
  server: { host: '127.0.0.1', port: 5173, strictPort: true, headers: CROSS_ORIGIN_ISOLATION_HEADERS },
  // The CSP also as a header: the tensor worker takes its policy from its own response, not from the page's <meta>.
  preview: {
    host: '127.0.0.1', port: 4173, strictPort: true,
    headers: { 'Content-Security-Policy': cspString(), ...CROSS_ORIGIN_ISOLATION_HEADERS },
  },
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 4096 },
});
