/**
 * FileIngest's pipeline (ingest.ts + unit-codec.ts): units are hashed in file order, encoded concurrently, and
 * committed one at a time in file order, units already encoded sharing a transaction. Checked with codecs that finish out of order, hang, fail, or run in a
 * worker (an in-process stand-in for Worker with real structured cloning and transfer): what lands in storage is
 * byte for byte what the inline codec stores, a resume starts at the last durable commit, a failed unit stops
 * everything after it, and at most the in-flight budget is held.
 */
import 'fake-indexeddb/auto';
import crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { blockDigestsOf } from '../src/weights/ingest/block-verifier';
import { IntegrityError } from '../src/weights/install/download';
import { FileIngest } from '../src/weights/ingest/ingest';
import type { ManifestFile } from '../src/weights/catalog/manifest';
import { parseHeader, readHeaderLength, serializeSafetensors } from '../src/weights/formats/safetensors';
import { contiguousTensor, OrderedDictValue, writeTorchCheckpoint, type PickleWritable } from './torch-zip-writer';
import type { StoredTensor } from '../src/weights/store/storage';
import { WeightsStorage } from '../src/weights/store/storage';
import { answerEncode, encodeUnit, inlineCodec, WorkerCodecPool, type EncodeRequest, type UnitCodec } from '../src/weights/ingest/unit-codec';
import { answerSha256, sha256Digest, sha256Start, WorkerSha256, type Sha256Request } from '../src/weights/ingest/sha256-stage';
import type { SourceTensor } from '../src/weights/ingest/file-units';

/** Seven [64, 48] float tensors plus a small one: eight tensor units after the header unit. */
function synthetic(): { bytes: Uint8Array; file: ManifestFile } {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (let t = 0; t < 7; t++) {
    const data = new Float32Array(64 * 48).map((_, i) => Math.sin(i * 0.37 + t) * (t + 1));
    tensors.set(`layer.${t}.weight`, { shape: [64, 48], data });
  }
  tensors.set('norm.weight', { shape: [48], data: new Float32Array(48).fill(1.5) });
  const bytes = serializeSafetensors(tensors);
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  return { bytes, file: { path: 'model.safetensors', format: 'safetensors', role: 'model', size: bytes.byteLength, sha256, precision: 'int8' } };
}

/** Offsets where the file's commit units end: the header, then each tensor (the only places a commit may end). */
function unitEnds(bytes: Uint8Array): number[] {
  const header = parseHeader(bytes.subarray(8, 8 + readHeaderLength(bytes)), bytes.byteLength);
  return [header.dataStart, ...header.entries.map((e) => header.dataStart + e.end).sort((a, b) => a - b)];
}

let dbCount = 0;
const freshStorage = (): WeightsStorage => WeightsStorage.open(`ingest-pipeline-${++dbCount}`);

/** Feeds `bytes` from `from` in 1000-byte pieces (units straddle pieces). */
async function feed(ingest: FileIngest, bytes: Uint8Array, from = 0): Promise<void> {
  for (let at = from; at < bytes.byteLength; at += 1000) await ingest.write(bytes.slice(at, Math.min(at + 1000, bytes.byteLength)));
}

/** Every stored tensor of the file: record and bytes. */
async function dump(storage: WeightsStorage, modelId: string, path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const t of await storage.readTensorRecords(modelId, path)) {
    const { record, bytes } = await storage.readTensorBytes(modelId, path, t.name);
    out.push({ record, bytes: Buffer.from(bytes).toString('hex') });
  }
  return out;
}

async function installWith(codec: UnitCodec, opts: { maxInFlightBytes?: number } = {}): Promise<{ storage: WeightsStorage; commits: number[] }> {
  const { bytes, file } = synthetic();
  const storage = freshStorage();
  const commits: number[] = [];
  const ingest = await FileIngest.open(storage, 'm', file, { source: 'test', codec, onCommit: (c) => commits.push(c), ...opts });
  await ingest.begin(bytes.byteLength, undefined);
  await feed(ingest, bytes);
  const rec = await ingest.verify();
  expect(rec.sha256).toBe(file.sha256);
  return { storage, commits };
}

