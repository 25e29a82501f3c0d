/**
 * tools/ipgo-run — headless IPGO (Node; the same engine as the app's worker) on tfjs-wasm, or with
 * `--backend webgpu` on WebGPU through Dawn (the `webgpu` npm package) on any Vulkan driver: a GPU's, or a software
 * one under tools/with-node-webgpu.sh. On WebGPU it follows the app's memory plan (pool returned between phases,
 * text towers off the GPU during updates).
 *
 *   npx tsx tools/ipgo-run.ts run <config.json> [--shard i/N] [--out DIR] [--backend wasm|webgpu]
 *   npx tsx tools/ipgo-run.ts merge --out DIR <shard-dir>...
 *   (npm run ipgo-run -- run config.json ...)
 *
 * `run` writes DIR/run.json (resolved config, per-prompt raw/best/final or raw/tuned results and records,
 * evaluation table and win-rate), PNGs under DIR/images, and ipgo-tokens files (prompt mode: tokens/NNNN.json
 * of each prompt's best epoch; batch: tokens.json). Progress goes to stderr. `--shard i/N` (0-based) keeps the
 * prompts whose position p has p mod N = i, so `--shard $JOB_COMPLETION_INDEX/N` (Kubernetes Indexed Job) or
 * `--shard $SLURM_ARRAY_TASK_ID/N` (Slurm array) splits a set across machines; `merge` joins the shard folders
 * (checking they are the N shards of one config), copies images and tokens, and recomputes the table.
 * Batch training optimizes one token set over all prompts and cannot be sharded: train once, then shard the
 * evaluation with mode "apply" and the trained tokens.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { IpgoConfig } from '../src/ipgo/config';
import { evaluatedRows, evaluationTable, formatEvaluationTable, type EvaluationRow, type EvaluationTable } from '../src/ipgo/evaluation';
import { splitHeldOut } from '../src/lib/held-out-split';
import type { LoadedModelSet } from '../src/ipgo/model-set';
import type { RgbaImage } from '../src/ipgo/rgba-image';
import { applyPrepared, batchPrepared, tunePrepared, withSession, type SessionSetup } from '../src/ipgo/session';
import { epochRecordToJson, parseTokensFile, type EpochRecordJson } from '../src/ipgo/tokens-json';
import type { Evaluated, IpgoTrainer } from '../src/ipgo/trainer';
import type { PromptContext } from '../src/ipgo/prompt-context';
import { mixIds } from '../src/rewards/registry';
import { PhaseMemory } from '../src/model/gpu-memory';
import { loadIpgoModels } from './lib/ipgo-models';
import { encodePng } from './lib/png';
import { parseShard, readPromptsFile, shardIndices } from './lib/prompts-file';
import { readRunConfig, resolveIpgoConfig, type RunConfig } from './lib/run-config';
import { initNodeBackend } from './lib/tf-node';

export const RUN_FORMAT = 'ipgo-run';

interface Scored { rewards: Record<string, number | null>; weightedReward: number | null; image?: string; epoch?: number }

export interface PromptResult {
  index: number;
  prompt: string;
  split: 'prompt' | 'train' | 'heldout';
  raw?: Scored;
  best?: Scored;
  final?: Scored;
  tuned?: Scored;
  records?: EpochRecordJson[];
  tokens?: string;
  error?: string;
}

export interface RunFile {
  format: typeof RUN_FORMAT;
  version: 1;
  mode: RunConfig['mode'];
  shard: { index: number; count: number } | null;
  runConfig: Omit<RunConfig, 'outDir'>;
  ipgo: IpgoConfig;
  modelId: string;
  totalPrompts: number;
  prompts: PromptResult[];
  history?: EpochRecordJson[];
  tokens?: string;
  evaluation: EvaluationTable;
  evaluationMarkdown: string;
  createdAt: string;
}

const log = (msg: string): void => {
  process.stderr.write(`[ipgo-run] ${msg}\n`);
};
const pad = (i: number) => String(i).padStart(4, '0');
const orNull = (v: number) => (Number.isFinite(v) ? v : null);

function scored(e: Evaluated | { rewards: Record<string, number>; weightedReward: number }, image?: string, epoch?: number): Scored {
  const s: Scored = { rewards: Object.fromEntries(Object.entries(e.rewards).map(([k, v]) => [k, orNull(v)])), weightedReward: orNull(e.weightedReward) };
  if (image) s.image = image;
  if (epoch !== undefined) s.epoch = epoch;
  return s;
}

/** Evaluation rows from results (prompt mode: best and final; others: tuned; batch: held-out rows when present). */
export function evaluationOf(run: Pick<RunFile, 'mode' | 'prompts'>, rewardIds: string[]): EvaluationTable {
  const ok = run.prompts.filter((p) => p.raw && !p.error);
  const pool = run.mode === 'batch' ? evaluatedRows(ok) : ok;
  const num = (s: Scored) => ({ rewards: Object.fromEntries(Object.entries(s.rewards).map(([k, v]) => [k, v ?? NaN])), weightedReward: s.weightedReward ?? NaN });
  const rows: EvaluationRow[] = pool.map((p) => {
    const tuned: EvaluationRow['tuned'] = {};
    for (const v of ['best', 'final', 'tuned'] as const) if (p[v]) tuned[v] = num(p[v]!);
    return { raw: num(p.raw!), tuned };
  });
  return evaluationTable(rows, rewardIds);
}

