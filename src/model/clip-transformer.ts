import * as tf from '@tensorflow/tfjs';
import { nestedTape } from './checkpoint-grad';
import { type BoundWeights, type ParamSpec, boundScope, specLinear, specNorm } from './clip-bind';
import { type TorchLinear, linearT, loadTorchLinear, matMul2d } from './clip-matmul';
import { attention, gelu, layerNorm, loadNorm, quickGelu, type NormParams } from './nn';

/**
 * The pre-LN transformer block shared by every CLIP tower (HF CLIPEncoderLayer, open_clip ResidualAttentionBlock):
 *   x += out_proj(attn(LN1(x)))      (optionally causal)
 *   x += fc2(act(fc1(LN2(x))))
 * Both checkpoint layouts load into one representation with a fused q/k/v projection: open_clip stores
 * `in_proj_weight = cat(W_q, W_k, W_v)` already; the HF q/k/v Linear weights are concatenated the same way, so a
 * block runs one [D, 3D] matmul either way.
 */
export type ClipActivation = 'quick_gelu' | 'gelu';

export interface ClipEncoderLayer {
  ln1: NormParams;
  qkv: TorchLinear;
  out: TorchLinear;
  ln2: NormParams;
  fc1: TorchLinear;
  fc2: TorchLinear;
}

export interface ClipEncoder {
  layers: ClipEncoderLayer[];
  heads: number;
  act: ClipActivation;
}

export function activation(name: string): ClipActivation {
  if (name === 'quick_gelu' || name === 'gelu') return name;
  throw new Error(`unsupported CLIP activation "${name}" (quick_gelu or gelu)`);
}

const applyAct = (x: tf.Tensor, act: ClipActivation): tf.Tensor => (act === 'quick_gelu' ? quickGelu(x) : gelu(x));

// ---- HF transformers layout: <prefix>layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, mlp.fc1, mlp.fc2, layer_norm2}

export function hfEncoderSpec(prefix: string, layers: number, width: number, inner: number): ParamSpec[] {
  const spec: ParamSpec[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}layers.${i}.`;
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) spec.push(...specLinear(`${p}self_attn.${n}`, width, width));
    spec.push(...specNorm(`${p}layer_norm1`, width), ...specNorm(`${p}layer_norm2`, width));
    spec.push(...specLinear(`${p}mlp.fc1`, width, inner), ...specLinear(`${p}mlp.fc2`, inner, width));
  }
  return spec;
}

export function loadHfEncoder(b: BoundWeights, prefix: string, layers: number, heads: number, act: ClipActivation, eps: number): ClipEncoder {
  const ws = boundScope(b, prefix);
  const out: ClipEncoderLayer[] = [];
  for (let i = 0; i < layers; i++) {
    const l = ws.sub(`layers.${i}.`);
    const qkv = tf.tidy(() => {
      const parts = ['q_proj', 'k_proj', 'v_proj'].map((n) => l.take(`self_attn.${n}.weight`));
      const biases = ['q_proj', 'k_proj', 'v_proj'].map((n) => l.take(`self_attn.${n}.bias`));
      // torch rows are outputs: cat(q, k, v) along rows is open_clip's in_proj_weight.
      return { w: tf.keep(tf.concat(parts, 0)) as tf.Tensor2D, b: tf.keep(tf.concat(biases, 0)) as tf.Tensor1D };
    });
    out.push({
      ln1: loadNorm(l, 'layer_norm1', eps),
      qkv,
      out: loadTorchLinear(l, 'self_attn.out_proj'),
      ln2: loadNorm(l, 'layer_norm2', eps),
      fc1: loadTorchLinear(l, 'mlp.fc1'),
      fc2: loadTorchLinear(l, 'mlp.fc2'),
    });
  }
  return { layers: out, heads, act };
}

// ---- open_clip layout: <prefix>resblocks.N.{ln_1, attn.in_proj_weight/bias, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}

export function openClipEncoderSpec(prefix: string, layers: number, width: number, inner: number): ParamSpec[] {
  const spec: ParamSpec[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}resblocks.${i}.`;
    spec.push(...specNorm(`${p}ln_1`, width));
    spec.push({ key: `${p}attn.in_proj_weight`, shape: [3 * width, width] }, { key: `${p}attn.in_proj_bias`, shape: [3 * width] });
    spec.push(...specLinear(`${p}attn.out_proj`, width, width), ...specNorm(`${p}ln_2`, width));
    spec.push(...specLinear(`${p}mlp.c_fc`, width, inner), ...specLinear(`${p}mlp.c_proj`, inner, width));
  }
  return spec;
}