/** A codec whose units finish in reverse order of arrival (each waits for the next one to be submitted). */
function reversingCodec(): UnitCodec {
  let previous: (() => void) | undefined;
  return {
    encode(tensors: SourceTensor[], _bytes: Uint8Array, precision) {
      const release = previous;
      let mine: () => void = () => {};
      const gate = new Promise<void>((r) => { mine = r; });
      previous = mine;
      setTimeout(() => release?.(), 1);
      setTimeout(mine, 50); // the last unit has no successor
      return gate.then(() => encodeUnit(tensors, precision));
    },
    dispose() {},
  };
}

/**
 * Feeds the whole file through a codec that never finishes the 3rd tensor unit (the 4th unit): the header and two
 * tensors become durable, nothing after them — as when the tab closes mid-install.
 */
async function interruptedAtThirdTensor(bytes: Uint8Array, file: ManifestFile): Promise<{ storage: WeightsStorage; first: FileIngest; commits: number[] }> {
  const storage = freshStorage();
  let calls = 0;
  const hanging: UnitCodec = {
    encode: (tensors, _b, precision) => (++calls === 4 ? new Promise<StoredTensor[]>(() => {}) : encodeUnit(tensors, precision)),
    dispose() {},
  };
  const commits: number[] = [];
  const first = await FileIngest.open(storage, 'm', file, { source: 'test', codec: hanging, onCommit: (c) => commits.push(c) });
  await first.begin(bytes.byteLength, undefined);
  await feed(first, bytes);
  await new Promise((r) => setTimeout(r, 50));
  return { storage, first, commits };
}

