/**
 * The demo manifests pin the committed files: every file under public/demo/<id>/ with its exact size and sha256
 * (an install verifies against these), and the trained files stay within the 12 MB the repository allows them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { DEMO_MODELS, demoManifest } from '../tools/demo/pin-demo-manifests';
import { MANIFEST_DIR } from '../tools/pin-tiny-manifests';
import { DEMO_MODEL_DIR } from '../tools/demo/paths';

it('weights-manifest/demo-*.json are what tools/demo/pin-demo-manifests writes for the committed files', () => {
  for (const m of DEMO_MODELS) {
    const committed = JSON.parse(fs.readFileSync(path.join(MANIFEST_DIR, `${m.id}.json`), 'utf8')) as unknown;
    expect(committed, `${m.id}: run npx tsx tools/demo/pin-demo-manifests.ts`).toEqual(JSON.parse(JSON.stringify(demoManifest(m))));
  }
});

it('demo-hps pins the tiny HPS tower\'s files (the demo set trains none)', () => {
  const read = (id: string) => JSON.parse(fs.readFileSync(path.join(MANIFEST_DIR, `${id}.json`), 'utf8')) as { files: unknown; source: unknown };
  expect(read('demo-hps').files).toEqual(read('tiny-hps').files);
  expect((read('demo-hps').source as { baseUrl: string }).baseUrl).toBe((read('tiny-hps').source as { baseUrl: string }).baseUrl);
});

it('the trained files (weights and configs, without the CLIP BPE tokenizer files) take at most 12 MB', () => {
  const tokenizerFiles = /(^|\/)(vocab\.json|merges\.txt|tokenizer_config\.json|special_tokens_map\.json)$/;
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  const bytes = walk(DEMO_MODEL_DIR).filter((f) => !tokenizerFiles.test(f)).reduce((a, f) => a + fs.statSync(f).size, 0);
  expect(bytes).toBeLessThanOrEqual(12e6);
});
