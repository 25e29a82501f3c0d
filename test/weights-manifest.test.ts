import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  estimateStoredBytes, FILE_FORMATS, MAX_DIGEST_BLOCK_BYTES, MODEL_KINDS, parseManifest, resolveFileUrl, STORAGE_PRECISIONS, validateManifest,
  type ModelManifest,
} from '../src/weights/catalog/manifest';
import { fixtureDigests, repoManifest } from './weights-fixtures';
import { fixturePath, missingReason } from './golden';

const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'weights-manifest');
const schema = JSON.parse(fs.readFileSync(path.join(dir, 'schema.json'), 'utf8'));
const ids = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'schema.json').map((f) => f.slice(0, -5));

describe('weights-manifest/*.json', () => {
  it('has the twelve models, each valid, id = file name', () => {
    expect(ids.sort()).toEqual(['clip-vit-l14', 'demo-aesthetic', 'demo-clip', 'demo-hps', 'demo-sd', 'hpsv2', 'laion-aesthetic-l14', 'sd15', 'tiny-aesthetic', 'tiny-clip', 'tiny-hps', 'tiny-sd']);
    for (const id of ids) expect(repoManifest(id).id).toBe(id);
  });

  it('pins what the issue states: HPSv2 size, aesthetic head size + sha256, SD1.5 fp16 files', () => {
    const hps = repoManifest('hpsv2');
    expect(hps.source).toMatchObject({ type: 'huggingface', repo: 'xswu/HPSv2' });
    expect(hps.files[0]).toMatchObject({ path: 'HPS_v2_compressed.pt', size: 1972484501, format: 'torch-zip' });
    const aes = repoManifest('laion-aesthetic-l14');
    expect(aes.files[0]).toMatchObject({
      path: 'sac+logos+ava1-l14-linearMSE.pth', size: 3714759, format: 'torch-zip',
      sha256: '21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0',
    });
    expect(aes.source).toMatchObject({ unverified: true });
    const sd = repoManifest('sd15');
    expect(sd.source).toMatchObject({ repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5' });
    for (const p of ['unet/diffusion_pytorch_model.fp16.safetensors', 'vae/diffusion_pytorch_model.fp16.safetensors',
      'text_encoder/model.fp16.safetensors']) {
      expect(sd.files.find((f) => f.path === p)).toMatchObject({ format: 'safetensors', precision: 'fp16' });
    }
    expect(repoManifest('clip-vit-l14').files.map((f) => f.path)).toContain('model.safetensors');
  });

  it.skipIf(missingReason([fixturePath('MANIFEST.txt')]) !== null)('tiny manifests list exactly the files of the fixture folders (the diffusers / HF / open_clip layouts)', () => {
    const digests = [...fixtureDigests().keys()];
    for (const [id, folder] of [['tiny-sd', 'tiny-sd'], ['tiny-clip', 'tiny-clip'], ['tiny-hps', 'tiny-hps']] as const) {
      const fixtureFiles = digests.filter((p) => p.startsWith(folder + '/')).map((p) => p.slice(folder.length + 1)).sort();
      expect(repoManifest(id).files.map((f) => f.path).sort(), id).toEqual(fixtureFiles);
    }
  });

  it('schema.json and validateManifest agree: every required field is enforced, enums are the same', () => {
    expect(schema.properties.kind.enum).toEqual([...MODEL_KINDS]);
    expect(schema.$defs.file.properties.format.enum).toEqual([...FILE_FORMATS]);
    expect(schema.$defs.file.properties.precision.enum).toEqual([...STORAGE_PRECISIONS]);
    const valid = repoManifest('sd15');
    for (const key of schema.required as string[]) {
      const m = structuredClone(valid) as unknown as Record<string, unknown>;
      delete m[key];
      expect(() => validateManifest(m, 'x'), `without ${key}`).toThrow(/x: /);
    }
    const tensorFile = valid.files.findIndex((f) => f.format === 'safetensors');
    for (const key of [...schema.$defs.file.required, 'precision'] as string[]) {
      const m = structuredClone(valid);
      delete (m.files[tensorFile] as unknown as Record<string, unknown>)[key];
      expect(() => validateManifest(m, 'x'), `file without ${key}`).toThrow(new RegExp(`files\\[${tensorFile}\\]`));
    }
  });

  it('rejects bad values with messages that name the field', () => {
    const base = repoManifest('tiny-sd');
    const bad = (mutate: (m: ModelManifest) => void, msg: RegExp): void => {
      const m = structuredClone(base);
      mutate(m);
      expect(() => validateManifest(m, 'tiny')).toThrow(msg);
    };
    bad((m) => { m.files[0]!.sha256 = 'ABC'; }, /files\[0\]: sha256/);
    bad((m) => { m.files[0]!.path = '../etc/passwd'; }, /files\[0\]: path/);
    bad((m) => { m.files[1]!.path = m.files[0]!.path; }, /duplicate path/);
    bad((m) => { m.files[1]!.role = m.files[0]!.role; }, /duplicate role/);
    bad((m) => { m.files[0]!.precision = 'fp16'; }, /precision is only allowed/);
    bad((m) => { (m.files.find((f) => f.format === 'safetensors')!).precision = 'bf16' as never; }, /precision must be/);
    bad((m) => { m.source = { type: 'static', baseUrl: './no-slash' }; }, /baseUrl/);
    bad((m) => { m.id = 'Has Space'; }, /id must match/);
    expect(() => parseManifest('{', 'f.json')).toThrow(/f\.json: not valid JSON/);
  });

  it('block digests: one per block of the pinned size, lowercase hex, a bounded block size', () => {
    const base = repoManifest('tiny-sd');
    const i = base.files.findIndex((f) => f.format === 'safetensors' && f.size !== null && f.size > 3000);
    const size = base.files[i]!.size!;
    const digests = (n: number): string[] => Array.from({ length: n }, (_, k) => k.toString(16).padStart(64, '0'));
    const withBlocks = (blocks: unknown, mutate?: (f: ModelManifest['files'][number]) => void): ModelManifest => {
      const m = structuredClone(base);
      m.files[i]!.blockSha256 = blocks as never;
      mutate?.(m.files[i]!);
      return m;
    };
    const ok = validateManifest(withBlocks({ blockBytes: 1000, sha256: digests(Math.ceil(size / 1000)) }), 't');
    expect(ok.files[i]!.blockSha256!.sha256).toHaveLength(Math.ceil(size / 1000));
    const rejects = (m: ModelManifest, msg: RegExp): void => { expect(() => validateManifest(m, 't')).toThrow(msg); };
    rejects(withBlocks({ blockBytes: 1000, sha256: digests(Math.ceil(size / 1000) - 1) }), new RegExp(`files\\[${i}\\]: blockSha256.sha256 must list ${Math.ceil(size / 1000)} block digests`));
    rejects(withBlocks({ blockBytes: 0, sha256: [] }), /blockSha256.blockBytes must be an integer in 1\.\.268435456/);
    rejects(withBlocks({ blockBytes: 2 ** 29, sha256: digests(1) }), /blockSha256.blockBytes/);
    rejects(withBlocks({ blockBytes: size, sha256: ['F'.repeat(64)] }), /blockSha256.sha256\[0\] must be 64 lowercase hex/);
    rejects(withBlocks({ blockBytes: size, sha256: digests(1) }, (f) => { f.size = null; }), /blockSha256 needs the file size/);
    rejects(withBlocks([1, 2]), /blockSha256 must be an object/);
    expect(schema.$defs.file.properties.blockSha256.required).toEqual(['blockBytes', 'sha256']);
    expect(schema.$defs.file.properties.blockSha256.properties.blockBytes.maximum).toBe(MAX_DIGEST_BLOCK_BYTES);
  });

  it('resolves Hugging Face resolve URLs (revision pinnable) and static URLs against a base', () => {
    const sd = repoManifest('sd15');
    const unet = sd.files.find((f) => f.role === 'unet')!;
    expect(resolveFileUrl(sd, unet)).toBe(
      'https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/unet/diffusion_pytorch_model.fp16.safetensors');
    expect(resolveFileUrl(sd, unet, { revision: 'abc123' })).toContain('/resolve/abc123/unet/');
    const aes = repoManifest('laion-aesthetic-l14');
    expect(resolveFileUrl(aes, aes.files[0]!)).toBe(
      'https://huggingface.co/camenduru/improved-aesthetic-predictor/resolve/main/sac%2Blogos%2Bava1-l14-linearMSE.pth');
    const tiny = repoManifest('tiny-sd');
    const vae = tiny.files.find((f) => f.role === 'vae')!;
    expect(resolveFileUrl(tiny, vae, { base: 'http://127.0.0.1:5173/app/index.html' }))
      .toBe('http://127.0.0.1:5173/app/models/tiny-sd/vae/diffusion_pytorch_model.safetensors');
    expect(() => resolveFileUrl(tiny, vae)).toThrow(/needs a base URL/);
  });

  it('estimates storage by precision over source dtype', () => {
    const f = { path: 'a', format: 'safetensors' as const, role: 'm', size: 1_000_000, sha256: null };
    expect(estimateStoredBytes({ ...f, precision: 'fp32' })).toBe(1_020_000 + 65536);
    expect(estimateStoredBytes({ ...f, precision: 'fp16' })).toBe(510_000 + 65536);
    expect(estimateStoredBytes({ ...f, precision: 'fp16', sourceDtype: 'F16' })).toBe(1_020_000 + 65536);
    expect(estimateStoredBytes({ path: 'c.json', format: 'json', role: 'c', size: null, sha256: null, sizeEstimate: 77 })).toBe(77);
  });
});
