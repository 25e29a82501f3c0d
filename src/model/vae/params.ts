import { loadConv, loadLinear, loadNorm, type ConvParams, type LinearParams, type NormParams } from '../nn';
import type { WeightScope } from '../weights';

/**
 * Shape-checked loaders: every weight is taken with the torch shape the architecture implies, so a checkpoint
 * of another size fails at load time with the key's name instead of inside a conv.
 */
export function conv(ws: WeightScope, name: string, inC: number, outC: number, k: number, stride = 1, pad?: number): ConvParams {
  ws.take(`${name}.weight`, [outC, inC, k, k]);
  ws.take(`${name}.bias`, [outC]);
  return loadConv(ws, name, stride, pad);
}

export function norm(ws: WeightScope, name: string, channels: number, eps: number): NormParams {
  ws.take(`${name}.weight`, [channels]);
  ws.take(`${name}.bias`, [channels]);
  return loadNorm(ws, name, eps);
}

export function linear(ws: WeightScope, name: string, inF: number, outF: number): LinearParams {
  ws.take(`${name}.weight`, [outF, inF]);
  ws.take(`${name}.bias`, [outF]);
  return loadLinear(ws, name, { bias: true });
}
