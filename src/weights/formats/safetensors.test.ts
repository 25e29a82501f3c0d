import { describe, expect, it } from 'vitest';
import { decodeTensorBytes, parseSafetensors, serializeSafetensors, SafetensorsError, f16ToF32, type SafetensorsDtype } from './safetensors';

describe('safetensors', () => {
  it('round-trips float32 and int32 tensors', () => {
    const src = new Map([
      ['a', { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) }],
      ['ids', { shape: [3], data: new Int32Array([49406, 7, 49407]) }],
    ]);
    const back = parseSafetensors(serializeSafetensors(src));
    expect(back.get('a')!.shape).toEqual([2, 3]);
    expect([...back.get('a')!.data]).toEqual([1, 2, 3, 4, 5, -6.5]);
    expect([...back.get('ids')!.data]).toEqual([49406, 7, 49407]);
  });

  it('rejects a truncated file with a message', () => {
    const bytes = serializeSafetensors(new Map([['a', { shape: [4], data: new Float32Array(4) }]]));
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 3))).toThrow(SafetensorsError);
    expect(() => parseSafetensors(bytes.subarray(0, 5))).toThrow(/too short/);
  });

  it('decodes each dtype from little-endian bytes at any offset (a tensor inside a file is rarely aligned)', () => {
    const cases: [SafetensorsDtype, number, (v: DataView, at: number, x: number) => void, number[], number[]][] = [
      ['F32', 4, (v, at, x) => v.setFloat32(at, x, true), [1.5, -2.25, 3e38], [1.5, -2.25, Math.fround(3e38)]],
      ['F64', 8, (v, at, x) => v.setFloat64(at, x, true), [1.5, -0.1, 1e-3], [1.5, Math.fround(-0.1), Math.fround(1e-3)]],
      ['I32', 4, (v, at, x) => v.setInt32(at, x, true), [-7, 2147483647, 0], [-7, 2147483647, 0]],
      ['I16', 2, (v, at, x) => v.setInt16(at, x, true), [-32768, 5, 32767], [-32768, 5, 32767]],
      ['I8', 1, (v, at, x) => v.setInt8(at, x), [-128, 3, 127], [-128, 3, 127]],
      ['I64', 8, (v, at, x) => v.setBigInt64(at, BigInt(x), true), [-5, 49407, 0], [-5, 49407, 0]],
      ['U8', 1, (v, at, x) => v.setUint8(at, x), [0, 7, 255], [0, 7, 255]],
    ];
    for (const [dtype, size, write, values, want] of cases) {
      const buffer = new ArrayBuffer(1 + size * values.length);
      const view = new DataView(buffer);
      values.forEach((x, i) => write(view, 1 + i * size, x));
      expect([...decodeTensorBytes(dtype, new Uint8Array(buffer, 1))], dtype).toEqual(want);
    }
  });

  it('decodes half floats', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0x0001)).toBeCloseTo(5.96e-8, 10);
  });
});
