/**
 * UnitCodec: converts a commit unit's source tensors to their stored form (quantize.ts via tensor-codec.ts) and
 * checksums the stored bytes (XXH128), the CPU-heavy part of an install after the file's sha256. FileIngest hands
 * units to a codec and keeps reading and hashing the file meanwhile.
 * - inlineCodec: on the calling thread (Node, tests, environments without Worker).
 * - WorkerCodecPool: a few dedicated workers (codec.worker.ts); the unit's buffer is transferred, not copied, so a
 *   unit costs the reading thread only a postMessage. Units are independent, so the pool scales with cores.
 */
import type { SafetensorsDtype } from '../formats/safetensors';
import type { SourceTensor } from './file-units';
import type { StoragePrecision } from '../catalog/manifest';
import type { StoredTensor } from '../store/storage';
import { storedChecksum } from '../store/stored-checksum';
import { encodeForStorage } from '../store/tensor-codec';
import { sharedStage, WorkerPool } from './worker-pool';

export interface UnitCodec {
  /**
   * Stored tensors (with their xxh128) for `tensors`, all views into `unitBytes`. The codec may take ownership of
   * `unitBytes.buffer` (transfer): the caller must not read it afterwards.
   */
  encode(tensors: SourceTensor[], unitBytes: Uint8Array, precision: StoragePrecision): Promise<StoredTensor[]>;
  dispose(): void;
}

/** A tensor as a byte range of the unit buffer: what crosses to a codec worker. */
export interface TensorSpan {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  offset: number;
  length: number;
}

export interface EncodeRequest { id: number; buffer: ArrayBuffer; spans: TensorSpan[]; precision: StoragePrecision }
export type EncodeReply = { id: number; ok: true; tensors: StoredTensor[] } | { id: number; ok: false; error: string };

/** Encodes and checksums on this thread. */
export async function encodeUnit(tensors: SourceTensor[], precision: StoragePrecision): Promise<StoredTensor[]> {
  const checksum = await storedChecksum();
  return tensors.map((t) => {
    const s = encodeForStorage(t, precision);
    return { ...s, xxh128: checksum(s.bytes) };
  });
}

export const inlineCodec: UnitCodec = {
  encode: (tensors, _unitBytes, precision) => encodeUnit(tensors, precision),
  dispose: () => {},
};

/** Spans of `tensors` within `unitBytes`, or undefined when one of them is not a view of that buffer. */
export function spansOf(tensors: SourceTensor[], unitBytes: Uint8Array): TensorSpan[] | undefined {
  const spans: TensorSpan[] = [];
  for (const t of tensors) {
    if (t.bytes.buffer !== unitBytes.buffer) return undefined;
    spans.push({ name: t.name, dtype: t.dtype, shape: t.shape, offset: t.bytes.byteOffset, length: t.bytes.byteLength });
  }
  return spans;
}

/** Source tensors back from a transferred buffer and its spans (in the worker). */
export function tensorsOf(buffer: ArrayBuffer, spans: TensorSpan[]): SourceTensor[] {
  return spans.map((s) => ({ name: s.name, dtype: s.dtype, shape: s.shape, bytes: new Uint8Array(buffer, s.offset, s.length) }));
}

/** A codec worker's answer to one request, with the buffers to transfer back (see codec.worker.ts). */
export async function answerEncode(req: EncodeRequest): Promise<{ reply: EncodeReply; transfer: ArrayBuffer[] }> {
  try {
    const tensors = await encodeUnit(tensorsOf(req.buffer, req.spans), req.precision);
    // a stored tensor may still view the source buffer (fp32 kept byte for byte): each distinct buffer goes back
    // once, transferred; the source buffer belongs to this request, nobody else reads it
    const transfer = [...new Set(tensors.flatMap((t) => [t.bytes.buffer, t.record.quant?.scales?.buffer]))]
      .filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    return { reply: { id: req.id, ok: true, tensors }, transfer };
  } catch (e) {
    return { reply: { id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }, transfer: [] };
  }
}

/** Encodes units on `size` workers, each unit on the worker with the fewest pending units. */
export class WorkerCodecPool extends WorkerPool<EncodeRequest, EncodeReply> implements UnitCodec {
  constructor(size: number, create: () => Worker) {
    super(size, create, 'codec');
  }

  async encode(tensors: SourceTensor[], unitBytes: Uint8Array, precision: StoragePrecision): Promise<StoredTensor[]> {
    const spans = tensors.length ? spansOf(tensors, unitBytes) : undefined;
    // nothing to convert, or tensors that are not views of the unit buffer: not worth a round trip
    if (!spans) return encodeUnit(tensors, precision);
    const reply = await this.request((id) => ({ id, buffer: unitBytes.buffer as ArrayBuffer, spans, precision }), (req) => [req.buffer]);
    return reply.tensors;
  }
}

/**
 * The codec installs use: a worker pool sized to leave one core for reading and hashing (at most 3 workers),
 * or inline where there are no workers.
 */
export const defaultCodec: () => UnitCodec = sharedStage(inlineCodec, () => {
  const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 2;
  const size = Math.max(1, Math.min(3, cores - 1));
  return new WorkerCodecPool(size, () => new Worker(new URL('./codec.worker.ts', import.meta.url), { type: 'module', name: 'ipgo-weights-codec' }));
});
