/**
 * npm run bench:weights — in Chromium, a ~256 MB synthetic F32 safetensors served from loopback
 * (e2e/fault-server.ts, no faults): raw fetch read throughput vs our download → sha256 → int8 quantization →
 * IndexedDB pipeline (WeightsInstaller in a worker, as in the app) — checked by block digests (tools/convert
 * bundles) and, in the same run, by the whole-file sha256 alone — and the time to load the installed model
 * back into tfjs tensors; the same installs again over a rate-limited link. Raw reads and installs alternate in
 * rounds, and each ratio is taken within its round. Writes bench/results/weights.json.
 * Environment: BENCH_WEIGHTS_MB (file size, default 256), BENCH_WEIGHTS_ROUNDS (3), BENCH_WEIGHTS_LINK_MB_S (100; 0 skips).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { chromium } from '@playwright/test';
import { CHROMIUM_PATH, QUIET_NETWORK_FLAGS } from '../e2e/chromium';
import { FaultServer } from '../e2e/fault-server';
import { serializeSafetensors } from '../src/weights/formats/safetensors';
import { waitForHttp } from './lib/preview';
import { writeBenchResults } from './lib/results';
import { DIGEST_BLOCK_BYTES } from '../tools/convert';
import type { BlockDigests } from '../src/weights/catalog/manifest';
import { blockDigestsOf } from '../src/weights/ingest/block-verifier';
import type { BenchParams, BenchResult, BenchRound } from './weights-page/bench.worker';

const TOTAL_MB = Number(process.env.BENCH_WEIGHTS_MB ?? 256);
const PORT = Number(process.env.BENCH_WEIGHTS_PORT ?? 4281);
/** A link slower than loopback (MB/s; 0 skips it): a fast home connection is 100 MB/s (800 Mbit/s). */
const LINK_MB_S = Number(process.env.BENCH_WEIGHTS_LINK_MB_S ?? 100);
/** Rounds of raw read → install run back to back: this machine's loopback throughput drifts by 1.5× between runs. */
const ROUNDS = Number(process.env.BENCH_WEIGHTS_ROUNDS ?? 3);

/**
 * CPU time spent while a step ran, from samples taken every 20 ms: the whole machine (/proc/stat, every process)
 * and this process alone (the file server runs here; on a real network it would be another machine).
 */
class CpuSampler {
  private readonly samples: { t: number; machine: number; harness: number }[] = [];
  private readonly timer = setInterval(() => this.sample(), 20);

  constructor() {
    this.sample();
  }

