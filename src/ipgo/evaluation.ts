/**
 * The paper's evaluation table: for each reward, mean ± std (sample std) of the raw prompts and of each tuned
 * variant (prompt-wise: the best and the final epoch; batch-wise or applied tokens: the tuned image), and the
 * win-rate = share of prompts whose tuned weighted reward beats the raw one. Pure functions of per-prompt
 * results, so a merge of shards recomputes them exactly.
 */
import { stats, winRate, type RewardStats } from './trainer';

export interface ScoredImage { rewards: Record<string, number>; weightedReward: number }

/** One evaluated prompt: its raw result and any tuned variants by name ("best", "final", "tuned"). */
export interface EvaluationRow { raw: ScoredImage; tuned: Record<string, ScoredImage> }

export interface EvaluationTable {
  /** Variants compared with raw, in column order. */
  variants: string[];
  /** reward id → column ("raw" or a variant) → mean ± std over the rows. */
  rewards: Record<string, Record<string, RewardStats>>;
  /** variant → share of rows whose tuned weighted reward beats the raw one. */
  winRate: Record<string, number>;
  rows: number;
}

export function evaluationTable(rows: EvaluationRow[], rewardIds: string[]): EvaluationTable {
  const variants = [...new Set(rows.flatMap((r) => Object.keys(r.tuned)))];
  const rewards: EvaluationTable['rewards'] = {};
  for (const id of rewardIds) {
    rewards[id] = { raw: stats(rows.map((r) => r.raw.rewards[id]!)) };
    for (const v of variants) rewards[id]![v] = stats(rows.filter((r) => r.tuned[v]).map((r) => r.tuned[v]!.rewards[id]!));
  }
  const win: Record<string, number> = {};
  for (const v of variants) win[v] = winRate(rows.filter((r) => r.tuned[v]).map((r) => ({ raw: r.raw.weightedReward, tuned: r.tuned[v]!.weightedReward })));
  return { variants, rewards, winRate: win, rows: rows.length };
}

/** The table as Markdown, "mean ± std" cells (as the paper prints it). */
export function formatEvaluationTable(t: EvaluationTable, digits = 4): string {
  const cols = ['raw', ...t.variants];
  const cell = (s: RewardStats | undefined) => (s && s.n ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : '—');
  const lines = [`| reward | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`];
  for (const [id, byCol] of Object.entries(t.rewards)) lines.push(`| ${id} | ${cols.map((c) => cell(byCol[c])).join(' | ')} |`);
  lines.push(`| win-rate | — | ${t.variants.map((v) => `${(100 * t.winRate[v]!).toFixed(1)}%`).join(' | ')} |`);
  return lines.join('\n') + `\n(${t.rows} prompts)`;
}
