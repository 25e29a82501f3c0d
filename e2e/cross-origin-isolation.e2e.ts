/**
 * Cross-origin isolation of the built app (src/pwa/isolation.ts): the server's COOP/COEP make the page and the
 * tensor worker `crossOriginIsolated`, so tfjs-wasm runs a real job on more than one thread; offline, the service
 * worker re-adds the headers to what it serves from its cache, so the installed app still starts isolated, threaded.
 */
import type { BrowserContext, Page } from '@playwright/test';
import { test, expect, waitForBackend } from './fixtures';
import { CROSS_ORIGIN_ISOLATION_HEADERS } from '../src/pwa/isolation';
import { cspString } from '../src/pwa/csp';

/** A 64² matmul on the worker's wasm backend; returns the thread count the job reports it ran on. */
async function wasmJobThreads(page: Page): Promise<number> {
  await page.getByTestId('matmul-size').selectOption('64');
  await page.getByTestId('matmul-run').click();
  const result = page.getByTestId('matmul-result');
  await expect(result).toHaveAttribute('data-ok', 'true');
  await expect(result).toHaveAttribute('data-backend', 'wasm');
  return Number(await result.getAttribute('data-wasm-threads'));
}

async function expectIsolatedThreaded(page: Page): Promise<number> {
  expect(await waitForBackend(page)).toBe('wasm');
  expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
  const badge = page.getByTestId('backend');
  await expect(badge).toHaveAttribute('data-isolated', 'true');
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const threads = await wasmJobThreads(page);
  expect(threads).toBe(Math.min(cores, 8));
  expect(Number(await badge.getAttribute('data-wasm-threads'))).toBe(threads);
  return threads;
}

/** Once the service worker controls the page: offline, a reload still starts isolated and threaded. */
async function expectIsolatedThreadedOffline(page: Page, context: BrowserContext): Promise<void> {
  await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated', null, { timeout: 30_000 });
  await context.setOffline(true);
  await page.reload();
  expect(await expectIsolatedThreaded(page)).toBeGreaterThan(1);
  await context.setOffline(false);
}

test('the built app is cross-origin isolated and runs wasm on threads, online and offline', async ({ page, context, consoleProblems }) => {
  void consoleProblems;
  const response = await page.goto('./?backend=wasm#/diagnostics');
  for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION_HEADERS)) expect(response!.headers()[name.toLowerCase()]).toBe(value);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  test.skip(cores < 2, 'this browser reports one core: nothing to run threads on');
  expect(await expectIsolatedThreaded(page)).toBeGreaterThan(1);

  await expectIsolatedThreadedOffline(page, context);
});

/** Serves the app as a static host that cannot set COOP/COEP would (the service worker's own fetches included). */
async function stripIsolationHeaders(context: BrowserContext): Promise<void> {
  await context.route('**/*', async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    for (const name of Object.keys(CROSS_ORIGIN_ISOLATION_HEADERS)) delete headers[name.toLowerCase()];
    await route.fulfill({ response, headers });
  });
}

test('on a host without COOP/COEP the service worker makes the installed app isolated, offline too', async ({ page, context, consoleProblems }) => {
  void consoleProblems;
  await stripIsolationHeaders(context);
  await page.goto('./?backend=wasm#/diagnostics');
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  test.skip(cores < 2, 'this browser reports one core: nothing to run threads on');
  expect(await waitForBackend(page)).toBe('wasm');
  expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(false); // first visit: nothing adds them yet
  await expectIsolatedThreadedOffline(page, context);
});

test.describe('a host whose CSP bars blob: workers', () => {
  test.use({ serviceWorkers: 'block', allowConsole: [/Content Security Policy/] });

  test('the threaded start times out and the app runs wasm on one thread', async ({ page, context, consoleProblems }) => {
    void consoleProblems;
    await context.route('**/*', async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers(), 'content-security-policy': cspString().replace("worker-src 'self' blob:", "worker-src 'self'") };
      await route.fulfill({ response, headers });
    });
    await page.goto('./?backend=wasm#/diagnostics');
    expect(await waitForBackend(page)).toBe('wasm');
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    expect(await wasmJobThreads(page)).toBe(1);
  });
});

test.describe('a host that sends no COOP/COEP, no service worker', () => {
  test.use({ serviceWorkers: 'block' });

  test('the app still starts, on one wasm thread, and says why', async ({ page, context, consoleProblems }) => {
    void consoleProblems;
    await stripIsolationHeaders(context);
    await page.goto('./?backend=wasm#/diagnostics');
    expect(await waitForBackend(page)).toBe('wasm');
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(false);
    await expect(page.getByTestId('backend')).toHaveAttribute('data-isolated', 'false');
    expect(await wasmJobThreads(page)).toBe(1);
  });
});
