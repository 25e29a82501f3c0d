/**
 * Loading everything IPGO needs in Node (src/ipgo/model-set.ts) from a Stable Diffusion folder (diffusers layout)
 * and the reward towers' folders. The built-in tiny
 * model is generated on demand (tools/make-tiny-model) into a cache folder, so a fresh clone runs it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModelSet, type LoadedModelSet } from '../../src/ipgo/model-set';
import { mixIds, type RewardMix, type RewardModelId } from '../../src/rewards/registry';
import { makeTinyModel, TINY_MODEL_VERSION } from '../make-tiny-model';
import { BUILTIN_REWARD_DIRS, fsModelFiles, fsRewardModelFiles } from './fs-model-files';
import { fetchBundle, isUrl } from './bundle-cache';

/** The config value that selects the built-in tiny model (SD and reward towers). */
export const BUILTIN_TINY = 'builtin:tiny';

/** A folder holding the built-in models (public/models when built, else generated once into the OS temp folder). */
export function builtinModelsRoot(): string {
  const fresh = (dir: string) => fs.existsSync(path.join(dir, 'VERSION')) && fs.readFileSync(path.join(dir, 'VERSION'), 'utf8').trim() === TINY_MODEL_VERSION;
  const built = path.resolve('public/models');
  if (fresh(built)) return built;
  const cache = path.join(os.tmpdir(), `ipgo-studio-tiny-model-v${TINY_MODEL_VERSION}`);
  if (!fresh(cache)) {
    const tmp = fs.mkdtempSync(cache + '-partial-');
    makeTinyModel(tmp);
    // Concurrent generators (parallel test files) race here: whoever renames first wins, the others drop theirs.
    if (fs.existsSync(cache) && !fresh(cache)) fs.rmSync(cache, { recursive: true, force: true });
    try {
      fs.renameSync(tmp, cache);
    } catch (e) {
      if (!fresh(cache)) throw e;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return cache;
}

/**
 * Where each reward tower's files are: a folder per model id holding what the model needs
 * (each model's `needs` in src/rewards/models/ — CLIP: config.json + model.safetensors; aesthetic: model.safetensors or the LAION
 * .pth; HPSv2: open_clip_model.safetensors or HPS_v2_compressed.pt, its open_clip config optional), or
 * BUILTIN_TINY, or a root folder with the built-in sub-folder names.
 */
export type RewardFolders = typeof BUILTIN_TINY | string | Partial<Record<RewardModelId, string>>;

function rewardDir(spec: RewardFolders, m: RewardModelId): string {
  if (typeof spec === 'string') {
    const root = spec === BUILTIN_TINY ? builtinModelsRoot() : spec;
    return path.join(root, BUILTIN_REWARD_DIRS[m]);
  }
  const dir = spec[m];
  if (!dir) throw new Error(`no folder or bundle URL given for the reward model "${m}" (rewardModels.${m})`);
  return dir;
}

/** A model folder, or the local copy of a bundle given by the URL of its manifest.json. */
const folderOf = async (spec: string, log: (m: string) => void): Promise<string> => (isUrl(spec) ? fetchBundle(spec, { log }) : spec);

/** The model set of a run: SD from a folder, bundle URL or BUILTIN_TINY, and the reward models `mix` needs. */
export async function loadIpgoModels(sdDir: string, rewards: RewardFolders, mix: RewardMix, log: (m: string) => void = () => {}): Promise<LoadedModelSet> {
  const dir = sdDir === BUILTIN_TINY ? path.join(builtinModelsRoot(), 'tiny-sd') : await folderOf(sdDir, log);
  if (!fs.existsSync(path.join(dir, 'unet'))) throw new Error(`${dir} is not a diffusers Stable Diffusion folder (no unet/)`);
  return loadModelSet({
    sd: async () => fsModelFiles(dir),
    rewardModel: async (m) => fsRewardModelFiles(m, await folderOf(rewardDir(rewards, m), log)),
  }, mixIds(mix));
}
