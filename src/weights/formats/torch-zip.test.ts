import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { memorySource } from './byte-source';
import { f32ToF16 } from './safetensors';
import {
  findTensorDicts, forEachTorchTensor, loadTorchStateDict, openTorchCheckpoint, pickStateDict, TorchTensorRef,
} from './torch-zip';
import {
  contiguousTensor, OrderedDictValue, writeTorchCheckpoint, type PickleWritable, type TorchStorageData,
} from '../../../test/torch-zip-writer';
import { pickleAttributesOf } from './unpickle';

/**
 * torch.save(sd, 'tiny.pt') by torch 1.13.1 (Debian python3-torch), sd = OrderedDict(a.weight=arange(6).reshape(2,3)/4,
 * a.bias=[0.5,-1], h=half [1,2], ids=int64 [3,-4]), sd._metadata = OrderedDict([('', {'version': 1}), ('a', {'version': 2})]).
 */
const TORCH_TINY_PT = '504b0304000008080000000000000000000000000000000000000d00150074696e792f646174612e706b6c464211005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a800263636f6c6c656374696f6e730a4f726465726564446963740a710029527101285808000000612e776569676874710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a71055801000000307106580300000063707571074b06747108514b004b024b038671094b034b0186710a8968002952710b74710c52710d5806000000612e62696173710e6803282868046805580100000031710f68074b02747110514b004b028571114b0185711289680029527113747114527115580100000068711668032828680463746f7263680a48616c6653746f726167650a7117580100000032711868074b02747119514b004b0285711a4b0185711b8968002952711c74711d52711e5803000000696473711f68032828680463746f7263680a4c6f6e6753746f726167650a7120580100000033712168074b02747122514b004b028571234b0185712489680029527125747126527127757d712858090000005f6d65746164617461712968002952712a285800000000712b7d712c580700000076657273696f6e712d4b0173580100000061712e7d712f682d4b02737573622e504b070839a16098d1010000d1010000504b0304000008080000000000000000000000000000000000000b00360074696e792f646174612f30464232005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a000000000000803e0000003f0000403f0000803f0000a03f504b070852e5e71f1800000018000000504b0304000008080000000000000000000000000000000000000b002f0074696e792f646174612f3146422b005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a0000003f000080bf504b070868c60e260800000008000000504b0304000008080000000000000000000000000000000000000b003f0074696e792f646174612f3246423b005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a003c0040504b07087882e97a0400000004000000504b0304000008080000000000000000000000000000000000000b00430074696e792f646174612f3346423f005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a0300000000000000fcffffffffffffff504b070831f89a0f1000000010000000504b0304000008080000000000000000000000000000000000000c00360074696e792f76657273696f6e464232005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a330a504b0708d19e67550200000002000000504b010200000000080800000000000039a16098d1010000d10100000d000000000000000000000000000000000074696e792f646174612e706b6c504b010200000000080800000000000052e5e71f18000000180000000b000000000000000000000000002102000074696e792f646174612f30504b010200000000080800000000000068c60e2608000000080000000b00000000000000000000000000a802000074696e792f646174612f31504b01020000000008080000000000007882e97a04000000040000000b000000000000000000000000001803000074696e792f646174612f32504b010200000000080800000000000031f89a0f10000000100000000b000000000000000000000000009403000074696e792f646174612f33504b0102000000000808000000000000d19e675502000000020000000c000000000000000000000000002004000074696e792f76657273696f6e504b06062c000000000000001e032d0000000000000000000600000000000000060000000000000059010000000000009204000000000000504b060700000000eb0500000000000001000000504b0506000000000600060059010000920400000000';

