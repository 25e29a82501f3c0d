/**
 * FileIngest: the one path every file takes into storage, whether its bytes come from the network
 * (download.ts) or from a local File (import.ts). Bytes arrive in order; complete commit units (file-units.ts)
 * are converted to the storage precision, hashed, and committed in one transaction together with the file's
 * progress record: committed offset, ETag, the incremental SHA-256 state (hash-wasm save()) and the unit
 * reader's state. A new FileIngest over the same database resumes from that record.
 *
 * Bytes past the last committed unit are kept in memory only: a retry in the same session continues from the
 * exact byte it had; a new session continues from the last committed unit (with block digests, from the start
 * of the block holding it: those bytes are re-read for the block check only).
 *
 * Integrity: the manifest's block digests (block-verifier.ts, checked as bytes arrive), else its whole-file
 * sha256, else the size alone; text files always get the whole-file sha256.
 *
 * Pipelined: a complete unit goes through its whole-file sha256 step (sequential over the file: each step starts
 * from the previous one's state, on a worker in the browser, sha256-stage.ts), then to a UnitCodec (quantize +
 * checksum, on worker threads in the browser) and is queued for its commit; write() returns
 * as soon as fewer than MAX_IN_FLIGHT_BYTES are queued, so reading, hashing, encoding and the IndexedDB writes
 * of neighbouring units overlap. Commits happen one at a time in file order; units already encoded when the
 * previous commit lands share one transaction, with the hash and reader state of the last unit's boundary, so
 * what is durable is always a state the sequential version passes through.
 */
import type { ByteSink, RestartReason } from '../install/download';
import { IntegrityError } from '../install/download';
import { BlockVerifier } from './block-verifier';
import { defaultSha256Stage, inlineSha256, sha256Digest, sha256Start, type HashedUnit, type Sha256Stage } from './sha256-stage';
import { defaultCodec, spansOf, tensorsOf, type UnitCodec } from './unit-codec';
import { createUnitReader, type Unit, type UnitReader } from './file-units';
import { isTensorFormat, type ManifestFile } from '../catalog/manifest';
import type { FileRecord, ProgressRecord, StoredTensor, WeightsStorage } from '../store/storage';

export interface IngestOptions {
  /** Identity of the byte source (URL, or "import:<name>:<size>:<mtime>"); progress from another source is dropped. */
  source: string;
  /** Called after each commit with the committed offset. */
  onCommit?: (committed: number) => void;
  /** Where units are encoded (default: defaultCodec(), workers when available). */
  codec?: UnitCodec;
  /** Overrides MAX_IN_FLIGHT_BYTES. */
  maxInFlightBytes?: number;
  /** Where the whole-file sha256 runs (default: defaultSha256Stage(), a worker when available). */
  sha256?: Sha256Stage;
}

/** Bytes of units taken but not yet committed before write() waits (at least one unit is always allowed). */
const MAX_IN_FLIGHT_BYTES = 96 * 1024 * 1024;

interface InFlight { done: Promise<void>; bytes: number }

/** A unit taken from the byte stream, hashed, and waiting for its encoding and commit. */
interface QueuedUnit {
  unit: Unit;
  /** File offset after the unit, and the hasher and reader state there: its commit's progress record. */
  end: number;
  hashState: Uint8Array;
  parserState: unknown;
  encoded: Promise<StoredTensor[]>;
  /** Set once `encoded` resolves: the unit can join the batch of an earlier one. */
  tensors?: StoredTensor[];
  settle: { resolve: () => void; reject: (e: unknown) => void };
}

export class FileIngest implements ByteSink {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private committedOffset = 0;
  /** End of the last unit taken from `pending` (committed, or queued for its commit). */
  private dispatchedOffset = 0;
  private inFlight: InFlight[] = [];
  private inFlightBytes = 0;
  /** Units waiting for their commit, in file order (drain() commits them). */
  private queue: QueuedUnit[] = [];
  private draining = false;
  /** The newest queued unit's commit (it settles after every earlier one). */
  private tail: Promise<void> = Promise.resolve();
  /** The first failed commit (later ones fail with it): reported by the next write() and by verify(). */
  private failure: unknown;
  private size: number | undefined;
  private etagValue: string | undefined;
  private reader: UnitReader | undefined;
  private tensorsStored = 0;
  private storedBytes = 0;
  /** Reader state restored from a progress record, used once the size is confirmed. */
  private restoredState: unknown;
  /** Resumed with block digests: bytes before the committed offset still to re-read for the block check only. */
  private replaying = 0;
  /** The whole-file sha256 state after the last unit taken (each unit's hash step waits for the previous one). */
  private shaState: Promise<Uint8Array>;

