import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The app is served on 127.0.0.1 (a secure context: WebGPU, IndexedDB and service workers all work there).
export default defineConfig({
  plugins: [react()],
  base: './',
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 4096 },
});
