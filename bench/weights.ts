/**
 * npm run bench:weights — in Chromium, a ~256 MB synthetic F32 safetensors served from loopback
 * (e2e/fault-server.ts, no faults): raw fetch read throughput vs our download → sha256 → int8 quantization →
 * IndexedDB pipeline (WeightsInstaller in a worker, as in the app) — checked by block digests (tools/convert
 * bundles) and, in the same run, by the whole-file sha256 alone — and the time to load the installed model
 * back into tfjs tensors. Writes bench/results/weights.json. BENCH_WEIGHTS_MB overrides the size.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { chromium } from '@playwright/test';
import { CHROMIUM_PATH, QUIET_NETWORK_FLAGS } from '../e2e/chromium';
import { FaultServer } from '../e2e/fault-server';
import { serializeSafetensors } from '../src/weights/safetensors';
import { writeBenchResults } from './lib/results';
import { DIGEST_BLOCK_BYTES } from '../tools/convert';
import type { BlockDigests } from '../src/weights/manifest';
import type { BenchParams, BenchResult } from './weights-page/bench.worker';

const TOTAL_MB = Number(process.env.BENCH_WEIGHTS_MB ?? 256);
const PORT = Number(process.env.BENCH_WEIGHTS_PORT ?? 4281);
/** A link slower than loopback (MB/s; 0 skips it): a fast home connection is 100 MB/s (800 Mbit/s). */
const LINK_MB_S = Number(process.env.BENCH_WEIGHTS_LINK_MB_S ?? 100);

/** Tensors shaped like a UNet's: [1280, 1280] linears (6.25 MiB each), in a file of about TOTAL_MB. */
function writeSynthetic(dir: string): { file: string; size: number; sha256: string; blockSha256: BlockDigests } {
  const per = 1280 * 1280;
  const count = Math.max(1, Math.round((TOTAL_MB * 1e6) / (per * 4)));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (let t = 0; t < count; t++) {
    const data = new Float32Array(per);
    let s = t + 1;
    for (let i = 0; i < per; i++) {
      s = (s * 1664525 + 1013904223) >>> 0; // LCG: cheap, deterministic, not compressible
      data[i] = (s / 2 ** 32 - 0.5) * 0.1;
    }
    tensors.set(`blocks.${String(t).padStart(3, '0')}.proj.weight`, { shape: [1280, 1280], data });
  }
  const bytes = serializeSafetensors(tensors);
  const file = path.join(dir, 'synthetic.safetensors');
  fs.writeFileSync(file, bytes);
  const blocks: string[] = [];
  for (let at = 0; at < bytes.byteLength; at += DIGEST_BLOCK_BYTES) {
    blocks.push(crypto.createHash('sha256').update(bytes.subarray(at, at + DIGEST_BLOCK_BYTES)).digest('hex'));
  }
  return {
    file, size: bytes.byteLength, sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    blockSha256: { blockBytes: DIGEST_BLOCK_BYTES, sha256: blocks }, // what tools/convert writes
  };
}

