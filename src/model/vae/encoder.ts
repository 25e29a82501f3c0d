import * as tf from '@tensorflow/tfjs';
import { groupNorm, type ConvParams, type NormParams } from '../nn';
import { conv2d } from '../input-grad-ops';
import type { ParamSource } from '../params';
import { downEncoderBlock, loadDownEncoderBlock, loadMidBlock, midBlock, type DownEncoderBlock, type MidBlock, type NormSpec } from './blocks';
import type { VaeConfig } from './config';

/** Records named intermediate activations (NHWC); called inside tf.tidy, so keep what you store. */
export type Tap = (name: string, t: tf.Tensor4D) => void;

/** diffusers `Encoder` (vae.py): conv_in → down blocks → mid block → GN → SiLU → conv_out (2·latent channels). */
export interface VaeEncoder {
  convIn: ConvParams;
  downBlocks: DownEncoderBlock[];
  mid: MidBlock;
  normOut: NormParams;
  convOut: ConvParams;
  groups: number;
}

export function loadEncoder(src: ParamSource, c: VaeConfig): VaeEncoder {
  const n: NormSpec = { groups: c.normNumGroups, eps: c.normEps };
  const ch = c.blockOutChannels;
  const last = ch[ch.length - 1]!;
  return {
    convIn: src.conv('conv_in', c.inChannels, ch[0]!, 3, 1, 1),
    downBlocks: ch.map((outC, i) =>
      loadDownEncoderBlock(src.sub(`down_blocks.${i}.`), i === 0 ? ch[0]! : ch[i - 1]!, outC, c.layersPerBlock, n, i < ch.length - 1)),
    mid: loadMidBlock(src.sub('mid_block.'), last, n, c.midBlockAddAttention),
    normOut: src.norm('conv_norm_out', last, c.normEps),
    convOut: src.conv('conv_out', last, (c.doubleZ ? 2 : 1) * c.latentChannels, 3, 1, 1),
    groups: c.normNumGroups,
  };
}

export function encoderForward(x: tf.Tensor4D, p: VaeEncoder, scoreBudgetBytes?: number, tap?: Tap): tf.Tensor4D {
  return tf.tidy(() => {
    let h = conv2d(x, p.convIn);
    tap?.('encoder.conv_in', h);
    p.downBlocks.forEach((blk, i) => {
      h = downEncoderBlock(h, blk);
      tap?.(`encoder.down_blocks.${i}`, h);
    });
    h = midBlock(h, p.mid, scoreBudgetBytes);
    tap?.('encoder.mid_block', h);
    return conv2d(groupNorm(h, p.groups, p.normOut, 'silu'), p.convOut);
  });
}
