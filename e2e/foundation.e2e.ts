import { test, expect, waitForBackend } from './fixtures';

test.describe('foundation', () => {
  test('reports the WebGPU backend and its adapter, runs a worker job and shows the result', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await page.goto('/#/diagnostics');
    expect(await waitForBackend(page)).toBe('webgpu');
    await expect(page.getByTestId('adapter')).toContainText(/buffer ≤ \d+ MiB/);
    await expect(page.getByTestId('fallback-reason')).toHaveCount(0);

    await page.getByTestId('matmul-size').selectOption('64');
    await page.getByTestId('matmul-run').click();
    const result = page.getByTestId('matmul-result');
    await expect(result).toBeVisible();
    await expect(result).toHaveAttribute('data-ok', 'true');
    await expect(result).toHaveAttribute('data-backend', 'webgpu');
    await expect(page.getByTestId('matmul-progress')).toHaveAttribute('value', '3');
    await page.screenshot({ path: 'e2e/artifacts/screenshots/foundation-webgpu.png', fullPage: true });
  });

  test('the custom kernels match their reference ops in the browser (WebGPU, and wasm by ?backend=wasm)', async ({ page, consoleProblems }) => {
    void consoleProblems;
    // WebGPU adds the fused attention (6 cases × forward, dq, dk, dv) to the 58 packed-weight checks
    // (int8 and fp16 × (4 linear × 2 + 7 conv × 3)), as in src/model/kernels/packed-ops.webgpu.test.ts
    for (const [query, backend, count] of [['', 'webgpu', '82'], ['?backend=wasm', 'wasm', '58']] as const) {
      await page.goto(`/${query}#/diagnostics`);
      expect(await waitForBackend(page)).toBe(backend);
      await page.getByTestId('kernel-check-run').click();
      const result = page.getByTestId('kernel-check-result');
      await expect(result).toHaveAttribute('data-backend', backend, { timeout: 100_000 });
      await expect(result).toHaveAttribute('data-count', count);
      await expect(result, await result.textContent() ?? '').toHaveAttribute('data-ok', 'true');
    }
  });

  test('?backend=wasm overrides the automatic choice @any-backend', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await page.goto('/?backend=wasm#/diagnostics');
    expect(await waitForBackend(page)).toBe('wasm');
    await page.getByTestId('matmul-run').click();
    await expect(page.getByTestId('matmul-result')).toHaveAttribute('data-ok', 'true');
  });

  test('without WebGPU the app says so and falls back to WASM @no-webgpu', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await page.goto('/#/diagnostics');
    expect(await waitForBackend(page)).toBe('wasm');
    await expect(page.getByTestId('adapter')).toHaveText('no WebGPU adapter');
    await expect(page.getByTestId('fallback-reason')).toContainText(/WebGPU unavailable, using WASM/);
    await page.getByTestId('matmul-run').click();
    await expect(page.getByTestId('matmul-result')).toHaveAttribute('data-ok', 'true');
    await page.screenshot({ path: 'e2e/artifacts/screenshots/foundation-no-webgpu.png', fullPage: true });
  });

  test('a bad ?backend= value is reported, not ignored @any-backend', async ({ page, consoleProblems }) => {
    void consoleProblems;
    await page.goto('/?backend=quantum');
    await waitForBackend(page);
    await expect(page.getByTestId('error')).toContainText('unknown backend "quantum"');
  });

  test.describe('worker faults', () => {
    test.use({ allowConsole: [/deliberate worker crash/] });

    test('a failing job and a crashed worker are shown; the worker restarts and works again @any-backend', async ({ page, consoleProblems }) => {
      void consoleProblems;
      await page.goto('/#/diagnostics');
      await waitForBackend(page);
      await page.getByText('Fault injection').click();

      await page.getByTestId('fault-throw').click();
      await expect(page.getByTestId('error').filter({ hasText: 'deliberate job failure' })).toBeVisible();

      await page.getByTestId('fault-crash').click();
      await expect(page.getByTestId('error').filter({ hasText: 'worker crashed' })).toBeVisible();
      await expect(page.getByTestId('error').filter({ hasText: 'restarted' })).toBeVisible();

      // The restarted worker selects its backend again and runs jobs.
      await waitForBackend(page);
      await page.getByTestId('matmul-size').selectOption('64');
      await page.getByTestId('matmul-run').click();
      await expect(page.getByTestId('matmul-result')).toHaveAttribute('data-ok', 'true');
    });
  });
});
