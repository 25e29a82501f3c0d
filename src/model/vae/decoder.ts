import * as tf from '@tensorflow/tfjs';
import { conv2d, groupNorm, silu, type ConvParams, type NormParams } from '../nn';
import type { WeightScope } from '../weights';
import { loadMidBlock, loadUpDecoderBlock, midBlock, upDecoderBlock, type MidBlock, type NormSpec, type UpDecoderBlock } from './blocks';
import type { VaeConfig } from './config';
import type { Tap } from './encoder';
import { conv, norm } from './params';

/** diffusers `Decoder` (vae.py): conv_in → mid block → up blocks (reversed channels) → GN → SiLU → conv_out. */
export interface VaeDecoder {
  convIn: ConvParams;
  mid: MidBlock;
  upBlocks: UpDecoderBlock[];
  normOut: NormParams;
  convOut: ConvParams;
  groups: number;
}

export function loadDecoder(ws: WeightScope, c: VaeConfig): VaeDecoder {
  const n: NormSpec = { groups: c.normNumGroups, eps: c.normEps };
  const rev = [...c.blockOutChannels].reverse();
  return {
    convIn: conv(ws, 'conv_in', c.latentChannels, rev[0]!, 3),
    mid: loadMidBlock(ws.sub('mid_block.'), rev[0]!, n, c.midBlockAddAttention),
    upBlocks: rev.map((outC, i) =>
      loadUpDecoderBlock(ws.sub(`up_blocks.${i}.`), i === 0 ? rev[0]! : rev[i - 1]!, outC, c.layersPerBlock + 1, n, i < rev.length - 1)),
    normOut: norm(ws, 'conv_norm_out', c.blockOutChannels[0]!, c.normEps),
    convOut: conv(ws, 'conv_out', c.blockOutChannels[0]!, c.outChannels, 3),
    groups: c.normNumGroups,
  };
}

export function decoderForward(z: tf.Tensor4D, p: VaeDecoder, scoreBudgetBytes?: number, tap?: Tap): tf.Tensor4D {
  return tf.tidy(() => {
    let h = conv2d(z, p.convIn);
    tap?.('decoder.conv_in', h);
    h = midBlock(h, p.mid, scoreBudgetBytes);
    tap?.('decoder.mid_block', h);
    p.upBlocks.forEach((blk, i) => {
      h = upDecoderBlock(h, blk);
      tap?.(`decoder.up_blocks.${i}`, h);
    });
    return conv2d(silu(groupNorm(h, p.groups, p.normOut)) as tf.Tensor4D, p.convOut);
  });
}
