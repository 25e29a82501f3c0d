"""
Trains the demo model set on the scenes of src/demo/scenes.ts and writes it into public/demo/ in the layouts the
app's loaders read (diffusers SD folder, HF CLIPModel, LAION aesthetic head) plus the judge. Seeded; CPU only.

    npx tsx tools/demo/write-dataset.ts /tmp/demo-data
    python tools/demo/train.py /tmp/demo-data rewards  # CLIP, aesthetic-style head, judge
    python tools/demo/train.py /tmp/demo-data sd       # VAE, then the UNet (text encoder: the CLIP's text tower)

(`sd` reads the committed demo CLIP, so `rewards` comes first when both are retrained; each stage uses DEMO_THREADS
threads, default 1; `judge` retrains only the judge, which `rewards` also trains). Stages: the CLIP model
(contrastive, with the one-attribute swaps of each caption as hard negatives), the aesthetic-style head (prefers big
shapes) and the judge (attribute classifier); the VAE (reconstruction + a small KL), then the UNet on the VAE's
latents with the CLIP text tower frozen as its text encoder (epsilon prediction, classifier-free dropout, contexts
cut to varying lengths because IPGO feeds unpadded prompts, random IPGO-like boundary tokens around 4 in 5).
"""
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import CLIPModel, CLIPConfig, CLIPTextConfig, CLIPTextModel

sys.path.insert(0, os.path.dirname(__file__))
from diffusers_tiny import AutoencoderKL, UNet2DConditionModel  # noqa: E402
import demo_configs as C  # noqa: E402

SEED = 16
torch.set_num_threads(int(os.environ.get('DEMO_THREADS', '1')))
T0 = time.time()


def log(msg):
    print(f'[{time.time() - T0:7.1f}s] {msg}', flush=True)


def load_data(d):
    meta = json.load(open(os.path.join(d, 'captions.json')))
    out = {'captions': meta['captions'], 'attribute_names': meta['attribute_names'], 'tokens': torch.tensor(meta['tokens']), 'empty': torch.tensor(meta['empty_tokens'])}
    for split in ('train', 'held_out'):
        rows = json.load(open(os.path.join(d, f'{split}.json')))
        px = np.fromfile(os.path.join(d, f'{split}.u8'), dtype=np.uint8).reshape(len(rows), 32, 32, 3)
        out[split] = {
            'images': torch.from_numpy(px).permute(0, 3, 1, 2).float() / 127.5 - 1,
            **{k: torch.tensor([r[k] for r in rows]) for k in ('caption', 'colour', 'shape', 'position', 'size', 'background')},
        }
    return out


def batches(n, size, steps, gen):
    for _ in range(steps):
        yield torch.randint(0, n, (size,), generator=gen)


def train_vae(data, steps):
    vae = AutoencoderKL(C.VAE_CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(SEED)
    imgs = data['train']['images']
    for step, idx in enumerate(batches(len(imgs), 16, steps, gen)):
        x = imgs[idx]
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)
        rec = vae.decode(z)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        # The shape's pixels weigh 5× the background's: unweighted, the small shapes' colours wash out.
        weight = 1 + 4 * (shape_mask(x) > 0).float()
        loss = (weight * (rec - x) ** 2).mean() + 1e-4 * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f'vae {step}/{steps} mse {F.mse_loss(rec, x).item():.4f} kl {kl.item():.3f}')
    return vae.eval()


def latent_size():
    return 32 // 2 ** (len(C.VAE_CONFIG['block_out_channels']) - 1)


def load_committed_judge(out):
    """The committed judge (public/demo/demo-judge), to report how well the SD stage's pictures read; None before it exists."""
    path = os.path.join(out, 'demo-judge/model.safetensors')
    if not os.path.exists(path):
        return None
    judge = Judge()
    judge.load_state_dict(load_file(path))
    return judge.eval()


def judged_accuracy(judge, images, split):
    """Share of `images` (the first len(images) of `split`) whose colour, shape and position the judge reads right."""
    with torch.no_grad():
        out = judge(images)
    right = torch.ones(len(images), dtype=torch.bool)
    for k in ('colour', 'shape', 'position'):
        right &= out[k].argmax(1) == split[k][:len(images)]
    return right.float().mean().item()


def encode_latents(vae, images):
    with torch.no_grad():
        return torch.cat([vae.encode(images[i:i + 512])[0] for i in range(0, len(images), 512)])


