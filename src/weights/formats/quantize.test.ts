import { describe, expect, it } from 'vitest';
import {
  chooseDtype, DEFAULT_POLICY, dequantize, dequantizeStateDict, policyOf, quantizeStateDict, quantizeTensor,
} from './quantize';
import { f16ToF32, f32ToF16, type HostTensor } from './safetensors';

function gaussian(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const u = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

const f32 = (shape: number[], data: Float32Array): HostTensor => ({ dtype: 'F32', shape, data });

function measured(ref: Float32Array, got: Float32Array): { maxRel: number; rmsRel: number } {
  let maxErr = 0, maxAbs = 0, e2 = 0, r2 = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ref[i]! - got[i]!);
    maxErr = Math.max(maxErr, d);
    maxAbs = Math.max(maxAbs, Math.abs(ref[i]!));
    e2 += d * d;
    r2 += ref[i]! * ref[i]!;
  }
  return { maxRel: maxErr / maxAbs, rmsRel: Math.sqrt(e2 / r2) };
}

describe('f32 → f16 rounding', () => {
  it('round-trips every half exactly and rounds to nearest even', () => {
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) expect(Number.isNaN(f16ToF32(f32ToF16(v)))).toBe(true);
      else expect(f32ToF16(v)).toBe(h);
    }
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16(65520)).toBe(0x7c00); // overflow → Inf
    expect(f32ToF16(2 ** -25)).toBe(0); // tie at half the smallest subnormal → 0
    expect(f32ToF16(3 * 2 ** -26)).toBe(1);
  });
});

