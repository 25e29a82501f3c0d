import * as tf from '@tensorflow/tfjs';
import { addLean, gelu, groupNorm, layerNorm, reshapeLean, type ConvParams, type LinearParams, type NormParams } from '../nn';
import { checkpoint } from '../checkpoint-grad';
import { chunkedAttention } from './attention';
import type { ParamSource } from '../params';
import { conv2d, linear } from '../input-grad-ops';
import { gegluGrad } from '../kernels/wasm-geglu';

/** diffusers `Attention` as used by SD1.5: to_q/to_k/to_v without bias, to_out.0 with bias (to_out.1 is dropout). */
export class Attention {
  readonly toQ: LinearParams;
  readonly toK: LinearParams;
  readonly toV: LinearParams;
  readonly toOut: LinearParams;
  constructor(src: ParamSource, queryDim: number, contextDim: number, readonly heads: number) {
    this.toQ = src.linear('to_q', queryDim, queryDim, false);
    this.toK = src.linear('to_k', contextDim, queryDim, false);
    this.toV = src.linear('to_v', contextDim, queryDim, false);
    this.toOut = src.linear('to_out.0', queryDim, queryDim, true);
  }
  /** x: [B, L, queryDim]; context: [B, Lc, contextDim] (x itself for self-attention). */
  forward(x: tf.Tensor3D, context: tf.Tensor3D, chunkBytes: number): tf.Tensor3D {
    return tf.tidy(() => {
      const q = linear(x, this.toQ) as tf.Tensor3D;
      const k = linear(context, this.toK) as tf.Tensor3D;
      const v = linear(context, this.toV) as tf.Tensor3D;
      return linear(chunkedAttention(q, k, v, this.heads, chunkBytes), this.toOut) as tf.Tensor3D;
    });
  }
}

/** diffusers `FeedForward` with GEGLU: h, gate = proj(x).chunk(2); net.2(h · gelu(gate)), exact erf GELU. */
export class GegluFeedForward {
  readonly proj: LinearParams;
  readonly out: LinearParams;
  constructor(src: ParamSource, dim: number, readonly inner: number) {
    this.proj = src.linear('net.0.proj', dim, inner * 2, true);
    this.out = src.linear('net.2', inner, dim, true);
  }
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => linear(geglu(linear(x, this.proj)), this.out) as tf.Tensor3D);
  }
}

/**
 * GEGLU on the projection [.., 2·inner]: h · gelu(gate), as one op whose backward keeps only the projection (autodiff
 * of the erf formula would keep ~6 inner-sized tensors: ≈ 250 MB per SD1.5 level-0 block at 64×64, batch 2).
 * d/dh = gelu(gate); d/dgate = h · (Φ(gate) + gate · φ(gate)), Φ/φ the standard normal cdf/pdf (kernels/wasm-geglu.ts).
 */
export function geglu(projected: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const p = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([p]);
    const value = tf.tidy(() => {
      const [h, gate] = tf.split(p, 2, -1);
      return tf.mul(h!, gelu(gate!));
    });
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => gegluGrad(saved[0]!, dy),
    };
  });
  return f(projected);
}