describe('FileIngest pipeline', () => {
  it('commits in file order and stores exactly what the sequential inline codec stores, whatever order units finish in', async () => {
    const inline = await installWith(inlineCodec);
    const reversed = await installWith(reversingCodec());
    const ends = unitEnds(synthetic().bytes);
    expect(ends.length).toBe(9); // header + 8 tensors
    for (const commits of [inline.commits, reversed.commits]) {
      expect([...commits].sort((a, b) => a - b)).toEqual(commits);
      expect(commits.every((c) => ends.includes(c))).toBe(true); // a commit (or batch) ends at a unit boundary
      expect(commits.at(-1)).toBe(ends.at(-1));
    }
    expect(await dump(reversed.storage, 'm', 'model.safetensors')).toEqual(await dump(inline.storage, 'm', 'model.safetensors'));
  });

  it('a unit that never finishes holds back every later commit; a new ingest resumes at the last durable one', async () => {
    const { bytes, file } = synthetic();
    const { storage, first, commits } = await interruptedAtThirdTensor(bytes, file);
    expect(first.received).toBe(bytes.byteLength);
    // header + 2 tensors are durable (in one to three transactions); the 3rd tensor hangs, nothing after it lands
    const ends = unitEnds(bytes);
    expect(commits.at(-1)).toBe(ends[2]);
    expect(first.committed).toBe(ends[2]);
    // "the tab closed": a new ingest over the same database continues from the durable offset
    const second = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec });
    expect(second.committed).toBe(ends[2]);
    await second.begin(bytes.byteLength, undefined);
    await feed(second, bytes, second.received);
    expect((await second.verify()).sha256).toBe(file.sha256);
    const reference = await installWith(inlineCodec);
    expect(await dump(storage, 'm', 'model.safetensors')).toEqual(await dump(reference.storage, 'm', 'model.safetensors'));
  });

  it('a failed unit fails the next write or verify with its error and nothing after it is committed', async () => {
    const { bytes, file } = synthetic();
    const storage = freshStorage();
    let calls = 0;
    const failing: UnitCodec = {
      encode: (tensors, _b, precision) => (++calls === 3 ? Promise.reject(new Error('encoder ran out of memory')) : encodeUnit(tensors, precision)),
      dispose() {},
    };
    const ingest = await FileIngest.open(storage, 'm', file, { source: 'test', codec: failing });
    await ingest.begin(bytes.byteLength, undefined);
    const outcome = await feed(ingest, bytes).then(() => ingest.verify()).then(() => 'ok', (e: Error) => e.message);
    expect(outcome).toBe('encoder ran out of memory');
    await ingest.settle();
    const progress = await storage.getProgress('m', file.path);
    expect(progress!.tensorsStored).toBe(1); // header + first tensor only
    expect(ingest.committed).toBe(progress!.offset);
  });

  it('units encoded while a commit is in flight land together in one transaction, with the last one\'s progress', async () => {
    const { bytes, file } = synthetic();
    const storage = freshStorage();
    const batches: { tensors: number; offset: number }[] = [];
    let release!: () => void;
    const firstCommitHeld = new Promise<void>((r) => { release = r; });
    const commit = storage.commit.bind(storage);
    storage.commit = async (modelId, path, items) => {
      batches.push({ tensors: items.tensors?.length ?? 0, offset: items.progress!.offset });
      if (batches.length === 1) await firstCommitHeld; // a slow store: the header's commit takes a while
      return commit(modelId, path, items);
    };
    const ingest = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec });
    await ingest.begin(bytes.byteLength, undefined);
    await feed(ingest, bytes);
    await new Promise((r) => setTimeout(r, 20)); // every tensor unit is encoded by now
    release();
    expect((await ingest.verify()).sha256).toBe(file.sha256);
    const ends = unitEnds(bytes);
    expect(batches).toEqual([{ tensors: 0, offset: ends[0] }, { tensors: 8, offset: ends.at(-1) }]);
    const progress = await storage.getProgress('m', file.path);
    expect(progress).toMatchObject({ offset: bytes.byteLength, tensorsStored: 8 });
    const reference = await installWith(inlineCodec);
    expect(await dump(storage, 'm', 'model.safetensors')).toEqual(await dump(reference.storage, 'm', 'model.safetensors'));
  });

  it('holds at most maxInFlightBytes of queued units (plus one) before write() waits', async () => {
    const held: (() => void)[] = [];
    const holding: UnitCodec = {
      encode: (tensors, _b, precision) => new Promise<void>((r) => held.push(r)).then(() => encodeUnit(tensors, precision)),
      dispose() {},
    };
    const { bytes, file } = synthetic();
    const ingest = await FileIngest.open(freshStorage(), 'm', file, { source: 'test', codec: holding, maxInFlightBytes: 30_000 });
    await ingest.begin(bytes.byteLength, undefined);
    let fed = false;
    const feeding = feed(ingest, bytes).then(() => { fed = true; });
    await new Promise((r) => setTimeout(r, 50));
    // the header unit (~0.4 kB) and two 12 288-byte tensor units fit in 30 000 bytes; the third tensor unit
    // exceeds it, and write() waits for the oldest commit
    expect(held.length).toBe(4);
    expect(fed).toBe(false);
    while (!fed) {
      held.splice(0).forEach((r) => r());
      await new Promise((r) => setTimeout(r, 5));
    }
    await feeding;
    held.splice(0).forEach((r) => r()); // the units queued by the last write
    expect((await ingest.verify()).sha256).toBe(file.sha256);
  });
});

/**
 * An in-process stand-in for a module Worker (codec.worker.ts, sha256.worker.ts): real structured clone and
 * transfer, answers on a later task.
 */
class InProcessWorker<Req extends { id: number }> {
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  crashOn?: number;
  requests = 0;

  constructor(private readonly answer: (req: Req) => Promise<{ reply: unknown; transfer: ArrayBuffer[] }>) {}

  postMessage(msg: Req, transfer: Transferable[]): void {
    const req = structuredClone(msg, { transfer }); // detaches the caller's buffer, as postMessage does
    this.requests++;
    setTimeout(() => {
      if (this.crashOn === req.id) {
        this.onerror?.({ message: 'worker crashed' } as ErrorEvent);
        return;
      }
      void this.answer(req).then(({ reply, transfer: back }) => this.onmessage?.({ data: structuredClone(reply, { transfer: back }) } as MessageEvent));
    }, 0);
  }

  terminate(): void {}
}

const codecWorker = (): InProcessWorker<EncodeRequest> => new InProcessWorker<EncodeRequest>(answerEncode);

