import { chunkCount } from '../src/model/vae/channel-chunks';
import type { VaeConfig } from '../src/model/vae/config';

/**
 * The largest tensors one VAE decode (+ its vjp) creates, from the config and the latent shape without running the
 * model (see unet-tensor-budget.ts for why): channel chunks of every activation as channel-chunks.ts splits them
 * under `maxTensorBytes`, the mid attention's q/k/v and score blocks (query rows under `scoreBudgetBytes`), and the
 * image. Checked against an instrumented run in test/model-tensor-budget.test.ts.
 */
export interface DecoderShape { batch: number; latentHeight: number; latentWidth: number; maxTensorBytes: number; scoreBudgetBytes: number }

export function decoderTensorCandidates(c: VaeConfig, s: DecoderShape): Array<{ what: string; elements: number }> {
  const out: Array<{ what: string; elements: number }> = [];
  const b = s.batch, g = c.normNumGroups;
  const chunk = (px: number, ch: number) => (b * px * ch) / chunkCount([b, 1, px, ch], g, s.maxTensorBytes);
  const rev = [...c.blockOutChannels].reverse();
  const px0 = s.latentHeight * s.latentWidth;
  out.push({ what: 'latents', elements: b * px0 * c.latentChannels });
  out.push({ what: 'mid activation', elements: b * px0 * rev[0]! });
  if (c.midBlockAddAttention) {
    const rows = Math.min(px0, Math.max(1, Math.floor(s.scoreBudgetBytes / (4 * b * px0))));
    out.push({ what: 'mid attention scores block', elements: b * rows * px0 });
  }
  let px = px0;
  rev.forEach((outC, i) => {
    const inC = i === 0 ? rev[0]! : rev[i - 1]!;
    out.push({ what: `up ${i} input chunk`, elements: chunk(px, inC) });
    out.push({ what: `up ${i} activation chunk`, elements: chunk(px, outC) });
    if (i < rev.length - 1) {
      px *= 4;
      out.push({ what: `up ${i} upsampled chunk`, elements: chunk(px, outC) });
    }
  });
  out.push({ what: 'image', elements: b * px * c.outChannels });
  return out;
}

export function largestDecoderTensor(c: VaeConfig, s: DecoderShape): { what: string; elements: number; bytes: number } {
  const top = decoderTensorCandidates(c, s).reduce((a, x) => (x.elements > a.elements ? x : a));
  return { ...top, bytes: top.elements * 4 };
}
