import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { memorySource, type ByteSource } from './byte-source';
import { contiguousTensor, writeTorchCheckpoint } from '../../../test/torch-zip-writer';
import { crc32, readStoredRange, readZipDirectory, readZipEntry, ZipError } from './zip';

const hasPython = spawnSync('python3', ['-c', 'import zipfile'], { encoding: 'utf8' }).status === 0;

/** Runs a Python zipfile script in a temp dir; returns the dir. */
function python(script: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zip-test-'));
  const r = spawnSync('python3', ['-c', script], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return dir;
}

function counting(src: ByteSource) {
  const reads: number[] = [];
  return { reads, src: { size: src.size, read: (o: number, n: number) => { reads.push(n); return src.read(o, n); } } };
}

describe('zip reader', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('reads torch-layout archives (data descriptors, FB padding, zip64 end record) by ranges', async () => {
    const data = new Uint8Array(200_000).map((_, i) => i * 7);
    const file = writeTorchCheckpoint(new Map([['x', contiguousTensor('U8', [200_000], data)]]), { archiveName: 'ck' });
    const { reads, src } = counting(memorySource(file));
    const dir = await readZipDirectory(src);
    expect(dir.entries.map((e) => e.name)).toEqual(['ck/data.pkl', 'ck/data/0', 'ck/version']);
    expect(await readZipEntry(src, dir.byName.get('ck/data/0')!)).toEqual(data);
    expect(await readStoredRange(src, dir.byName.get('ck/data/0')!, 100, 10)).toEqual(data.subarray(100, 110));
    expect(new TextDecoder().decode(await readZipEntry(src, dir.byName.get('ck/version')!))).toBe('3\n');
    expect(Math.max(...reads)).toBeLessThanOrEqual(200_000); // one entry at most, never the whole file
    expect(reads.length).toBeLessThan(12);
  });

  it.skipIf(!hasPython)('agrees with Python zipfile on our archives, and reads its deflated and zip64 ones', async () => {
    const file = writeTorchCheckpoint(new Map([['x', contiguousTensor('F32', [3], new Uint8Array(12).fill(9))]]));
    const dir = python('pass');
    fs.writeFileSync(path.join(dir, 'ours.pt'), file);
    const check = spawnSync('python3', ['-c', 'import zipfile,sys; z=zipfile.ZipFile("ours.pt"); assert z.testzip() is None; print(",".join(z.namelist()))'],
      { cwd: dir, encoding: 'utf8' });
    expect(check.stdout.trim()).toBe('archive/data.pkl,archive/data/0,archive/version');

    const pyDir = python(`
import zipfile
payload = bytes(range(256)) * 40
with zipfile.ZipFile('d.zip', 'w', compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr('a/deflated.bin', payload)
    z.writestr(zipfile.ZipInfo('a/stored.txt'), 'hello')
with zipfile.ZipFile('z64.zip', 'w') as z:
    with z.open('big/entry', 'w', force_zip64=True) as f:
        f.write(payload)
`);
    const payload = new Uint8Array(10240).map((_, i) => i % 256);
    const d = memorySource(new Uint8Array(fs.readFileSync(path.join(pyDir, 'd.zip'))));
    const dd = await readZipDirectory(d);
    expect(dd.byName.get('a/deflated.bin')!.method).toBe(8);
    expect(await readZipEntry(d, dd.byName.get('a/deflated.bin')!)).toEqual(payload);
    await expect(readStoredRange(d, dd.byName.get('a/deflated.bin')!, 0, 4)).rejects.toThrow(/compressed/);
    const z = memorySource(new Uint8Array(fs.readFileSync(path.join(pyDir, 'z64.zip'))));
    const zd = await readZipDirectory(z);
    expect(await readZipEntry(z, zd.byName.get('big/entry')!)).toEqual(payload);
  });

  it('reads zip64 extra fields in the central directory', async () => {
    // Rewrite one central entry of a torch-layout archive to carry its sizes and offset in a zip64 extra field.
    const file = writeTorchCheckpoint(new Map([['x', contiguousTensor('U8', [4], Uint8Array.from([1, 2, 3, 4]))]]), { archiveName: 'a' });
    const src = memorySource(file);
    const dir = await readZipDirectory(src);
    const target = dir.byName.get('a/data/0')!;
    const view = new DataView(file.buffer);
    const eocd = file.byteLength - 22;
    const cdOffset = view.getUint32(eocd + 16, true);
    const cdSize = view.getUint32(eocd + 12, true);
    const cd = file.slice(cdOffset, cdOffset + cdSize);
    const parts: number[] = [];
    for (let p = 0; p < cd.length;) {
      const cv = new DataView(cd.buffer, p);
      const nameLen = cv.getUint16(28, true);
      const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
      const rec = Array.from(cd.subarray(p, p + 46 + nameLen));
      if (name === 'a/data/0') {
        const r = new DataView(Uint8Array.from(rec).buffer);
        for (const o of [20, 24, 42]) r.setUint32(o, 0xffffffff, true);
        r.setUint16(30, 28, true);
        const extra = new DataView(new ArrayBuffer(28));
        extra.setUint16(0, 1, true);
        extra.setUint16(2, 24, true);
        extra.setBigUint64(4, BigInt(target.size), true);
        extra.setBigUint64(12, BigInt(target.compressedSize), true);
        extra.setBigUint64(20, BigInt(target.localHeaderOffset), true);
        parts.push(...new Uint8Array(r.buffer), ...new Uint8Array(extra.buffer));
      } else parts.push(...rec);
      p += 46 + nameLen;
    }
    const newCd = Uint8Array.from(parts);
    const out = new Uint8Array(cdOffset + newCd.length + 22);
    out.set(file.subarray(0, cdOffset));
    out.set(newCd, cdOffset);
    const end = new DataView(out.buffer, cdOffset + newCd.length);
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, dir.entries.length, true);
    end.setUint16(10, dir.entries.length, true);
    end.setUint32(12, newCd.length, true);
    end.setUint32(16, cdOffset, true);
    const s2 = memorySource(out);
    const d2 = await readZipDirectory(s2);
    expect(d2.byName.get('a/data/0')).toEqual(target);
    expect(await readZipEntry(s2, d2.byName.get('a/data/0')!)).toEqual(Uint8Array.from([1, 2, 3, 4]));
  });

  it('rejects non-zips, truncation and corrupt data with ZipErrors', async () => {
    const file = writeTorchCheckpoint(new Map([['x', contiguousTensor('U8', [300], new Uint8Array(300).fill(1))]]));
    await expect(readZipDirectory(memorySource(new Uint8Array(100)))).rejects.toThrow(/end-of-central-directory/);
    await expect(readZipDirectory(memorySource(file.subarray(0, file.length - 30)))).rejects.toThrow(ZipError);
    await expect(readZipDirectory(memorySource(file.subarray(200)))).rejects.toThrow(ZipError);
    const corrupt = file.slice();
    const dir = await readZipDirectory(memorySource(corrupt));
    const e = dir.byName.get('archive/data/0')!;
    const start = e.localHeaderOffset + 30 + 'archive/data/0'.length + 4;
    corrupt[start + ((64 - (start % 64)) % 64) + 5] ^= 0x40;
    await expect(readZipEntry(memorySource(corrupt), e)).rejects.toThrow(/CRC-32/);
  });
});
