/**
 * The checkpoint readers on the real LAION aesthetic head (fixtures/aesthetic, the safetensors copy of the original
 * .pth): streamed safetensors, a .pth written by our torch.save-compatible writer read back bit for bit, Python
 * torch cross-checks when /usr/bin/python3 has torch, and int8/fp16 quantization errors on the real weights.
 * Not a golden suite (no reference outputs); skips when the fixture folder is absent.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobSource, memorySource } from '../src/weights/formats/byte-source';
import { dequantizeStateDict, policyOf, quantizeStateDict } from '../src/weights/formats/quantize';
import { parseSafetensors, type HostTensor } from '../src/weights/formats/safetensors';
import { createSafetensorsStreamParser, readSafetensorsFrom } from '../src/weights/formats/safetensors-stream';
import { loadTorchStateDict, openTorchCheckpoint, pickStateDict } from '../src/weights/formats/torch-zip';
import { contiguousTensor, OrderedDictValue, writeTorchCheckpoint } from './torch-zip-writer';
import { FIXTURES_DIR } from './golden';

const FILE = path.join(FIXTURES_DIR, 'aesthetic', 'sac+logos+ava1-l14-linearMSE.safetensors');
const present = fs.existsSync(FILE);
const torchPython = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const tool = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../tools/torch-crosscheck.py');

/** MLP.state_dict() order: layers by index, weight before bias. */
function stateDictOrder(names: string[]): string[] {
  const idx = (n: string): number => Number(/layers\.(\d+)\./.exec(n)?.[1] ?? -1);
  return [...names].sort((a, b) => idx(a) - idx(b) || (a.endsWith('weight') ? -1 : 1));
}

function rawBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** The aesthetic MLP (Dropouts inert): 768 → 1024 → 128 → 64 → 16 → 1, no activations, as in the original. */
function score(sd: Map<string, HostTensor>, x: Float32Array): number {
  let h = x;
  for (const i of [0, 2, 4, 6, 7]) {
    const w = sd.get(`layers.${i}.weight`)!, b = sd.get(`layers.${i}.bias`)!;
    const [out, inn] = w.shape as [number, number];
    const y = new Float32Array(out);
    for (let o = 0; o < out; o++) {
      let s = b.data[o]!;
      for (let k = 0; k < inn; k++) s += w.data[o * inn + k]! * h[k]!;
      y[o] = s;
    }
    h = y;
  }
  return h[0]!;
}