  private constructor(
    private readonly storage: WeightsStorage,
    readonly modelId: string,
    readonly file: ManifestFile,
    private readonly opts: IngestOptions,
    /** The file's block digests, checked instead of a whole-file sha256 when the manifest has them. */
    private readonly blocks: BlockVerifier | undefined,
    shaStart: Uint8Array,
  ) {
    this.shaState = Promise.resolve(shaStart);
  }

  /**
   * Whether the whole file goes through the incremental sha256: when that is what the manifest pins, and for
   * text files (verify.ts re-checks stored text against it). A tensor file with block digests, or with no digest
   * at all, skips it: hashing is the costliest step of an install on the reading thread.
   */
  private get hashesWholeFile(): boolean {
    return !isTensorFormat(this.file.format) || (this.file.sha256 !== null && !this.blocks);
  }

  /** Opens the file for ingestion, resuming from its progress record when that came from the same source. */
  static async open(storage: WeightsStorage, modelId: string, file: ManifestFile, opts: IngestOptions): Promise<FileIngest> {
    const label = `${modelId}/${file.path}`;
    const blocks = file.blockSha256 && file.size !== null ? await BlockVerifier.create(file.blockSha256, file.size, label) : undefined;
    const ingest = new FileIngest(storage, modelId, file, opts, blocks, await sha256Start());
    const p = await storage.getProgress(modelId, file.path);
    const sameBlocks = file.format !== 'torch-zip' || (p?.parserState as { blockBytes?: number } | undefined)?.blockBytes === storage.chunkBytes;
    if (p && p.url === opts.source && (file.size === null || file.size === p.size) && sameBlocks) {
      if (ingest.hashesWholeFile) ingest.shaState = Promise.resolve(p.hashState);
      ingest.committedOffset = ingest.dispatchedOffset = p.offset;
      if (blocks) ingest.replaying = p.offset - blocks.resumeFrom(p.offset);
      ingest.size = p.size;
      ingest.etagValue = p.etag;
      ingest.tensorsStored = p.tensorsStored;
      ingest.storedBytes = p.storedBytes;
      ingest.restoredState = p.parserState;
    } else {
      await storage.clearFile(modelId, file.path);
    }
    return ingest;
  }

  get received(): number {
    return this.dispatchedOffset - this.replaying + this.pendingBytes;
  }

  get committed(): number {
    return this.committedOffset;
  }

  get etag(): string | undefined {
    return this.etagValue;
  }

  get knownSize(): number | undefined {
    return this.size;
  }

  /**
   * Fixes the file size (and ETag) before bytes flow. A size that differs from the resumed progress means the
   * file changed: everything stored for it is dropped.
   */
  async begin(size: number, etag: string | undefined): Promise<void> {
    if (this.file.size !== null && size !== this.file.size) {
      throw new IntegrityError(`${this.file.path}: source has ${size} bytes, the manifest expects ${this.file.size}`);
    }
    if (this.size !== undefined && this.size !== size) {
      this.size = size;
      await this.restart('etag-changed'); // a new reader for the new size
    }
    this.size = size;
    if (etag !== undefined) this.etagValue = etag;
    this.reader ??= this.newReader(this.restoredState);
    this.restoredState = undefined;
  }

  private newReader(state?: unknown): UnitReader {
    return createUnitReader(this.file.format, this.size!, this.storage.chunkBytes, state);
  }

  async restart(_reason: RestartReason): Promise<void> {
    await this.settle();
    this.tail = Promise.resolve();
    this.failure = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    this.committedOffset = this.dispatchedOffset = 0;
    this.tensorsStored = 0;
    this.storedBytes = 0;
    this.shaState = sha256Start();
    this.blocks?.resumeFrom(0);
    this.replaying = 0;
    this.restoredState = undefined;
    this.reader = this.size === undefined ? undefined : this.newReader();
    await this.storage.clearFile(this.modelId, this.file.path);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.reader) throw new Error(`${this.file.path}: write before begin()`);
    if (this.failure !== undefined) throw this.failure;
    if (bytes.byteLength === 0) return;
    if (this.blocks) {
      this.blocks.update(bytes);
      await this.checkBlocks();
      if (this.replaying > 0) {
        // bytes before the committed offset, re-read only to complete the resumed block's check
        const skip = Math.min(this.replaying, bytes.byteLength);
        this.replaying -= skip;
        bytes = bytes.subarray(skip);
        if (bytes.byteLength === 0) return;
      }
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.byteLength;
    await this.commitCompleteUnits();
  }

