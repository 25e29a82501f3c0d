/**
 * Splits a file arriving in order into COMMIT UNITS: byte ranges that are processed, stored and committed as a
 * whole, so a resume (after a crash or a closed tab) restarts at a unit boundary with the reader state saved at
 * that boundary.
 *
 * - safetensors: unit 0 is the 8-byte length + JSON header; then one unit per tensor (in file order, padding
 *   before a tensor belongs to its unit). Commit granularity = whole tensors, stored already converted.
 * - json / txt: the whole file is one unit (they are small).
 * - torch-zip: fixed-size raw blocks. A torch.save zip writes its local headers before the sizes are known (data
 *   descriptors), so entries cannot be delimited in a stream; the raw bytes are staged in storage and the
 *   checkpoint is parsed from there (random access via the central directory) once the file is verified.
 */
import { dataSectionSize, parseHeader, readHeaderLength, SafetensorsError, type SafetensorsDtype, type SafetensorsHeader } from '../formats/safetensors';
import { entriesInFileOrder } from '../formats/safetensors-stream';
import type { FileFormat } from '../catalog/manifest';

/** A tensor's raw little-endian bytes as the checkpoint stores them. */
export interface SourceTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

export interface Unit {
  tensors: SourceTensor[];
  /** json / txt files: the decoded text. */
  text?: string;
  /** torch-zip staging: raw bytes to keep as block `index`. */
  rawBlock?: { index: number; bytes: Uint8Array };
}

export interface UnitReader {
  /**
   * End offset (exclusive) of the unit that starts at `start`, or null when that is not known yet.
   * `head(n)` returns the first n uncommitted bytes, or null while fewer have arrived.
   */
  unitEnd(start: number, head: (n: number) => Uint8Array | null): number | null;
  /** Processes the complete unit [start, start + bytes.length). */
  consume(start: number, bytes: Uint8Array): Unit;
  /** Structured-cloneable state at the current unit boundary, persisted with each commit. */
  state(): unknown;
  /** Throws unless the whole file has been consumed. */
  finish(): void;
}

export class FileFormatError extends Error {
  override name = 'FileFormatError';
}

export function createUnitReader(format: FileFormat, size: number, rawBlockBytes: number, state?: unknown): UnitReader {
  switch (format) {
    case 'safetensors':
      return new SafetensorsUnits(size, state as SafetensorsUnitState | undefined);
    case 'json':
    case 'txt':
      return new TextUnits(format, size);
    case 'torch-zip':
      return new RawBlockUnits(size, rawBlockBytes);
  }
}

interface SafetensorsUnitState {
  header: SafetensorsHeader;
  /** Index (in file order) of the next tensor. */
  next: number;
}

class SafetensorsUnits implements UnitReader {
  private header: SafetensorsHeader | undefined;
  private order: SafetensorsHeader['entries'] = [];
  private next = 0;

  constructor(private readonly size: number, state?: SafetensorsUnitState) {
    if (state) {
      this.header = state.header;
      this.order = entriesInFileOrder(state.header);
      this.next = state.next;
    }
  }

  unitEnd(start: number, head: (n: number) => Uint8Array | null): number | null {
    if (!this.header) {
      const first8 = head(8);
      if (!first8) return this.size < 8 ? this.tooShort() : null;
      const end = 8 + readHeaderLength(first8);
      if (end > this.size) throw new SafetensorsError(`header length ${end - 8} exceeds the file size ${this.size}`);
      return end;
    }
    if (this.next < this.order.length) return this.header.dataStart + this.order[this.next]!.end;
    if (start < this.size) throw new SafetensorsError(`${this.size - start} bytes after the last tensor`);
    return null;
  }

  private tooShort(): never {
    throw new SafetensorsError(`file of ${this.size} bytes is too short for a safetensors header`);
  }

  consume(start: number, bytes: Uint8Array): Unit {
    if (!this.header) {
      const header = parseHeader(bytes.subarray(8), this.size);
      const described = header.dataStart + dataSectionSize(header);
      if (described !== this.size) {
        throw new SafetensorsError(`file is ${this.size} bytes but its header describes ${described}: truncated or padded file`);
      }
      this.header = header;
      this.order = entriesInFileOrder(header);
      return { tensors: [] };
    }
    const e = this.order[this.next++]!;
    const from = this.header.dataStart + e.begin - start;
    return { tensors: [{ name: e.name, dtype: e.dtype, shape: e.shape, bytes: bytes.subarray(from, from + e.end - e.begin) }] };
  }

  state(): SafetensorsUnitState | undefined {
    return this.header ? { header: this.header, next: this.next } : undefined;
  }

  finish(): void {
    if (!this.header) throw new SafetensorsError('the safetensors header never arrived');
    if (this.next < this.order.length) throw new SafetensorsError(`file ended before tensor "${this.order[this.next]!.name}"`);
  }
}

class TextUnits implements UnitReader {
  private done = false;

  constructor(private readonly format: 'json' | 'txt', private readonly size: number) {}

  unitEnd(): number | null {
    return this.done ? null : this.size;
  }

  consume(_start: number, bytes: Uint8Array): Unit {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new FileFormatError('text file is not valid UTF-8');
    }
    if (this.format === 'json') {
      try {
        JSON.parse(text);
      } catch (e) {
        throw new FileFormatError(`not valid JSON: ${(e as Error).message}`);
      }
    }
    this.done = true;
    return { tensors: [], text };
  }

  state(): undefined {
    return undefined;
  }

  finish(): void {
    if (!this.done) throw new FileFormatError('file ended early');
  }
}

class RawBlockUnits implements UnitReader {
  constructor(private readonly size: number, private readonly blockBytes: number) {}

  unitEnd(start: number): number | null {
    return start < this.size ? Math.min(this.size, start + this.blockBytes) : null;
  }

  consume(start: number, bytes: Uint8Array): Unit {
    return { tensors: [], rawBlock: { index: Math.floor(start / this.blockBytes), bytes } };
  }

  /** The block size: staged blocks are only readable with the size they were written with. */
  state(): { blockBytes: number } {
    return { blockBytes: this.blockBytes };
  }

  finish(): void {}
}
