/**
 * The headless runner's config file (JSON). Paths are relative to the config file's folder.
 *
 * {
 *   "mode": "prompt" | "batch" | "apply",   prompt-wise IPGO per prompt; one token set over the list; or apply
 *                                           a token file (`tokens`) to every prompt (no training)
 *   "model": "builtin:tiny" | "<diffusers SD folder>",
 *   "modelId": "runwayml/stable-diffusion-v1-5",   written into token files (default: the folder name)
 *   "rewardModels": "builtin:tiny" | "<root with tiny-clip/, tiny-aesthetic/, tiny-hps/>"
 *                   | { "clip-vit-l14": dir, "laion-aesthetic": dir, "hpsv2-vit-h14": dir },
 *   "rewards": { "aesthetic": 1 },                 reward mix (the paper: one-hot)
 *   "ipgo": { "epochs": 50, "gradLastK": 2, "adam": { "lr": 0.001 }, ... },   IpgoConfig overrides (deep merge
 *                                           over promptWiseConfig / batchWiseConfig of the model's text width)
 *   "sampling": { "scheduler": "lms", "height": 512, "width": 512, "noiseSeed": 0 },
 *   "prompts": "prompts.txt",              .txt | .jsonl | .csv | .tsv;  "promptColumn": "Prompt" (csv/tsv/jsonl)
 *   "limit": 10,                            first N prompts only (optional)
 *   "heldOut": 0.2,                         batch: the LAST fraction (< 1) or count (≥ 1) of prompts is held out
 *   "tokens": "tokens.json",                apply: an ipgo-tokens v1 file
 *   "outDir": "runs/demo",                  (overridden by --out)
 *   "images": true                          write PNGs (default true)
 * }
 */
import { isUrl } from './bundle-cache';
import fs from 'node:fs';
import path from 'node:path';
import { batchWiseConfig, promptWiseConfig, type IpgoConfig } from '../../src/ipgo/config';
import { checkIpgoConfig, checkSampling } from '../../src/ipgo/config-check';
import type { SamplingSetup } from '../../src/ipgo/trainer';
import { REWARD_IDS, REWARD_MODELS, type RewardMix, isRewardId } from '../../src/rewards/registry';
import { BUILTIN_TINY, type RewardFolders } from './ipgo-models';
import { isObj } from '../../src/lib/json-object';

export type RunMode = 'prompt' | 'batch' | 'apply';

export interface RunConfig {
  mode: RunMode;
  model: string;
  modelId: string;
  rewardModels: RewardFolders;
  rewards: RewardMix;
  ipgo: Record<string, unknown>;
  sampling: SamplingSetup;
  prompts: string;
  promptColumn?: string;
  limit?: number;
  heldOut: number;
  tokens?: string;
  outDir: string;
  images: boolean;
}

const KEYS = ['mode', 'model', 'modelId', 'rewardModels', 'rewards', 'ipgo', 'sampling', 'prompts', 'promptColumn', 'limit', 'heldOut', 'tokens', 'outDir', 'images'];

