/**
 * Linear multistep coefficients of k-diffusion / diffusers' LMSDiscreteScheduler, integrated exactly.
 *
 * c_k = ∫_{σ_i}^{σ_{i+1}} Π_{j≠k, j<order} (τ − σ_{i−j}) / (σ_{i−k} − σ_{i−j}) dτ   (k = 0 … order−1)
 *
 * The integrand is the Lagrange basis polynomial of degree order−1 ≤ 3, so instead of scipy's adaptive
 * quadrature we expand the product in u = τ − σ_i (small values, little cancellation) and integrate the
 * monomials in closed form, in float64 from the float32 sigmas diffusers stores.
 */
export function lmsCoefficients(sigmas: ArrayLike<number>, stepIndex: number, order: number): number[] {
  if (order < 1 || stepIndex - order + 1 < 0) throw new Error(`LMS order ${order} needs ${order} past sigmas at step ${stepIndex}`);
  if (stepIndex + 1 >= sigmas.length) throw new Error(`LMS step ${stepIndex} is past the end of the sigma schedule`);
  const s0 = sigmas[stepIndex]!;
  const h = sigmas[stepIndex + 1]! - s0;
  const coeffs: number[] = [];
  for (let k = 0; k < order; k++) {
    let poly = [1]; // poly[m] = coefficient of u^m
    let denom = 1;
    for (let j = 0; j < order; j++) {
      if (j === k) continue;
      const root = sigmas[stepIndex - j]! - s0; // τ − σ_{i−j} = u − root
      poly = mulLinear(poly, -root);
      denom *= sigmas[stepIndex - k]! - sigmas[stepIndex - j]!;
    }
    coeffs.push(integrateFromZero(poly, h) / denom);
  }
  return coeffs;
}

/** poly(u) · (u + c) */
function mulLinear(poly: number[], c: number): number[] {
  const out = new Array<number>(poly.length + 1).fill(0);
  for (let m = 0; m < poly.length; m++) {
    out[m]! += poly[m]! * c;
    out[m + 1]! += poly[m]!;
  }
  return out;
}

/** ∫_0^h Σ a_m u^m du = Σ a_m h^{m+1}/(m+1), by Horner. */
function integrateFromZero(poly: number[], h: number): number {
  let acc = 0;
  for (let m = poly.length - 1; m >= 0; m--) acc = acc * h + poly[m]! / (m + 1);
  return acc * h;
}
