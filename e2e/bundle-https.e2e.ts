/**
 * A bundle on another https origin — a host name the browser maps to a local TLS server, as a user's own bundle
 * host would be — is added by URL and installs under the app's CSP, whose connect-src lets it through; a script
 * from that same origin is still refused (script-src stays 'self'); a plain-http URL off this machine is refused
 * in the Models view with the fix named.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, expect, waitForBackend } from './fixtures';
import { CHROMIUM_PATH, QUIET_NETWORK_FLAGS, WEBGPU_FLAGS } from './chromium';
import { FaultServer } from './fault-server';
import { convertDiffusersFolder } from '../tools/convert';

const HOST = 'bundles.example.test';

test.use({
  ignoreHTTPSErrors: true, // a self-signed certificate
  launchOptions: { executablePath: CHROMIUM_PATH, args: [...QUIET_NETWORK_FLAGS, ...WEBGPU_FLAGS, `--host-resolver-rules=MAP ${HOST} 127.0.0.1`] },
  allowConsole: [/Content Security Policy|Refused to load the script/i],
});

test('a bundle from another https origin installs under the CSP; a script from that origin is refused', async ({ page, consoleProblems }) => {
  void consoleProblems;
  test.setTimeout(180_000);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-https-e2e-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${HOST}`,
    '-keyout', path.join(out, 'key.pem'), '-out', path.join(out, 'cert.pem')], { stdio: 'ignore' });
  await convertDiffusersFolder('public/models/tiny-sd', path.join(out, 'b'), { id: 'tiny-sd-fp16', name: 'Tiny SD (fp16 bundle)', precision: 'fp16' });
  const server = new FaultServer(path.join(out, 'b'));
  const url = await server.start(0, { tls: { key: fs.readFileSync(path.join(out, 'key.pem'), 'utf8'), cert: fs.readFileSync(path.join(out, 'cert.pem'), 'utf8') }, hostname: HOST });
  try {
    await page.goto('/?backend=wasm#/models');
    await waitForBackend(page);

    // plain http off this machine: refused before any request, with the fix named
    await page.getByTestId('bundle-url').fill(url.replace('https:', 'http:') + '/manifest.json');
    await page.getByTestId('bundle-add').click();
    await expect(page.getByRole('alert').filter({ hasText: 'only on this machine' })).toContainText(`serve ${HOST}:`);

    await page.getByTestId('bundle-url').fill(`${url}/manifest.json`);
    await page.getByTestId('bundle-add').click();
    await expect(page.getByTestId('model-tiny-sd-fp16')).toHaveAttribute('data-state', 'installed', { timeout: 120_000 });
    expect(server.log.some((r) => r.path === '/manifest.json' && r.status === 200)).toBe(true);

    const refused = await page.evaluate((src) => new Promise<string>((resolve) => {
      document.addEventListener('securitypolicyviolation', (e) => resolve(e.effectiveDirective), { once: true });
      const s = document.createElement('script');
      s.src = src;
      s.onload = () => resolve('loaded');
      document.head.append(s);
    }), `${url}/manifest.json`);
    expect(refused).toBe('script-src-elem');
  } finally {
    await server.stop();
    fs.rmSync(out, { recursive: true, force: true });
  }
});