def alphas_cumprod():
    s = C.SCHEDULER_CONFIG
    betas = torch.linspace(s['beta_start'] ** 0.5, s['beta_end'] ** 0.5, s['num_train_timesteps'], dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def contexts(tokens, empty, caption_idx, drop, gen):
    """Token ids [B, ℓ]: captions (or the empty prompt where dropped) padded to a random ℓ between the longest
    caption and 77, so the UNet learns to read both unpadded and padded contexts."""
    ids = tokens[caption_idx].clone()
    ids[drop] = empty
    longest = int((tokens[caption_idx] != 49407).sum(1).max().item()) + 1
    length = 77 if torch.rand((), generator=gen) < 0.2 else int(torch.randint(longest, longest + 24, (), generator=gen))
    return ids[:, :length]


def committed_clip_text(out):
    """The SD text encoder: the committed demo CLIP's text tower (same config), frozen, as SD1.5 keeps OpenAI's CLIP
    text encoder frozen. Trained jointly with the UNet from scratch, the text encoder let the position words collapse
    (the UNet never learned to place a shape, so nothing kept "left" apart from "right"); the contrastive tower keeps
    every attribute apart, because telling captions apart is what it was trained for."""
    path = os.path.join(out, 'demo-clip/model.safetensors')
    if not os.path.exists(path):
        raise SystemExit(f'{path} is missing: train the rewards stage first (train.py DATA_DIR rewards)')
    text = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in C.TEXT_ENCODER_CONFIG.items() if not k.startswith('_') and k != 'architectures'}))
    tower = {k.removeprefix('text_model.'): v.float() for k, v in load_file(path).items() if k.startswith('text_model.')}
    inner = text.text_model if hasattr(text, 'text_model') else text
    inner.load_state_dict(tower)
    return text.eval().requires_grad_(False)


def rotate_pairs(v, theta, odd):
    """design_embedding_2d for one angle per token: v [B, n, D], theta [B, n], odd [n] (pairs start at an odd dim)."""
    rolled = torch.where(odd[None, :, None], v.roll(-1, -1), v)
    x, y = rolled[..., 0::2], rolled[..., 1::2]
    c, s = theta.cos()[..., None], theta.sin()[..., None]
    out = torch.stack([x * c - y * s, x * s + y * c], -1).flatten(-2)
    return torch.where(odd[None, :, None], out.roll(1, -1), out)