describe.skipIf(!present)(`readers on the real aesthetic head${present ? '' : ` (skipped: ${FILE} absent; set FIXTURES_DIR)`}`, () => {
  const fileBytes = (): Uint8Array => new Uint8Array(fs.readFileSync(FILE));

  it('streams the safetensors file in 64 KiB chunks and reads it from a Blob, bit-identical to parseSafetensors', async () => {
    const bytes = fileBytes();
    const ref = parseSafetensors(bytes);
    const got = new Map<string, Uint8Array>();
    const parser = createSafetensorsStreamParser((e, b) => { got.set(e.name, b); });
    for (let p = 0; p < bytes.length; p += 65536) await parser.push(bytes.subarray(p, p + 65536));
    await parser.end();
    expect(parser.peakBufferedBytes).toBe(1024 * 768 * 4); // the largest tensor, never the file
    expect([...got.keys()].sort()).toEqual([...ref.keys()].sort());
    for (const [k, t] of ref) expect(Buffer.from(got.get(k)!).equals(Buffer.from(rawBytes(t)))).toBe(true);
    const fromBlob = await readSafetensorsFrom(blobSource(new Blob([bytes as Uint8Array<ArrayBuffer>])));
    for (const [k, t] of ref) expect(Buffer.from(rawBytes(fromBlob.get(k)!)).equals(Buffer.from(rawBytes(t)))).toBe(true);
  });

  it('a .pth written by our torch.save-compatible writer reads back bit for bit', async () => {
    const ref = parseSafetensors(fileBytes());
    const order = stateDictOrder([...ref.keys()]);
    const sd = new OrderedDictValue(new Map(order.map((k) => [k, contiguousTensor('F32', ref.get(k)!.shape, rawBytes(ref.get(k)!))])),
      [['', 1], ['layers', 1], ...[0, 1, 2, 3, 4, 5, 6, 7].map((i): [string, number] => [`layers.${i}`, 1])]);
    const pth = writeTorchCheckpoint(sd, { archiveName: 'sac+logos+ava1-l14-linearMSE' });
    const back = await loadTorchStateDict(memorySource(pth));
    expect([...back.keys()]).toEqual(order);
    for (const [k, t] of ref) {
      expect(back.get(k)!.shape).toEqual(t.shape);
      expect(Buffer.from(rawBytes(back.get(k)!)).equals(Buffer.from(rawBytes(t)))).toBe(true);
    }
  });

  it.skipIf(!torchPython)('Python torch: torch.load reads our .pth; torch.save of the same dict is byte-equal to ours (torch 1.x) and reads back', async () => {
    const ref = parseSafetensors(fileBytes());
    const order = stateDictOrder([...ref.keys()]);
    const metadata: [string, number][] = [['', 1], ['layers', 1], ...[0, 1, 2, 3, 4, 5, 6, 7].map((i): [string, number] => [`layers.${i}`, 1])];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aesthetic-'));
    const ours = path.join(dir, 'ours.pth');
    const oursBytes = writeTorchCheckpoint(new OrderedDictValue(
      new Map(order.map((k) => [k, contiguousTensor('F32', ref.get(k)!.shape, rawBytes(ref.get(k)!))])), metadata), { archiveName: 'theirs' });
    fs.writeFileSync(ours, oursBytes);
    const loaded = spawnSync('/usr/bin/python3', [tool, 'load', ours], { encoding: 'utf8' });
    expect(loaded.status, loaded.stderr).toBe(0);
    const hashes = JSON.parse(loaded.stdout) as Record<string, { sha256: string; shape: number[] }>;
    expect(Object.keys(hashes)).toEqual(order);
    for (const k of order) expect(hashes[k]!.sha256).toBe(crypto.createHash('sha256').update(rawBytes(ref.get(k)!)).digest('hex'));

    const spec = path.join(dir, 'spec.json');
    fs.writeFileSync(spec, JSON.stringify({ safetensors: FILE, order, metadata }));
    const theirs = path.join(dir, 'theirs.pth');
    const saved = spawnSync('/usr/bin/python3', [tool, 'save', spec, theirs], { encoding: 'utf8' });
    expect(saved.status, saved.stderr).toBe(0);
    const theirBytes = new Uint8Array(fs.readFileSync(theirs));
    const version = spawnSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim();
    if (version.startsWith('1.')) expect(Buffer.from(theirBytes).equals(Buffer.from(oursBytes))).toBe(true);
    const back = await loadTorchStateDict(memorySource(theirBytes));
    for (const [k, t] of ref) expect(Buffer.from(rawBytes(back.get(k)!)).equals(Buffer.from(rawBytes(t)))).toBe(true);
    const ckpt = await openTorchCheckpoint(memorySource(theirBytes));
    expect(pickStateDict(ckpt.root).size).toBe(10);
  });

  it('int8 / fp16 quantization of the real weights: per-tensor errors and scores', () => {
    const ref = parseSafetensors(fileBytes());
    const int8 = quantizeStateDict(ref, policyOf({ dtype: 'int8', minElements: 1024 }));
    const fp16 = quantizeStateDict(ref, policyOf({ dtype: 'f16' }));
    for (const r of int8.report) {
      console.log(`int8 policy ${r.name}: ${r.dtype} rmsRel ${r.rmsRel.toExponential(2)} maxRel ${r.maxRel.toExponential(2)}`);
      expect(r.rmsRel).toBeLessThan(r.dtype === 'int8' ? 0.02 : 1e-3);
    }
    expect(int8.report.filter((r) => r.dtype === 'int8').map((r) => r.name)).toEqual(['layers.0.weight', 'layers.2.weight', 'layers.4.weight', 'layers.6.weight']);
    for (const r of fp16.report) expect(r.rmsRel).toBeLessThan(2 ** -11);
    expect(int8.totalBytes).toBeLessThan(ref.get('layers.0.weight')!.data.byteLength / 3);
    // scores of CLIP-like unit embeddings through the MLP
    let seed = 5;
    const rand = (): number => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296 - 0.5; };
    const d8 = dequantizeStateDict(int8.tensors), d16 = dequantizeStateDict(fp16.tensors);
    let worst8 = 0, worst16 = 0;
    for (let n = 0; n < 8; n++) {
      const x = Float32Array.from({ length: 768 }, rand);
      const norm = Math.hypot(...x);
      for (let i = 0; i < 768; i++) x[i]! /= norm;
      const s = score(ref, x);
      worst8 = Math.max(worst8, Math.abs(score(d8, x) - s) / Math.abs(s));
      worst16 = Math.max(worst16, Math.abs(score(d16, x) - s) / Math.abs(s));
    }
    console.log(`aesthetic score rel. error: int8 ${worst8.toExponential(2)}, fp16 ${worst16.toExponential(2)}`);
    expect(worst8).toBeLessThan(2e-2);
    expect(worst16).toBeLessThan(1e-3);
  });
});
