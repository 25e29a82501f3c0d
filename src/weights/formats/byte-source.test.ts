import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobSource, httpRangeSource, memorySource } from './byte-source';
import { loadTorchStateDict } from './torch-zip';
import { contiguousTensor, writeTorchCheckpoint } from '../../../test/torch-zip-writer';

const floats = Float32Array.from({ length: 3000 }, (_, i) => i / 7);
const file = writeTorchCheckpoint(new Map([['w', contiguousTensor('F32', [1000, 3], new Uint8Array(floats.buffer))]]));

/** A real HTTP server with single-range support (and a path that ignores Range, as some servers do). */
let server: http.Server;
let base = '';
const served: string[] = [];
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    served.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`);
    if (req.method === 'HEAD') { res.writeHead(200, { 'Content-Length': file.length }); res.end(); return; }
    if (!range || req.url === '/norange') { res.writeHead(200, { 'Content-Length': file.length }); res.end(Buffer.from(file)); return; }
    const a = Number(range[1]), b = Math.min(Number(range[2]), file.length - 1);
    res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${file.length}`, 'Content-Length': b - a + 1 });
    res.end(Buffer.from(file.subarray(a, b + 1)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('byte sources', () => {
  it('memory, Blob and HTTP Range sources give the same bytes and reject out-of-range reads', async () => {
    for (const src of [memorySource(file), blobSource(new Blob([file as Uint8Array<ArrayBuffer>])), httpRangeSource(`${base}/ckpt.pt`)]) {
      expect(await src.size()).toBe(file.length);
      expect(await src.read(100, 50)).toEqual(file.subarray(100, 150));
      await expect(src.read(file.length - 2, 3)).rejects.toThrow(/outside the source/);
    }
  });

  it('loads a torch checkpoint over HTTP Range requests without fetching the whole file', async () => {
    served.length = 0;
    const sd = await loadTorchStateDict(httpRangeSource(`${base}/ckpt.pt`));
    expect(sd.get('w')!.data).toEqual(floats);
    expect(served.every((s) => !s.startsWith('GET') || s.includes('bytes='))).toBe(true);
    expect(served.length).toBeLessThan(12);
  });

  it('refuses a server that ignores Range instead of downloading everything', async () => {
    await expect(httpRangeSource(`${base}/norange`).read(0, 10)).rejects.toThrow(/expected 206/);
  });
});