/** diffusers `BasicTransformerBlock` (layer_norm, eps 1e-5): self-attn, cross-attn, GEGLU FF, each pre-LN + residual. */
export class BasicTransformerBlock {
  readonly norm1: NormParams;
  readonly attn1: Attention;
  readonly norm2: NormParams;
  readonly attn2: Attention;
  readonly norm3: NormParams;
  readonly ff: GegluFeedForward;
  constructor(src: ParamSource, dim: number, heads: number, crossDim: number) {
    this.norm1 = src.norm('norm1', dim, 1e-5);
    this.attn1 = new Attention(src.sub('attn1.'), dim, dim, heads);
    this.norm2 = src.norm('norm2', dim, 1e-5);
    this.attn2 = new Attention(src.sub('attn2.'), dim, crossDim, heads);
    this.norm3 = src.norm('norm3', dim, 1e-5);
    this.ff = new GegluFeedForward(src.sub('ff.'), dim, dim * 4);
  }
  /**
   * With `checkpointed` (while a gradient tape records), each residual branch — self-attention, cross-attention,
   * feed-forward — is its own recomputed unit (../checkpoint-grad.ts), so a backward holds one branch at a time.
   */
  forward(x: tf.Tensor3D, ehs: tf.Tensor3D, chunkBytes: number, checkpointed = false): tf.Tensor3D {
    if (checkpointed) {
      let h = checkpoint((t: tf.Tensor) => tf.tidy(() => {
        const n1 = layerNorm(t, this.norm1) as tf.Tensor3D;
        return addLean(t, this.attn1.forward(n1, n1, chunkBytes));
      }), [x]);
      h = checkpoint((t: tf.Tensor, e: tf.Tensor) => tf.tidy(() =>
        addLean(t, this.attn2.forward(layerNorm(t, this.norm2) as tf.Tensor3D, e as tf.Tensor3D, chunkBytes))), [h, ehs]);
      return checkpoint((t: tf.Tensor) => tf.tidy(() => addLean(t, this.ff.forward(layerNorm(t, this.norm3) as tf.Tensor3D))), [h]) as tf.Tensor3D;
    }
    return tf.tidy(() => {
      const n1 = layerNorm(x, this.norm1) as tf.Tensor3D;
      let h = addLean(x, this.attn1.forward(n1, n1, chunkBytes)) as tf.Tensor3D;
      h = addLean(h, this.attn2.forward(layerNorm(h, this.norm2) as tf.Tensor3D, ehs, chunkBytes)) as tf.Tensor3D;
      return addLean(h, this.ff.forward(layerNorm(h, this.norm3) as tf.Tensor3D)) as tf.Tensor3D;
    });
  }
}

export interface Transformer2DOptions {
  heads: number;
  crossDim: number;
  layers: number;
  groups: number;
  useLinearProjection: boolean;
}

/**
 * diffusers `Transformer2DModel` (continuous input): GN(eps 1e-6) → proj_in (1×1 conv, or linear when
 * use_linear_projection) → tokens [B, H·W, C] → blocks → proj_out → + residual.
 */
export class Transformer2DModel {
  readonly norm: NormParams;
  readonly projIn: ConvParams | LinearParams;
  readonly blocks: BasicTransformerBlock[];
  readonly projOut: ConvParams | LinearParams;
  constructor(src: ParamSource, channels: number, readonly opts: Transformer2DOptions) {
    this.norm = src.norm('norm', channels, 1e-6);
    this.projIn = opts.useLinearProjection ? src.linear('proj_in', channels, channels, true) : src.conv('proj_in', channels, channels, 1, 1, 0);
    this.blocks = Array.from({ length: opts.layers }, (_, i) =>
      new BasicTransformerBlock(src.sub(`transformer_blocks.${i}.`), channels, opts.heads, opts.crossDim));
    this.projOut = opts.useLinearProjection ? src.linear('proj_out', channels, channels, true) : src.conv('proj_out', channels, channels, 1, 1, 0);
  }

  /**
   * With `checkpointed` (while a gradient tape records): GroupNorm + proj_in, each transformer block's residual
   * branches, and proj_out + residual are separate recomputed units (../checkpoint-grad.ts).
   */
  forward(x: tf.Tensor4D, ehs: tf.Tensor3D, chunkBytes: number, checkpointed = false): tf.Tensor4D {
    const unit = <T extends tf.Tensor>(f: (...xs: tf.Tensor[]) => T, inputs: tf.Tensor[]): T => (checkpointed ? checkpoint(f, inputs) : f(...inputs));
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      // NHWC → tokens is a plain reshape (torch needs a permute from NCHW); 1×1 conv ≡ linear per pixel.
      let tokens = unit((xi: tf.Tensor) => tf.tidy(() => {
        const normed = groupNorm(xi as tf.Tensor4D, this.opts.groups, this.norm);
        const projected = this.opts.useLinearProjection ? linear(normed, this.projIn as LinearParams) : conv2d(normed, this.projIn as ConvParams);
        return reshapeLean(projected, [b, h * w, c]) as tf.Tensor3D;
      }), [x]);
      for (const block of this.blocks) tokens = block.forward(tokens, ehs, chunkBytes, checkpointed);
      return unit((t: tf.Tensor, xi: tf.Tensor) => tf.tidy(() => {
        const spatial = reshapeLean(t, [b, h, w, c]) as tf.Tensor4D;
        const out = this.opts.useLinearProjection ? linear(spatial, this.projOut as LinearParams) : conv2d(spatial, this.projOut as ConvParams);
        return addLean(out, xi) as tf.Tensor4D;
      }), [tokens, x]);
    });
  }
}
