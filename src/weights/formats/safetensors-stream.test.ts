import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../test/mulberry32';
import { blobSource, memorySource } from './byte-source';
import { parseSafetensors, serializeSafetensorsRaw, SafetensorsError, type RawTensor, type SafetensorsEntry } from './safetensors';
import { createSafetensorsStreamParser, readSafetensorsFrom, readSafetensorsHeader } from './safetensors-stream';

const f32 = (v: number[]): Uint8Array => new Uint8Array(Float32Array.from(v).buffer);
const u16 = (v: number[]): Uint8Array => new Uint8Array(Uint16Array.from(v).buffer);

/** F32, F16 (1, -2, 0.5) and BF16 (1, -3.5) tensors, an empty one and an I64. */
function sampleFile(): { bytes: Uint8Array; tensors: RawTensor[] } {
  const tensors: RawTensor[] = [
    { name: 'w', dtype: 'F32', shape: [2, 3], bytes: f32([1, 2, 3, 4, 5, -6.5]) },
    { name: 'half', dtype: 'F16', shape: [3], bytes: u16([0x3c00, 0xc000, 0x3800]) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) },
    { name: 'brain', dtype: 'BF16', shape: [2], bytes: u16([0x3f80, 0xc060]) },
    { name: 'ids', dtype: 'I64', shape: [2], bytes: new Uint8Array(BigInt64Array.from([49406n, 7n]).buffer) },
    { name: 'big', dtype: 'F32', shape: [64, 33], bytes: f32(Array.from({ length: 64 * 33 }, (_, i) => Math.sin(i))) },
  ];
  return { bytes: serializeSafetensorsRaw(tensors, { format: 'pt' }), tensors };
}

async function streamInChunks(bytes: Uint8Array, rand: () => number, maxChunk: number) {
  const got: { entry: SafetensorsEntry; bytes: Uint8Array }[] = [];
  const parser = createSafetensorsStreamParser((entry, b) => { got.push({ entry, bytes: b }); });
  let maxChunkSeen = 0;
  for (let p = 0; p < bytes.byteLength;) {
    const n = Math.min(bytes.byteLength - p, 1 + Math.floor(rand() * maxChunk));
    maxChunkSeen = Math.max(maxChunkSeen, n);
    await parser.push(bytes.slice(p, p + n));
    p += n;
  }
  const header = await parser.end();
  return { got, header, parser, maxChunkSeen };
}

describe('random-access safetensors reader', () => {
  it('reads header and tensors from memory and from a Blob, equal to parseSafetensors, F16/BF16 widened', async () => {
    const { bytes } = sampleFile();
    const ref = parseSafetensors(bytes);
    for (const src of [memorySource(bytes), blobSource(new Blob([bytes as Uint8Array<ArrayBuffer>]))]) {
      const header = await readSafetensorsHeader(src);
      expect(header.metadata).toEqual({ format: 'pt' });
      const all = await readSafetensorsFrom(src);
      expect([...all.keys()].sort()).toEqual([...ref.keys()].sort());
      for (const [k, t] of ref) expect(all.get(k)).toEqual(t);
    }
    expect([...ref.get('half')!.data]).toEqual([1, -2, 0.5]);
    expect([...ref.get('brain')!.data]).toEqual([1, -3.5]);
  });

  it('reads only the byte ranges it needs', async () => {
    const { bytes } = sampleFile();
    const reads: [number, number][] = [];
    const base = memorySource(bytes);
    const counting = { size: base.size, read: (o: number, n: number) => { reads.push([o, n]); return base.read(o, n); } };
    const picked = await readSafetensorsFrom(counting, (name) => name === 'half');
    expect([...picked.keys()]).toEqual(['half']);
    expect(reads.length).toBe(3); // length prefix, header, one tensor
    expect(reads[2]![1]).toBe(6);
  });

  it('rejects truncated or padded files', async () => {
    const { bytes } = sampleFile();
    await expect(readSafetensorsHeader(memorySource(bytes.subarray(0, bytes.length - 1)))).rejects.toThrow(/truncated|past the data/);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes);
    await expect(readSafetensorsHeader(memorySource(padded))).rejects.toThrow(/padded/);
    await expect(readSafetensorsHeader(memorySource(bytes.subarray(0, 5)))).rejects.toThrow(/too short/);
  });
});

