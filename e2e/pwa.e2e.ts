/**
 * The PWA on the built app: installable in Chromium, a service worker that precaches the shell (never the models),
 * starts offline on both backends, offers updates, and a CSP that tfjs runs under without a single violation.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { CHROMIUM_PATH, E2E_BASE_URL, QUIET_NETWORK_FLAGS, WEBGPU_FLAGS } from './chromium';
import { test, expect, waitForBackend } from './fixtures';
import { cspString } from '../src/pwa/csp';
import { isShellFile } from '../src/pwa/precache-manifest';

const DIST = path.resolve('dist');
const SHOTS = 'e2e/artifacts/screenshots';

/** Every built file that should be in the shell cache, as paths relative to the app folder. */
function builtShellFiles(dir = DIST, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? builtShellFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  ).filter(isShellFile);
}

async function waitForControl(page: Page): Promise<void> {
  await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated', null, { timeout: 30_000 });
}

/** All Cache Storage entries, by cache name. */
function cacheContents(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(async () => {
    const out: Record<string, string[]> = {};
    for (const name of await caches.keys()) out[name] = (await (await caches.open(name)).keys()).map((r) => r.url);
    return out;
  });
}

async function runMatmul(page: Page, backend: string): Promise<void> {
  await page.getByTestId('matmul-size').selectOption('64');
  await page.getByTestId('matmul-run').click();
  const result = page.getByTestId('matmul-result');
  await expect(result).toHaveAttribute('data-ok', 'true');
  await expect(result).toHaveAttribute('data-backend', backend);
}