async function waitForHttp(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${url} did not come up`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-weights-'));
const files = new FaultServer(dir);
// the Vite dev server serves the bench page and its worker straight from the sources
const vite = spawn('npx', ['vite', '--host', '127.0.0.1', '--port', String(PORT), '--strictPort'], { stdio: 'ignore', detached: true });
try {
  const synthetic = writeSynthetic(dir);
  const mb = synthetic.size / 1e6;
  console.log(`synthetic safetensors: ${mb.toFixed(1)} MB`);
  const base = await files.start();
  // the same bytes under a second name, served at LINK_MB_S (the server's sticky throttle fault)
  fs.linkSync(synthetic.file, path.join(dir, 'synthetic-link.safetensors'));
  if (LINK_MB_S > 0) files.fault('/synthetic-link.safetensors', { kind: 'throttle', bytesPerSecond: LINK_MB_S * 1e6, sticky: true });
  await waitForHttp(`http://127.0.0.1:${PORT}/bench/weights-page/index.html`);
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: QUIET_NETWORK_FLAGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${PORT}/bench/weights-page/index.html`);
    await page.waitForFunction(() => typeof window.runWeightsBench === 'function', undefined, { timeout: 120_000 });
    const params: BenchParams = {
      url: `${base}/synthetic.safetensors`, size: synthetic.size, sha256: synthetic.sha256, blockSha256: synthetic.blockSha256, precision: 'int8', rawRepeats: 3,
      ...(LINK_MB_S > 0 ? { linkUrl: `${base}/synthetic-link.safetensors` } : {}),
    };
    const r: BenchResult = await page.evaluate((p) => window.runWeightsBench(p), params);
    const rawMs = Math.min(...r.rawMs);
    const rawMbS = mb / (rawMs / 1000);
    const pipelineMbS = mb / (r.pipelineMs / 1000);
    const inlineMbS = mb / (r.inlinePipelineMs / 1000);
    const wholeMbS = mb / (r.wholeFilePipelineMs / 1000);
    console.log(`raw fetch runs (ms): ${r.rawMs.map((x) => x.toFixed(0)).join(', ')}; pipeline ${r.pipelineMs.toFixed(0)} ms ` +
      `(whole-file sha256 instead of block digests: ${r.wholeFilePipelineMs.toFixed(0)} ms; ` +
      `quantizing on the installer thread instead: ${r.inlinePipelineMs.toFixed(0)} ms); ` +
      `stored ${(r.storedBytes / 1e6).toFixed(1)} MB int8; load ${r.loadMs.toFixed(0)} ms (${r.tensors} tensors, tfjs ${r.backend})`);
    const stageText = Object.entries(r.stages).map(([k, v]) => `${k} ${v.toFixed(0)} ms (${(mb / (v / 1000)).toFixed(0)} MB/s)`).join(', ');
    console.log(`stages alone, file in memory: ${stageText}`);
    const link = r.link && {
      raw: mb / (r.link.rawMs / 1000), pipeline: mb / (r.link.pipelineMs / 1000), whole: mb / (r.link.wholeFilePipelineMs / 1000),
    };
    if (link) console.log(`over a ${LINK_MB_S} MB/s link: raw ${link.raw.toFixed(1)} MB/s, pipeline ${link.pipeline.toFixed(1)} MB/s (whole-file sha256: ${link.whole.toFixed(1)})`);
    writeBenchResults('weights', {
      raw_fetch_mb_s: rawMbS,
      pipeline_mb_s: pipelineMbS,
      throughput_ratio: pipelineMbS / rawMbS,
      pipeline_whole_file_sha256_mb_s: wholeMbS,
      throughput_ratio_whole_file_sha256: wholeMbS / rawMbS,
      pipeline_inline_codec_mb_s: inlineMbS,
      link_raw_fetch_mb_s: link?.raw ?? null,
      link_pipeline_mb_s: link?.pipeline ?? null,
      link_throughput_ratio: link ? link.pipeline / link.raw : null,
      link_throughput_ratio_whole_file_sha256: link ? link.whole / link.raw : null,
      codec_pool_speedup: inlineMbS > 0 ? pipelineMbS / inlineMbS : null,
      load_ms: r.loadMs,
    }, {
      file: `${mb.toFixed(1)} MB F32 safetensors, ${r.tensors} tensors of 1280x1280, served from 127.0.0.1 (e2e/fault-server.ts)`,
      pipeline: `WeightsInstaller in a worker, pipelined per tensor unit: fetch → sha256 of each ${DIGEST_BLOCK_BYTES / 2 ** 20} MiB block (the manifest's blockSha256, as tools/convert writes it; WebCrypto) → int8 per-channel quantization + XXH128 of the stored bytes (codec pool of ${Math.max(1, Math.min(3, r.cores - 1))} worker(s), ${r.cores} cores reported) → IndexedDB commits in file order (units encoded meanwhile share a transaction), ≤ 96 MiB in flight`,
      pipeline_whole_file_sha256_mb_s: 'the same install with only the whole-file sha256 in the manifest (as a pinned Hugging Face file): incremental hash-wasm sha256 on the installer worker, run just before',
      load_ms: `IndexedDB → decoded Float32 → tf.tensor on the tfjs ${r.backend} backend`,
      raw_fetch_mb_s: 'best of 3 full reads of the body in a worker',
      link: LINK_MB_S > 0 ? `link_*: the same file served at a nominal ${LINK_MB_S} MB/s (fault-server throttle: ${LINK_MB_S / 20} MB pieces every 50 ms + write time), one raw read, then the block-digest and whole-file installs` : 'skipped (BENCH_WEIGHTS_LINK_MB_S=0)',
      pipeline_inline_codec_mb_s: 'the block-digest install with quantization + checksums on the installer thread (inlineCodec), run first',
      stages: `each stage alone on the file in memory: ${stageText}`,
    });
  } finally {
    await browser.close();
  }
} finally {
  await files.stop();
  try { process.kill(-vite.pid!); } catch { /* already gone */ }
  fs.rmSync(dir, { recursive: true, force: true });
}
