import { describe, expect, it } from 'vitest';
import { parseSafetensors, serializeSafetensors, SafetensorsError, f16ToF32 } from './safetensors';

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

  it('decodes half floats', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0x0001)).toBeCloseTo(5.96e-8, 10);
  });
});