describe('WorkerCodecPool', () => {
  it('transfers the unit buffer to a worker and returns what the inline codec returns', async () => {
    const { bytes } = synthetic();
    const workers: InProcessWorker<EncodeRequest>[] = [];
    const pool = new WorkerCodecPool(2, () => { const w = codecWorker(); workers.push(w); return w as unknown as Worker; });
    const units = [0, 1, 2].map((k) => {
      const unit = bytes.slice(100 + k * 5000, 100 + k * 5000 + 4096 * 2);
      const tensors: SourceTensor[] = [
        { name: `a${k}.weight`, dtype: 'F32', shape: [32, 32], bytes: unit.subarray(0, 4096) },
        { name: `b${k}.weight`, dtype: 'F32', shape: [32, 32], bytes: unit.subarray(4096) },
      ];
      return { unit, tensors, copy: tensors.map((t) => ({ ...t, bytes: t.bytes.slice() })) };
    });
    const results = await Promise.all(units.map((u) => pool.encode(u.tensors, u.unit, 'int8')));
    for (const [k, u] of units.entries()) {
      expect(u.unit.byteLength).toBe(0); // transferred, not copied
      expect(results[k]).toEqual(await encodeUnit(u.copy, 'int8'));
    }
    pool.dispose();
  });

  it('a crashed worker fails its pending units with a clear error and is replaced', async () => {
    const workers: InProcessWorker<EncodeRequest>[] = [];
    const pool = new WorkerCodecPool(1, () => { const w = codecWorker(); workers.push(w); return w as unknown as Worker; });
    workers[0]!.crashOn = 0;
    const unit = new Uint8Array(4096);
    await expect(pool.encode([{ name: 'w', dtype: 'F32', shape: [32, 32], bytes: unit }], unit, 'int8')).rejects.toThrow('codec worker failed: worker crashed');
    // the failed worker was replaced: the next unit is encoded by a fresh one
    expect(workers.length).toBe(2);
    const next = new Uint8Array(4096);
    const tensors = [{ name: 'w', dtype: 'F32' as const, shape: [32, 32], bytes: next }];
    const expected = await encodeUnit([{ ...tensors[0]!, bytes: next.slice() }], 'int8');
    expect(await pool.encode(tensors, next, 'int8')).toEqual(expected);
    pool.dispose();
  });
});

