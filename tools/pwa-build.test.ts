import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Script } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServiceWorker, precacheManifest } from './pwa-build';
import { cspString } from '../src/pwa/csp';

function fakeDist(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ipgo-dist-'));
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), body);
  }
  return dir;
}

describe('precacheManifest', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  const shell = {
    'index.html': '<!doctype html>',
    'assets/index-a1.js': 'app',
    'assets/index-a1.js.map': '{}',
    'assets/tensor.worker-b2.js': 'worker',
    'assets/tfjs-backend-wasm-c3.wasm': 'wasm',
    'icons/icon-192.png': 'png',
    'manifest.webmanifest': '{}',
    'sw.js': 'old sw',
    'models/tiny-sd/unet/model.safetensors': 'weights',
    'models/VERSION': '2',
    'demo/demo-sd/tokenizer/vocab.json': '{}',
    'weights.pth': 'w',
  };

  it('lists the shell and leaves out models, weights, source maps and the service worker', () => {
    const dir = fakeDist(shell);
    dirs.push(dir);
    expect(precacheManifest(dir).files).toEqual([
      'assets/index-a1.js',
      'assets/tensor.worker-b2.js',
      'assets/tfjs-backend-wasm-c3.wasm',
      'icons/icon-192.png',
      'index.html',
      'manifest.webmanifest',
    ]);
  });

  it('changes its version when a shell file changes, not when a model does', () => {
    const a = fakeDist(shell);
    const b = fakeDist({ ...shell, 'models/VERSION': '3' });
    const c = fakeDist({ ...shell, 'index.html': '<!doctype html><title>v2</title>' });
    dirs.push(a, b, c);
    expect(precacheManifest(a).version).toMatch(/^[0-9a-f]{16}$/);
    expect(precacheManifest(b).version).toBe(precacheManifest(a).version);
    expect(precacheManifest(c).version).not.toBe(precacheManifest(a).version);
  });
});

describe('buildServiceWorker', () => {
  it('is a classic script (no import/export) that carries the precache list', async () => {
    const code = await buildServiceWorker({ version: '0123456789abcdef', files: ['index.html', 'assets/x.js'] });
    expect(() => new Script(code)).not.toThrow(); // parses as a classic script
    expect(code).toContain('"0123456789abcdef"');
    expect(code).toContain('"assets/x.js"');
    expect(code).not.toMatch(/^\s*(import|export)\b/m);
  });
});

describe('cspString', () => {
  it('forbids eval and inline script, allows WebAssembly compilation', () => {
    const csp = cspString();
    expect(csp).toMatch(/script-src 'self' 'wasm-unsafe-eval';/);
    expect(csp).not.toContain("'unsafe-eval'");
    expect(csp).not.toContain("'unsafe-inline'");
    expect(csp).toContain("object-src 'none'");
  });
});
