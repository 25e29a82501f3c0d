import * as tf from '@tensorflow/tfjs';
import { nestedTape } from '../checkpoint-grad';
import { linear, matMul2d } from '../input-grad-ops';
import { flashAttention, fusedAttentionApplies } from '../kernels/flash-attention';
import { addLean, attention, gelu, layerNorm, mergeHeads, quickGelu, splitHeads, type LinearParams, type NormParams } from '../nn';
import type { ParamSource } from '../params';

/**
 * The pre-LN transformer block shared by every CLIP tower (HF CLIPEncoderLayer, open_clip ResidualAttentionBlock):
 *   x += out_proj(attn(LN1(x)))      (optionally causal)
 *   x += fc2(act(fc1(LN2(x))))
 * Both checkpoint layouts load into one representation; open_clip stores the q/k/v projections fused
 * (`in_proj_weight = cat(W_q, W_k, W_v)`), HF as three Linears, and each is run as stored (no copy at load).
 */
export type ClipActivation = 'quick_gelu' | 'gelu';

export interface ClipEncoderLayer {
  ln1: NormParams;
  /** The q, k, v projections: one fused [3D, D] Linear (open_clip's in_proj) or three [D, D] (HF q/k/v_proj). */
  qkv: LinearParams[];
  out: LinearParams;
  ln2: NormParams;
  fc1: LinearParams;
  fc2: LinearParams;
}

export interface ClipEncoder {
  layers: ClipEncoderLayer[];
  heads: number;
  act: ClipActivation;
}

export interface ClipEncoderShape {
  layers: number;
  width: number;
  inner: number;
  heads: number;
  act: ClipActivation;
  eps: number;
}

export function activation(name: string): ClipActivation {
  if (name === 'quick_gelu' || name === 'gelu') return name;
  throw new Error(`unsupported CLIP activation "${name}" (quick_gelu or gelu)`);
}

const applyAct = (x: tf.Tensor, act: ClipActivation): tf.Tensor => (act === 'quick_gelu' ? quickGelu(x) : gelu(x));

/** HF transformers layout: layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, layer_norm2, mlp.fc1, mlp.fc2}. */
export function hfEncoder(src: ParamSource, s: ClipEncoderShape): ClipEncoder {
  const layers = Array.from({ length: s.layers }, (_, i): ClipEncoderLayer => {
    const l = src.sub(`layers.${i}.`);
    const [q, k, v, out] = ['q_proj', 'k_proj', 'v_proj', 'out_proj'].map((n) => l.linear(`self_attn.${n}`, s.width, s.width, true));
    const ln1 = l.norm('layer_norm1', s.width, s.eps), ln2 = l.norm('layer_norm2', s.width, s.eps);
    const fc1 = l.linear('mlp.fc1', s.width, s.inner, true), fc2 = l.linear('mlp.fc2', s.inner, s.width, true);
    return { ln1, qkv: [q!, k!, v!], out: out!, ln2, fc1, fc2 };
  });
  return { layers, heads: s.heads, act: s.act };
}

/** open_clip layout: resblocks.N.{ln_1, attn.in_proj_weight/bias, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}. */
export function openClipEncoder(src: ParamSource, s: ClipEncoderShape): ClipEncoder {
  const layers = Array.from({ length: s.layers }, (_, i): ClipEncoderLayer => {
    const l = src.sub(`resblocks.${i}.`);
    const ln1 = l.norm('ln_1', s.width, s.eps);
    const qkv = l.linear('attn.in_proj', s.width, 3 * s.width, true, { weight: 'attn.in_proj_weight', bias: 'attn.in_proj_bias' });
    const out = l.linear('attn.out_proj', s.width, s.width, true);
    const ln2 = l.norm('ln_2', s.width, s.eps);
    const fc1 = l.linear('mlp.c_fc', s.width, s.inner, true), fc2 = l.linear('mlp.c_proj', s.inner, s.width, true);
    return { ln1, qkv: [qkv], out, ln2, fc1, fc2 };
  });
  return { layers, heads: s.heads, act: s.act };
}

// ---- forward

/**
 * Multi-head attention with nn.attention's semantics (scores·1/√d, additive mask). The mask here is one [L, L]
 * pattern shared by every row and head (stored [1, 1, L, L] or [L, L]), which is all CLIP needs (causal mask).
 * On tfjs-wasm, rank-3/4 BatchMatMul misses XNNPACK (slower than a loop of 2-D matmuls at CLIP's head shapes,
 * and far worse in the backward with its transposed operands), so there the heads run
 * as separate 2-D matmuls with transpose-free gradients. On WebGPU the fused kernel runs (a given mask is taken
 * to be the causal one); the cpu backend uses the batched nn.attention.
 */
