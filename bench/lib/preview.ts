/** The built app (`npm run build`) served by `vite preview` for browser benchmarks, as users get it. */
import { spawn } from 'node:child_process';

/** Runs `fn` with the app served at the returned base URL, and stops the server after. */
export async function withPreviewServer<T>(port: number, fn: (baseUrl: string) => Promise<T>): Promise<T> {
  const server = spawn('npx', ['vite', 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { stdio: 'ignore' });
  try {
    const url = `http://127.0.0.1:${port}/`;
    await waitForHttp(url, ' (run npm run build first)');
    return await fn(url);
  } finally {
    server.kill();
  }
}

/** Waits until `url` answers 200; `hint` ends the error when it never does. */
export async function waitForHttp(url: string, hint = ''): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${url} did not come up${hint}`);
}
