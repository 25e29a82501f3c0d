/**
 * Seeded mutation fuzzing of every reader: each mutated input must either parse or be rejected with one of the
 * readers' own errors carrying a message — never an engine error (TypeError, RangeError…), a hang or a crash.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../test/mulberry32';
import { memorySource } from './byte-source';
import { parseSafetensors, serializeSafetensorsRaw } from './safetensors';
import { createSafetensorsStreamParser } from './safetensors-stream';
import { loadTorchStateDict, unpickleCheckpoint } from './torch-zip';
import {
  contiguousTensor, OrderedDictValue, writeTorchCheckpoint, type PickleWritable, type TorchStorageData,
} from '../../../test/torch-zip-writer';

const OUR_ERRORS = new Set(['SafetensorsError', 'ZipError', 'UnpicklingError', 'TorchCheckpointError', 'ByteSourceError']);

type Mutation = 'flip' | 'byte' | 'truncate' | 'insert' | 'delete' | 'duplicate';
const MUTATIONS: Mutation[] = ['flip', 'byte', 'truncate', 'insert', 'delete', 'duplicate'];

/** One random mutation; `focus` biases positions toward the first bytes (headers, pickles) half of the time. */
function mutate(src: Uint8Array, rand: () => number, focus: number): { bytes: Uint8Array; kind: Mutation } {
  const kind = MUTATIONS[Math.floor(rand() * MUTATIONS.length)]!;
  const span = rand() < 0.5 ? Math.min(focus, src.length) : src.length;
  const at = Math.floor(rand() * span);
  const n = 1 + Math.floor(rand() * 16);
  const b = Array.from(src);
  switch (kind) {
    case 'flip': for (let i = 0; i < n; i++) { const j = Math.floor(rand() * span); b[j]! ^= 1 << Math.floor(rand() * 8); } break;
    case 'byte': b[at] = Math.floor(rand() * 256); break;
    case 'truncate': b.length = at; break;
    case 'insert': b.splice(at, 0, ...Array.from({ length: n }, () => Math.floor(rand() * 256))); break;
    case 'delete': b.splice(at, n); break;
    case 'duplicate': b.splice(at, 0, ...b.slice(at, at + n * 8)); break;
  }
  return { bytes: Uint8Array.from(b), kind };
}

async function outcome(run: () => unknown): Promise<'ok' | 'rejected'> {
  try {
    await run();
    return 'ok';
  } catch (e) {
    if (!(e instanceof Error) || !OUR_ERRORS.has(e.name) || !e.message) {
      throw new Error(`reader failed with a non-reader error: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
    }
    return 'rejected';
  }
}

async function fuzz(name: string, original: Uint8Array, focus: number, read: (b: Uint8Array) => unknown, seed: number, cases = 300) {
  const rand = mulberry32(seed);
  const counts = { ok: 0, rejected: 0, truncatedRejected: 0, truncated: 0 };
  const t0 = performance.now();
  expect(await outcome(() => read(original))).toBe('ok');
  for (let i = 0; i < cases; i++) {
    const { bytes, kind } = mutate(original, rand, focus);
    const r = await outcome(() => read(bytes));
    counts[r]++;
    if (kind === 'truncate') { counts.truncated++; if (r === 'rejected') counts.truncatedRejected++; }
  }
  const ms = performance.now() - t0;
  console.log(`${name}: ${cases} mutations, ${counts.rejected} rejected, ${counts.ok} parsed, ${ms.toFixed(0)} ms`);
  expect(counts.truncatedRejected).toBe(counts.truncated); // a shortened file is always an error
  expect(counts.rejected).toBeGreaterThan(cases / 3);
  expect(ms).toBeLessThan(30_000);
}

const f32 = (n: number, k: number): Uint8Array => new Uint8Array(Float32Array.from({ length: n }, (_, i) => Math.sin(i * k)).buffer);

describe('fuzzed inputs are rejected cleanly (seeded)', () => {
  it('safetensors: whole-file parse and chunked stream parse', async () => {
    const file = serializeSafetensorsRaw([
      { name: 'a.weight', dtype: 'F32', shape: [8, 4], bytes: f32(32, 1) },
      { name: 'a.bias', dtype: 'F16', shape: [8], bytes: new Uint8Array(16).fill(0x3c) },
      { name: 'b', dtype: 'BF16', shape: [2, 2], bytes: new Uint8Array(8).fill(0x3f) },
      { name: 'ids', dtype: 'I32', shape: [3], bytes: new Uint8Array(12) },
    ], { format: 'pt' });
    const headerLen = Number(new DataView(file.buffer).getBigUint64(0, true)) + 8;
    await fuzz('safetensors (parse)', file, headerLen, (b) => parseSafetensors(b), 11);
    await fuzz('safetensors (stream)', file, headerLen, async (b) => {
      const parser = createSafetensorsStreamParser(() => {});
      for (let p = 0; p < b.length; p += 37) await parser.push(b.subarray(p, p + 37));
      await parser.end();
    }, 12);
  });

  it('torch zip checkpoints', async () => {
    const storage: TorchStorageData = { dtype: 'F32', bytes: f32(24, 2) };
    const file = writeTorchCheckpoint(new Map<string, PickleWritable>([['state_dict', new OrderedDictValue(new Map([
      ['w', contiguousTensor('F32', [6, 4], f32(24, 3))],
      ['t', { storage, storageOffset: 0, shape: [4, 6], stride: [1, 4] }],
      ['row', { storage, storageOffset: 6, shape: [6], stride: [1] }],
      ['h', contiguousTensor('F16', [4], new Uint8Array(8).fill(0x3c))],
    ]), [['', 1]])], ['epoch', 7]]));
    await fuzz('torch zip', file, 512, (b) => loadTorchStateDict(memorySource(b)), 21);
  });

  it('checkpoint pickles (data.pkl) against the allow-listed unpickler', async () => {
    const file = writeTorchCheckpoint(new OrderedDictValue(new Map([
      ['w', contiguousTensor('F32', [6, 4], f32(24, 3))],
      ['ids', contiguousTensor('I64', [3], new Uint8Array(24))],
    ]), [['', 1], ['x', 1]]));
    const start = 64; // torch aligns data.pkl's bytes to 64
    const end = new TextDecoder('latin1').decode(file).indexOf('PK\x07\x08');
    const pkl = file.slice(start, end);
    expect(pkl[0]).toBe(0x80);
    await fuzz('pickle', pkl, pkl.length, (b) => unpickleCheckpoint(b), 31, 600);
  });
});