/** CSP violations as the page sees them: `securitypolicyviolation` events and console lines (page and worker). */
async function watchCsp(page: Page): Promise<string[]> {
  const violations: string[] = [];
  await page.exposeFunction('__reportCspViolation', (v: string) => violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as unknown as { __reportCspViolation(v: string): void }).__reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI}`));
  });
  page.on('console', (msg) => {
    if (/Content.Security.Policy/i.test(msg.text())) violations.push(`console ${msg.type()}: ${msg.text()}`);
  });
  return violations;
}

test.describe('PWA', () => {
  test('is installable in Chromium: manifest, PNG icons, no installability errors', async ({ playwright }) => {
    // Chromium reports "in-incognito" for Playwright's default (off-the-record) contexts: use a real profile.
    const profile = mkdtempSync(path.join(tmpdir(), 'ipgo-pwa-profile-'));
    const context = await playwright.chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      args: [...QUIET_NETWORK_FLAGS, ...WEBGPU_FLAGS],
      baseURL: E2E_BASE_URL,
    });
    const errors: string[] = [];
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto('./');
      await waitForBackend(page);
      await waitForControl(page);

      const cdp = await context.newCDPSession(page);
      const manifest = await cdp.send('Page.getAppManifest');
      expect(manifest.errors).toEqual([]);
      const parsed = JSON.parse(manifest.data ?? '{}') as { display: string; start_url: string; icons: { src: string; sizes: string; purpose?: string; type: string }[] };
      expect(parsed.display).toBe('standalone');
      expect(parsed.icons.filter((i) => i.type === 'image/png').map((i) => `${i.sizes}:${i.purpose ?? 'any'}`))
        .toEqual(expect.arrayContaining(['192x192:any', '512x512:any', '512x512:maskable']));
      // Each PNG icon decodes at its declared size.
      const sizes = await page.evaluate((icons) => Promise.all(icons.map((src) => new Promise<string>((resolve, reject) => {
        const img = new Image();
        img.onload = () => resolve(`${img.naturalWidth}x${img.naturalHeight}`);
        img.onerror = () => reject(new Error(`icon ${src} did not load`));
        img.src = src;
      }))), parsed.icons.filter((i) => i.type === 'image/png').map((i) => i.src));
      expect(sizes).toEqual(parsed.icons.filter((i) => i.type === 'image/png').map((i) => i.sizes));

      const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
      expect(installabilityErrors).toEqual([]);
      await page.screenshot({ path: `${SHOTS}/pwa-installable.png` });

      // The check can fail: a manifest without icons is reported (served from a fresh, uncontrolled page load).
      await context.route('**/manifest.webmanifest', async (route) => {
        const body = JSON.parse((await (await route.fetch()).text()) as string) as Record<string, unknown>;
        await route.fulfill({ contentType: 'application/manifest+json', body: JSON.stringify({ ...body, icons: [] }) });
      });
      await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.unregister()));
      await page.reload();
      await waitForBackend(page);
      const broken = await cdp.send('Page.getInstallabilityErrors');
      expect(broken.installabilityErrors.map((e) => e.errorId)).toContain('manifest-missing-suitable-icon');
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
    expect(errors, 'console errors').toEqual([]);
  });

  test('the service worker controls the page and precaches the shell, never the models', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await page.goto('./#/diagnostics');
    await waitForBackend(page);
    await waitForControl(page);
    await expect(page.getByTestId('update-banner')).toHaveCount(0); // a first install is not an update

    const origin = new URL(page.url()).origin + '/';
    // A model file fetched online passes through the service worker without being cached.
    expect(await page.evaluate(() => fetch('models/VERSION').then((r) => r.status))).toBe(200);
    const cachesByName = await cacheContents(page);
    const names = Object.keys(cachesByName);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^ipgo-shell-[0-9a-f]{16}$/);
    const cached = cachesByName[names[0]!]!.map((url) => url.slice(origin.length)).sort();
    const expected = builtShellFiles().sort();
    expect(cached).toEqual(expected);
    for (const must of ['index.html', 'manifest.webmanifest', 'icons/icon-192.png', 'icons/icon-512.png', 'icons/icon-maskable-512.png']) {
      expect(cached).toContain(must);
    }
    expect(cached.filter((f) => /^assets\/.*\.wasm$/.test(f))).toHaveLength(3);
    expect(cached.some((f) => /^assets\/tensor\.worker-.*\.js$/.test(f))).toBe(true);
    expect(cached.filter((f) => /(^|\/)models\/|\.(safetensors|pth|map)$/.test(f))).toEqual([]);
    expect(readdirSync(path.join(DIST, 'models')).length).toBeGreaterThan(0); // there were models to leave out
  });

  test('offline: the app starts from the cache, shows its backend and runs the diagnostics job @any-backend', async ({ page, context, consoleProblems }) => {
    void consoleProblems;
    await page.goto('./#/diagnostics');
    const onlineBackend = await waitForBackend(page);
    await waitForControl(page);

    // Really offline: anything not in the shell cache fails. Probed from a second page, whose expected
    // "Failed to load resource" is not the app's page's console.
    const probe = await context.newPage();
    await probe.goto('./models/VERSION');
    await context.setOffline(true);
    expect(await probe.evaluate(() => fetch('VERSION').then(() => 'fetched', () => 'failed'))).toBe('failed');
    await probe.close();
    await page.reload();
    expect(await waitForBackend(page)).toBe(onlineBackend);
    await runMatmul(page, onlineBackend);
    await page.screenshot({ path: `${SHOTS}/pwa-offline-${onlineBackend}.png`, fullPage: true });

    // The WASM backend's .wasm files come from the cache too (a fresh navigation, offline).
    await page.goto('./?backend=wasm#/diagnostics');
    expect(await waitForBackend(page)).toBe('wasm');
    await runMatmul(page, 'wasm');
    await page.screenshot({ path: `${SHOTS}/pwa-offline-wasm.png`, fullPage: true });
    await context.setOffline(false);
  });

  test('CSP: strict policy in the page and the worker, no violation with WebGPU and WASM', async ({ page, consoleProblems }) => {
    void consoleProblems;
    const violations = await watchCsp(page);
    const response = await page.goto('./#/diagnostics');
    expect(response?.headers()['content-security-policy']).toBe(cspString());
    const meta = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
    expect(meta).toBe(cspString());
    expect(meta).not.toContain("'unsafe-eval'");
    expect(meta).not.toContain("'unsafe-inline'");
    expect(meta).toContain("'wasm-unsafe-eval'");

    expect(await waitForBackend(page)).toBe('webgpu');
    await runMatmul(page, 'webgpu');
    await page.goto('./?backend=wasm#/diagnostics');
    expect(await waitForBackend(page)).toBe('wasm');
    await runMatmul(page, 'wasm');
    expect(violations).toEqual([]);
  });

  test.describe('CSP detection', () => {
    test.use({ serviceWorkers: 'block', allowConsole: [/Content Security Policy|WebAssembly/] });

    test('an inline script injected through the DOM (as an XSS would) does not run', async ({ page, consoleProblems }) => {
      void consoleProblems;
      const violations = await watchCsp(page);
      await page.goto('./#/diagnostics');
      await waitForBackend(page);
      const ran = await page.evaluate(() => new Promise<boolean>((resolve) => {
        const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true';
        document.head.append(s);
        setTimeout(() => resolve(Boolean((window as unknown as { __inlineRan?: boolean }).__inlineRan)), 500);
      }));
      expect(ran).toBe(false);
      await expect.poll(() => violations.join('\n')).toContain('script-src-elem blocked inline');
    });

    test('without wasm-unsafe-eval the WASM backend is blocked and the violation is seen', async ({ page, context, consoleProblems }) => {
      void consoleProblems;
      const violations = await watchCsp(page);
      const weaker = (s: string) => s.replaceAll(" 'wasm-unsafe-eval'", '');
      await context.route('**/*', async (route) => {
        const response = await route.fetch();
        const headers = { ...response.headers(), 'content-security-policy': weaker(cspString()) };
        const isHtml = (response.headers()['content-type'] ?? '').includes('text/html');
        await route.fulfill({ response, headers, body: isHtml ? weaker(await response.text()) : await response.body() });
      });
      await page.goto('./?backend=wasm#/diagnostics');
      await waitForBackend(page);
      await expect.poll(() => violations.length).toBeGreaterThan(0);
      expect(await page.getByTestId('backend').getAttribute('data-backend')).not.toBe('wasm');
    });
  });

  test.describe('update flow, app hosted under a subpath', () => {
    let server: Server;
    let root: string;
    let appUrl: string;

    test.beforeAll(async () => {
      // A copy of the build we can change, served at /sub/app/ (models from dist, untouched).
      root = mkdtempSync(path.join(tmpdir(), 'ipgo-pwa-app-'));
      cpSync(DIST, root, { recursive: true, filter: (src) => !src.startsWith(path.join(DIST, 'models')) });
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        if (!url.pathname.startsWith('/sub/app/')) return void res.writeHead(404).end();
        const rel = decodeURIComponent(url.pathname.slice('/sub/app/'.length)) || 'index.html';
        if (rel.includes('..')) return void res.writeHead(400).end();
        const file = rel.startsWith('models/') ? path.join(DIST, rel) : path.join(root, rel);
        let body: Buffer;
        try {
          body = readFileSync(file);
        } catch {
          return void res.writeHead(404).end();
        }
        res.writeHead(200, {
          'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
          'cache-control': 'no-cache',
          'content-security-policy': cspString(),
        });
        res.end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sub/app/`;
    });

    test.afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
      rmSync(root, { recursive: true, force: true });
    });

    test('a new service worker shows "Update available", and Reload switches to the new version', async ({ page, consoleProblems }) => {
      void consoleProblems;
      await page.goto(`${appUrl}#/diagnostics`);
      await waitForBackend(page);
      await waitForControl(page);
      const scope = await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.scope));
      expect(scope).toBe(appUrl);
      const [oldCache] = Object.keys(await cacheContents(page));
      await expect(page.getByTestId('update-banner')).toHaveCount(0);

      // Deploy "the next version": a changed index.html and so a changed sw.js (new content hash).
      const swPath = path.join(root, 'sw.js');
      const sw = readFileSync(swPath, 'utf8');
      const version = /"version": "([0-9a-f]+)"/.exec(sw)![1]!;
      writeFileSync(swPath, sw.replace(`"version": "${version}"`, `"version": "${version}1"`));
      const indexPath = path.join(root, 'index.html');
      writeFileSync(indexPath, readFileSync(indexPath, 'utf8').replace('<title>', '<meta name="ipgo-build" content="next" />\n    <title>'));

      // The browser checks sw.js on navigation; the old version keeps serving this page meanwhile.
      await page.reload();
      await waitForBackend(page);
      const banner = page.getByTestId('update-banner');
      await expect(banner).toBeVisible();
      await expect(banner).toContainText('Update available');
      await expect(page.locator('meta[name="ipgo-build"]')).toHaveCount(0);
      await page.screenshot({ path: `${SHOTS}/pwa-update-available.png` });

      await Promise.all([page.waitForEvent('load'), page.getByTestId('update-reload').click()]);
      await waitForBackend(page);
      await expect(page.locator('meta[name="ipgo-build"]')).toHaveCount(1);
      await expect(banner).toHaveCount(0);
      expect(Object.keys(await cacheContents(page))).toEqual([`ipgo-shell-${version}1`]);
      expect(oldCache).toBe(`ipgo-shell-${version}`);
      await runMatmul(page, 'webgpu');
      await page.screenshot({ path: `${SHOTS}/pwa-updated.png`, fullPage: true });
    });
  });
});

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};
