/**
 * BlockVerifier: checks a file against the SHA-256 of each of its fixed-size blocks (ManifestFile.blockSha256) as
 * the bytes arrive in order.
 *
 * Why blocks: a whole-file SHA-256 is one sequential stream, so it must be computed incrementally in wasm
 * (hash-wasm) on the thread that reads the download, where it is the largest single cost of an install
 * (`bench:weights` measures it). Independent blocks can go to WebCrypto, which hashes natively (SHA-NI where the CPU has
 * it) off the JavaScript thread, and a corrupt block is caught when it completes, not after the whole file.
 * Without WebCrypto (an insecure http:// origin other than localhost) each block is hashed with hash-wasm instead.
 *
 * Resume: the verifier needs every byte of a block, so a resumed file re-reads from the start of the block holding
 * its committed offset (`resumeFrom`); FileIngest feeds those bytes here only.
 */
import { createSHA256, type IHasher } from 'hash-wasm';
import { IntegrityError } from '../install/download';
import type { BlockDigests } from '../catalog/manifest';

/** Blocks hashed concurrently before update() callers are asked to wait (each holds a copy in WebCrypto). */
const MAX_PENDING_BLOCKS = 2;

export class BlockVerifier {
  private readonly buffer: Uint8Array<ArrayBuffer>;
  /** Index of the block being filled, and how many of its bytes have arrived. */
  private index = 0;
  private filled = 0;
  private pending: Promise<void>[] = [];
  private firstMismatch: IntegrityError | undefined;

  private constructor(
    private readonly digests: BlockDigests,
    private readonly size: number,
    private readonly label: string,
    private readonly fallback: IHasher | undefined,
  ) {
    this.buffer = new Uint8Array(Math.min(digests.blockBytes, size));
  }

  static async create(digests: BlockDigests, size: number, label: string): Promise<BlockVerifier> {
    const native = typeof globalThis.crypto?.subtle?.digest === 'function';
    return new BlockVerifier(digests, size, label, native ? undefined : await createSHA256());
  }

  private get blockBytes(): number {
    return this.digests.blockBytes;
  }

  /** Starts over at the block holding `offset`; returns that block's start, where the bytes must resume. */
  resumeFrom(offset: number): number {
    this.index = Math.floor(offset / this.blockBytes);
    this.filled = 0;
    return this.index * this.blockBytes;
  }

  /** The next bytes of the file, in order. Copies them: the caller may hand its buffer on. */
  update(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.byteLength) {
      const want = this.blockLength(this.index) - this.filled;
      if (want <= 0) throw new IntegrityError(`${this.label}: more bytes than the ${this.size} its blocks describe`);
      const n = Math.min(want, bytes.byteLength - at);
      this.buffer.set(bytes.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.blockLength(this.index)) this.finishBlock();
    }
  }

  /** Throws the first mismatch found so far; waits while too many blocks are being hashed. */
  async check(): Promise<void> {
    if (this.firstMismatch) throw this.firstMismatch;
    while (this.pending.length > MAX_PENDING_BLOCKS) await this.pending[0];
    if (this.firstMismatch) throw this.firstMismatch;
  }

  /** Waits for every block; throws on a mismatch or when the file did not cover every block. */
  async finish(): Promise<void> {
    await Promise.all(this.pending);
    if (this.firstMismatch) throw this.firstMismatch;
    const count = this.digests.sha256.length;
    if (this.index !== count || this.filled !== 0) {
      throw new IntegrityError(`${this.label}: ended in block ${this.index} of ${count} (${this.filled} bytes of it)`);
    }
  }

  private blockLength(i: number): number {
    return Math.max(0, Math.min(this.blockBytes, this.size - i * this.blockBytes));
  }

  private finishBlock(): void {
    const i = this.index;
    const block = this.buffer.subarray(0, this.filled);
    const expected = this.digests.sha256[i];
    this.index++;
    this.filled = 0;
    const compare = (got: string): void => {
      if (got === expected) return;
      const start = i * this.blockBytes;
      this.firstMismatch ??= new IntegrityError(
        `${this.label}: sha256 mismatch in block ${i} (bytes ${start}–${start + block.byteLength - 1}): got ${got}, the manifest expects ${expected}`);
    };
    if (this.fallback) {
      compare(this.fallback.init().update(block).digest('hex'));
      return;
    }
    // WebCrypto copies the bytes when called, so the buffer is free to refill at once
    const p = crypto.subtle.digest('SHA-256', block).then((d) => compare(toHex(new Uint8Array(d))), (e: unknown) => {
      this.firstMismatch ??= new IntegrityError(`${this.label}: could not hash block ${i}: ${(e as Error).message}`);
    });
    const entry = p.finally(() => { this.pending.splice(this.pending.indexOf(entry), 1); });
    this.pending.push(entry);
  }
}

function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Block digests of bytes in memory (pin-tiny-manifests, bench:weights, tests): what BlockVerifier checks against. */
export async function blockDigestsOf(bytes: Uint8Array, blockBytes: number): Promise<BlockDigests> {
  const sha256: string[] = [];
  for (let at = 0; at < bytes.byteLength; at += blockBytes) {
    sha256.push(toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.subarray(at, at + blockBytes) as Uint8Array<ArrayBuffer>))));
  }
  return { blockBytes, sha256 };
}
