/** The demo set in the built app (`npm run build`), in Debian Chromium on its wasm backend, driven as a newcomer would. */
import { chromium } from '@playwright/test';
import { CHROMIUM_PATH, QUIET_NETWORK_FLAGS } from '../../e2e/chromium';
import { withPreviewServer } from './preview';

/** Epoch times (ms): the demo set installed from the Models view, the Tune view's suggested prompt tuned at the demo defaults. */
export async function chromiumEpochs(epochs: number): Promise<{ ms: number[]; prompt: string; isolated: boolean; cores: number }> {
  return withPreviewServer(4180, async (url) => {
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: QUIET_NETWORK_FLAGS });
    try {
      const page = await browser.newPage();
      await page.goto(`${url}?backend=wasm#/models`);
      await page.locator('[data-testid="backend"][data-backend="wasm"]').waitFor({ timeout: 60_000 });
      await page.getByTestId('set-install-demo').click();
      for (const id of ['demo-sd', 'demo-clip', 'demo-aesthetic']) {
        await page.locator(`[data-testid="model-${id}"][data-state="installed"]`).waitFor({ timeout: 180_000 });
      }
      await page.goto(`${url}?backend=wasm#/tune`);
      await page.locator('[data-testid="backend"][data-backend="wasm"]').waitFor({ timeout: 60_000 });
      const prompt = await page.getByTestId('prompt').inputValue();
      await page.getByTestId('setting-epochs').fill(String(epochs));
      await page.getByTestId('tune-start').click();
      await page.locator('[data-testid="tune-status"][data-status="done"]').waitFor({ timeout: 600_000 });
      const ms = await page.locator('[data-testid="epoch-table"] tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-ms'))));
      const { isolated, cores } = await page.evaluate(() => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency }));
      return { ms, prompt, isolated, cores };
    } finally {
      await browser.close();
    }
  });
}

