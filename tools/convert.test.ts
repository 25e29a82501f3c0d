/**
 * tools/convert on the generated tiny model: the manifest validates and pins every file; fp32 reproduces the
 * generator's files byte for byte; fp16 decodes within half rounding of the source; int8 copies the source and
 * asks the installer to quantize; a non-diffusers folder is named precisely. Then the fp16 bundle is served over
 * HTTP, installed by the real WeightsInstaller into (fake) IndexedDB and run through the pipeline loader.
 */
import 'fake-indexeddb/auto';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDiffusersLayout, convertDiffusersFolder, DIGEST_BLOCK_BYTES, LayoutError, parseConvertArgs } from './convert';
import { makeTinyModel } from './make-tiny-model';
import { validateManifest, type ModelManifest } from '../src/weights/catalog/manifest';
import { f16ToF32, f32ToF16, parseSafetensors } from '../src/weights/formats/safetensors';
import { WeightsInstaller } from '../src/weights/install/installer';
import { WeightsStorage } from '../src/weights/store/storage';
import { installedModelFiles } from '../src/weights/store/installed-model-files';
import { loadStableDiffusion } from '../src/model/load-pipeline';
import { disposeStableDiffusion, textToImage } from '../src/model/pipeline';
import { TestFileServer } from '../test/weights-server';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convert-test-'));
const tiny = path.join(tmp, 'src', 'tiny-sd');
const bundles: Record<'fp32' | 'fp16' | 'int8', { dir: string; manifest?: ModelManifest }> = {
  fp32: { dir: path.join(tmp, 'fp32') }, fp16: { dir: path.join(tmp, 'fp16') }, int8: { dir: path.join(tmp, 'int8') },
};

beforeAll(async () => {
  makeTinyModel(path.join(tmp, 'src'));
  for (const p of ['fp32', 'fp16', 'int8'] as const) {
    // small digest blocks for fp16/int8, so their weight files span several blocks; fp32 keeps the default
    bundles[p].manifest = await convertDiffusersFolder(tiny, bundles[p].dir,
      { id: `conv-${p}`, name: `Converted ${p}`, precision: p, blockBytes: p === 'fp32' ? undefined : 65536 });
  }
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const repoTinyManifest = (): ModelManifest =>
  validateManifest(JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '..', 'weights-manifest', 'tiny-sd.json'), 'utf8')));