function writeImage(outDir: string, cfg: RunConfig, name: string, img: RgbaImage): string | undefined {
  if (!cfg.images) return undefined;
  const rel = `images/${name}.png`;
  fs.mkdirSync(path.join(outDir, 'images'), { recursive: true });
  fs.writeFileSync(path.join(outDir, rel), encodePng(img));
  return rel;
}

export const RUNNER_BACKENDS = ['wasm', 'webgpu'] as const;

const fmt = (x: number) => x.toFixed(4);
const setupOf = (set: LoadedModelSet, cfg: RunConfig, config: IpgoConfig): SessionSetup => ({ set, config, sampling: cfg.sampling, mix: cfg.rewards, modelId: cfg.modelId });

/**
 * Runs `work` on each of the shard's prompts in one session (every prompt prepared first); a prompt that cannot be
 * prepared is recorded with its error and skipped.
 */
async function eachPrompt(setup: SessionSetup, runFile: RunFile, all: string[], indices: number[], offloadTextTowers: boolean,
  work: (trainer: IpgoTrainer, ctx: PromptContext, r: PromptResult, tag: string) => Promise<void>): Promise<void> {
  await withSession(setup, indices.map((i) => all[i]!), { log, offloadTextTowers, skipInvalidPrompts: true }, async (trainer, prepared) => {
    for (const [k, p] of prepared.entries()) {
      const r: PromptResult = { index: indices[k]!, prompt: p.prompt, split: 'prompt' };
      runFile.prompts.push(r);
      const tag = `prompt ${k + 1}/${prepared.length} (#${r.index})`;
      if (p.ctx) await work(trainer, p.ctx, r, tag);
      else {
        r.error = p.error;
        log(`${tag}: skipped: ${r.error}`);
      }
    }
  });
}

/** Each prompt with the trained tokens of a tokens.json (nothing trained); the text towers stay on the device. */
async function applyMode(set: LoadedModelSet, cfg: RunConfig, runFile: RunFile, all: string[], indices: number[], outDir: string): Promise<void> {
  const imported = parseTokensFile(fs.readFileSync(cfg.tokens!, 'utf8'), { textDim: set.info.textDim, modelId: cfg.modelId, textEncoder: set.fingerprint });
  imported.warnings.forEach((w) => log(`warning: ${w}`));
  runFile.ipgo = { ...runFile.ipgo, tokens: imported.shape };
  await eachPrompt(setupOf(set, cfg, runFile.ipgo), runFile, all, indices, false, async (trainer, ctx, r, tag) => {
    const { raw, tuned } = await applyPrepared(trainer, imported, ctx);
    r.raw = scored(raw, writeImage(outDir, cfg, `${pad(r.index)}-raw`, raw.image));
    r.tuned = scored(tuned, writeImage(outDir, cfg, `${pad(r.index)}-tuned`, tuned.image));
    log(`${tag}: raw ${fmt(raw.weightedReward)} → tuned ${fmt(tuned.weightedReward)}`);
  });
}

/** Prompt-wise IPGO on each prompt; every prompt is prepared first, so the text towers leave the GPU once. */
async function promptMode(set: LoadedModelSet, cfg: RunConfig, runFile: RunFile, all: string[], indices: number[], outDir: string): Promise<void> {
  const setup = setupOf(set, cfg, runFile.ipgo);
  await eachPrompt(setup, runFile, all, indices, true, async (trainer, ctx, r, tag) => {
    const out = await tunePrepared(setup, trainer, ctx, {
      memory: new PhaseMemory(),
      onRaw: (_prompt, raw) => {
        r.raw = scored(raw, writeImage(outDir, cfg, `${pad(r.index)}-raw`, raw.image));
      },
      onEpochDone: (rec) => log(`${tag} epoch ${rec.epoch + 1}/${setup.config.epochs}: reward ${fmt(rec.weightedReward)}, loss ${fmt(rec.loss)}, `
        + `${(rec.ms / 1000).toFixed(1)} s${rec.applied ? '' : ` [${rec.skippedReason ?? 'skipped'}]`}`),
    });
    r.records = out.records.map(epochRecordToJson);
    if (out.best) r.best = scored(out.best, writeImage(outDir, cfg, `${pad(r.index)}-best`, out.best.image), out.best.epoch);
    if (out.final) r.final = scored(out.final, writeImage(outDir, cfg, `${pad(r.index)}-final`, out.final.image), out.final.epoch);
    if (out.tokens) {
      r.tokens = `tokens/${pad(r.index)}.json`;
      fs.mkdirSync(path.join(outDir, 'tokens'), { recursive: true });
      fs.writeFileSync(path.join(outDir, r.tokens), JSON.stringify(out.tokens));
    }
  });
}

