/**
 * Weights in the browser (issue 4, Models view of issue 7): the built app installs the generated tiny models from a
 * local fault-injecting server (e2e/fault-server.ts) into IndexedDB, survives each fault (cut connection, corrupted
 * byte, Range ignored, 416, stall) and a reload mid-download, stops before writing when the quota is too small, and
 * frees the space on delete.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect } from './fixtures';
import { FaultServer, type Fault } from './fault-server';
import { CHROMIUM_PATH, E2E_BASE_URL, QUIET_NETWORK_FLAGS, WEBGPU_FLAGS } from './chromium';

const SHOTS = 'e2e/artifacts/screenshots';
// The app's own generated models (npm run build writes them), so the test runs on a fresh clone.
const server = new FaultServer(path.resolve('public/models'));
const UNET = '/tiny-sd/unet/diffusion_pytorch_model.safetensors';
const CLIP_MODEL = '/tiny-clip/model.safetensors';
const MiB = 1024 * 1024;

test.beforeAll(async () => {
  if (!fs.existsSync('public/models/tiny-sd/unet/config.json')) throw new Error('public/models is missing: run npm run build first');
  await server.start();
});
test.afterAll(() => server.stop());
test.beforeEach(() => {
  server.clearFaults();
  server.log.length = 0;
});
// A cut connection or a 416 shows up as a failed resource load in the console; that is the fault under test.
test.use({ allowConsole: [/Failed to load resource|net::ERR_/] });

const card = (page: Page, id: string) => page.getByTestId(`model-${id}`);

async function openModels(page: Page): Promise<void> {
  await page.goto('/#/models');
  await expect(page.getByTestId('models-view')).toHaveAttribute('data-status', 'ready');
}

/** Installs `id` from the fault server through the "bundle URL" import. */
async function installFromServer(page: Page, id: string): Promise<void> {
  await page.getByTestId('import-model').selectOption(id);
  await page.getByTestId('bundle-url').fill(`${server.url}/${id}/`);
  await page.getByTestId('bundle-install').click();
}

async function usage(page: Page): Promise<number> {
  return Number(await page.getByTestId('storage').getAttribute('data-usage'));
}