const bytes = (a: Float32Array | BigInt64Array | Uint16Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const halves = (v: number[]): Uint8Array => bytes(Uint16Array.from(v, f32ToF16));

function tinyStateDict(): OrderedDictValue {
  return new OrderedDictValue(new Map([
    ['a.weight', contiguousTensor('F32', [2, 3], bytes(Float32Array.from([0, 1, 2, 3, 4, 5], (x) => x / 4)))],
    ['a.bias', contiguousTensor('F32', [2], bytes(Float32Array.from([0.5, -1])))],
    ['h', contiguousTensor('F16', [2], halves([1, 2]))],
    ['ids', contiguousTensor('I64', [2], bytes(BigInt64Array.from([3n, -4n])))],
  ]), [['', 1], ['a', 2]]);
}

describe('torch zip checkpoints', () => {
  it('our writer reproduces torch.save (1.13) byte for byte', () => {
    const ours = writeTorchCheckpoint(tinyStateDict(), { archiveName: 'tiny' });
    expect(Buffer.from(ours).toString('hex')).toBe(TORCH_TINY_PT);
  });

  it('reads the torch.save file: keys in order, dtypes, values, _metadata', async () => {
    const src = memorySource(Uint8Array.from(Buffer.from(TORCH_TINY_PT, 'hex')));
    const ckpt = await openTorchCheckpoint(src);
    expect(ckpt.prefix).toBe('tiny/');
    expect(ckpt.version).toBe(3);
    const sd = await loadTorchStateDict(src);
    expect([...sd.keys()]).toEqual(['a.weight', 'a.bias', 'h', 'ids']);
    expect(sd.get('a.weight')).toEqual({ dtype: 'F32', shape: [2, 3], data: Float32Array.from([0, 0.25, 0.5, 0.75, 1, 1.25]) });
    expect(sd.get('h')).toEqual({ dtype: 'F16', shape: [2], data: Float32Array.from([1, 2]) });
    expect(sd.get('ids')).toEqual({ dtype: 'I64', shape: [2], data: Int32Array.from([3, -4]) });
    const meta = pickleAttributesOf(ckpt.root as object)!.get('_metadata') as Map<string, Map<string, number>>;
    expect([...meta.keys()]).toEqual(['', 'a']);
    expect(meta.get('a')!.get('version')).toBe(2);
  });

  it('materializes strided views (transpose, offset row, column, block, 0-d) sharing one storage', async () => {
    const storage: TorchStorageData = { dtype: 'F32', bytes: bytes(Float32Array.from({ length: 24 }, (_, i) => i)) };
    const view = (storageOffset: number, shape: number[], stride: number[]) => ({ storage, storageOffset, shape, stride });
    const file = writeTorchCheckpoint(new Map<string, PickleWritable>([['state_dict', new Map([
      ['transposed', view(0, [6, 4], [1, 6])],
      ['row', view(12, [6], [1])],
      ['column', view(3, [4], [6])],
      ['block', view(8, [2, 3], [6, 1])],
      ['scalar', view(23, [], [])],
      ['expanded', view(5, [3, 2], [0, 1])],
    ])], ['epoch', 3], ['name', 'views']]));
    const reads: number[] = [];
    const base = memorySource(file);
    const src = { size: base.size, read: (o: number, n: number) => { reads.push(n); return base.read(o, n); } };
    const sd = await loadTorchStateDict(src);
    const base24 = (i: number): number => i;
    expect([...sd.get('transposed')!.data]).toEqual([0, 6, 12, 18, 1, 7, 13, 19, 2, 8, 14, 20, 3, 9, 15, 21, 4, 10, 16, 22, 5, 11, 17, 23]);
    expect([...sd.get('row')!.data]).toEqual([12, 13, 14, 15, 16, 17].map(base24));
    expect([...sd.get('column')!.data]).toEqual([3, 9, 15, 21]);
    expect([...sd.get('block')!.data]).toEqual([8, 9, 10, 14, 15, 16]);
    expect(sd.get('scalar')).toEqual({ dtype: 'F32', shape: [], data: Float32Array.from([23]) });
    expect([...sd.get('expanded')!.data]).toEqual([5, 6, 5, 6, 5, 6]);
    expect(reads).toContain(6 * 4); // the row view read only its own 24 bytes
  });

  it('finds nested state dicts and lets callers pick', async () => {
    const t = contiguousTensor('F32', [1], bytes(Float32Array.from([1])));
    const root = new Map<string, Map<string, typeof t> | number>([['state_dict', new Map([['w', t]])], ['ema', new Map([['w', t]])], ['epoch', 1]]);
    const ckpt = await openTorchCheckpoint(memorySource(writeTorchCheckpoint(root)));
    expect(findTensorDicts(ckpt.root).map((d) => d.path)).toEqual([['state_dict'], ['ema']]);
    expect(pickStateDict(ckpt.root).get('w')).toBeInstanceOf(TorchTensorRef); // 'state_dict' preferred
    expect(pickStateDict(ckpt.root, ['ema']).size).toBe(1);
    expect(() => pickStateDict(ckpt.root, ['nope'])).toThrow(/no tensor dict at \["nope"\]/);
    const two = await openTorchCheckpoint(memorySource(writeTorchCheckpoint(new Map([['a', new Map([['w', t]])], ['b', new Map([['w', t]])]]))));
    expect(() => pickStateDict(two.root)).toThrow(/several tensor dicts/);
    const names: string[] = [];
    await forEachTorchTensor(memorySource(writeTorchCheckpoint(root)), (n, info, b) => { names.push(`${n}:${info.dtype}:${b.byteLength}`); });
    expect(names).toEqual(['w:F32:4']);
  });

  it('rejects big-endian checkpoints, missing storages, out-of-range views and legacy files', async () => {
    const t = contiguousTensor('F32', [2], bytes(Float32Array.from([1, 2])));
    const good = writeTorchCheckpoint(new Map([['w', t]]), { byteorder: true });
    await expect(loadTorchStateDict(memorySource(good))).resolves.toBeDefined();
    const big = writeTorchCheckpoint(new Map([['w', t]]), { byteorder: 'big' });
    await expect(openTorchCheckpoint(memorySource(big))).rejects.toThrow(/byte order is "big"/);
    const flipped = good.slice();
    flipped[Buffer.from(flipped).indexOf('little')] ^= 1;
    await expect(openTorchCheckpoint(memorySource(flipped))).rejects.toThrow(/CRC-32/);
    const dataFlip = good.slice();
    dataFlip[Buffer.from(dataFlip).lastIndexOf(Buffer.from(new Float32Array([2]).buffer))] ^= 1;
    await expect(loadTorchStateDict(memorySource(dataFlip))).rejects.toThrow(/CRC-32/);
    const unchecked = await loadTorchStateDict(memorySource(dataFlip), undefined, { verifyCrc: false });
    expect(unchecked.get('w')!.data[1]).not.toBe(2);
    const oob = writeTorchCheckpoint(new Map([['w', { storage: t.storage, storageOffset: 1, shape: [2], stride: [1] }]]));
    await expect(openTorchCheckpoint(memorySource(oob))).rejects.toThrow(/reaches element 2 of a storage of 2/);
    await expect(openTorchCheckpoint(memorySource(Uint8Array.from([0x80, 2, 0x8a, 10])))).rejects.toThrow(/legacy/);
    const renamed = good.slice();
    const name = Buffer.from(renamed).lastIndexOf('archive/data/0');
    renamed.set(new TextEncoder().encode('archive/data/9'), name); // central directory entry no longer matches
    await expect(loadTorchStateDict(memorySource(renamed))).rejects.toThrow(/missing from the zip/);
  });
});

const torchPython = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const tool = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../tools/torch-crosscheck.py');

function torchLoad(file: string, ...keys: string[]): Record<string, { dtype: string; shape: number[]; sha256: string }> {
  const r = spawnSync('/usr/bin/python3', [tool, 'load', file, ...keys], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Record<string, { dtype: string; shape: number[]; sha256: string }>;
}

describe.skipIf(!torchPython)('cross-check with Python torch (skipped: /usr/bin/python3 has no torch)', () => {
  it('reads what torch.save wrote (views, fp16, bf16, int64, 0-d) and torch.load reads what we wrote', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torch-xcheck-'));
    const file = path.join(dir, 'views.pt');
    const r = spawnSync('/usr/bin/python3', [tool, 'views', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const expected = torchLoad(file, 'state_dict');
    const src = memorySource(new Uint8Array(fs.readFileSync(file)));
    const ckpt = await openTorchCheckpoint(src);
    const got: typeof expected = {};
    for (const [name, t] of pickStateDict(ckpt.root)) {
      got[name] = { dtype: t.dtype, shape: t.shape, sha256: crypto.createHash('sha256').update(await ckpt.readTensorBytes(t)).digest('hex') };
    }
    expect(got).toEqual(expected);

    // the other way: our strided checkpoint through torch.load
    const storage: TorchStorageData = { dtype: 'F32', bytes: bytes(Float32Array.from({ length: 12 }, (_, i) => i - 3.5)) };
    const ours = path.join(dir, 'ours.pt');
    fs.writeFileSync(ours, writeTorchCheckpoint(new OrderedDictValue(new Map([
      ['t', { storage, storageOffset: 0, shape: [4, 3], stride: [1, 4] }],
      ['h', contiguousTensor('F16', [3], halves([0.5, -2, 1000]))],
    ]))));
    const theirs = torchLoad(ours);
    const mine = memorySource(new Uint8Array(fs.readFileSync(ours)));
    const ck2 = await openTorchCheckpoint(mine);
    for (const [name, t] of pickStateDict(ck2.root)) {
      expect(theirs[name]!.sha256).toBe(crypto.createHash('sha256').update(await ck2.readTensorBytes(t)).digest('hex'));
      expect(theirs[name]!.shape).toEqual(t.shape);
    }
  });
});
