/**
 * Sha256Stage: the whole-file incremental SHA-256 of an install (FileIngest), moved off the thread that reads the
 * download. A SHA-256 is sequential over the file, but each step only needs the previous step's state, so the
 * state travels with every unit: update(state, bytes) → the state after `bytes`. This hash (hash-wasm) is the
 * largest single cost on the reading thread (`bench:weights` measures it); on a worker it overlaps with reading,
 * quantizing and storing.
 * - inlineSha256: on the calling thread (Node, tests, no Worker).
 * - WorkerSha256: one dedicated worker (sha256.worker.ts) shared by every install; the unit's buffer is transferred
 *   there and back, so a unit costs the reading thread two postMessages. The worker keeps no state between
 *   messages, so interleaved files cannot mix.
 */
import { createSHA256, type IHasher } from 'hash-wasm';
import { sharedStage, WorkerPool } from './worker-pool';

export interface HashedUnit {
  /** The hasher state (hash-wasm save()) after the unit. */
  state: Uint8Array;
  /** The unit's bytes: the same view, or a view of the same range in the buffer that came back from a worker. */
  bytes: Uint8Array;
}

export interface Sha256Stage {
  /** Hashes `bytes` on top of `state`. May take ownership of `bytes.buffer` (transfer) and give it back in the result. */
  update(state: Uint8Array, bytes: Uint8Array): Promise<HashedUnit>;
  dispose(): void;
}

export interface Sha256Request { id: number; state: Uint8Array; buffer: ArrayBuffer; offset: number; length: number }
export type Sha256Reply = { id: number; ok: true; state: Uint8Array; buffer: ArrayBuffer } | { id: number; ok: false; error: string };

let hasher: Promise<IHasher> | undefined;

/** The state after hashing `bytes` on top of `state`, on this thread. */
async function sha256Step(state: Uint8Array, bytes: Uint8Array): Promise<Uint8Array> {
  const h = await (hasher ??= createSHA256());
  h.load(state);
  h.update(bytes);
  return h.save();
}

/** The hasher state of an empty file, and the hex digest of a state. */
export async function sha256Start(): Promise<Uint8Array> {
  const h = await (hasher ??= createSHA256());
  return h.init().save();
}

export async function sha256Digest(state: Uint8Array): Promise<string> {
  const h = await (hasher ??= createSHA256());
  h.load(state);
  return h.digest('hex');
}

export const inlineSha256: Sha256Stage = {
  update: async (state, bytes) => ({ state: await sha256Step(state, bytes), bytes }),
  dispose: () => {},
};

/** A sha256 worker's answer to one request, with the buffer to transfer back (see sha256.worker.ts). */
export async function answerSha256(req: Sha256Request): Promise<{ reply: Sha256Reply; transfer: ArrayBuffer[] }> {
  try {
    const state = await sha256Step(req.state, new Uint8Array(req.buffer, req.offset, req.length));
    return { reply: { id: req.id, ok: true, state, buffer: req.buffer }, transfer: [req.buffer] };
  } catch (e) {
    return { reply: { id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }, transfer: [] };
  }
}

/** Hashes on one worker (a pool of one answers in the order requests were sent). */
export class WorkerSha256 extends WorkerPool<Sha256Request, Sha256Reply> implements Sha256Stage {
  constructor(create: () => Worker) {
    super(1, create, 'sha256');
  }

  async update(state: Uint8Array, bytes: Uint8Array): Promise<HashedUnit> {
    const { byteOffset, byteLength } = bytes; // read before the transfer detaches the view
    const reply = await this.request(
      (id) => ({ id, state, buffer: bytes.buffer as ArrayBuffer, offset: byteOffset, length: byteLength }), (req) => [req.buffer]);
    return { state: reply.state, bytes: new Uint8Array(reply.buffer, byteOffset, byteLength) };
  }
}

/** The stage installs use: one shared worker where there are workers, else inline. */
export const defaultSha256Stage: () => Sha256Stage = sharedStage(inlineSha256,
  () => new WorkerSha256(() => new Worker(new URL('./sha256.worker.ts', import.meta.url), { type: 'module', name: 'ipgo-weights-sha256' })));
