/**
 * Writes weights-manifest/demo-*.json from the committed files under public/demo/: every file with its exact
 * size and sha256 (installs are verified like any real model's), roles and formats as the tiny manifests give
 * them for the same paths. Run after retraining (test/demo-manifests.test.ts fails until you do):
 *
 *   npx tsx tools/demo/pin-demo-manifests.ts
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isTensorFormat, validateManifest, type ManifestFile, type ModelKind, type ModelManifest } from '../../src/weights/catalog/manifest';
import { MANIFEST_DIR } from '../pin-tiny-manifests';
import { DEMO_MODEL_DIR } from './paths';

interface DemoModel { id: string; kind: ModelKind; name: string; description: string; rolesFrom: string }

export const DEMO_MODELS: readonly DemoModel[] = [
  {
    id: 'demo-sd', kind: 'sd15-pipeline', name: 'Demo SD (built-in, trained on simple scenes)', rolesFrom: 'tiny-sd',
    description: 'A small text-to-image latent diffusion model (diffusers layout, real CLIP BPE tokenizer, fp16) trained by tools/demo/train.py on 32×32 scenes of one coloured shape on a plain background.',
  },
  {
    id: 'demo-clip', kind: 'clip', name: 'Demo CLIP (built-in, trained on simple scenes)', rolesFrom: 'tiny-clip',
    description: 'A small Hugging Face CLIPModel trained contrastively on the demo scenes and their captions: the CLIP score reward of the demo set.',
  },
  {
    id: 'demo-aesthetic', kind: 'aesthetic-head', name: 'Demo aesthetic-style head (built-in, prefers big shapes)', rolesFrom: 'tiny-aesthetic',
    description: "The LAION aesthetic head's layout on demo-clip's image embedding, trained to score a picture by how much of it the shape covers.",
  },
];

const sha256Of = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

function filesUnder(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]).sort();
}

/** The manifest of one demo model, from the files on disk. */
export function demoManifest(model: DemoModel): ModelManifest {
  const template = JSON.parse(fs.readFileSync(path.join(MANIFEST_DIR, `${model.rolesFrom}.json`), 'utf8')) as ModelManifest;
  const folder = path.join(DEMO_MODEL_DIR, model.id);
  const files = filesUnder(folder).map((rel): ManifestFile => {
    const like = template.files.find((f) => f.path === rel);
    if (!like) throw new Error(`${model.id}: no role for ${rel} (${model.rolesFrom} has no such path)`);
    const bytes = fs.readFileSync(path.join(folder, rel));
    const f: ManifestFile = { path: rel, format: like.format, role: like.role, size: bytes.byteLength, sha256: sha256Of(bytes) };
    if (isTensorFormat(like.format)) Object.assign(f, { sourceDtype: 'F16', precision: 'fp16' });
    return f;
  });
  return validateManifest({
    $schema: './schema.json', schemaVersion: 1, id: model.id, name: model.name, kind: model.kind, set: 'demo',
    description: model.description,
    source: { type: 'static', baseUrl: `./demo/${model.id}/`, note: 'Trained by tools/demo/train.py into public/demo/ (committed); sizes and sha256 pinned by tools/demo/pin-demo-manifests.' },
    files,
  }, `${model.id}.json`);
}

if (process.argv[1]?.endsWith('pin-demo-manifests.ts')) {
  for (const m of DEMO_MODELS) {
    fs.writeFileSync(path.join(MANIFEST_DIR, `${m.id}.json`), JSON.stringify(demoManifest(m), null, 2) + '\n');
    console.log(`pinned ${m.id}`);
  }
}