export function clipAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number, mask?: tf.Tensor, perHead = tf.getBackend() === 'wasm'): tf.Tensor3D {
  const l = q.shape[1];
  const d = q.shape[2] / heads;
  if (fusedAttentionApplies(d)) {
    // the fused kernel (no L×L scores); CLIP's only mask is the causal one
    return tf.tidy(() => mergeHeads(flashAttention(splitHeads(q, heads), splitHeads(k, heads), splitHeads(v, heads), 1 / Math.sqrt(d), mask !== undefined), heads));
  }
  if (!perHead) return attention(q, k, v, heads, mask);
  return tf.tidy(() => {
    const qs = tf.unstack(splitHeads(q, heads)) as tf.Tensor2D[];
    const kts = tf.unstack(splitHeads(k, heads).transpose([0, 2, 1])) as tf.Tensor2D[];
    const vs = tf.unstack(splitHeads(v, heads)) as tf.Tensor2D[];
    const m = mask?.reshape([l, l]);
    const outs = qs.map((qh, i) => {
      let scores = tf.mul(matMul2d(qh, kts[i]!), 1 / Math.sqrt(d));
      if (m) scores = tf.add(scores, m);
      return matMul2d(tf.softmax(scores, -1) as tf.Tensor2D, vs[i]!);
    });
    return mergeHeads(tf.stack(outs) as tf.Tensor3D, heads);
  });
}

export function encoderLayer(x: tf.Tensor3D, p: ClipEncoderLayer, heads: number, act: ClipActivation, mask?: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const normed = layerNorm(x, p.ln1);
    const [q, k, v] = (p.qkv.length === 1 ? tf.split(linear(normed, p.qkv[0]!), 3, 2) : p.qkv.map((l) => linear(normed, l))) as tf.Tensor3D[];
    const h = addLean(x, linear(clipAttention(q!, k!, v!, heads, mask), p.out)) as tf.Tensor3D;
    return addLean(h, linear(applyAct(linear(layerNorm(h, p.ln2), p.fc1), act), p.fc2)) as tf.Tensor3D;
  });
}

/**
 * One layer as a single differentiable op that keeps only its input for the backward and recomputes its forward
 * there (per-layer gradient checkpointing). Why: tfjs keeps every saved activation of the forward and every
 * intermediate gradient of the backward alive until the whole backward ends, and on tfjs-wasm each saved tensor is
 * a copy; for CLIP ViT-L/14 at 257 tokens the 24 layers' saved tensors alone would exceed the 4 GiB wasm heap.
 * Checkpointed, the backward holds one layer's recomputation at a time (inside its own tf.grad) plus one
 * [B, L, D] input per layer, for ≈ +1 forward of compute. Weights are closure constants (never differentiated).
 */
export function checkpointedLayer(x: tf.Tensor3D, p: ClipEncoderLayer, heads: number, act: ClipActivation, mask?: tf.Tensor): tf.Tensor3D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, save] = args as [tf.Tensor3D, tf.GradSaveFunc];
    save(mask ? [xi, mask] : [xi]); // the mask may be a tidy temporary of the caller: keep it for the backward
    return {
      value: encoderLayer(xi, p, heads, act, mask),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        nestedTape(() => tf.grad((t: tf.Tensor) => encoderLayer(t as tf.Tensor3D, p, heads, act, saved[1]))(saved[0]!, dy as tf.Tensor3D)),
    };
  });
  return op(x) as tf.Tensor3D;
}

/**
 * Runs every layer (checkpointed, see above); returns the final hidden state and, when asked, the state after
 * each layer (HF `hidden_states[1:]`). The caller owns every returned tensor.
 */
export function runEncoder(x: tf.Tensor3D, enc: ClipEncoder, mask?: tf.Tensor, keepEach = false): { out: tf.Tensor3D; each: tf.Tensor3D[] } {
  const each: tf.Tensor3D[] = [];
  let h = x;
  for (const layer of enc.layers) {
    const next = checkpointedLayer(h, layer, enc.heads, enc.act, mask);
    if (keepEach) each.push(next);
    else if (h !== x) h.dispose();
    h = next;
  }
  return { out: keepEach && h !== x ? h.clone() : h, each };
}