test.describe('weights', () => {
  test('installs the built-in tiny set (from the fault server and from the app), verifies it, delete frees the space', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await openModels(page);
    await expect(page.getByTestId('set-tiny')).toContainText('random');
    await page.screenshot({ path: `${SHOTS}/models-empty.png`, fullPage: true });

    server.fault(UNET, { kind: 'throttle', bytesPerSecond: 8 * MiB }); // slow enough to see the progress bar
    await installFromServer(page, 'tiny-sd');
    await expect(page.getByTestId('progress-text-tiny-sd')).toContainText(/MiB\/s · ETA/);
    await page.screenshot({ path: `${SHOTS}/models-installing.png`, fullPage: true });
    await expect(card(page, 'tiny-sd')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
    expect(server.requestsFor(UNET).map((r) => r.status)).toEqual([200]);

    // the rest of the set from the app's own origin ("Install all")
    await page.getByTestId('set-install-tiny').click();
    for (const id of ['tiny-clip', 'tiny-aesthetic', 'tiny-hps']) await expect(card(page, id)).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });

    await page.getByTestId('verify-tiny-sd').click();
    await expect(page.getByTestId('verify-result-tiny-sd')).toHaveAttribute('data-ok', 'true');
    await page.screenshot({ path: `${SHOTS}/models-installed.png`, fullPage: true });

    const before = await usage(page);
    expect(before).toBeGreaterThan(30 * MiB);
    await page.getByTestId('delete-tiny-sd').click();
    await expect(card(page, 'tiny-sd')).toHaveAttribute('data-state', 'missing');
    await expect.poll(async () => before - (await usage(page)), { message: 'estimate drops by about the model size' }).toBeGreaterThan(15 * MiB);
    await expect(page.getByTestId('notice-tiny-sd')).toContainText('freed');
  });

  test('imports a model from a local folder (no network), verified like a download', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await openModels(page);
    await page.getByTestId('import-model').selectOption('tiny-hps');
    await page.getByTestId('import-folder').setInputFiles(path.resolve('public/models/tiny-hps'));
    await expect(card(page, 'tiny-hps')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
    expect(server.log).toEqual([]);
    await page.getByTestId('verify-tiny-hps').click();
    await expect(page.getByTestId('verify-result-tiny-hps')).toHaveAttribute('data-ok', 'true');
  });

  const recovered: [string, Fault[], (log: ReturnType<FaultServer['requestsFor']>) => void][] = [
    ['a cut connection resumes with Range', [{ kind: 'cut', at: 2 * MiB }], (log) => {
      expect(log.map((r) => r.status)).toEqual([200, 206]);
      expect(log[1]!.start).toBeGreaterThanOrEqual(2 * MiB - 64 * 1024);
    }],
    ['a server that ignores Range restarts the file from byte 0', [{ kind: 'cut', at: 2 * MiB }, { kind: 'ignore-range' }], (log) => {
      expect(log.map((r) => [r.status, r.range !== undefined])).toEqual([[200, false], [200, true]]);
    }],
    ['a 416 restarts the file with a plain request', [{ kind: 'cut', at: 2 * MiB }, { kind: '416' }], (log) => {
      expect(log.map((r) => r.status)).toEqual([200, 416, 200]);
    }],
  ];
  for (const [name, faults, checkLog] of recovered) {
    test(`fault: ${name}; the install completes and verifies`, async ({ page, consoleProblems }) => {
      void consoleProblems;
      await openModels(page);
      for (const f of faults) server.fault(CLIP_MODEL, f);
      await installFromServer(page, 'tiny-clip');
      await expect(card(page, 'tiny-clip')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
      checkLog(server.requestsFor(CLIP_MODEL));
      await page.getByTestId('verify-tiny-clip').click();
      await expect(page.getByTestId('verify-result-tiny-clip')).toHaveAttribute('data-ok', 'true');
    });
  }

  test('the Hub: signed redirects to another origin, one expiring mid-download, and a 429 with Retry-After; the install completes and verifies', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await openModels(page);
    server.signing = true;
    try {
      server.fault(CLIP_MODEL, { kind: 'cut', at: 2 * MiB });
      server.fault('/tiny-clip/config.json', { kind: 'status', status: 429, headers: { 'Retry-After': '2' } });
      await installFromServer(page, 'tiny-clip');
      // the signature expires while the client waits to retry the cut connection
      await expect.poll(() => server.requestsFor(CLIP_MODEL).some((r) => r.fault === 'cut'), { timeout: 60_000, intervals: [10] }).toBe(true);
      server.expireSignedUrls();
      await expect(card(page, 'tiny-clip')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
    } finally {
      server.signing = false;
    }
    const model = server.log.filter((r) => r.path === CLIP_MODEL);
    expect(model.map((r) => [r.status, Boolean(r.signed), r.range ?? null])).toEqual([
      [302, false, null], [200, true, null], // resolved, then cut
      [403, true, `bytes=${2 * MiB}-`], // the resume asked the signed URL directly: expired
      [302, false, `bytes=${2 * MiB}-`], [206, true, `bytes=${2 * MiB}-`], // resolved again, resumed
    ]);
    const config = server.log.filter((r) => r.path === '/tiny-clip/config.json' && r.signed);
    expect(config.map((r) => r.status)).toEqual([429, 200]);
    await page.getByTestId('verify-tiny-clip').click();
    await expect(page.getByTestId('verify-result-tiny-clip')).toHaveAttribute('data-ok', 'true');
  });

  test('a Hub mirror: CLIP-L from the catalog (no sha256 pinned) is checked against the Hub\'s digests — a corrupted byte fails naming the file; Resume installs; the commit is shown', async ({ page, consoleProblems }) => {
    void consoleProblems;
    server.hubRepos.set('openai/clip-vit-large-patch14', 'tiny-clip'); // the tiny CLIP stands in for the real one
    await openModels(page);
    await page.getByTestId('hub-endpoint').fill(server.url);
    await page.getByTestId('hub-endpoint-save').click();
    await expect(page.getByTestId('hub-endpoint-current')).toContainText(server.url);
    server.fault(CLIP_MODEL, { kind: 'corrupt', at: 3 * MiB });
    await page.getByTestId('install-clip-vit-l14').click();
    const error = page.getByTestId('error-clip-vit-l14');
    await expect(error).toContainText(/model\.safetensors: sha256 mismatch/, { timeout: 60_000 });
    await expect(card(page, 'clip-vit-l14')).not.toHaveAttribute('data-state', 'installed');
    await page.getByTestId('install-clip-vit-l14').click(); // "Resume"
    await expect(card(page, 'clip-vit-l14')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
    await expect(page.getByTestId('commit-clip-vit-l14')).toContainText(server.commit.slice(0, 10));
    expect(server.log.some((r) => r.path === '/api/models/openai/clip-vit-large-patch14/revision/main')).toBe(true);
    expect(server.requestsFor(CLIP_MODEL).length).toBeGreaterThanOrEqual(2); // through the resolve route, mapped
    await page.getByTestId('verify-clip-vit-l14').click();
    await expect(page.getByTestId('verify-result-clip-vit-l14')).toHaveAttribute('data-ok', 'true');
  });

  test('fault: a corrupted byte is a clear error, nothing installed, completed files kept; Resume then installs', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await openModels(page);
    server.fault(CLIP_MODEL, { kind: 'corrupt', at: 3 * MiB });
    await installFromServer(page, 'tiny-clip');
    const error = page.getByTestId('error-tiny-clip');
    await expect(error).toHaveAttribute('data-code', 'invalid-input');
    await expect(error).toContainText(/model\.safetensors: sha256 mismatch/);
    await expect(card(page, 'tiny-clip')).toHaveAttribute('data-state', 'partial');
    await expect(page.getByTestId('partial-tiny-clip')).toContainText('1 of 7 files'); // config.json kept
    await page.screenshot({ path: `${SHOTS}/models-corrupt-error.png`, fullPage: true });
    await page.getByTestId('install-tiny-clip').click(); // "Resume"
    await expect(card(page, 'tiny-clip')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
    expect(server.requestsFor('/tiny-clip/config.json')).toHaveLength(1); // the completed file was not fetched again
  });

  test('fault: a corrupted byte in a file with block digests fails at its block, by number; Resume then installs', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await openModels(page);
    server.fault(UNET, { kind: 'corrupt', at: 5 * MiB + 17 });
    await installFromServer(page, 'tiny-sd');
    const error = page.getByTestId('error-tiny-sd');
    await expect(error).toHaveAttribute('data-code', 'invalid-input', { timeout: 60_000 });
    await expect(error).toContainText(/unet\/diffusion_pytorch_model\.safetensors: sha256 mismatch in block 5 \(bytes 5242880–6291455\)/);
    await expect(card(page, 'tiny-sd')).toHaveAttribute('data-state', 'partial');
    await page.getByTestId('install-tiny-sd').click(); // "Resume"
    await expect(card(page, 'tiny-sd')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
    await page.getByTestId('verify-tiny-sd').click();
    await expect(page.getByTestId('verify-result-tiny-sd')).toHaveAttribute('data-ok', 'true');
  });

  test('fault: a stalled connection, paused and resumed, continues from the bytes it had', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await openModels(page);
    server.fault(CLIP_MODEL, { kind: 'stall', at: 2 * MiB });
    await installFromServer(page, 'tiny-clip');
    const progress = page.getByTestId('progress-tiny-clip');
    await expect.poll(async () => Number(await progress.getAttribute('data-file-bytes'))).toBeGreaterThanOrEqual(2 * MiB - 64 * 1024);
    await page.getByTestId('pause-tiny-clip').click();
    await expect(card(page, 'tiny-clip')).toHaveAttribute('data-state', 'paused');
    await expect(page.getByTestId('progress-text-tiny-clip')).toContainText('Paused');
    await page.screenshot({ path: `${SHOTS}/models-paused.png`, fullPage: true });
    await page.getByTestId('resume-tiny-clip').click();
    await expect(card(page, 'tiny-clip')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
    const log = server.requestsFor(CLIP_MODEL);
    expect(log.map((r) => r.status)).toEqual([200, 206]);
    expect(log[1]!.start).toBe(2 * MiB);
  });

  // tiny-sd's weight files carry 1 MiB block digests (weights-manifest/tiny-sd.json): a resume re-reads the block
  // holding the last committed tensor, so every byte of it is checked (WebCrypto, in the installer worker)
  test('a reload mid-download shows the partial install and Resume continues from the block holding the last committed tensor', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await openModels(page);
    server.fault(UNET, { kind: 'throttle', bytesPerSecond: 3 * MiB, sticky: true });
    await installFromServer(page, 'tiny-sd');
    const progress = page.getByTestId('progress-tiny-sd');
    await expect.poll(async () => (await progress.getAttribute('data-file')) === 'unet/diffusion_pytorch_model.safetensors'
      && Number(await progress.getAttribute('data-file-bytes')) > 4 * MiB, { timeout: 30_000 }).toBe(true);
    await page.reload();
    await expect(page.getByTestId('models-view')).toHaveAttribute('data-status', 'ready');
    await expect(card(page, 'tiny-sd')).toHaveAttribute('data-state', 'partial');
    await expect(page.getByTestId('install-tiny-sd')).toHaveText('Resume');
    await page.screenshot({ path: `${SHOTS}/models-partial-after-reload.png`, fullPage: true });
    server.clearFaults();
    server.dropConnections();
    const requestsBefore = server.requestsFor(UNET).length;
    await page.getByTestId('install-tiny-sd').click();
    await expect(card(page, 'tiny-sd')).toHaveAttribute('data-state', 'installed', { timeout: 60_000 });
    const resumed = server.requestsFor(UNET).slice(requestsBefore);
    expect(resumed.map((r) => r.status)).toEqual([206]);
    expect(resumed[0]!.start).toBeGreaterThan(2 * MiB);
    expect(resumed[0]!.start % MiB).toBe(0); // a block boundary
    expect(server.requestsFor('/tiny-sd/text_encoder/model.safetensors')).toHaveLength(1);
    await page.getByTestId('verify-tiny-sd').click();
    await expect(page.getByTestId('verify-result-tiny-sd')).toHaveAttribute('data-ok', 'true');
  });

  test('a quota too small, with the real limit unreported (Chromium default), fails at the first refused write: typed error, nothing installed', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await openModels(page);
    await withQuota(page, 4 * MiB, async () => {
      await installFromServer(page, 'tiny-sd');
      const error = page.getByTestId('error-tiny-sd');
      await expect(error).toHaveAttribute('data-code', 'quota');
      await expect(error).toContainText('QuotaExceededError');
      await expect(card(page, 'tiny-sd')).not.toHaveAttribute('data-state', 'installed');
    });
  });
});

