import * as tf from '@tensorflow/tfjs';
import type { ConvParams, NormParams } from '../nn';
import { conv2d } from '../input-grad-ops';
import type { ParamSource } from '../params';
import { loadMidBlock, loadUpDecoderBlock, midBlockStages, upDecoderBlockStages, type DecoderRunOptions, type MidBlock, type NormSpec, type UpDecoderBlock } from './blocks';
import { chunkCount, convChunks, groupNormChunks, joinChannels, runStages, type Stage } from './channel-chunks';
import type { VaeConfig } from './config';
import type { Tap } from './encoder';

/** diffusers `Decoder` (vae.py): conv_in → mid block → up blocks (reversed channels) → GN → SiLU → conv_out. */
export interface VaeDecoder {
  convIn: ConvParams;
  mid: MidBlock;
  upBlocks: UpDecoderBlock[];
  normOut: NormParams;
  convOut: ConvParams;
  groups: number;
}

export function loadDecoder(src: ParamSource, c: VaeConfig): VaeDecoder {
  const n: NormSpec = { groups: c.normNumGroups, eps: c.normEps };
  const rev = [...c.blockOutChannels].reverse();
  return {
    convIn: src.conv('conv_in', c.latentChannels, rev[0]!, 3, 1, 1),
    mid: loadMidBlock(src.sub('mid_block.'), rev[0]!, n, c.midBlockAddAttention),
    upBlocks: rev.map((outC, i) =>
      loadUpDecoderBlock(src.sub(`up_blocks.${i}.`), i === 0 ? rev[0]! : rev[i - 1]!, outC, c.layersPerBlock + 1, n, i < rev.length - 1)),
    normOut: src.norm('conv_norm_out', c.blockOutChannels[0]!, c.normEps),
    convOut: src.conv('conv_out', c.blockOutChannels[0]!, c.outChannels, 3, 1, 1),
    groups: c.normNumGroups,
  };
}

/** A decoder stage, named when a test may tap its output (the end of each diffusers block). */
interface DecoderStage { tap?: string; run: Stage }

/**
 * The decoder as stages on channel chunks, grouped by block: [conv_in, the mid block's], each up block's,
 * [GroupNorm-SiLU, conv_out].
 */
function decoderStageGroups(p: VaeDecoder, run: DecoderRunOptions): DecoderStage[][] {
  const named = (stages: Stage[], tap: string): DecoderStage[] => stages.map((s, i) => ({ run: s, tap: i === stages.length - 1 ? tap : undefined }));
  return [
    [{ tap: 'decoder.conv_in', run: ([x]) => [conv2d(x!, p.convIn)] }, ...named(midBlockStages(p.mid, run), 'decoder.mid_block')],
    ...p.upBlocks.map((blk, i) => named(upDecoderBlockStages(blk, run), `decoder.up_blocks.${i}`)),
    [{
      run: (x) => {
        const [b, hh, ww] = x[0]!.shape;
        if (chunkCount([b, hh, ww, p.convOut.w.shape[3]], 1, run.maxTensorBytes) !== 1) throw new Error('VAE decoder: output image exceeds the tensor budget');
        return groupNormChunks(x, p.groups, p.normOut, 'silu');
      },
    },
    { run: (x) => convChunks(x, p.convOut, 1) }],
  ];
}

/** The decoder's stages by block, for a staged vjp (staged-vjp.ts): every stage is a recomputed unit there. */
export function decoderStages(p: VaeDecoder, run: DecoderRunOptions): Stage[][] {
  return decoderStageGroups(p, run).map((g) => g.map((s) => s.run));
}

/**
 * The decoder on channel-chunked activations: no tensor exceeds `run.maxTensorBytes` (except the taps' joined
 * copies, for tests), and with `run.checkpointing` each resnet and the mid attention are recomputed in the backward.
 */
export function decoderForward(z: tf.Tensor4D, p: VaeDecoder, run: DecoderRunOptions, tap?: Tap): tf.Tensor4D {
  return tf.tidy(() => {
    // each stage's output is freed once the next has used it (runStages), so about two stages are alive at a time
    const stages = decoderStageGroups(p, run).flat().map(({ tap: name, run: f }): Stage => (name && tap ? (x) => {
      const y = f(x);
      tap(name, joinChannels(y));
      return y;
    } : f));
    return runStages([z], stages)[0]!;
  });
}