def boundary_like_tokens(batch, n, gen):
    """Random IPGO boundary tokens of one side [B, n, D], drawn as the app initialises them (src/ipgo/boundary-tokens.ts:
    W·clamp(z) + b, W with n·r orthonormal columns, z ∈ [−1, 1], b ∈ ±1/√(n·r), then the pairwise rotations),
    r random, scaled by 0.7–1.3 for the drift of a few epochs."""
    d = C.UNET_CONFIG['cross_attention_dim']
    m = n * int(torch.randint(1, d // n + 1, (), generator=gen))
    w = torch.linalg.qr(torch.randn((batch, d, m), generator=gen)).Q
    z = torch.rand((batch, n, m), generator=gen) * 2 - 1
    b = (torch.rand((batch, 1, d), generator=gen) * 2 - 1) / math.sqrt(m)
    tokens = z @ w.transpose(1, 2) + b
    for k in range(2):
        theta = (torch.rand((batch, n), generator=gen) * 2 - 1) * math.pi
        tokens = rotate_pairs(tokens, theta, (torch.arange(n) + k) % 2 == 1)
    return tokens * (0.7 + 0.6 * torch.rand((batch, 1, 1), generator=gen))


def conditioning(text, data, caption_idx, gen):
    """The UNet's context for one batch: the caption's states (the empty prompt's where dropped for guidance), and in
    4 batches in 5 IPGO-like random tokens around them, with the empty prompt padded to the same length as the
    unconditional branch, as IPGO samples. Without them the UNet reads the tokens' first, untrained values as content
    and spoils pictures that were right before any tuning; with them in only half of the batches, the first tokens
    still turned a black background white now and then."""
    drop = torch.rand(len(caption_idx), generator=gen) < 0.1
    ids = contexts(data['tokens'], data['empty'], caption_idx, drop, gen)
    n = int(torch.randint(1, 7, (), generator=gen))
    with torch.no_grad():
        ctx = text(input_ids=ids).last_hidden_state
        if torch.rand((), generator=gen) < 0.2 or ids.shape[1] + 2 * n > 77:
            return ctx
        padded = text(input_ids=data['empty'][None, :ids.shape[1] + 2 * n]).last_hidden_state
        framed = torch.cat([boundary_like_tokens(len(ids), n, gen), ctx, boundary_like_tokens(len(ids), n, gen)], 1)
        return torch.where(drop[:, None, None], padded, framed)


def train_sd(data, latents, text, steps):
    unet = UNet2DConditionModel(C.UNET_CONFIG)
    params = list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(SEED + 1)
    ac = alphas_cumprod()
    cap = data['train']['caption']
    for step, idx in enumerate(batches(len(latents), 64, steps, gen)):
        x0 = latents[idx]
        t = torch.randint(0, 1000, (len(idx),), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        a = ac[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        ctx = conditioning(text, data, cap[idx], gen)
        loss = F.mse_loss(unet(xt, t, ctx), noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f'unet {step}/{steps} loss {loss.item():.4f}')
    return unet.eval()


def clip_pixels(images):
    """[-1, 1] images → the CLIP processor's normalisation (the scenes are already at the tower's 32 pixels)."""
    mean = torch.tensor(C.CLIP_PREPROCESSOR_CONFIG['image_mean'])[None, :, None, None]
    std = torch.tensor(C.CLIP_PREPROCESSOR_CONFIG['image_std'])[None, :, None, None]
    return ((images + 1) / 2 - mean) / std


def swap_groups(data):
    """Per attribute, [n_captions, k] caption indices: each caption, then the captions that differ from it in that
    attribute alone (the hard negatives a random batch almost never holds)."""
    index = {c: i for i, c in enumerate(data['captions'])}
    groups = {}
    for attr, words in data['attribute_names'].items():
        rows = []
        for c in data['captions']:
            own = next(w for w in words if re.search(rf'\b{w}\b', c))
            rows.append([index[re.sub(rf'\b{own}\b', w, c, count=1)] for w in [own] + [w for w in words if w != own]])
        groups[attr] = torch.tensor(rows)
    return groups


def clip_loss(clip, images, caption_idx, tokens, column, groups):
    """Contrastive loss over every training caption at once (the grammar has a few hundred): each image against all
    of them, each caption of the batch against the batch's images, and each image against its one-attribute swaps.
    `tokens` holds the training captions; `column` maps a caption index to its row there (-1: held out).
    With random batches alone the tower learns colour, position and background and never shape, since a batch
    rarely holds the same scene with another shape."""
    img = clip.visual_projection(clip.vision_model(pixel_values=clip_pixels(images)).pooler_output)
    txt = clip.text_projection(clip.text_model(input_ids=tokens).pooler_output)
    logits = clip.logit_scale.exp() * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T  # [B, train captions]
    target = column[caption_idx]
    same = (caption_idx[:, None] == caption_idx[None, :]).float()
    per_text = -((same / same.sum(1, keepdim=True)) * logits[:, target].T.log_softmax(1)).sum(1).mean()
    loss = 0.5 * (F.cross_entropy(logits, target) + per_text)
    for g in groups.values():
        swaps = column[g[caption_idx]]  # true caption first; -1 where a swap is a held-out caption
        swapped = torch.gather(logits, 1, swaps.clamp(min=0)).masked_fill(swaps < 0, float('-inf'))
        loss = loss + F.cross_entropy(swapped, torch.zeros(len(caption_idx), dtype=torch.long))
    return loss


def train_clip(data, steps):
    cfg = CLIPConfig(text_config=C.CLIP_CONFIG['text_config'], vision_config=C.CLIP_CONFIG['vision_config'],
                     projection_dim=C.CLIP_CONFIG['projection_dim'], logit_scale_init_value=C.CLIP_CONFIG['logit_scale_init_value'])
    clip = CLIPModel(cfg)
    opt = torch.optim.AdamW(clip.parameters(), lr=1e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(SEED + 2)
    tr = data['train']
    train_captions = torch.unique(tr['caption'])  # held-out captions never reach the text tower
    # Cut after the longest caption's end token (which also pads): the pooled state is the end token's, and the mask
    # is causal, so the states up to it do not change.
    end = data['tokens'][0, -1]
    tokens = data['tokens'][train_captions, :int((data['tokens'] != end).sum(1).max()) + 1]
    column = torch.full((len(data['captions']),), -1)
    column[train_captions] = torch.arange(len(train_captions))
    groups = swap_groups(data)
    for step, idx in enumerate(batches(len(tr['images']), 128, steps, gen)):
        x = tr['images'][idx]
        # Half the batch blurred and noised, so the tower also reads pictures as soft as the decoder's.
        half = len(idx) // 2
        soft = F.avg_pool2d(x[half:], 3, 1, 1) + 0.05 * torch.randn(x[half:].shape, generator=gen)
        loss = clip_loss(clip, torch.cat([x[:half], soft]), tr['caption'][idx], tokens, column, groups)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f'clip {step}/{steps} loss {loss.item():.4f} scale {clip.logit_scale.exp().item():.1f}')
    return clip.eval()


class AestheticHead(nn.Module):
    """The LAION head's layout: Linear layers at nn.Sequential indices 0, 2, 4, 6, 7 (Dropout in between, no activations)."""

    def __init__(self, d):
        super().__init__()
        dims = [d, 1024, 128, 64, 16, 1]
        mods = []
        for i in range(5):
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if i < 3:
                mods.append(nn.Dropout(0.0))
        self.layers = nn.Sequential(*mods)

    def forward(self, x):
        return self.layers(x).squeeze(-1)


def shape_mask(images):
    """[B, 1, H, W]: the pixels that differ from the corner colour (the shape's)."""
    return ((images - images[:, :, :1, :1]).abs().sum(1, keepdim=True) > 0.3).float()


def shape_area(images):
    """Share of pixels that differ from the corner colour: how much of the picture the shape covers."""
    return shape_mask(images).mean((1, 2, 3))


def train_aesthetic(data, clip, steps):
    """Fits the head to score 1..10 by the shape's area, on the CLIP image embeddings of real scenes."""
    imgs = data['train']['images'][:4096]
    with torch.no_grad():
        emb = torch.cat([clip.visual_projection(clip.vision_model(pixel_values=clip_pixels(imgs[i:i + 512])).pooler_output) for i in range(0, len(imgs), 512)])
        emb = emb / emb.norm(dim=-1, keepdim=True)
    area = shape_area(imgs)
    target = 1 + 9 * (area - area.min()) / (area.max() - area.min())
    head = AestheticHead(emb.shape[1])
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(SEED + 3)
    for step, idx in enumerate(batches(len(emb), 256, steps, gen)):
        loss = F.mse_loss(head(emb[idx]), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == steps - 1:
            log(f'aesthetic {step}/{steps} mse {loss.item():.3f}')
    return head.eval()


class Judge(nn.Module):
    """Attribute classifier: three stride-2 3×3 convs (ReLU) → flatten → one Linear head per attribute."""

    HEADS = {'colour': 6, 'shape': 3, 'position': 4, 'size': 2, 'background': 3}

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = nn.Conv2d(3, 16, 3, 2, 1), nn.Conv2d(16, 32, 3, 2, 1), nn.Conv2d(32, 32, 3, 2, 1)
        self.heads = nn.ModuleDict({k: nn.Linear(32 * 4 * 4, n) for k, n in self.HEADS.items()})

    def forward(self, x):
        h = F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x))))))
        h = h.permute(0, 2, 3, 1).flatten(1)  # NHWC flatten, as tfjs reshapes
        return {k: head(h) for k, head in self.heads.items()}


