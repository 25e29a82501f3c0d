/**
 * A bundle made by tools/convert (fp16), served from a plain static server on loopback, added in the Models view
 * by its manifest URL and installed with the same verification as any download.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { test, expect, waitForBackend } from './fixtures';
import { convertDiffusersFolder } from '../tools/convert';

test('a tools/convert bundle is added by URL and installs', async ({ page, consoleProblems }) => {
  void consoleProblems;
  test.setTimeout(180_000);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-e2e-'));
  await convertDiffusersFolder('public/models/tiny-sd', path.join(out, 'b'), { id: 'tiny-sd-fp16', name: 'Tiny SD (fp16 bundle)', precision: 'fp16' });
  const server = http.createServer((req, res) => {
    const file = path.join(out, 'b', decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!file.startsWith(path.join(out, 'b')) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Length': fs.statSync(file).size, 'Access-Control-Allow-Origin': '*' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    await page.goto('/?backend=wasm#/models');
    await waitForBackend(page);
    await page.getByTestId('bundle-url').fill(`http://127.0.0.1:${port}/manifest.json`);
    await page.getByTestId('bundle-add').click();
    await expect(page.getByTestId('model-tiny-sd-fp16')).toHaveAttribute('data-state', 'installed', { timeout: 120_000 });
    await expect(page.getByTestId('model-tiny-sd-fp16')).toContainText('fp16');
    await page.screenshot({ path: 'e2e/artifacts/screenshots/models-bundle.png', fullPage: true });
  } finally {
    server.close();
    fs.rmSync(out, { recursive: true, force: true });
  }
});