export function parseRunConfig(raw: unknown, baseDir: string, where: string): RunConfig {
  const bad = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (!isObj(raw)) return bad('expected a JSON object');
  for (const k of Object.keys(raw)) if (!KEYS.includes(k)) bad(`unknown field "${k}" (known: ${KEYS.join(', ')})`);
  const mode = raw.mode ?? 'prompt';
  if (mode !== 'prompt' && mode !== 'batch' && mode !== 'apply') bad(`mode must be "prompt", "batch" or "apply", got ${JSON.stringify(mode)}`);
  const str = (k: string, required: boolean): string | undefined => {
    const v = raw[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || !v) return bad(`${k} must be a non-empty string${required ? ' (required)' : ''}`);
    return v;
  };
  // a model is a folder, the built-in tiny model, or the URL of a bundle's manifest.json (tools/lib/bundle-cache.ts)
  const resolve = (p: string) => (p === BUILTIN_TINY || isUrl(p) ? p : path.resolve(baseDir, p));
  const model = resolve(str('model', true)!);
  const rm = raw.rewardModels ?? (model === BUILTIN_TINY ? BUILTIN_TINY : undefined);
  let rewardModels: RewardFolders;
  if (typeof rm === 'string') rewardModels = resolve(rm);
  else if (isObj(rm)) {
    rewardModels = {};
    for (const [k, v] of Object.entries(rm)) {
      if (!REWARD_MODELS.some((m) => m.id === k)) bad(`rewardModels.${k}: unknown reward model (${REWARD_MODELS.map((m) => m.id).join(', ')})`);
      if (typeof v !== 'string') bad(`rewardModels.${k} must be a folder path or a bundle URL`);
      (rewardModels as Record<string, string>)[k] = resolve(v as string);
    }
  } else return bad('rewardModels is required for a model folder: "builtin:tiny", a root folder, or {model id: folder}');
  if (!isObj(raw.rewards) || Object.keys(raw.rewards).length === 0) bad('rewards must be an object like {"aesthetic": 1}');
  for (const [k, v] of Object.entries(raw.rewards as object)) {
    if (!isRewardId(k)) bad(`rewards.${k}: unknown reward (${REWARD_IDS.join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`rewards.${k} must be a finite number`);
  }
  if (Object.values(raw.rewards as object).every((w) => w === 0)) bad('rewards: at least one weight must be non-zero');
  if (raw.ipgo !== undefined && !isObj(raw.ipgo)) bad('ipgo must be an object of IpgoConfig overrides');
  let sampling: SamplingSetup;
  try {
    sampling = checkSampling({ scheduler: 'lms', height: 512, width: 512, noiseSeed: 0, ...(isObj(raw.sampling) ? raw.sampling : {}) }, 'sampling');
  } catch (e) {
    return bad((e as Error).message);
  }
  if (raw.sampling !== undefined && !isObj(raw.sampling)) bad('sampling must be an object');
  const limit = raw.limit;
  if (limit !== undefined && !(Number.isInteger(limit) && (limit as number) > 0)) bad('limit must be a positive integer');
  const heldOut = raw.heldOut ?? 0;
  if (typeof heldOut !== 'number' || !(heldOut >= 0) || (heldOut >= 1 && !Number.isInteger(heldOut))) bad('heldOut must be a fraction in [0, 1) or a whole number of prompts');
  if (mode !== 'batch' && heldOut !== 0) bad('heldOut applies to mode "batch" only');
  const tokens = str('tokens', mode === 'apply');
  if (mode !== 'apply' && tokens !== undefined) bad('tokens applies to mode "apply" only');
  if (raw.images !== undefined && typeof raw.images !== 'boolean') bad('images must be true or false');
  const modelId = str('modelId', false) ?? (model === BUILTIN_TINY ? 'tiny-sd' : path.basename(isUrl(model) ? path.dirname(new URL(model).pathname) : model));
  return {
    mode: mode as RunMode, model, modelId, rewardModels, rewards: raw.rewards as RewardMix, ipgo: (raw.ipgo as Record<string, unknown>) ?? {},
    sampling, prompts: path.resolve(baseDir, str('prompts', true)!), promptColumn: str('promptColumn', false),
    limit: limit as number | undefined, heldOut: heldOut as number, tokens: tokens && path.resolve(baseDir, tokens),
    outDir: path.resolve(baseDir, str('outDir', false) ?? 'ipgo-run-out'), images: (raw.images as boolean | undefined) ?? true,
  };
}

export function readRunConfig(file: string): RunConfig {
  if (!fs.existsSync(file)) throw new Error(`config file ${file} not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseRunConfig(raw, path.dirname(path.resolve(file)), file);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(base[k]) ? deepMerge(base[k] as Record<string, unknown>, v) : v;
  return out;
}

/** The full IpgoConfig for a model of text width D: mode defaults, then the file's overrides, validated. */
export function resolveIpgoConfig(rc: RunConfig, textDim: number): IpgoConfig {
  const base = rc.mode === 'batch' ? batchWiseConfig(textDim) : promptWiseConfig(textDim);
  const merged = deepMerge(base as unknown as Record<string, unknown>, rc.ipgo);
  if (isObj(rc.ipgo.tokens) && 'textDim' in rc.ipgo.tokens && rc.ipgo.tokens.textDim !== textDim) {
    throw new Error(`ipgo.tokens.textDim ${JSON.stringify(rc.ipgo.tokens.textDim)} differs from the model's text width ${textDim} (leave it out)`);
  }
  return checkIpgoConfig(merged, 'ipgo');
}
