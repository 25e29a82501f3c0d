import fs from 'node:fs';
import path from 'node:path';
import type { ModelFiles } from '../../src/model/load-pipeline';
import type { WeightSource } from '../../src/model/params';
import { decodeTensorBytes, parseHeader, readHeaderLength } from '../../src/weights/formats/safetensors';
import { type ByteSource, checkRange } from '../../src/weights/formats/byte-source';
import { openTorchCheckpoint, pickStateDict } from '../../src/weights/formats/torch-zip';
import { type RewardModelFiles, type RewardModelId, REWARD_MODELS, rewardModel } from '../../src/rewards/registry';

/** ModelFiles over a folder on disk (Node tools, tests, benchmarks). */
export function fsModelFiles(root: string): ModelFiles {
  const full = (p: string) => path.join(root, p);
  return {
    async text(p) {
      if (!fs.existsSync(full(p))) throw new Error(`${full(p)} not found`);
      return fs.readFileSync(full(p), 'utf8');
    },
    async has(p) {
      return fs.existsSync(full(p));
    },
    async weights(p) {
      return safetensorsFileSource(full(p));
    },
  };
}

/** Folders of the built-in reward towers under the models root (tools/make-tiny-model writes them), named as the tiny set's installs. */
export const BUILTIN_REWARD_DIRS = Object.fromEntries(REWARD_MODELS.map((m) => [m.id, m.installs.tiny])) as Record<RewardModelId, string>;

/**
 * One reward model's files in a folder, as the loaders take them: the first weight file of the model's needs
 * (its definition's needs: safetensors or a torch checkpoint) and its config file, if the folder holds one.
 */
export async function fsRewardModelFiles(m: RewardModelId, dir: string): Promise<RewardModelFiles> {
  const needs = rewardModel(m).needs;
  const present = (names: string[]) => names.find((f) => fs.existsSync(path.join(dir, f)));
  const weights = present(needs.weightFiles);
  if (!weights) throw new Error(`${dir}: no weights for the ${m} model (looked for ${needs.weightFiles.join(', ')})`);
  const config = needs.config ? present(needs.config.files) : undefined;
  return {
    source: await weightFileSource(path.join(dir, weights)),
    config: config ? JSON.parse(fs.readFileSync(path.join(dir, config), 'utf8')) as unknown : undefined,
  };
}

/** A `loadRewardModels` source over the built-in reward folders under a models root. */
export function fsRewardSource(root: string) {
  return (m: RewardModelId) => fsRewardModelFiles(m, path.join(root, BUILTIN_REWARD_DIRS[m]));
}

/** A weight file on disk by its format: safetensors, or a torch zip checkpoint (.pt / .pth / .bin). */
export async function weightFileSource(file: string): Promise<WeightSource> {
  return /\.safetensors$/.test(file) ? safetensorsFileSource(file) : torchFileSource(file);
}

/** `length` bytes of a file on disk from `offset` (one positioned read). */
function readFileAt(file: string, offset: number, length: number): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const out = new Uint8Array(length);
    fs.readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** A byte source over a file on disk (positioned reads). */
function fileByteSource(file: string): ByteSource {
  const size = fs.statSync(file).size;
  return {
    size: async () => size,
    read: async (offset, length) => {
      checkRange(offset, length, size);
      return readFileAt(file, offset, length);
    },
  };
}

/** A torch zip checkpoint's state dict read one tensor at a time (the loader the app's import uses). */
async function torchFileSource(file: string): Promise<WeightSource> {
  if (!fs.existsSync(file)) throw new Error(`${file} not found`);
  const ckpt = await openTorchCheckpoint(fileByteSource(file));
  const tensors = pickStateDict(ckpt.root);
  return {
    listing: [...tensors].map(([key, t]) => ({ key, shape: t.shape })),
    read: async (key) => {
      const t = tensors.get(key);
      if (!t) throw new Error(`${file}: no tensor "${key}"`);
      const { shape, data } = await ckpt.readTensor(t);
      return { shape, data: data instanceof Uint8Array ? Int32Array.from(data) : data };
    },
  };
}

/** A safetensors file on disk read one tensor at a time (its header once, then each tensor's byte range). */
export function safetensorsFileSource(file: string): WeightSource {
  if (!fs.existsSync(file)) throw new Error(`${file} not found`);
  const readAt = (offset: number, length: number): Uint8Array => readFileAt(file, offset, length);
  const headerLength = readHeaderLength(readAt(0, 8));
  const header = parseHeader(readAt(8, headerLength), fs.statSync(file).size);
  const entries = new Map(header.entries.map((e) => [e.name, e]));
  return {
    listing: header.entries.map((e) => ({ key: e.name, shape: e.shape })),
    read: async (key) => {
      const e = entries.get(key);
      if (!e) throw new Error(`${file}: no tensor "${key}"`);
      const data = decodeTensorBytes(e.dtype, readAt(header.dataStart + e.begin, e.end - e.begin));
      return { shape: e.shape, data: data instanceof Uint8Array ? Int32Array.from(data) : data };
    },
  };
}
