/**
 * Streaming safetensors readers, two ways:
 * - random access over a ByteSource: read the 8-byte length and the header, then any tensor's byte range;
 * - push-style over a sequential stream (a fetch body): chunks arrive in order and each tensor is emitted as soon
 *   as its bytes are complete, holding at most one tensor's bytes plus the current chunk.
 * Both validate the header with the same rules as parseSafetensors and reject truncated or oversized files.
 */
import type { ByteSource } from './byte-source';
import {
  dataSectionSize, decodeTensorBytes, parseHeader, readHeaderLength, SafetensorsError,
  type HostTensor, type SafetensorsEntry, type SafetensorsHeader,
} from './safetensors';

/** Reads and validates the header of a safetensors file (two reads: 8 bytes, then the JSON). */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const size = await src.size();
  if (size < 8) throw new SafetensorsError(`file too short for a safetensors header (${size} bytes, need 8)`);
  const headerLen = readHeaderLength(await src.read(0, 8));
  if (8 + headerLen > size) throw new SafetensorsError(`header length ${headerLen} exceeds file size ${size}`);
  const header = parseHeader(await src.read(8, headerLen), size);
  const expected = header.dataStart + dataSectionSize(header);
  if (expected !== size) {
    throw new SafetensorsError(`file is ${size} bytes but its header describes ${expected}: truncated or padded file`);
  }
  return header;
}

/** The raw little-endian bytes of one tensor (one read of exactly its byte range). */
export function readTensorBytes(src: ByteSource, header: SafetensorsHeader, entry: SafetensorsEntry): Promise<Uint8Array> {
  return src.read(header.dataStart + entry.begin, entry.end - entry.begin);
}

/** One tensor decoded like parseSafetensors does (floats → Float32Array, ints → Int32Array). */
export async function readTensor(src: ByteSource, header: SafetensorsHeader, entry: SafetensorsEntry): Promise<HostTensor> {
  return { dtype: entry.dtype, shape: entry.shape, data: decodeTensorBytes(entry.dtype, await readTensorBytes(src, header, entry)) };
}

/** Reads every tensor (or those `keep` selects) in file order, one at a time. */
export async function readSafetensorsFrom(src: ByteSource, keep: (name: string) => boolean = () => true)
  : Promise<Map<string, HostTensor>> {
  const header = await readSafetensorsHeader(src);
  const out = new Map<string, HostTensor>();
  for (const e of entriesInFileOrder(header)) {
    if (keep(e.name)) out.set(e.name, await readTensor(src, header, e));
  }
  return out;
}