  private async commitCompleteUnits(): Promise<void> {
    for (;;) {
      const end = this.reader!.unitEnd(this.dispatchedOffset, (n) => (n <= this.pendingBytes ? this.peek(n) : null));
      if (end === null || end > this.received) return;
      const bytes = this.take(end - this.dispatchedOffset);
      const unit = this.reader!.consume(this.dispatchedOffset, bytes);
      this.dispatchedOffset = end;
      this.enqueue(unit, bytes, end);
      // backpressure: the oldest commit must land before more bytes are taken in (its error surfaces here)
      while (this.inFlightBytes > (this.opts.maxInFlightBytes ?? MAX_IN_FLIGHT_BYTES) && this.inFlight.length > 1) await this.inFlight[0]!.done;
    }
  }

  /**
   * The unit's whole-file sha256 step, when the file takes one; the unit comes back with views over the buffer
   * returned by the stage (a worker transfers it there and back).
   */
  private hashStep(unit: Unit, bytes: Uint8Array): Promise<HashedUnit & { unit: Unit }> {
    if (!this.hashesWholeFile) return Promise.resolve({ state: NO_HASH_STATE, bytes, unit });
    const rebind = rebinder(unit, bytes);
    const stage = rebind ? this.opts.sha256 ?? defaultSha256Stage() : inlineSha256;
    const hashed = this.shaState.then((state) => stage.update(state, bytes));
    this.shaState = hashed.then((h) => h.state);
    this.shaState.catch(() => {}); // a failed step fails its unit (and every later one through this chain)
    return hashed.then((h) => ({ ...h, unit: h.bytes === bytes ? unit : rebind!(h.bytes.buffer as ArrayBuffer) }));
  }

  /** A block that failed its digest fails the file now, with nothing of it kept (as a whole-file mismatch does). */
  private async checkBlocks(): Promise<void> {
    try {
      await this.blocks!.check();
    } catch (e) {
      this.failure ??= e;
      await this.settle();
      await this.storage.clearFile(this.modelId, this.file.path);
      throw e;
    }
  }

  /**
   * Chains the unit's sha256 step after the previous unit's (on the sha256 stage, a worker in the browser), encodes
   * it on the codec once its bytes are back, and queues its commit after the previous one.
   */
  private enqueue(unit: Unit, bytes: Uint8Array, end: number): void {
    const hashed = this.hashStep(unit, bytes);
    const queued: QueuedUnit = {
      unit, end, hashState: NO_HASH_STATE, parserState: this.reader!.state(),
      encoded: hashed.then((h) => {
        queued.unit = h.unit;
        queued.hashState = h.state;
        return (this.opts.codec ?? defaultCodec()).encode(h.unit.tensors, h.bytes, this.file.precision ?? 'fp32');
      }),
      settle: { resolve: () => {}, reject: () => {} },
    };
    queued.encoded.then((t) => { queued.tensors = t; }, () => {}); // awaited in order by drain(); never unhandled
    const done = new Promise<void>((resolve, reject) => { queued.settle = { resolve, reject }; });
    this.queue.push(queued);
    const entry: InFlight = { done, bytes: bytes.byteLength };
    this.inFlight.push(entry);
    this.inFlightBytes += entry.bytes;
    this.tail = done;
    done.catch((e: unknown) => { this.failure ??= e; });
    const leave = (): void => {
      this.inFlight.splice(this.inFlight.indexOf(entry), 1);
      this.inFlightBytes -= entry.bytes;
    };
    done.then(leave, leave);
    void this.drain();
  }