/** One token set over the training prompts, then every prompt evaluated with it (held-out split: evaluation.ts). */
async function batchMode(set: LoadedModelSet, cfg: RunConfig, runFile: RunFile, all: string[], outDir: string): Promise<void> {
  const setup = setupOf(set, cfg, runFile.ipgo);
  const { train } = splitHeldOut(all.length, cfg.heldOut);
  const out = await withSession(setup, all, { log, offloadTextTowers: true }, (trainer, prepared) => batchPrepared(setup, trainer, prepared.map((p) => p.ctx!), train, {
    memory: new PhaseMemory(),
    onRow: (i, row) => log(`${row.tuned ? 'tuned' : 'raw'} ${i + 1}/${all.length} (${row.split}): ${fmt((row.tuned ?? row.raw)!.weightedReward)}`),
    onRecord: (rec) => log(`epoch ${rec.epoch + 1}/${setup.config.epochs} "${rec.prompt}": reward ${fmt(rec.weightedReward)}, loss ${fmt(rec.loss)}${rec.applied ? ' (update)' : ''}`),
  }));
  for (const [i, row] of out.rows.entries()) {
    runFile.prompts.push({
      index: i, prompt: row.prompt, split: row.split,
      raw: scored(row.raw!, writeImage(outDir, cfg, `${pad(i)}-raw`, row.raw!.image)),
      tuned: scored(row.tuned!, writeImage(outDir, cfg, `${pad(i)}-tuned`, row.tuned!.image)),
    });
  }
  runFile.history = out.history.map(epochRecordToJson);
  runFile.tokens = 'tokens.json';
  fs.writeFileSync(path.join(outDir, runFile.tokens), JSON.stringify(out.tokens));
}

export async function runCommand(configFile: string, opts: { shard?: string; out?: string; backend?: string } = {}): Promise<RunFile> {
  const backend = opts.backend ?? process.env.TF_BACKEND ?? 'wasm';
  if (!(RUNNER_BACKENDS as readonly string[]).includes(backend)) throw new Error(`--backend must be one of ${RUNNER_BACKENDS.join(', ')}, got "${backend}"`);
  const cfg = readRunConfig(configFile);
  const shard = opts.shard ? parseShard(opts.shard) : null;
  if (shard && cfg.mode === 'batch') {
    throw new Error('batch mode trains one token set over all prompts and cannot be sharded; train without --shard, then evaluate with mode "apply" and --shard');
  }
  const outDir = path.resolve(opts.out ?? cfg.outDir);
  let all = readPromptsFile(cfg.prompts, cfg.promptColumn);
  if (cfg.limit) all = all.slice(0, cfg.limit);
  const indices = shard ? shardIndices(all.length, shard.index, shard.count) : all.map((_, i) => i);
  log(`backend ${await initNodeBackend(backend)}`);
  log(`${cfg.mode} mode, ${indices.length} of ${all.length} prompts${shard ? ` (shard ${shard.index}/${shard.count})` : ''}; loading ${cfg.model}`);
  const set = await loadIpgoModels(cfg.model, cfg.rewardModels, cfg.rewards, log);
  const ids = mixIds(cfg.rewards);
  let runFile: RunFile;
  try {
    runFile = {
    format: RUN_FORMAT, version: 1, mode: cfg.mode, shard, runConfig: (({ outDir: _o, ...rest }) => rest)(cfg), ipgo: resolveIpgoConfig(cfg, set.info.textDim),
    modelId: cfg.modelId, totalPrompts: all.length, prompts: [], evaluation: evaluationTable([], ids), evaluationMarkdown: '', createdAt: new Date().toISOString(),
  };
    fs.mkdirSync(outDir, { recursive: true });
    if (cfg.mode === 'apply') await applyMode(set, cfg, runFile, all, indices, outDir);
    else if (cfg.mode === 'prompt') await promptMode(set, cfg, runFile, all, indices, outDir);
    else await batchMode(set, cfg, runFile, all, outDir);
  } finally {
    set.dispose();
  }
  runFile.evaluation = evaluationOf(runFile, ids);
  runFile.evaluationMarkdown = formatEvaluationTable(runFile.evaluation);
  fs.writeFileSync(path.join(outDir, 'run.json'), JSON.stringify(runFile, null, 1) + '\n');
  log(`wrote ${path.join(outDir, 'run.json')}\n${runFile.evaluationMarkdown}`);
  return runFile;
}

