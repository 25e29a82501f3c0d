import { queryRowsPerChunk } from '../src/model/unet/attention';
import type { UNetConfig } from '../src/model/unet/config';

/**
 * The largest tensors one UNet forward (+ backward) creates, computed from the config and the input shape without
 * running the model: WebGPU refuses a storage buffer above maxStorageBufferBindingSize (128 MiB by default), so
 * every single tensor must stay under it. The candidates mirror the code: activations per level, the up path's
 * skip concatenations, the nearest-upsampled maps, GEGLU's projection [B, N, 8C], and the attention-score blocks
 * as chunkedAttention sizes them (queries chunked under `chunkBytes`). Gradients have the shapes of their forward
 * tensors. test/model-tensor-budget.test.ts checks the maximum equals the largest tensor an instrumented run
 * creates, on tiny configs with chunking active.
 */
export interface TensorCandidate { what: string; elements: number }

export interface UNetShape { batch: number; height: number; width: number; tokens: number; chunkBytes: number }

export function unetTensorCandidates(c: UNetConfig, s: UNetShape): TensorCandidate[] {
  const out: TensorCandidate[] = [];
  const n = c.blockOutChannels.length;
  const boc = c.blockOutChannels;
  const b = s.batch;
  const pixels = (level: number) => Math.ceil(s.height / 2 ** level) * Math.ceil(s.width / 2 ** level);
  const attention = (level: number, hasAttention: boolean) => {
    if (!hasAttention) return;
    const ch = boc[level]!, np = pixels(level), heads = c.heads[level]!;
    out.push({ what: `level ${level} GEGLU projection`, elements: b * np * 8 * ch });
    const selfRows = Math.min(np, queryRowsPerChunk(b * heads, np, s.chunkBytes));
    out.push({ what: `level ${level} self-attention scores block`, elements: b * heads * selfRows * np });
    const crossRows = Math.min(np, queryRowsPerChunk(b * heads, s.tokens, s.chunkBytes));
    out.push({ what: `level ${level} cross-attention scores block`, elements: b * heads * crossRows * s.tokens });
  };
  out.push({ what: 'conv_in', elements: b * pixels(0) * boc[0]! });
  c.downBlockTypes.forEach((type, i) => {
    out.push({ what: `down ${i} activation`, elements: b * pixels(i) * boc[i]! });
    out.push({ what: `down ${i} input`, elements: b * pixels(i) * (i === 0 ? boc[0]! : boc[i - 1]!) });
    attention(i, type === 'CrossAttnDownBlock2D');
  });
  attention(n - 1, true); // mid block
  c.upBlockTypes.forEach((type, i) => {
    const level = n - 1 - i;
    const outC = boc[level]!, prevC = boc[Math.min(level + 1, n - 1)]!, skipInC = boc[Math.max(level - 1, 0)]!;
    const layers = c.layersPerBlock[level]! + 1;
    for (let j = 0; j < layers; j++) {
      const skipC = j === layers - 1 ? skipInC : outC;
      out.push({ what: `up ${i} resnet ${j} input (concat)`, elements: b * pixels(level) * ((j === 0 ? prevC : outC) + skipC) });
    }
    out.push({ what: `up ${i} activation`, elements: b * pixels(level) * outC });
    attention(level, type === 'CrossAttnUpBlock2D');
    if (i < n - 1) out.push({ what: `up ${i} upsampled`, elements: b * pixels(level - 1) * outC });
  });
  return out;
}

export function largestUNetTensor(c: UNetConfig, s: UNetShape): TensorCandidate & { bytes: number } {
  const top = unetTensorCandidates(c, s).reduce((a, x) => (x.elements > a.elements ? x : a));
  return { ...top, bytes: top.elements * 4 };
}