export function loadOpenClipEncoder(b: BoundWeights, prefix: string, layers: number, heads: number, act: ClipActivation, eps: number): ClipEncoder {
  const ws = boundScope(b, prefix);
  const out: ClipEncoderLayer[] = [];
  for (let i = 0; i < layers; i++) {
    const l = ws.sub(`resblocks.${i}.`);
    out.push({
      ln1: loadNorm(l, 'ln_1', eps),
      qkv: { w: tf.keep(l.take('attn.in_proj_weight').clone()) as tf.Tensor2D, b: tf.keep(l.take('attn.in_proj_bias').clone()) as tf.Tensor1D },
      out: loadTorchLinear(l, 'attn.out_proj'),
      ln2: loadNorm(l, 'ln_2', eps),
      fc1: loadTorchLinear(l, 'mlp.c_fc'),
      fc2: loadTorchLinear(l, 'mlp.c_proj'),
    });
  }
  return { layers: out, heads, act };
}

// ---- forward

/**
 * Multi-head attention with nn.attention's semantics (scores·1/√d, additive mask). The mask here is one [L, L]
 * pattern shared by every row and head (stored [1, 1, L, L] or [L, L]), which is all CLIP needs (causal mask).
 * On tfjs-wasm, rank-3/4 BatchMatMul misses XNNPACK (≈ 1–2 GFLOP/s at CLIP's [16, 257, 64] heads vs ≈ 8 for
 * a loop of 2-D matmuls, and far worse in the backward with its transposed operands), so there the heads run
 * as separate 2-D matmuls with transpose-free gradients; other backends use the batched nn.attention.
 */
export function clipAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number, mask?: tf.Tensor, perHead = tf.getBackend() === 'wasm'): tf.Tensor3D {
  if (!perHead) return attention(q, k, v, heads, mask);
  return tf.tidy(() => {
    const [b, l, dim] = q.shape;
    const d = dim / heads;
    const split = (t: tf.Tensor3D) => t.reshape([b, l, heads, d]).transpose([0, 2, 1, 3]).reshape([b * heads, l, d]);
    const qs = tf.unstack(split(q)) as tf.Tensor2D[];
    const kts = tf.unstack(split(k).transpose([0, 2, 1])) as tf.Tensor2D[];
    const vs = tf.unstack(split(v)) as tf.Tensor2D[];
    const m = mask?.reshape([l, l]);
    const outs = qs.map((qh, i) => {
      let scores = tf.mul(matMul2d(qh, kts[i]!), 1 / Math.sqrt(d));
      if (m) scores = tf.add(scores, m);
      return matMul2d(tf.softmax(scores, -1) as tf.Tensor2D, vs[i]!);
    });
    return tf.stack(outs).reshape([b, heads, l, d]).transpose([0, 2, 1, 3]).reshape([b, l, dim]) as tf.Tensor3D;
  });
}

export function encoderLayer(x: tf.Tensor3D, p: ClipEncoderLayer, heads: number, act: ClipActivation, mask?: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const qkv = linearT(layerNorm(x, p.ln1), p.qkv) as tf.Tensor3D;
    const [q, k, v] = tf.split(qkv, 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    const h = tf.add(x, linearT(clipAttention(q, k, v, heads, mask), p.out)) as tf.Tensor3D;
    return tf.add(h, linearT(applyAct(linearT(layerNorm(h, p.ln2), p.fc1), act), p.fc2)) as tf.Tensor3D;
  });
}

/**
 * One layer as a single differentiable op that keeps only its input for the backward and recomputes its forward
 * there (per-layer gradient checkpointing). Why: tfjs keeps every saved activation of the forward and every
 * intermediate gradient of the backward alive until the whole backward ends, and on tfjs-wasm each saved tensor is
 * a copy; measured ≈ 195 MB per CLIP ViT-L/14 layer at 257 tokens, so the 24 layers alone would exceed the 4 GiB
 * wasm heap. Checkpointed, the backward holds one layer's recomputation at a time (inside its own tf.grad) plus one
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
