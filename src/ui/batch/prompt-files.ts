/**
 * Prompt lists from files: .txt (one per line), .jsonl (objects with a "prompt" field, or JSON strings),
 * .csv/.tsv (a header row with a "prompt" column; quoted fields as RFC 4180). Errors name the line.
 */
export function parsePromptFile(name: string, text: string): string[] {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  const prompts = ext === 'jsonl' ? fromJsonl(text) : ext === 'csv' || ext === 'tsv' ? fromDelimited(text, ext === 'tsv' ? '\t' : ',') : fromLines(text);
  if (prompts.length === 0) throw new Error(`${name}: no prompts found`);
  return prompts;
}

const fromLines = (text: string) => text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

function fromJsonl(text: string): string[] {
  return text.split(/\r?\n/).flatMap((line, i) => {
    if (!line.trim()) return [];
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(`line ${i + 1}: not JSON (${(e as Error).message})`);
    }
    const p = typeof v === 'string' ? v : (v as { prompt?: unknown })?.prompt;
    if (typeof p !== 'string' || !p.trim()) throw new Error(`line ${i + 1}: expected a string or an object with a "prompt" string`);
    return [p.trim()];
  });
}

/** Splits delimited text into rows of fields, honouring double-quoted fields with escaped quotes and newlines. */
export function parseDelimited(text: string, sep: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === sep) { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows.filter((r) => r.some((f) => f.trim()));
}

function fromDelimited(text: string, sep: string): string[] {
  const [header, ...rows] = parseDelimited(text, sep);
  const col = (header ?? []).findIndex((h) => h.trim().toLowerCase() === 'prompt');
  if (col < 0) throw new Error(`no "prompt" column in the header (${(header ?? []).join(', ')})`);
  return rows.map((r) => (r[col] ?? '').trim()).filter(Boolean);
}