  /**
   * The one committer: waits for the oldest unit's encoding, then commits it together with every following unit
   * whose encoding is already done, in ONE transaction carrying the progress record of the last of them. While
   * a commit is in flight the next units finish encoding, so a slow store commits in batches (Chromium spends about
   * as much per transaction as per megabyte; SD1.5's files hold hundreds of tiny bias/norm units). A batch is
   * durable as a whole or not at all, so a resume still starts at a unit boundary.
   */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        try {
          await this.queue[0]!.encoded;
        } catch (e) {
          this.failQueued(e);
          continue;
        }
        let n = 1;
        while (n < this.queue.length && this.queue[n]!.tensors) n++;
        const batch = this.queue.splice(0, n);
        try {
          await this.commitBatch(batch);
          for (const q of batch) q.settle.resolve();
        } catch (e) {
          for (const q of batch) q.settle.reject(e);
          this.failQueued(e);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** A failed unit or commit fails every unit queued after it: nothing past a gap may become durable. */
  private failQueued(e: unknown): void {
    for (const q of this.queue.splice(0)) q.settle.reject(e);
  }

  private async commitBatch(batch: QueuedUnit[]): Promise<void> {
    const last = batch[batch.length - 1]!;
    const tensors = batch.flatMap((q) => q.tensors!);
    const stored = tensors.reduce((a, t) => a + t.bytes.byteLength, 0);
    const progress: ProgressRecord = {
      url: this.opts.source,
      size: this.size!,
      etag: this.etagValue,
      offset: last.end,
      hashState: last.hashState,
      parserState: last.parserState,
      tensorsStored: this.tensorsStored + tensors.length,
      // counts this batch: the record describes the state after this commit (a resume restores it as is)
      storedBytes: this.storedBytes + stored,
      updatedAt: Date.now(),
    };
    await this.storage.commit(this.modelId, this.file.path, {
      tensors,
      texts: batch.flatMap((q) => (q.unit.text === undefined ? [] : [q.unit.text])),
      raw: batch.flatMap((q) => (q.unit.rawBlock ? [q.unit.rawBlock] : [])),
      progress,
    });
    this.storedBytes = progress.storedBytes;
    this.tensorsStored = progress.tensorsStored;
    this.committedOffset = last.end;
    this.opts.onCommit?.(last.end);
  }

  /** Waits until every queued commit has landed or failed; never throws (verify() and write() report errors). */
  async settle(): Promise<void> {
    await this.tail.catch(() => {});
  }

  private peek(n: number): Uint8Array {
    const first = this.pending[0];
    if (first && first.byteLength >= n) return first.subarray(0, n);
    return concat(this.pending, n);
  }

  private take(n: number): Uint8Array {
    const out = concat(this.pending, n);
    let left = n;
    while (left > 0) {
      const head = this.pending[0]!;
      if (head.byteLength <= left) {
        this.pending.shift();
        left -= head.byteLength;
      } else {
        this.pending[0] = head.subarray(left);
        left = 0;
      }
    }
    this.pendingBytes -= n;
    return out;
  }

  /**
   * Checks completeness, size and sha256 (when the manifest has one). On a mismatch everything stored for the
   * file is deleted and an IntegrityError is thrown. Returns the verified file's record (not yet written).
   */
  async verify(): Promise<Omit<FileRecord, 'source'>> {
    const size = this.size;
    const fail = async (msg: string): Promise<never> => {
      await this.storage.clearFile(this.modelId, this.file.path);
      throw new IntegrityError(`${this.modelId}/${this.file.path}: ${msg}`);
    };
    // commits still queued land first; a failed one fails the file (it resumes from the last commit)
    await this.tail;
    if (size === undefined || this.received !== size) return fail(`incomplete: ${this.received} of ${size ?? '?'} bytes`);
    if (this.pendingBytes !== 0) return fail(`${this.pendingBytes} bytes after the last complete unit`);
    if (!this.reader) this.reader = this.newReader(this.restoredState);
    try {
      this.reader.finish();
    } catch (e) {
      return fail((e as Error).message);
    }
    if (this.blocks) {
      try {
        await this.blocks.finish();
      } catch (e) {
        return fail((e as Error).message.replace(`${this.modelId}/${this.file.path}: `, ''));
      }
    }
    const sha256 = this.hashesWholeFile ? await sha256Digest(await this.shaState) : this.blocks ? this.file.sha256 : null;
    if (this.hashesWholeFile && this.file.sha256 !== null && sha256 !== this.file.sha256) {
      return fail(`sha256 mismatch: got ${sha256}, the manifest expects ${this.file.sha256}`);
    }
    return {
      path: this.file.path, role: this.file.role, format: this.file.format, size, sha256,
      verifiedBy: this.blocks ? 'block-sha256' : this.file.sha256 !== null ? 'sha256' : 'size', etag: this.etagValue,
      tensorCount: this.tensorsStored, storedBytes: this.storedBytes,
    };
  }
}

/** The progress record's hasher state for a file that takes no whole-file sha256. */
const NO_HASH_STATE = new Uint8Array(0);

/**
 * Re-creates a unit's views (tensor bytes, raw block) over another buffer holding the same bytes at the same
 * offsets: the unit's buffer went to a worker and came back as a new ArrayBuffer. Offsets are read now, before a
 * transfer detaches the views. Undefined when a view is not over `bytes.buffer` (then nothing may be transferred).
 */
function rebinder(unit: Unit, bytes: Uint8Array): ((buffer: ArrayBuffer) => Unit) | undefined {
  const spans = spansOf(unit.tensors, bytes);
  const raw = unit.rawBlock;
  if (!spans || (raw && raw.bytes.buffer !== bytes.buffer)) return undefined;
  const rawSpan = raw && ([raw.bytes.byteOffset, raw.bytes.byteLength] as const);
  return (buffer) => ({
    ...unit,
    tensors: tensorsOf(buffer, spans),
    ...(raw ? { rawBlock: { index: raw.index, bytes: new Uint8Array(buffer, rawSpan![0], rawSpan![1]) } } : {}),
  });
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    if (at >= n) break;
    const take = Math.min(p.byteLength, n - at);
    out.set(take === p.byteLength ? p : p.subarray(0, take), at);
    at += take;
  }
  return out;
}