export function entriesInFileOrder(header: SafetensorsHeader): SafetensorsEntry[] {
  return [...header.entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
}

export type TensorSink = (entry: SafetensorsEntry, bytes: Uint8Array) => Promise<void> | void;

export interface SafetensorsStreamParser {
  /** Feeds the next chunk; resolves once every tensor it completed has been handed to onTensor. */
  push(chunk: Uint8Array): Promise<void>;
  /** Declares the stream finished; rejects unless the whole file (header and every tensor) has arrived. */
  end(): Promise<SafetensorsHeader>;
  /** The header, once its bytes have arrived. */
  readonly header: SafetensorsHeader | undefined;
  /** Total file size the header announces (known once the header arrived): useful for progress. */
  readonly expectedSize: number | undefined;
  readonly bytesReceived: number;
  /** The most bytes held at once in partial buffers (header or one tensor), for the memory-bound test. */
  readonly peakBufferedBytes: number;
}

/**
 * A push parser for a safetensors file arriving in order. `onTensor(entry, bytes)` gets each tensor's raw bytes
 * (a fresh, 0-aligned buffer the callee may keep) as soon as they are complete, in file order. Calls to push are
 * serialized, so callers may await each push (backpressure) or not. After an error every later call rejects.
 */
export function createSafetensorsStreamParser(onTensor: TensorSink): SafetensorsStreamParser {
  return new StreamParser(onTensor);
}

class StreamParser implements SafetensorsStreamParser {
  header: SafetensorsHeader | undefined;
  bytesReceived = 0;
  peakBufferedBytes = 0;
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private prefix = new Uint8Array(8);
  private headerBuf: Uint8Array | undefined;
  private filled = 0; // bytes written into the current buffer (prefix, header or tensor)
  private order: SafetensorsEntry[] = [];
  private next = 0; // index into `order` of the tensor being assembled
  private tensorBuf: Uint8Array | undefined;

  constructor(private readonly onTensor: TensorSink) {}

  get expectedSize(): number | undefined {
    return this.header ? this.header.dataStart + dataSectionSize(this.header) : undefined;
  }

  push(chunk: Uint8Array): Promise<void> {
    return this.enqueue(() => this.consume(chunk));
  }

  end(): Promise<SafetensorsHeader> {
    return this.enqueue(async () => {
      if (!this.header) {
        throw new SafetensorsError(`stream ended after ${this.bytesReceived} bytes, before the safetensors header was complete`);
      }
      await this.emitEmptyTensors();
      if (this.next < this.order.length) {
        const e = this.order[this.next]!;
        throw new SafetensorsError(`stream ended after ${this.bytesReceived} of ${this.expectedSize} bytes, inside tensor "${e.name}": truncated download?`);
      }
    }).then(() => this.header!);
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.failure) throw this.failure;
      try {
        await step();
      } catch (e) {
        this.failure = e instanceof Error ? e : new SafetensorsError(String(e));
        throw this.failure;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async consume(chunk: Uint8Array): Promise<void> {
    let pos = 0;
    this.bytesReceived += chunk.byteLength;
    const expected = this.expectedSize;
    if (expected !== undefined && this.bytesReceived > expected) {
      throw new SafetensorsError(`stream has more bytes (${this.bytesReceived}+) than the header describes (${expected})`);
    }
    while (pos < chunk.byteLength) {
      if (!this.headerBuf) {
        pos = this.fill(this.prefix, chunk, pos);
        if (this.filled === 8) {
          this.headerBuf = new Uint8Array(readHeaderLength(this.prefix));
          this.filled = 0;
          this.track(this.headerBuf.byteLength);
        }
      } else if (!this.header) {
        pos = this.fill(this.headerBuf, chunk, pos);
        if (this.filled === this.headerBuf.byteLength) this.startData();
      } else {
        pos = await this.consumeData(chunk, pos);
      }
    }
  }

  private startData(): void {
    this.header = parseHeader(this.headerBuf!);
    this.order = entriesInFileOrder(this.header);
    this.filled = 0;
    this.headerBuf = new Uint8Array(0); // marks "header done" while freeing its bytes
    this.dataPos = 0;
  }

  private dataPos = 0; // position in the data section of the next byte to arrive

  /** Skips gaps between tensors, assembles the current tensor, emits it when complete. */
  private async consumeData(chunk: Uint8Array, pos: number): Promise<number> {
    while (pos < chunk.byteLength && this.next < this.order.length) {
      const e = this.order[this.next]!;
      if (this.dataPos < e.begin) { // padding between tensors: skip it
        const skip = Math.min(e.begin - this.dataPos, chunk.byteLength - pos);
        pos += skip;
        this.dataPos += skip;
        continue;
      }
      const need = e.end - e.begin;
      if (!this.tensorBuf) {
        this.tensorBuf = new Uint8Array(need);
        this.filled = 0;
        this.track(need);
      }
      const take = Math.min(need - this.filled, chunk.byteLength - pos);
      this.tensorBuf.set(chunk.subarray(pos, pos + take), this.filled);
      this.filled += take;
      pos += take;
      this.dataPos += take;
      if (this.filled === need) {
        const bytes = this.tensorBuf;
        this.tensorBuf = undefined;
        this.filled = 0;
        this.next++;
        await this.onTensor(e, bytes);
      }
    }
    if (this.next === this.order.length && pos < chunk.byteLength) {
      throw new SafetensorsError(`stream has ${chunk.byteLength - pos} bytes after the last tensor`);
    }
    return pos;
  }

  /** Zero-byte tensors (a dimension of 0) complete without any byte arriving. */
  private async emitEmptyTensors(): Promise<void> {
    for (let e = this.order[this.next]; e && e.begin === e.end && e.begin <= this.dataPos; e = this.order[this.next]) {
      this.next++;
      await this.onTensor(e, new Uint8Array(0));
    }
  }

  private fill(target: Uint8Array, chunk: Uint8Array, pos: number): number {
    const take = Math.min(target.byteLength - this.filled, chunk.byteLength - pos);
    target.set(chunk.subarray(pos, pos + take), this.filled);
    this.filled += take;
    return pos + take;
  }

  private track(bytes: number): void {
    this.peakBufferedBytes = Math.max(this.peakBufferedBytes, bytes);
  }
}
