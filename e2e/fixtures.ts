import { test as base, expect, type Page } from '@playwright/test';

/**
 * A page that fails the test on console errors and on tfjs-webgpu's "Invalid ComputePipeline" warnings
 * (a silently wrong kernel, see ../shared/docs/environment.md). Expected failures can be allowed by regex.
 */
export const test = base.extend<{ consoleProblems: string[]; allowConsole: RegExp[] }>({
  allowConsole: [[], { option: true }],
  consoleProblems: async ({ page, allowConsole }, use) => {
    const problems: string[] = [];
    page.on('console', (msg) => {
      const text = msg.text();
      const bad = msg.type() === 'error' || /Invalid ComputePipeline|Invalid BindGroup|Invalid CommandBuffer/i.test(text);
      if (!bad) return;
      if (/favicon\.ico/.test(text) || allowConsole.some((r) => r.test(text))) return;
      problems.push(`${msg.type()}: ${text}`);
    });
    page.on('pageerror', (err) => {
      if (!allowConsole.some((r) => r.test(err.message))) problems.push(`pageerror: ${err.message}`);
    });
    await use(problems);
    expect(problems, 'console errors during the test').toEqual([]);
  },
});

export { expect };

export async function waitForBackend(page: Page): Promise<string> {
  const badge = page.getByTestId('backend');
  await expect(badge).not.toHaveAttribute('data-backend', '', { timeout: 60_000 });
  return (await badge.getAttribute('data-backend')) ?? '';
}

/** Installs the random tiny set (the test fixture) and makes it the Tune view's model set (the demo set is the default). */
export async function installTinySet(page: Page): Promise<void> {
  await page.goto('/?backend=wasm#/models');
  await waitForBackend(page);
  await page.getByTestId('set-install-tiny').click();
  for (const id of ['tiny-sd', 'tiny-clip', 'tiny-aesthetic']) {
    await expect(page.getByTestId(`model-${id}`)).toHaveAttribute('data-state', 'installed', { timeout: 180_000 });
  }
  await page.goto('/?backend=wasm#/tune');
  await page.getByTestId('model-set').selectOption('tiny');
  await expect(page.getByTestId('model-set')).toHaveValue('tiny');
}