describe('tools/convert', () => {
  it('writes a valid manifest.json whose sizes and sha256 match every bundled file', () => {
    for (const p of ['fp32', 'fp16', 'int8'] as const) {
      const { dir } = bundles[p];
      const m = validateManifest(JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')), p);
      expect(m).toMatchObject({ id: `conv-${p}`, name: `Converted ${p}`, kind: 'sd15-pipeline', source: { type: 'static', baseUrl: './' } });
      expect(m.files).toHaveLength(12);
      for (const f of m.files) {
        const file = path.join(dir, f.path);
        expect(fs.statSync(file).size, f.path).toBe(f.size);
        expect(sha256(file), f.path).toBe(f.sha256);
        if (!f.blockSha256) continue;
        const bytes = fs.readFileSync(file);
        const blockBytes = p === 'fp32' ? DIGEST_BLOCK_BYTES : 65536;
        const blocks = Array.from({ length: Math.ceil(bytes.byteLength / blockBytes) },
          (_, i) => crypto.createHash('sha256').update(bytes.subarray(i * blockBytes, (i + 1) * blockBytes)).digest('hex'));
        expect(f.blockSha256, f.path).toEqual({ blockBytes, sha256: blocks });
        if (p !== 'fp32') expect(blocks.length, f.path).toBeGreaterThan(1);
      }
      expect(m.files.filter((f) => f.blockSha256).map((f) => f.format)).toEqual(['safetensors', 'safetensors', 'safetensors']);
      const bundled = fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
        .map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
      expect(bundled).toEqual([...m.files.map((f) => f.path), 'manifest.json'].sort());
      expect(m.files.filter((f) => f.format === 'safetensors').map((f) => f.precision)).toEqual([p, p, p]);
    }
  });

  it('fp32 of an F32 folder reproduces the generator\'s files byte for byte (the pinned tiny-sd digests)', () => {
    const pinned = new Map(repoTinyManifest().files.map((f) => [f.path, f.sha256]));
    for (const f of bundles.fp32.manifest!.files) expect(f.sha256, f.path).toBe(pinned.get(f.path));
  });

  it('fp16 re-encodes every float tensor as F16 within half rounding of the source', () => {
    const m = bundles.fp16.manifest!;
    expect(m.files.filter((f) => f.format === 'safetensors').map((f) => [f.path, f.sourceDtype])).toEqual([
      ['text_encoder/model.fp16.safetensors', 'F16'],
      ['unet/diffusion_pytorch_model.fp16.safetensors', 'F16'],
      ['vae/diffusion_pytorch_model.fp16.safetensors', 'F16'],
    ]);
    let compared = 0;
    for (const c of ['text_encoder/model', 'unet/diffusion_pytorch_model', 'vae/diffusion_pytorch_model']) {
      const src = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(tiny, `${c}.safetensors`))));
      const bytes = new Uint8Array(fs.readFileSync(path.join(bundles.fp16.dir, `${c}.fp16.safetensors`)));
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))))) as Record<string, { dtype: string }>;
      const out = parseSafetensors(bytes);
      expect([...out.keys()].sort()).toEqual([...src.keys()].sort());
      for (const [name, s] of src) {
        const o = out.get(name)!;
        expect(o.shape).toEqual(s.shape);
        if (!(s.data instanceof Float32Array)) {
          expect(header[name]!.dtype).not.toBe('F16');
          expect(o.data).toEqual(s.data);
          continue;
        }
        expect(header[name]!.dtype).toBe('F16');
        // exactly the nearest half, and so within half an ulp (2^-11 relative) of the source (normal range)
        let notNearest = 0;
        let maxRel = 0;
        for (let i = 0; i < s.data.length; i++) {
          const v = s.data[i]!;
          if (o.data[i] !== f16ToF32(f32ToF16(v))) notNearest++;
          if (Math.abs(v) > 6.2e-5) maxRel = Math.max(maxRel, Math.abs(o.data[i]! - v) / Math.abs(v));
        }
        expect(notNearest, name).toBe(0);
        expect(maxRel, name).toBeLessThanOrEqual(2 ** -11);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(900);
    expect(bundles.fp16.manifest!.files.find((f) => f.role === 'unet')!.size).toBeLessThan(bundles.fp32.manifest!.files.find((f) => f.role === 'unet')!.size! * 0.51);
  });

  it('int8 copies the source weights and leaves the quantization to the installer (precision int8)', () => {
    const m = bundles.int8.manifest!;
    for (const f of m.files.filter((x) => x.format === 'safetensors')) {
      expect(f).toMatchObject({ precision: 'int8', sourceDtype: 'F32' });
      expect(f.sha256).toBe(sha256(path.join(tiny, f.path)));
    }
  });

  it('names everything a non-diffusers folder lacks, and refuses a non-empty output folder', async () => {
    const bad = path.join(tmp, 'bad');
    fs.mkdirSync(path.join(bad, 'unet'), { recursive: true });
    fs.writeFileSync(path.join(bad, 'model_index.json'), '{}');
    fs.writeFileSync(path.join(bad, 'unet', 'config.json'), '{}');
    expect(() => checkDiffusersLayout(bad)).toThrow(LayoutError);
    const msg = (() => { try { checkDiffusersLayout(bad); return ''; } catch (e) { return (e as Error).message; } })();
    for (const missing of ['scheduler/scheduler_config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'text_encoder/config.json',
      'vae/config.json', 'text_encoder/model.safetensors or text_encoder/model.fp16.safetensors',
      'unet/diffusion_pytorch_model.safetensors or unet/diffusion_pytorch_model.fp16.safetensors']) {
      expect(msg).toContain(missing);
    }
    expect(msg).not.toContain('model_index.json');
    expect(msg).not.toMatch(/^\s*unet\/config\.json$/m);
    expect(() => checkDiffusersLayout(path.join(tmp, 'nope'))).toThrow(/is not a folder/);
    await expect(convertDiffusersFolder(tiny, bundles.fp32.dir, { id: 'x' })).rejects.toThrow(/is not empty/);
  });

  it('parses the command line, rejecting --shard-mb with the reason, a bad --block-mib and a missing --id', () => {
    expect(parseConvertArgs(['in', 'out', '--id', 'm', '--precision=int8', '--name', 'My model']))
      .toEqual({ src: 'in', out: 'out', id: 'm', name: 'My model', precision: 'int8', blockBytes: DIGEST_BLOCK_BYTES });
    expect(parseConvertArgs(['in', 'out', '--id', 'm', '--block-mib', '4']).blockBytes).toBe(4 * 2 ** 20);
    for (const bad of ['0', '1.5', '257', 'x']) expect(() => parseConvertArgs(['in', 'out', '--id', 'm', '--block-mib', bad])).toThrow(/--block-mib must be an integer from 1 to 256/);
    expect(() => parseConvertArgs(['in', 'out'])).toThrow(/--id is required/);
    expect(() => parseConvertArgs(['in', 'out', '--id', 'm', '--shard-mb', '64'])).toThrow(/--shard-mb is not supported/);
    expect(() => parseConvertArgs(['in', 'out', '--id', 'm', '--precision', 'int4'])).toThrow(/fp32, fp16 or int8/);
  });
});