describe('FileIngest with block digests (ManifestFile.blockSha256)', () => {
  const BLOCK = 5000; // spans unit boundaries: the 12 288-byte tensor units straddle blocks
  async function withBlocks(mutate?: (bytes: Uint8Array) => void): Promise<{ bytes: Uint8Array; file: ManifestFile }> {
    const { bytes, file } = synthetic();
    const blockSha256 = await blockDigestsOf(bytes, BLOCK);
    mutate?.(bytes); // the served bytes differ from what the digests were made of
    return { bytes, file: { ...file, blockSha256 } };
  }

  it('checks every block instead of the whole-file hash and stores what a whole-file install stores', async () => {
    const { bytes, file } = await withBlocks();
    expect(file.blockSha256!.sha256).toHaveLength(Math.ceil(bytes.byteLength / BLOCK));
    const storage = freshStorage();
    const ingest = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec });
    await ingest.begin(bytes.byteLength, undefined);
    await feed(ingest, bytes);
    const rec = await ingest.verify();
    expect(rec).toMatchObject({ verifiedBy: 'block-sha256', sha256: file.sha256, size: bytes.byteLength, tensorCount: 8 });
    const reference = await installWith(inlineCodec);
    expect(await dump(storage, 'm', 'model.safetensors')).toEqual(await dump(reference.storage, 'm', 'model.safetensors'));
  });

  it('a corrupt byte fails the write that completes its block, long before the end, and nothing of the file stays', async () => {
    const at = BLOCK + 17;
    const { bytes, file } = await withBlocks((b) => { b[at]! ^= 0x40; });
    const storage = freshStorage();
    const ingest = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec });
    await ingest.begin(bytes.byteLength, undefined);
    // pieces arrive a turn of the event loop apart, as from a network (WebCrypto answers asynchronously)
    const trickle = async (): Promise<void> => {
      for (let i = 0; i < bytes.byteLength; i += 1000) {
        await ingest.write(bytes.slice(i, i + 1000));
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    const error = await trickle().then(() => undefined, (e: Error) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error!.message).toMatch(new RegExp(`m/model.safetensors: sha256 mismatch in block 1 \\(bytes ${BLOCK}–${2 * BLOCK - 1}\\)`));
    expect(ingest.received).toBeLessThan(bytes.byteLength / 2); // stopped soon after the bad block, not at the end
    expect(await storage.getProgress('m', file.path)).toBeUndefined();
    expect(await storage.readTensorRecords('m', file.path)).toEqual([]);
  });

  it('a resumed file re-reads its current block from the block start, checks it, and completes byte-identical', async () => {
    const { bytes, file } = await withBlocks();
    const { storage, first } = await interruptedAtThirdTensor(bytes, file);
    const committed = unitEnds(bytes)[2]!;
    expect(first.committed).toBe(committed);
    const second = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec });
    const blockStart = Math.floor(committed / BLOCK) * BLOCK;
    expect(committed % BLOCK).not.toBe(0);
    expect(second.committed).toBe(committed);
    expect(second.received).toBe(blockStart); // the download resumes here, not at the committed offset
    await second.begin(bytes.byteLength, undefined);
    await feed(second, bytes, second.received);
    expect(await second.verify()).toMatchObject({ verifiedBy: 'block-sha256', tensorCount: 8 });
    const reference = await installWith(inlineCodec);
    expect(await dump(storage, 'm', 'model.safetensors')).toEqual(await dump(reference.storage, 'm', 'model.safetensors'));
  });

  it('a file committed to its last byte but never verified re-reads only its last block', async () => {
    const { bytes, file } = await withBlocks();
    const storage = freshStorage();
    const first = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec });
    await first.begin(bytes.byteLength, undefined);
    await feed(first, bytes);
    await first.settle(); // every unit durable; the tab closes before verify()
    const second = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec });
    expect(second.committed).toBe(bytes.byteLength);
    expect(second.received).toBe(Math.floor(bytes.byteLength / BLOCK) * BLOCK);
    await second.begin(bytes.byteLength, undefined);
    await feed(second, bytes, second.received);
    expect(await second.verify()).toMatchObject({ verifiedBy: 'block-sha256', tensorCount: 8, size: bytes.byteLength });
  });

  it('the re-read bytes before the committed offset are checked too: corrupt ones fail the resumed file', async () => {
    const { bytes, file } = await withBlocks();
    const { storage, first } = await interruptedAtThirdTensor(bytes, file);
    const committed = first.committed;
    const second = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec });
    const served = bytes.slice();
    served[second.received + 1]! ^= 1; // inside the re-read stretch, before the committed offset
    expect(second.received + 1).toBeLessThan(committed);
    await second.begin(bytes.byteLength, undefined);
    await expect(feed(second, served, second.received)).rejects.toThrow(/sha256 mismatch in block/);
    expect(await storage.getProgress('m', file.path)).toBeUndefined();
  });

  it('without WebCrypto (an insecure origin) the blocks are hashed with hash-wasm, with the same verdicts', async () => {
    const { bytes, file } = await withBlocks();
    vi.stubGlobal('crypto', undefined);
    try {
      const ok = await FileIngest.open(freshStorage(), 'm', file, { source: 'test', codec: inlineCodec });
      await ok.begin(bytes.byteLength, undefined);
      await feed(ok, bytes);
      expect((await ok.verify()).verifiedBy).toBe('block-sha256');
      const bad = await FileIngest.open(freshStorage(), 'm', file, { source: 'test', codec: inlineCodec });
      await bad.begin(bytes.byteLength, undefined);
      const served = bytes.slice();
      served[served.byteLength - 1]! ^= 1; // the last, short block
      const last = file.blockSha256!.sha256.length - 1;
      await expect(feed(bad, served)).rejects.toThrow(new RegExp(`mismatch in block ${last} `));
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('WorkerSha256: the whole-file sha256 off the reading thread', () => {
  it('an install through the sha256 worker and the codec pool stores what the inline one does, with the same digest', async () => {
    const { bytes, file } = synthetic();
    const shaWorker = new InProcessWorker<Sha256Request>(answerSha256);
    const sha256 = new WorkerSha256(() => shaWorker as unknown as Worker);
    const pool = new WorkerCodecPool(2, () => codecWorker() as unknown as Worker);
    const storage = freshStorage();
    const ingest = await FileIngest.open(storage, 'm', file, { source: 'test', codec: pool, sha256 });
    await ingest.begin(bytes.byteLength, undefined);
    const taken: Uint8Array[] = [];
    const update = sha256.update.bind(sha256);
    sha256.update = (state, unit) => { taken.push(unit); return update(state, unit); };
    await feed(ingest, bytes);
    expect(await ingest.verify()).toMatchObject({ verifiedBy: 'sha256', sha256: file.sha256 });
    expect(shaWorker.requests).toBe(9); // the header and 8 tensor units, in file order
    expect(taken.every((u) => u.byteLength === 0)).toBe(true); // each unit's buffer went to the worker (transferred)
    const reference = await installWith(inlineCodec);
    expect(await dump(storage, 'm', 'model.safetensors')).toEqual(await dump(reference.storage, 'm', 'model.safetensors'));
    // the progress record carries the hasher state after the last unit: a resume would continue from it
    expect(await sha256Digest((await storage.getProgress('m', file.path))!.hashState)).toBe(file.sha256);
    pool.dispose();
    sha256.dispose();
  });

  it('a crashed sha256 worker fails the units it held, nothing after them commits, and it is replaced', async () => {
    const { bytes, file } = synthetic();
    const workers: InProcessWorker<Sha256Request>[] = [];
    const sha256 = new WorkerSha256(() => { const w = new InProcessWorker<Sha256Request>(answerSha256); workers.push(w); return w as unknown as Worker; });
    workers[0]!.crashOn = 3;
    const storage = freshStorage();
    const ingest = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec, sha256 });
    await ingest.begin(bytes.byteLength, undefined);
    const outcome = await feed(ingest, bytes).then(() => ingest.verify()).then(() => 'ok', (e: Error) => e.message);
    expect(outcome).toBe('sha256 worker failed: worker crashed');
    await ingest.settle();
    expect((await storage.getProgress('m', file.path))!.tensorsStored).toBeLessThanOrEqual(2); // header + 2 tensors at most
    expect(workers.length).toBe(2);
    const state = await sha256Start();
    const again = await sha256.update(state, new TextEncoder().encode('abc'));
    expect(await sha256Digest(again.state)).toBe(crypto.createHash('sha256').update('abc').digest('hex'));
    sha256.dispose();
  });

  it('a torch zip (raw blocks staged for later parsing) goes through the worker and stages its exact bytes', async () => {
    const dict = new Map<string, PickleWritable>();
    for (let t = 0; t < 3; t++) {
      dict.set(`head.${t}.weight`, contiguousTensor('F32', [40, 30], new Uint8Array(Float32Array.from({ length: 1200 }, (_, i) => Math.cos(i + t)).buffer)));
    }
    const pth = writeTorchCheckpoint(new OrderedDictValue(dict));
    const file: ManifestFile = {
      path: 'head.pth', format: 'torch-zip', role: 'model', size: pth.byteLength,
      sha256: crypto.createHash('sha256').update(pth).digest('hex'), precision: 'fp32',
    };
    const shaWorker = new InProcessWorker<Sha256Request>(answerSha256);
    const sha256 = new WorkerSha256(() => shaWorker as unknown as Worker);
    const storage = WeightsStorage.open(`ingest-pipeline-zip-${++dbCount}`, { chunkBytes: 4096 }); // several raw blocks
    const ingest = await FileIngest.open(storage, 'm', file, { source: 'test', codec: inlineCodec, sha256 });
    await ingest.begin(pth.byteLength, undefined);
    await feed(ingest, pth);
    expect(await ingest.verify()).toMatchObject({ verifiedBy: 'sha256', sha256: file.sha256 });
    expect(shaWorker.requests).toBe(Math.ceil(pth.byteLength / 4096));
    expect(await storage.readRaw('m', file.path, 4096, 0, pth.byteLength)).toEqual(pth);
    sha256.dispose();
  });
});

