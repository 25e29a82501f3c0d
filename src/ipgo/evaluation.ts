/**
 * The paper's evaluation table: for each reward, mean ± std (sample std) of the raw prompts and of each tuned
 * variant (prompt-wise: the best and the final epoch; batch-wise or applied tokens: the tuned image), and win-rates =
 * the share of prompts whose tuned reward beats the raw one, for the weighted mix and for each reward alone. Pure
 * functions of per-prompt results, so the app, the runner and a merge of shards compute the same table.
 */

export interface ScoredImage { rewards: Record<string, number>; weightedReward: number }

/** One evaluated prompt: its raw result and any tuned variants by name ("best", "final", "tuned"). */
export interface EvaluationRow { raw: ScoredImage; tuned: Record<string, ScoredImage> }

export interface RewardStats { mean: number; std: number; n: number }

export interface EvaluationTable {
  /** Variants compared with raw, in column order. */
  variants: string[];
  /** reward id → column ("raw" or a variant) → mean ± std over the rows. */
  rewards: Record<string, Record<string, RewardStats>>;
  /** variant → share of rows whose tuned weighted reward beats the raw one. */
  winRate: Record<string, number>;
  /** variant → reward id → share of rows whose tuned value of that reward beats the raw one. */
  winRateByReward: Record<string, Record<string, number>>;
  rows: number;
}

/** mean ± sample std (n − 1), as the paper's tables. */
export function stats(xs: number[]): RewardStats {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** Share of pairs whose tuned value beats the raw one (NaN for none). */
export function winRate(pairs: { raw: number; tuned: number }[]): number {
  return pairs.length ? pairs.filter((p) => p.tuned > p.raw).length / pairs.length : NaN;
}

export function evaluationTable(rows: EvaluationRow[], rewardIds: string[]): EvaluationTable {
  const variants = [...new Set(rows.flatMap((r) => Object.keys(r.tuned)))];
  const having = (v: string) => rows.filter((r) => r.tuned[v]);
  const rewards: EvaluationTable['rewards'] = {};
  for (const id of rewardIds) {
    rewards[id] = { raw: stats(rows.map((r) => r.raw.rewards[id]!)) };
    for (const v of variants) rewards[id]![v] = stats(having(v).map((r) => r.tuned[v]!.rewards[id]!));
  }
  const win: Record<string, number> = {};
  const byReward: Record<string, Record<string, number>> = {};
  for (const v of variants) {
    win[v] = winRate(having(v).map((r) => ({ raw: r.raw.weightedReward, tuned: r.tuned[v]!.weightedReward })));
    byReward[v] = Object.fromEntries(rewardIds.map((id) => [id, winRate(having(v).map((r) => ({ raw: r.raw.rewards[id]!, tuned: r.tuned[v]!.rewards[id]! })))]));
  }
  return { variants, rewards, winRate: win, winRateByReward: byReward, rows: rows.length };
}

/** Which rows a batch-wise table is computed on: the held-out ones when there are any, else all. */
export function evaluatedRows<T extends { split: string }>(rows: T[]): T[] {
  return rows.some((r) => r.split === 'heldout') ? rows.filter((r) => r.split === 'heldout') : rows;
}

/** The table as Markdown, "mean ± std" cells (as the paper prints it). */
export function formatEvaluationTable(t: EvaluationTable, digits = 4): string {
  const cols = ['raw', ...t.variants];
  const cell = (s: RewardStats | undefined) => (s && s.n ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : '—');
  const pct = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '—');
  const lines = [`| reward | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`];
  for (const [id, byCol] of Object.entries(t.rewards)) lines.push(`| ${id} | ${cols.map((c) => cell(byCol[c])).join(' | ')} |`);
  for (const id of Object.keys(t.rewards)) lines.push(`| win-rate ${id} | — | ${t.variants.map((v) => pct(t.winRateByReward[v]?.[id])).join(' | ')} |`);
  lines.push(`| win-rate (weighted) | — | ${t.variants.map((v) => pct(t.winRate[v])).join(' | ')} |`);
  return lines.join('\n') + `\n(${t.rows} prompts)`;
}
