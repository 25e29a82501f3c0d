/**
 * tools/ipgo-run end to end on the tiny model (2 prompts, 2 epochs, 4 steps, 32×32): prompt mode writes run.json,
 * PNGs and token files; two shards merged equal the unsharded run; batch mode with a held-out prompt, then its
 * tokens applied with mode "apply"; clear errors for bad config and prompt files (also through the CLI).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeCommand, runCommand, type RunFile } from '../tools/ipgo-run';
import { makeTinyModel } from '../tools/make-tiny-model';
import { decodePng } from '../tools/lib/png';
import { parsePrompts } from '../tools/lib/prompts-file';
import { readRunConfig } from '../tools/lib/run-config';

let root: string;
const config = (o: Record<string, unknown> = {}) => ({
  mode: 'prompt', model: 'models/tiny-sd', rewardModels: 'models', rewards: { aesthetic: 1, clip: 0.5 },
  ipgo: { epochs: 2, inferenceSteps: 4, gradLastK: 2, tokens: { numTokens: 2, rank: 4 }, adam: { lr: 0.01 } },
  sampling: { scheduler: 'lms', height: 32, width: 32, noiseSeed: 1 }, prompts: 'prompts.txt', outDir: 'out', ...o,
});
const writeConfig = (name: string, o: Record<string, unknown> = {}) => {
  const f = path.join(root, name);
  fs.writeFileSync(f, JSON.stringify(config(o)));
  return f;
};
/** Everything but timings and dates (which differ between runs). */
const stable = (r: RunFile) => JSON.parse(JSON.stringify({ prompts: r.prompts, evaluation: r.evaluation }, (k, v) => (k === 'ms' ? undefined : v)));

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ipgo-runner-'));
  makeTinyModel(path.join(root, 'models'));
  fs.writeFileSync(path.join(root, 'prompts.txt'), 'a red fox in the snow\n\na bowl of ramen\n');
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('ipgo-run (tiny model)', () => {
  let whole: RunFile;

  it('prompt mode: run.json with raw/best/final per prompt, evaluation, PNGs and token files', async () => {
    whole = await runCommand(writeConfig('prompt.json'));
    const out = path.join(root, 'out');
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')) as RunFile;
    expect(saved.prompts.map((p) => p.prompt)).toEqual(['a red fox in the snow', 'a bowl of ramen']);
    expect(saved.ipgo.tokens).toEqual({ numTokens: 2, rank: 4, textDim: 32, bound: 1, rotation: 'intended' });
    for (const p of saved.prompts) {
      expect(p.records).toHaveLength(2);
      expect(p.best!.weightedReward).toBe(Math.max(...p.records!.map((r) => r.weightedReward!)));
      expect(p.final!.epoch).toBe(1);
      for (const img of [p.raw!.image, p.best!.image, p.final!.image]) {
        const png = decodePng(fs.readFileSync(path.join(out, img!)), inflateSync);
        expect([png.width, png.height, png.data.length]).toEqual([32, 32, 32 * 32 * 4]);
      }
      expect(JSON.parse(fs.readFileSync(path.join(out, p.tokens!), 'utf8')).format).toBe('ipgo-tokens');
    }
    expect(saved.evaluation.variants).toEqual(['best', 'final']);
    expect(saved.evaluation.rewards.aesthetic!.raw!.n).toBe(2);
    // win-rates are the shares of prompts whose best (or final) beats raw, weighted and per reward
    const share = (pick: (p: RunFile['prompts'][number]) => boolean) => saved.prompts.filter(pick).length / saved.prompts.length;
    expect(saved.evaluation.winRate.best).toBe(share((p) => p.best!.weightedReward! > p.raw!.weightedReward!));
    expect(saved.evaluation.winRate.final).toBe(share((p) => p.final!.weightedReward! > p.raw!.weightedReward!));
    expect(saved.evaluation.winRateByReward.best!.aesthetic).toBe(share((p) => p.best!.rewards.aesthetic! > p.raw!.rewards.aesthetic!));
    expect(saved.evaluation.rewards.aesthetic!.raw!.mean).toBeCloseTo((saved.prompts[0]!.raw!.rewards.aesthetic! + saved.prompts[1]!.raw!.rewards.aesthetic!) / 2, 12);
    expect(saved.evaluationMarkdown).toMatch(/\| aesthetic \| -?\d\.\d{4} ± \d\.\d{4} \|/);
  }, 120_000);

  it('--shard 0/2 and 1/2, merged, equal the unsharded run', async () => {
    const cfg = writeConfig('shard.json');
    const s0 = await runCommand(cfg, { shard: '0/2', out: path.join(root, 's0') });
    const s1 = await runCommand(cfg, { shard: '1/2', out: path.join(root, 's1') });
    expect(s0.prompts.map((p) => p.index)).toEqual([0]);
    expect(s1.prompts.map((p) => p.index)).toEqual([1]);
    expect(() => mergeCommand([path.join(root, 's1')], path.join(root, 'm'))).toThrow(/missing shard\(s\) 0 of 2/);
    const merged = mergeCommand([path.join(root, 's1'), path.join(root, 's0')], path.join(root, 'm'));
    expect(stable(merged)).toEqual(stable(whole));
    expect(fs.existsSync(path.join(root, 'm', merged.prompts[0]!.best!.image!))).toBe(true);
    expect(() => mergeCommand([path.join(root, 'out')], path.join(root, 'm2'))).toThrow(/is not a shard/);
  }, 120_000);

  it('batch mode with a held-out prompt, then "apply" of its tokens (sharded) reproduces the tuned results', async () => {
    const batch = await runCommand(writeConfig('batch.json', { mode: 'batch', heldOut: 1, outDir: 'batch', ipgo: { ...config().ipgo, gradAccumulation: 1 } }));
    expect(batch.prompts.map((p) => p.split)).toEqual(['train', 'heldout']);
    expect(batch.history).toHaveLength(2);
    expect(batch.evaluation.rows).toBe(1);
    expect(batch.evaluation.variants).toEqual(['tuned']);
    const held = batch.prompts[1]!;
    expect(batch.evaluation.rewards.aesthetic!.raw!.mean).toBe(held.raw!.rewards.aesthetic);
    expect(batch.evaluation.winRate.tuned).toBe(held.tuned!.weightedReward! > held.raw!.weightedReward! ? 1 : 0);
    const apply = await runCommand(writeConfig('apply.json', { mode: 'apply', tokens: 'batch/tokens.json', outDir: 'apply' }), { shard: '1/2' });
    expect(apply.prompts[0]!.tuned).toEqual({ ...batch.prompts[1]!.tuned!, image: 'images/0001-tuned.png' });
    await expect(runCommand(writeConfig('b2.json', { mode: 'batch' }), { shard: '0/2' })).rejects.toThrow(/cannot be sharded/);
  }, 120_000);

  it('rejects bad config and prompt files with messages naming the problem', async () => {
    const bad = (o: Record<string, unknown>) => () => readRunConfig(writeConfig('bad.json', o));
    expect(bad({ mode: 'train' })).toThrow(/mode must be "prompt", "batch" or "apply", got "train"/);
    expect(bad({ rewards: { beauty: 1 } })).toThrow(/rewards.beauty: unknown reward/);
    expect(bad({ sampling: { scheduler: 'pndm' } })).toThrow(/sampling.scheduler must be one of lms, euler, ddim/);
    expect(bad({ heldOut: 0.2 })).toThrow(/heldOut applies to mode "batch" only/);
    expect(bad({ colour: 1 })).toThrow(/unknown field "colour"/);
    await expect(runCommand(writeConfig('bad.json', { ipgo: { ...config().ipgo, gradLastK: 9 } }))).rejects.toThrow(/ipgo.gradLastK \(9\) exceeds ipgo.inferenceSteps \(4\)/);
    await expect(runCommand(writeConfig('bad.json', { prompts: 'missing.txt' }))).rejects.toThrow(/prompts file .*missing.txt not found/);
    expect(() => parsePrompts('id,text\n1,a cat\n', 'csv', 'p.csv')).toThrow(/p.csv: no "prompt" column in the header \("id", "text"\)/);
    expect(() => parsePrompts('"a cat"\n{bad\n', 'jsonl', 'p.jsonl')).toThrow(/p.jsonl:2: not valid JSON/);
    expect(parsePrompts('Prompt\tCategory\n"a ""quoted"" cat"\tAnimals\n', 'tsv', 'p.tsv')).toEqual(['a "quoted" cat']);
    expect(parsePrompts('{"prompt": "a dog"}\n"a cat"\n', 'jsonl', 'p.jsonl')).toEqual(['a dog', 'a cat']);
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'tools/ipgo-run.ts', 'run', writeConfig('bad.json', { rewards: {} })], { encoding: 'utf8' });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/ipgo-run: .*bad.json: rewards must be an object like \{"aesthetic": 1\}/);
  }, 60_000);
});
