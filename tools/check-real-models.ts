/**
 * `npm run check:real-models`: every manifest of weights-manifest/ outside the built-in sets (tiny, demo: their own
 * small shapes, loaded by their tests) dry-bound through the app's own loaders
 * (stableDiffusionPlan; rewardModelBinding with what each reward model's definition says it needs) against the real
 * checkpoints' key/shape lists in $FIXTURES_DIR/sd15-shapes.json (SD1.5 UNet / VAE / text encoder, CLIP ViT-L/14,
 * OpenCLIP ViT-H-14) and the real LAION head in $FIXTURES_DIR/aesthetic. The hub's config files, which cannot be
 * downloaded here, are stood in for by the configs recorded in sd15-shapes.json — only those the manifest lists,
 * so a model whose manifest lacks a config it needs fails here as it would in the app. The real VAE file stores
 * the legacy attention names, and so does its listing here. Names every problem; ends with one line
 * `real models: N ok, M failed` and exits 1 when any failed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type ModelFiles, stableDiffusionPlan } from '../src/model/load-pipeline';
import { bindProblems, declaredParams, type KeyShape, type ModelBinding, type WeightSource } from '../src/model/params';
import { DEFAULT_PRECISION } from '../src/model/precision';
import { REWARDS, type RewardModelId, rewardModel, rewardModelBinding, rewardModelOfKind } from '../src/rewards/registry';
import { fixturePath } from '../test/golden';
import { safetensorsFileSource } from './lib/fs-model-files';

interface Manifest { id: string; name: string; kind: string; set: string; files: { path: string; role: string; format: string }[] }
interface Component { config_json: unknown; keys: KeyShape[]; legacy_key_map?: Record<string, string> }
interface Shapes {
  sd15: { model_index_json: unknown; scheduler_config_json: unknown; unet: Component; vae: Component; text_encoder: Component };
  clip_vit_l14: { config_essentials: unknown; keys: KeyShape[] };
  openclip_vit_h14: { open_clip_model_config: unknown; keys: KeyShape[] };
}

const listingOnly = (listing: KeyShape[]): WeightSource => ({ listing, read: async () => { throw new Error('dry bind: no weights'); } });
/** The dry bind every load starts with, under the binding's own rules (strict but for what it leaves on purpose). */
const problemsOf = (what: string, binding: ModelBinding<unknown>, listing: KeyShape[]): string[] => {
  const p = bindProblems(declaredParams(binding.build), listing, binding.opts, 8);
  return p ? [`${what}: ${p}`] : [];
};

/** The manifest's files as the SD loader sees them: its configs stood in for, its weights as key listings. */
function sdFiles(m: Manifest, sd15: Shapes['sd15']): ModelFiles {
  const listed = (p: string) => m.files.some((f) => f.path === p);
  const configs: Record<string, unknown> = {
    'model_index.json': sd15.model_index_json, 'scheduler/scheduler_config.json': sd15.scheduler_config_json,
    'unet/config.json': sd15.unet.config_json, 'vae/config.json': sd15.vae.config_json, 'text_encoder/config.json': sd15.text_encoder.config_json,
  };
  const legacy = (keys: KeyShape[], map: Record<string, string> = {}) => keys.map((k) => ({ ...k, key: map[k.key] ?? k.key }));
  const listings: Record<string, KeyShape[]> = {
    unet: sd15.unet.keys, vae: legacy(sd15.vae.keys, sd15.vae.legacy_key_map), text_encoder: sd15.text_encoder.keys,
  };
  return {
    has: async (p) => listed(p),
    text: async (p) => {
      if (!listed(p)) throw new Error(`${p} is not among the manifest's files`);
      if (!(p in configs)) throw new Error(`${p}: no stand-in for this file`);
      return JSON.stringify(configs[p]);
    },
    weights: async (p) => listingOnly(listings[p.split('/')[0]!] ?? []),
  };
}

async function checkSd(m: Manifest, shapes: Shapes): Promise<string[]> {
  const problems = ['tokenizer/vocab.json', 'tokenizer/merges.txt'].filter((p) => !m.files.some((f) => f.path === p)).map((p) => `${p} missing (the tokenizer needs it)`);
  const files = sdFiles(m, shapes.sd15);
  const plan = await stableDiffusionPlan(files, DEFAULT_PRECISION);
  for (const [name, c] of [['text encoder', plan.textEncoder], ['unet', plan.unet], ['vae', plan.vae]] as const) {
    problems.push(...problemsOf(`${name} (${c.path})`, c.binding as ModelBinding<unknown>, (await files.weights(c.path)).listing));
  }
  return problems;
}

function checkReward(m: Manifest, model: RewardModelId, shapes: Shapes): string[] {
  const weights = m.files.filter((f) => f.role === 'model');
  if (weights.length !== 1) return [`${weights.length} weight files (role "model"), the loader reads exactly one`];
  if (!['safetensors', 'torch-zip'].includes(weights[0]!.format)) return [`${weights[0]!.path}: format ${weights[0]!.format} is not one the app reads`];
  const hasConfig = m.files.some((f) => f.role === 'config');
  const standIn: Record<RewardModelId, () => { config: unknown; listing: KeyShape[] }> = {
    'clip-vit-l14': () => ({ config: shapes.clip_vit_l14.config_essentials, listing: shapes.clip_vit_l14.keys }),
    'hpsv2-vit-h14': () => ({ config: shapes.openclip_vit_h14.open_clip_model_config, listing: shapes.openclip_vit_h14.keys }),
    'laion-aesthetic': () => ({ config: undefined, listing: safetensorsFileSource(fixturePath('aesthetic', 'sac+logos+ava1-l14-linearMSE.safetensors')).listing }),
  };
  const { config, listing } = standIn[model]();
  // every reward that uses this model, so that every tower the app may bind is bound here
  const ids = REWARDS.filter((r) => r.models.includes(model)).map((r) => r.id);
  const binding = rewardModelBinding(model, hasConfig ? config : undefined, ids, DEFAULT_PRECISION);
  return problemsOf(`${rewardModel(model).needs.kind} (${weights[0]!.path})`, binding, listing);
}

const shapesFile = fixturePath('sd15-shapes.json');
if (!fs.existsSync(shapesFile)) {
  console.error(`check:real-models: ${shapesFile} not found (set FIXTURES_DIR to the shared fixtures)`);
  process.exit(1);
}
const shapes = JSON.parse(fs.readFileSync(shapesFile, 'utf8')) as Shapes;
const dir = 'weights-manifest';
const manifests = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'schema.json')
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Manifest)
  .filter((m) => m.set !== 'tiny' && m.set !== 'demo');
let ok = 0, failed = 0;
for (const m of manifests) {
  let problems: string[];
  try {
    const model = rewardModelOfKind(m.kind);
    if (m.kind === 'sd15-pipeline') problems = await checkSd(m, shapes);
    else if (model) problems = checkReward(m, model, shapes);
    else problems = [`kind "${m.kind}" has no loader`];
  } catch (e) {
    problems = [(e as Error).message];
  }
  if (problems.length) {
    failed++;
    console.log(`✗ ${m.id} (${m.name})`);
    for (const p of problems) console.log(`    ${p}`);
  } else {
    ok++;
    console.log(`✓ ${m.id} (${m.name})`);
  }
}
console.log(`real models: ${ok} ok, ${failed} failed`);
process.exit(failed ? 1 : 0);