  private sample(): void {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const busyTicks = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0); // user nice system irq softirq steal
    const u = process.cpuUsage();
    this.samples.push({ t: Date.now(), machine: busyTicks / 100, harness: (u.user + u.system) / 1e6 });
  }

  /** CPU-seconds between the samples nearest to [from, to] (epoch ms). */
  spent([from, to]: [number, number]): { machine: number; harness: number; wallS: number } {
    const near = (t: number) => this.samples.reduce((a, b) => (Math.abs(b.t - t) < Math.abs(a.t - t) ? b : a));
    const a = near(from);
    const b = near(to);
    return { machine: b.machine - a.machine, harness: b.harness - a.harness, wallS: (b.t - a.t) / 1000 };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Tensors shaped like a UNet's: [1280, 1280] linears (6.25 MiB each), in a file of about TOTAL_MB. */
async function writeSynthetic(dir: string): Promise<{ file: string; size: number; sha256: string; blockSha256: BlockDigests }> {
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
  return {
    file, size: bytes.byteLength, sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    blockSha256: await blockDigestsOf(bytes, DIGEST_BLOCK_BYTES), // what tools/convert writes
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-weights-'));
const files = new FaultServer(dir);
// the Vite dev server serves the bench page and its worker straight from the sources
const vite = spawn('npx', ['vite', '--host', '127.0.0.1', '--port', String(PORT), '--strictPort'], { stdio: 'ignore', detached: true });
try {
  const synthetic = await writeSynthetic(dir);
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
      url: `${base}/synthetic.safetensors`, size: synthetic.size, sha256: synthetic.sha256, blockSha256: synthetic.blockSha256, precision: 'int8', rounds: ROUNDS,
      ...(LINK_MB_S > 0 ? { linkUrl: `${base}/synthetic-link.safetensors` } : {}),
    };
    const cpu = new CpuSampler();
    const r: BenchResult = await page.evaluate((p) => window.runWeightsBench(p), params).finally(() => cpu.stop());
    // cores kept busy while a step ran (whole machine, and the file server's share), medians over rounds
    const busy = (step: keyof BenchRound['spans']) => {
      const s = r.rounds.map((x) => cpu.spent(x.spans[step]));
      return { cores: median(s.map((x) => x.machine / x.wallS)), server: median(s.map((x) => x.harness / x.wallS)), cpuS: median(s.map((x) => x.machine)) };
    };
    const cpuRaw = busy('raw');
    const cpuPipeline = busy('pipeline');
    const cpuWhole = busy('wholeFilePipeline');
    console.log(`cores busy (of ${os.cpus().length}): raw read ${cpuRaw.cores.toFixed(2)} (file server ${cpuRaw.server.toFixed(2)}), ` +
      `install ${cpuPipeline.cores.toFixed(2)} (server ${cpuPipeline.server.toFixed(2)}), whole-file install ${cpuWhole.cores.toFixed(2)}; ` +
      `CPU-seconds: raw ${cpuRaw.cpuS.toFixed(2)}, install ${cpuPipeline.cpuS.toFixed(2)}, whole-file ${cpuWhole.cpuS.toFixed(2)}`);
    const mbS = (ms: number): number => mb / (ms / 1000);
    const col = (k: Exclude<keyof BenchRound, 'spans'>): number[] => r.rounds.map((x) => x[k]);
    const ratios = r.rounds.map((x) => x.rawMs / x.pipelineMs); // pipeline MB/s over raw MB/s, within a round
    const wholeRatios = r.rounds.map((x) => x.rawMs / x.wholeFilePipelineMs);
    const byobRatios = r.rounds.map((x) => x.rawByobMs / x.pipelineMs);
    for (const [i, x] of r.rounds.entries()) {
      console.log(`round ${i + 1}: raw ${x.rawMs.toFixed(0)} ms (BYOB ${x.rawByobMs.toFixed(0)}), install ${x.pipelineMs.toFixed(0)} ms ` +
        `(whole-file sha256: ${x.wholeFilePipelineMs.toFixed(0)} ms) → ratio ${ratios[i]!.toFixed(3)} (whole-file ${wholeRatios[i]!.toFixed(3)})`);
    }
    const pipelineMbS = mbS(median(col('pipelineMs')));
    const inlineMbS = mbS(r.inlinePipelineMs);
    console.log(`quantizing on the installer thread instead: ${r.inlinePipelineMs.toFixed(0)} ms; stored ${(r.storedBytes / 1e6).toFixed(1)} MB int8; ` +
      `load ${r.loadMs.toFixed(0)} ms (${r.tensors} tensors, tfjs ${r.backend})`);
    const stageText = Object.entries(r.stages).map(([k, v]) => `${k} ${v.toFixed(0)} ms (${(mb / (v / 1000)).toFixed(0)} MB/s)`).join(', ');
    console.log(`stages alone, file in memory: ${stageText}`);
    const link = r.link.length === 0 ? undefined : {
      raw: mbS(median(r.link.map((x) => x.rawMs))),
      pipeline: mbS(median(r.link.map((x) => x.pipelineMs))),
      whole: mbS(median(r.link.map((x) => x.wholeFilePipelineMs))),
      ratio: median(r.link.map((x) => x.rawMs / x.pipelineMs)),
      wholeRatio: median(r.link.map((x) => x.rawMs / x.wholeFilePipelineMs)),
    };
    for (const [i, x] of r.link.entries()) {
      console.log(`over a ${LINK_MB_S} MB/s link, round ${i + 1}: raw ${mbS(x.rawMs).toFixed(1)} MB/s, install ${mbS(x.pipelineMs).toFixed(1)} MB/s ` +
        `(whole-file sha256: ${mbS(x.wholeFilePipelineMs).toFixed(1)})`);
    }
    const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(', ');
    writeBenchResults('weights', {
      raw_fetch_mb_s: mbS(median(col('rawMs'))),
      raw_fetch_byob_mb_s: mbS(median(col('rawByobMs'))),
      pipeline_mb_s: pipelineMbS,
      throughput_ratio: median(ratios),
      throughput_ratio_vs_byob: median(byobRatios),
      pipeline_whole_file_sha256_mb_s: mbS(median(col('wholeFilePipelineMs'))),
      throughput_ratio_whole_file_sha256: median(wholeRatios),
      pipeline_inline_codec_mb_s: inlineMbS,
      link_raw_fetch_mb_s: link?.raw ?? null,
      link_pipeline_mb_s: link?.pipeline ?? null,
      link_throughput_ratio: link?.ratio ?? null,
      link_throughput_ratio_whole_file_sha256: link?.wholeRatio ?? null,
      codec_pool_speedup: pipelineMbS / inlineMbS,
      raw_fetch_cores_busy: cpuRaw.cores,
      raw_fetch_server_cores: cpuRaw.server,
      raw_fetch_cpu_s: cpuRaw.cpuS,
      pipeline_cores_busy: cpuPipeline.cores,
      pipeline_cpu_s: cpuPipeline.cpuS,
      pipeline_whole_file_sha256_cpu_s: cpuWhole.cpuS,
      load_ms: r.loadMs,
    }, {
      file: `${mb.toFixed(1)} MB F32 safetensors, ${r.tensors} tensors of 1280x1280, served from 127.0.0.1 (e2e/fault-server.ts)`,
      rounds: `${ROUNDS} rounds, each: raw read (default reader, as the installer reads), raw read (BYOB reader), block-digest install, whole-file-sha256 install; MB/s and ratios are medians over rounds, each ratio taken within its round (ratios: ${fmt(ratios)}; whole-file: ${fmt(wholeRatios)}; vs BYOB: ${fmt(byobRatios)})`,
      pipeline: `WeightsInstaller in a worker, pipelined per tensor unit: fetch → sha256 of each ${DIGEST_BLOCK_BYTES / 2 ** 20} MiB block (the manifest's blockSha256, as tools/convert writes it; WebCrypto) → int8 per-channel quantization + XXH128 of the stored bytes (codec pool of ${Math.max(1, Math.min(3, r.cores - 1))} worker(s), ${r.cores} cores reported) → IndexedDB commits in file order (units encoded meanwhile share a transaction), ≤ 96 MiB in flight`,
      pipeline_whole_file_sha256_mb_s: 'the same install with only the whole-file sha256 in the manifest (as a pinned Hugging Face file): incremental hash-wasm sha256 on a worker (sha256-stage.ts), one step per unit',
      raw_fetch_byob_mb_s: 'reads with a BYOB reader into 16 MiB buffers, for context: the installer reads with the default reader',
      link: LINK_MB_S > 0 ? `link_*: the same file served at a nominal ${LINK_MB_S} MB/s (fault-server throttle: ${LINK_MB_S / 20} MB pieces every 50 ms + write time), ${ROUNDS} rounds of a raw read, the block-digest install and the whole-file install; medians, ratios within a round` : 'skipped (BENCH_WEIGHTS_LINK_MB_S=0)',
      pipeline_inline_codec_mb_s: 'one block-digest install with quantization + checksums on the installer thread (inlineCodec), after the rounds',
      load_ms: `IndexedDB → decoded Float32 → tf.tensor on the tfjs ${r.backend} backend`,
      cpu: `*_cores_busy: CPU-seconds of the whole machine (/proc/stat) over the step's wall time, sampled every 20 ms, median over rounds, of ${os.cpus().length} cores; *_server_cores: the share of the bench process, which runs the file server; *_cpu_s: CPU-seconds of the whole machine during the step`,
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