describe('quantization', () => {
  const w = gaussian(256 * 192, 1, 0.02);
  // make rows differ in scale, as real layers do
  for (let r = 0; r < 256; r++) for (let c = 0; c < 192; c++) w[r * 192 + c]! *= 1 + (r % 7);

  it('int8 per output channel: error within bounds and equal to what it reports', () => {
    const q = quantizeTensor('layer.weight', f32([256, 192], w), DEFAULT_POLICY);
    expect(q.dtype).toBe('int8');
    expect(q.data.byteLength).toBe(256 * 192);
    expect(q.scaleDtype).toBe('f16');
    expect(q.scales!.byteLength).toBe(256 * 2);
    const back = dequantize(q);
    const m = measured(w, back);
    expect(m.rmsRel).toBeLessThan(0.015);
    expect(m.maxRel).toBeLessThan(0.5 / 127 + 1e-3);
    expect(q.error.rmsRel).toBeCloseTo(m.rmsRel, 6);
    expect(q.error.maxRel).toBeCloseTo(m.maxRel, 6);
    // no value clipped: every row's largest |w| is representable
    const v = new Int8Array(q.data.buffer, q.data.byteOffset, q.data.byteLength);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-127);
    // fp32 scales give the same order of error
    const q32 = quantizeTensor('layer.weight', f32([256, 192], w), policyOf({ scaleDtype: 'f32' }));
    expect(q32.scaleDtype).toBe('f32');
    expect(measured(w, dequantize(q32)).rmsRel).toBeLessThan(0.015);
  });

  it('fp16: relative error bounded by half precision', () => {
    const q = quantizeTensor('conv.weight', f32([64, 3, 4, 4, 4], gaussian(64 * 3 * 64, 2)), policyOf({ dtype: 'f16' }));
    expect(q.dtype).toBe('f16');
    const back = dequantize(q);
    const ref = gaussian(64 * 3 * 64, 2);
    expect(measured(ref, back).rmsRel).toBeLessThan(2 ** -11);
    expect(q.error.rmsRel).toBeLessThan(2 ** -11);
  });

  it('the policy keeps 1-D, small and named tensors at smallDtype, out-of-range fp16 at f32, ints as i32', () => {
    expect(chooseDtype('x.bias', [4096], DEFAULT_POLICY)).toBe('f16');
    expect(chooseDtype('tiny.weight', [8, 8], DEFAULT_POLICY)).toBe('f16');
    expect(chooseDtype('layer_norm.weight', [512, 512], DEFAULT_POLICY)).toBe('f16');
    expect(chooseDtype('token_embedding.weight', [49408, 768], DEFAULT_POLICY)).toBe('f16');
    expect(chooseDtype('mlp.fc1.weight', [3072, 768], DEFAULT_POLICY)).toBe('int8');
    expect(chooseDtype('mlp.fc1.weight', [3072, 768], policyOf({ dtype: 'f32' }))).toBe('f32');
    const big = quantizeTensor('b', f32([2], Float32Array.from([1e6, 1])), DEFAULT_POLICY);
    expect(big.dtype).toBe('f32');
    expect([...dequantize(big)]).toEqual([1e6, 1]);
    const ids = quantizeTensor('position_ids', { dtype: 'I64', shape: [1, 3], data: Int32Array.from([0, 1, 2]) }, DEFAULT_POLICY);
    expect(ids.dtype).toBe('i32');
  });

  it('handles zero rows and tiny scales (f32 fallback for scales below half range)', () => {
    const x = new Float32Array(64 * 128);
    for (let i = 128; i < x.length; i++) x[i] = 1e-7 * ((i % 5) - 2);
    const q = quantizeTensor('w', f32([64, 128], x), DEFAULT_POLICY);
    expect(q.scaleDtype).toBe('f32');
    const back = dequantize(q);
    expect([...back.subarray(0, 128)].every((v) => v === 0)).toBe(true);
    expect(measured(x, back).rmsRel).toBeLessThan(0.01);
  });

  it('int8 codes are round(w / scale) with ties to even, for every row scale including subnormal ones', () => {
    const rows = 6;
    const cols = 1031;
    const x = gaussian(rows * cols, 9);
    const rowScale = [1, 1e-3, 1e-30, 1e-36, 1e-38, 3]; // the last two give subnormal float scales
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) x[r * cols + c]! *= rowScale[r]!;
    // exact ties: with the row max at 127·s, w = (k + 0.5)·s is halfway between two codes
    x[0] = 127 * 0.25; x[1] = 2.5 * 0.25; x[2] = -3.5 * 0.25; x[3] = 0.5 * 0.25; x[4] = -0.5 * 0.25;
    for (let c = 5; c < cols; c++) x[c] = Math.max(-31, Math.min(31, x[c]!)); // keep row 0's max exactly 127·0.25
    const q = quantizeTensor('w', f32([rows, cols], x), policyOf({ scaleDtype: 'f32' }));
    const scales = new Float32Array(q.scales!.buffer.slice(q.scales!.byteOffset, q.scales!.byteOffset + q.scales!.byteLength));
    const codes = new Int8Array(q.data.buffer, q.data.byteOffset, q.data.byteLength);
    expect(scales[0]).toBe(0.25);
    expect([...codes.subarray(0, 5)]).toEqual([127, 2, -4, 0, 0]);
    const halfEven = (y: number): number => { const f = Math.floor(y); const d = y - f; return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f; };
    for (let r = 0; r < rows; r++) {
      expect(scales[r]).toBeGreaterThan(0);
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        expect(codes[i]).toBe(Math.max(-127, Math.min(127, halfEven(x[i]! / scales[r]!))));
      }
    }
  });

  it('a NaN or Inf anywhere keeps the tensor exact (f32)', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const x = gaussian(64 * 96, 4);
      x[5000] = bad;
      const q = quantizeTensor('fc.weight', f32([64, 96], x), DEFAULT_POLICY);
      expect(q.dtype).toBe('f32');
      expect(Object.is(dequantize(q)[5000], bad)).toBe(true);
    }
  });

  it('quantizeStateDict / dequantizeStateDict round trip with a per-tensor report', () => {
    const host = new Map<string, HostTensor>([
      ['fc.weight', f32([256, 192], w)],
      ['fc.bias', f32([256], gaussian(256, 3))],
      ['ids', { dtype: 'I32', shape: [3], data: Int32Array.from([5, 6, 7]) }],
    ]);
    const q = quantizeStateDict(host);
    expect(q.report.map((r) => [r.name, r.dtype])).toEqual([['fc.weight', 'int8'], ['fc.bias', 'f16'], ['ids', 'i32']]);
    expect(q.totalBytes).toBe(256 * 192 + 256 * 2 + 256 * 2 + 12);
    const back = dequantizeStateDict(q.tensors);
    expect(back.get('ids')).toEqual({ dtype: 'I32', shape: [3], data: Int32Array.from([5, 6, 7]) });
    expect(back.get('fc.weight')!.shape).toEqual([256, 192]);
    expect(measured(w, back.get('fc.weight')!.data as Float32Array).rmsRel).toBeLessThan(0.015);
  });
});