def train_judge(data, steps):
    judge = Judge()
    opt = torch.optim.Adam(judge.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(SEED + 4)
    tr = data['train']
    for step, idx in enumerate(batches(len(tr['images']), 64, steps, gen)):
        x = F.avg_pool2d(tr['images'][idx], 3, 1, 1) if step % 2 else tr['images'][idx]
        x = x + 0.05 * torch.randn((len(idx), 3, 32, 32), generator=gen)
        out = judge(x)
        loss = sum(F.cross_entropy(out[k], tr[k][idx]) for k in Judge.HEADS)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            log(f'judge {step}/{steps} loss {loss.item():.4f}')
    judge.eval()
    with torch.no_grad():
        out = judge(data['held_out']['images'])
    acc = {k: (out[k].argmax(1) == data['held_out'][k]).float().mean().item() for k in Judge.HEADS}
    log(f'judge held-out accuracy {acc}')
    return judge


def fp16_rounded(module):
    """The module with its weights rounded through float16, as the committed files hold them."""
    module.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in module.state_dict().items()})
    return module


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


def save(tensors, path, fp16=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({k: (v.half() if fp16 and v.is_floating_point() else v).detach().contiguous() for k, v in tensors.items()}, path)


def write_reference(data, text, unet, vae, path):
    """Outputs of the trained (fp16-rounded) models on fixed inputs, for the app-side check (test/demo-models.test.ts)."""
    g = torch.Generator().manual_seed(7)
    ids = data['tokens'][:2, :20]
    with torch.no_grad():
        states = text(input_ids=ids).last_hidden_state
        lat = torch.randn((2, C.VAE_CONFIG['latent_channels'], latent_size(), latent_size()), generator=g)
        t = torch.tensor([10, 700])
        eps = unet(lat, t, states)
        img = vae.decode(lat)
    save({'ids': ids.int(), 'states': states, 'latents': lat, 'timesteps': t.float(), 'unet_out': eps, 'vae_out': img}, path, fp16=False)


def train_sd_stage(data, out, steps):
    vae = fp16_rounded(train_vae(data, steps(2000)))
    judge = load_committed_judge(out)
    if judge is not None:
        held = data['held_out']['images'][:1000]
        with torch.no_grad():
            rec = vae.decode(vae.encode(held)[0]).clamp(-1, 1)
        log(f'judge reads {judged_accuracy(judge, rec, data["held_out"]):.3f} of held-out VAE reconstructions right')
    lat = encode_latents(vae, data['train']['images'][:12000])
    scaling = 1.0 / lat.std().item()
    log(f'latent std {lat.std().item():.3f} → scaling_factor {scaling:.4f}')
    cap = data['train']['caption']
    data['train']['caption'] = cap[:12000]
    text = committed_clip_text(out)
    unet = train_sd(data, lat * scaling, text, steps(8000))
    data['train']['caption'] = cap
    unet = fp16_rounded(unet)
    sd = os.path.join(out, 'demo-sd')
    write_json(os.path.join(sd, 'model_index.json'), C.MODEL_INDEX)
    write_json(os.path.join(sd, 'scheduler/scheduler_config.json'), C.SCHEDULER_CONFIG)
    write_json(os.path.join(sd, 'text_encoder/config.json'), C.TEXT_ENCODER_CONFIG)
    write_json(os.path.join(sd, 'unet/config.json'), C.UNET_CONFIG)
    write_json(os.path.join(sd, 'vae/config.json'), {**C.VAE_CONFIG, 'scaling_factor': round(scaling, 5)})
    # HF checkpoints name the text tower's weights text_model.*; transformers 5's state_dict leaves the prefix out.
    save({k if k.startswith('text_model.') else f'text_model.{k}': v for k, v in text.state_dict().items()},
         os.path.join(sd, 'text_encoder/model.safetensors'))
    save(unet.state_dict(), os.path.join(sd, 'unet/diffusion_pytorch_model.safetensors'))
    # The decoder side only: the app never encodes.
    save({k: v for k, v in vae.state_dict().items() if not k.startswith(('encoder.', 'quant_conv.'))},
         os.path.join(sd, 'vae/diffusion_pytorch_model.safetensors'))
    write_reference(data, text, unet, vae, os.path.join(out, '..', '..', 'test', 'fixtures', 'demo-reference.safetensors'))
    log('wrote demo-sd')


def train_reward_stage(data, out, steps):
    clip = fp16_rounded(train_clip(data, steps(2000)))
    cl = os.path.join(out, 'demo-clip')
    write_json(os.path.join(cl, 'config.json'), C.CLIP_CONFIG)
    write_json(os.path.join(cl, 'preprocessor_config.json'), C.CLIP_PREPROCESSOR_CONFIG)
    save(clip.state_dict(), os.path.join(cl, 'model.safetensors'))
    log('wrote demo-clip')
    head = train_aesthetic(data, clip, steps(2000))
    save(head.state_dict(), os.path.join(out, 'demo-aesthetic/model.safetensors'))
    train_judge_stage(data, out, steps)
    log('wrote demo-clip, demo-aesthetic and demo-judge')


def train_judge_stage(data, out, steps):
    judge = train_judge(data, steps(6000))
    save(judge.state_dict(), os.path.join(out, 'demo-judge/model.safetensors'), fp16=False)
    write_json(os.path.join(out, 'demo-judge/config.json'), {'heads': Judge.HEADS, 'image_size': 32})


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    stages = {'sd': train_sd_stage, 'rewards': train_reward_stage, 'judge': train_judge_stage}
    if len(args) < 2 or args[1] not in stages:
        raise SystemExit('usage: train.py DATA_DIR sd|rewards|judge [OUT_DIR=public/demo]')
    data_dir, stage, out = args[0], args[1], (args[2] if len(args) > 2 else 'public/demo')
    scale = float(os.environ.get('DEMO_STEPS_SCALE', '1'))
    steps = lambda n: max(2, int(n * scale))
    torch.manual_seed(SEED)
    data = load_data(data_dir)
    log(f"{len(data['train']['images'])} train / {len(data['held_out']['images'])} held-out scenes")
    stages[stage](data, out, steps)


if __name__ == '__main__':
    main()