describe('a converted bundle installed over HTTP', () => {
  const servers: TestFileServer[] = [];
  afterAll(async () => { for (const s of servers) await s.stop(); });

  for (const p of ['fp16', 'int8'] as const) {
    it(`${p}: installs with the real WeightsInstaller from the bundle URL and renders a finite 32×32 image`, async () => {
      const server = new TestFileServer(bundles[p].dir);
      servers.push(server);
      const base = await server.start();
      const manifest = validateManifest(JSON.parse(await (await fetch(`${base}/manifest.json`)).text()));
      const storage = WeightsStorage.open(`convert-test-${p}`, { chunkBytes: 1 << 20 });
      const installer = new WeightsInstaller(storage, { estimate: async () => ({ quota: 1e12, usage: 0 }), persist: async () => true });
      const rec = await installer.install(manifest, { baseUrl: `${base}/` }).done;
      // weight files carry per-block digests (checked natively); text files are hashed whole
      expect(rec.files.map((f) => f.verifiedBy)).toEqual(manifest.files.map((f) => (f.blockSha256 ? 'block-sha256' : 'sha256')));
      expect(manifest.files.filter((f) => f.blockSha256).map((f) => f.role).sort()).toEqual(['text_encoder', 'unet', 'vae']);
      expect(rec.files.map((f) => f.sha256)).toEqual(manifest.files.map((f) => f.sha256));
      const reader = await storage.openModel(manifest.id);
      const unet = await reader.listTensors(reader.fileByRole('unet').path);
      const stored = new Set(unet.map((t) => t.storage));
      expect(stored).toEqual(p === 'fp16' ? new Set(['fp16']) : new Set(['int8', 'fp16']));

      const before = tf.memory().numTensors;
      const sd = await loadStableDiffusion(installedModelFiles(reader));
      const { image, latents } = await textToImage(sd, { prompt: 'a red fox', padding: 'unpadded', steps: 2, guidanceScale: 7.5, scheduler: 'lms', height: 32, width: 32, seed: 1 });
      expect(image.shape).toEqual([1, 32, 32, 3]);
      const px = image.dataSync();
      expect(px.every(Number.isFinite)).toBe(true);
      expect(Math.max(...px) - Math.min(...px)).toBeGreaterThan(0);
      image.dispose();
      latents.dispose();
      disposeStableDiffusion(sd);
      expect(tf.memory().numTensors).toBe(before);
    }, 120_000);
  }
});