test.describe('weights, with the browser reporting its real quota', () => {
  // Chromium reports estimate().quota as usage + 10 GiB (StaticStorageQuota, a privacy measure) whatever the real
  // limit; with the feature off it reports the enforced quota, as other browsers do, and the check before writing
  // can work. Launch options force a new browser, so this test starts its own.
  test('a quota too small stops before writing and shows need vs available', async ({ playwright }) => {
    const browser = await playwright.chromium.launch({
      executablePath: CHROMIUM_PATH, args: [...QUIET_NETWORK_FLAGS, ...WEBGPU_FLAGS, '--disable-features=StaticStorageQuota'],
    });
    try {
      const page = await browser.newPage({ baseURL: E2E_BASE_URL });
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      await openModels(page);
      await withQuota(page, 4 * MiB, async () => {
        await page.reload();
        await expect(page.getByTestId('models-view')).toHaveAttribute('data-status', 'ready');
        await expect(page.getByTestId('need-tiny-sd')).toContainText('not enough space');
        await installFromServer(page, 'tiny-sd');
        const error = page.getByTestId('error-tiny-sd');
        await expect(error).toHaveAttribute('data-code', 'quota');
        await expect(error).toContainText(/needs 2\d\.\d MiB, the browser allows [\d.]+ (MiB|KiB|B) more/);
        await page.screenshot({ path: `${SHOTS}/models-quota.png`, fullPage: true });
        await expect(card(page, 'tiny-sd')).toHaveAttribute('data-state', 'missing');
        expect(server.log.filter((r) => r.path.startsWith('/tiny-sd/') && r.method === 'GET')).toEqual([]);
      });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

/**
 * Runs `body` with the origin's storage quota overridden (DevTools protocol) to its usage + `headroom`, once the
 * usage has settled (the service worker's precache lands shortly after the first load).
 */
async function withQuota(page: Page, headroom: number, body: () => Promise<void>): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  const origin = new URL(E2E_BASE_URL).origin;
  const usageNow = async () => (await cdp.send('Storage.getUsageAndQuota', { origin })).usage;
  let used = await usageNow();
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(250);
    const next = await usageNow();
    if (next === used) break;
    used = next;
  }
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: used + headroom });
  try {
    await body();
  } finally {
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  }
}
