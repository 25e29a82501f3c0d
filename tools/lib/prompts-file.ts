/**
 * Prompt lists for the headless runner: `.txt` (one prompt a line), `.jsonl` (a JSON string a line, or an
 * object with a `prompt` field — or the field named by `column`), `.csv` / `.tsv` (a header row; the column
 * named `prompt`, case-insensitive, or `column`; CSV quoting with "" escapes). Blank lines are skipped.
 * Errors name the file and line.
 */
import fs from 'node:fs';
import path from 'node:path';

export function parsePrompts(text: string, format: 'txt' | 'jsonl' | 'csv' | 'tsv', where: string, column?: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (format === 'txt') return lines.map((l) => l.trim()).filter((l) => l.length > 0);
  if (format === 'jsonl') {
    const out: string[] = [];
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new Error(`${where}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      const field = column ?? 'prompt';
      const p = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[field] : undefined;
      if (typeof p !== 'string' || !p.trim()) throw new Error(`${where}:${i + 1}: expected a JSON string or an object with a string "${field}" field`);
      out.push(p.trim());
    });
    return out;
  }
  const rows = splitDelimited(text.replace(/^\uFEFF/, ''), format === 'csv' ? ',' : '\t', where);
  if (rows.length === 0) throw new Error(`${where}: empty file`);
  const header = rows[0]!.map((h) => h.trim());
  const want = (column ?? 'prompt').toLowerCase();
  const col = header.findIndex((h) => h.toLowerCase() === want);
  if (col < 0) throw new Error(`${where}: no "${column ?? 'prompt'}" column in the header (${header.map((h) => JSON.stringify(h)).join(', ')})`);
  const out: string[] = [];
  rows.slice(1).forEach((r, i) => {
    if (r.length === 1 && r[0]!.trim() === '') return;
    const p = r[col]?.trim();
    if (!p) throw new Error(`${where}: row ${i + 2} has no value in column "${header[col]}"`);
    out.push(p);
  });
  return out;
}

/** RFC 4180-style splitting (quotes may hold delimiters and newlines; "" is a quote). */
function splitDelimited(text: string, delim: string, where: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false, i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"' && field === '') { quoted = true; i++; continue; }
    if (c === delim) { row.push(field); field = ''; i++; continue; }
    if (c === '\n' || c === '\r') {
      row.push(field); rows.push(row); row = []; field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += c; i++;
  }
  if (quoted) throw new Error(`${where}: unterminated quoted field`);
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

export function readPromptsFile(file: string, column?: string): string[] {
  if (!fs.existsSync(file)) throw new Error(`prompts file ${file} not found`);
  const ext = path.extname(file).toLowerCase().slice(1);
  const format = ext === 'jsonl' || ext === 'csv' || ext === 'tsv' ? ext : ext === 'txt' || ext === '' ? 'txt' : null;
  if (!format) throw new Error(`prompts file ${file}: unknown extension ".${ext}" (use .txt, .jsonl, .csv or .tsv)`);
  const prompts = parsePrompts(fs.readFileSync(file, 'utf8'), format, file, column);
  if (prompts.length === 0) throw new Error(`prompts file ${file} holds no prompts`);
  return prompts;
}

/** Shard `index` of `count`: the items whose position p has p mod count = index (balanced, stable across machines). */
export function shardIndices(total: number, index: number, count: number): number[] {
  if (!(Number.isInteger(count) && count > 0 && Number.isInteger(index) && index >= 0 && index < count)) {
    throw new Error(`bad shard ${index}/${count}: need 0 ≤ i < N`);
  }
  return Array.from({ length: total }, (_, p) => p).filter((p) => p % count === index);
}

/** Parses "i/N" (0-based i, as Kubernetes JOB_COMPLETION_INDEX and Slurm SLURM_ARRAY_TASK_ID give). */
export function parseShard(spec: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  if (!m) throw new Error(`--shard must look like i/N (0-based), got "${spec}"`);
  const index = Number(m[1]), count = Number(m[2]);
  shardIndices(0, index, count);
  return { index, count };
}
