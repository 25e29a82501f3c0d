/**
 * Bit-exact reproductions of the float32 / numpy arithmetic behind diffusers' noise schedules.
 * Sigmas and timesteps are compared to diffusers at rel 1e-6, and near t = 0 a one-ulp error in ᾱ moves σ by
 * ~1e-5, so the training schedule must be rounded exactly as torch (CPU) and numpy round it.
 */

export const f32 = Math.fround;

/**
 * float32 fused multiply-add a·b + c, rounded once (what GCC emits for `start + step * idx` in torch's CPU
 * linspace kernel, compiled with -mfma). a·b of two float32 values is exact in a double; the double sum can
 * round once more, so fix the one case where that double rounding lands exactly on a float32 midpoint.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b; // exact
  const s = p + c;
  const err = p - (s - (s - p)) + (c - (s - p)); // TwoSum: p + c = s + err exactly
  const r = f32(s);
  if (err === 0 || r === s) return r;
  const other = nextFloat32Toward(r, s);
  const mid = (r + other) / 2; // exact in double
  if (s !== mid) return r;
  // s sits exactly on the midpoint: the true value is on the side of err
  return err > 0 === other > r ? other : r;
}

function nextFloat32Toward(r: number, target: number): number {
  const buf = new Float32Array(1);
  const bits = new Int32Array(buf.buffer);
  buf[0] = r;
  const up = target > r;
  if (r === 0) {
    bits[0] = 1;
    return up ? buf[0]! : -buf[0]!;
  }
  bits[0] += (r > 0) === up ? 1 : -1;
  return buf[0]!;
}

/**
 * torch.linspace(start, end, steps, dtype=float32) on CPU (torch 1.13, AVX2 kernel): the first half counts up from
 * `start`, the second half down from `end`; the vectorised loop (8 floats per vector, two vectors per iteration)
 * computes one base per vector with an FMA and adds k·step for the lanes; the scalar tail uses the FMA formula.
 * Verified bit-exact against diffusers' float32 betas (all 1000 values).
 */
export function torchLinspaceF32(startIn: number, endIn: number, steps: number): Float32Array {
  const start = f32(startIn), end = f32(endIn);
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const step = f32(f32(end - start) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  const base = (idx: number) => (idx < halfway ? fma32(step, idx, start) : fma32(-step, steps - idx - 1, end));
  const lanes = 8;
  let idx = 0;
  for (; idx + 2 * lanes <= steps; ) {
    for (let v = 0; v < 2; v++, idx += lanes) {
      const b = base(idx);
      for (let k = 0; k < lanes; k++) out[idx + k] = f32(b + f32(k * step));
    }
  }
  for (; idx < steps; idx++) out[idx] = base(idx);
  return out;
}

/** numpy.linspace(start, stop, num) in float64 (endpoint included, last value set to `stop` exactly). */
export function numpyLinspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/** numpy.arange(start, stop, step) with a float step: length ceil((stop − start) / step), values start + i·step. */
export function numpyArange(start: number, stop: number, step: number): Float64Array {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return out;
}

/** numpy.round: half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * numpy.interp(x, arange(len(fp)), fp) in float64, as numpy 1.24's C loop computes it:
 * slope·(x − x_j) + y_j, exact y_j on a grid point, clamped at both ends.
 */
export function interpOverArange(x: number, fp: ArrayLike<number>): number {
  const n = fp.length;
  if (x <= 0) return fp[0]!;
  if (x >= n - 1) return fp[n - 1]!;
  const j = Math.floor(x);
  if (j === x) return fp[j]!;
  const slope = fp[j + 1]! - fp[j]!; // divided by (x_{j+1} − x_j) = 1
  return slope * (x - j) + fp[j]!;
}