describe('push-style safetensors stream parser', () => {
  it('emits every tensor in file order with its exact bytes, whatever the chunking (seeded)', async () => {
    const { bytes, tensors } = sampleFile();
    const rand = mulberry32(7);
    for (const maxChunk of [1, 3, 17, 100, 4096, bytes.byteLength]) {
      const { got, header, parser, maxChunkSeen } = await streamInChunks(bytes, rand, maxChunk);
      expect(got.map((g) => g.entry.name)).toEqual(tensors.map((t) => t.name));
      for (const [i, t] of tensors.entries()) expect(got[i]!.bytes).toEqual(t.bytes);
      expect(parser.bytesReceived).toBe(bytes.byteLength);
      expect(parser.expectedSize).toBe(bytes.byteLength);
      expect(header.entries.length).toBe(tensors.length);
      // memory bound: partial buffers never exceed the largest tensor or the header (chunks are only viewed)
      expect(parser.peakBufferedBytes).toBeLessThanOrEqual(Math.max(64 * 33 * 4, header.dataStart - 8));
      expect(maxChunkSeen).toBeLessThanOrEqual(maxChunk);
    }
  });

  it('awaits the consumer before going on (backpressure) and serializes unawaited pushes', async () => {
    const { bytes, tensors } = sampleFile();
    const order: string[] = [];
    const parser = createSafetensorsStreamParser(async (e) => {
      await new Promise((r) => setTimeout(r, 1));
      order.push(e.name);
    });
    const pushes = [];
    for (let p = 0; p < bytes.byteLength; p += 50) pushes.push(parser.push(bytes.slice(p, p + 50)));
    await Promise.all(pushes);
    await parser.end();
    expect(order).toEqual(tensors.map((t) => t.name));
  });

  it('rejects a truncated stream at end(), extra bytes at push(), and stays failed', async () => {
    const { bytes } = sampleFile();
    const short = createSafetensorsStreamParser(() => {});
    await short.push(bytes.subarray(0, bytes.length - 10));
    await expect(short.end()).rejects.toThrow(/truncated download/);
    const early = createSafetensorsStreamParser(() => {});
    await early.push(bytes.subarray(0, 12));
    await expect(early.end()).rejects.toThrow(/before the safetensors header/);
    const long = createSafetensorsStreamParser(() => {});
    await expect(long.push(Uint8Array.from([...bytes, 1, 2]))).rejects.toThrow(SafetensorsError);
    await expect(long.end()).rejects.toThrow(/more bytes|after the last/);
  });

  it('rejects a bad header length, unknown dtype and huge shapes with messages', async () => {
    const enc = (json: string): Uint8Array => {
      const h = new TextEncoder().encode(json);
      const out = new Uint8Array(8 + h.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
      out.set(h, 8);
      return out;
    };
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.from([255, 255, 255, 255, 255, 255, 255, 255]), /bad safetensors header length/],
      [enc('{"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}'), /unknown dtype/],
      [enc('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}'), /needs/],
      [enc('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}'), /bad shape/],
      [enc('[1,2]'), /JSON object/],
      [enc('{"a":'), /not valid UTF-8 JSON/],
    ];
    for (const [bytes, message] of cases) {
      const parser = createSafetensorsStreamParser(() => {});
      await expect(parser.push(bytes)).rejects.toThrow(message);
      await expect(readSafetensorsHeader(memorySource(bytes))).rejects.toThrow(Error);
    }
  });
});