/** Joins the N shard folders of one run into `out` (images and token files copied) and recomputes the evaluation. */
export function mergeCommand(dirs: string[], out: string): RunFile {
  if (dirs.length === 0) throw new Error('merge: give the shard output folders');
  const runs = dirs.map((d) => {
    const f = path.join(d, 'run.json');
    if (!fs.existsSync(f)) throw new Error(`merge: ${f} not found`);
    const r = JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;
    if (r.format !== RUN_FORMAT || r.version !== 1) throw new Error(`merge: ${f} is not an ipgo-run v1 file`);
    if (!r.shard) throw new Error(`merge: ${f} is not a shard (run without --shard)`);
    return { dir: d, run: r };
  });
  const first = runs[0]!.run;
  const count = first.shard!.count;
  const same = (a: RunFile, b: RunFile) => JSON.stringify([a.runConfig, a.ipgo, a.mode, a.totalPrompts]) === JSON.stringify([b.runConfig, b.ipgo, b.mode, b.totalPrompts]);
  for (const { dir, run } of runs) {
    if (run.shard!.count !== count) throw new Error(`merge: ${dir} is shard ${run.shard!.index}/${run.shard!.count}, the others are of ${count}`);
    if (!same(run, first)) throw new Error(`merge: ${dir} was run with another config than ${runs[0]!.dir}`);
  }
  const seen = runs.map((r) => r.run.shard!.index);
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.includes(i));
  const dup = seen.filter((i, k) => seen.indexOf(i) !== k);
  if (missing.length || dup.length) throw new Error(`merge: ${missing.length ? `missing shard(s) ${missing.join(', ')} of ${count}` : ''}${dup.length ? ` duplicate shard(s) ${dup.join(', ')}` : ''}`.trim());
  fs.mkdirSync(out, { recursive: true });
  const prompts: PromptResult[] = [];
  for (const { dir, run } of runs) {
    for (const p of run.prompts) {
      for (const rel of [p.raw?.image, p.best?.image, p.final?.image, p.tuned?.image, p.tokens]) {
        if (!rel) continue;
        fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
        fs.copyFileSync(path.join(dir, rel), path.join(out, rel));
      }
      prompts.push(p);
    }
  }
  prompts.sort((a, b) => a.index - b.index);
  const merged: RunFile = { ...first, shard: null, prompts, createdAt: new Date().toISOString(), evaluation: evaluationTable([], []), evaluationMarkdown: '' };
  merged.evaluation = evaluationOf(merged, mixIds(first.runConfig.rewards));
  merged.evaluationMarkdown = formatEvaluationTable(merged.evaluation);
  fs.writeFileSync(path.join(out, 'run.json'), JSON.stringify(merged, null, 1) + '\n');
  log(`merged ${runs.length} shards (${prompts.length} prompts) into ${out}\n${merged.evaluationMarkdown}`);
  return merged;
}

const USAGE = `usage:
  ipgo-run run <config.json> [--shard i/N] [--out DIR] [--backend wasm|webgpu]
  ipgo-run merge --out DIR <shard-dir>...`;

async function main(argv: string[]): Promise<void> {
  if (argv.length === 0 || argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (!v || v.startsWith('--')) throw new Error(`${name} needs a value\n${USAGE}`);
    argv.splice(i, 2);
    return v;
  };
  const out = flag('--out');
  const shard = flag('--shard');
  const backend = flag('--backend');
  const [cmd, ...rest] = argv;
  if (cmd === 'run' && rest.length === 1) await runCommand(rest[0]!, { shard, out, backend });
  else if (cmd === 'merge' && rest.length >= 1 && out) mergeCommand(rest, out);
  else throw new Error(USAGE);
}

if (process.argv[1]?.endsWith('ipgo-run.ts')) {
  // The command line uses every core for tfjs-wasm unless told otherwise (tools/lib/tf-node.ts nodeWasmThreads);
  // runCommand called in-process (tests) keeps the caller's setting.
  process.env.IPGO_WASM_THREADS ??= 'all';
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`ipgo-run: ${e.message}\n`);
    process.exit(1);
  });
}
