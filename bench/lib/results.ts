import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Writes bench/results/<name>.json as {"machine", "date", "metrics"} and prints the metrics as a table. */
export function writeBenchResults(name: string, metrics: Record<string, number | null>, notes: Record<string, string> = {}): string {
  const machine = `${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.arch()}, node ${process.version}`;
  const file = path.resolve('bench/results', `${name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ machine, date: new Date().toISOString(), metrics, notes }, null, 2) + '\n');
  const width = Math.max(...Object.keys(metrics).map((k) => k.length), 6);
  console.log(`\n${'metric'.padEnd(width)}  value`);
  for (const [k, v] of Object.entries(metrics)) console.log(`${k.padEnd(width)}  ${v === null ? `— (${notes[k] ?? 'not measured'})` : formatNumber(v)}`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)} (${machine})`);
  return file;
}

function formatNumber(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3);
}
