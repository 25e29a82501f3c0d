import * as tf from '@tensorflow/tfjs';
import { addLean, groupNorm, silu, type ConvParams, type LinearParams, type NormParams } from '../nn';
import type { ParamSource } from '../params';
import { conv2d, linear } from '../input-grad-ops';

export interface ResnetOptions { groups: number; eps: number; outputScaleFactor: number }

/**
 * diffusers `ResnetBlock2D` (time_embedding_norm "default"):
 * h = conv1(silu(GN1(x))) + time_emb_proj(silu(temb)); h = conv2(silu(GN2(h)));
 * out = (shortcut(x) + h) / output_scale_factor, shortcut a 1×1 conv when the channel count changes.
 */
export class ResnetBlock2D {
  readonly norm1: NormParams;
  readonly conv1: ConvParams;
  readonly timeEmbProj: LinearParams;
  readonly norm2: NormParams;
  readonly conv2: ConvParams;
  readonly convShortcut?: ConvParams;

  constructor(src: ParamSource, inC: number, outC: number, tembC: number, readonly opts: ResnetOptions) {
    this.norm1 = src.norm('norm1', inC, opts.eps);
    this.conv1 = src.conv('conv1', inC, outC, 3, 1, 1);
    this.timeEmbProj = src.linear('time_emb_proj', tembC, outC, true);
    this.norm2 = src.norm('norm2', outC, opts.eps);
    this.conv2 = src.conv('conv2', outC, outC, 3, 1, 1);
    if (inC !== outC) this.convShortcut = src.conv('conv_shortcut', inC, outC, 1, 1, 0);
  }

  /** x: NHWC [B,H,W,inC], temb: [B, tembC] → [B,H,W,outC]. */
  forward(x: tf.Tensor4D, temb: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      const g = this.opts.groups;
      let h = conv2d(groupNorm(x, g, this.norm1, 'silu'), this.conv1);
      const t = linear(silu(temb), this.timeEmbProj);
      h = addLean(h, t.reshape([t.shape[0]!, 1, 1, t.shape[1]!])) as tf.Tensor4D;
      h = conv2d(groupNorm(h, g, this.norm2, 'silu'), this.conv2);
      const skip = this.convShortcut ? conv2d(x, this.convShortcut) : x;
      const out = addLean(skip, h);
      return (this.opts.outputScaleFactor === 1 ? out : tf.div(out, this.opts.outputScaleFactor)) as tf.Tensor4D;
    });
  }
}
