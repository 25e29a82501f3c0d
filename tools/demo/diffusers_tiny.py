"""
diffusers' UNet2DConditionModel and AutoencoderKL (0.25 semantics) for the configs the demo set uses, written out
in PyTorch because no diffusers wheel is available here. Parameter names and forward semantics follow diffusers
exactly (the app's loaders in src/model/unet and src/model/vae read the state dicts unchanged):

- UNet: sinusoidal time projection (flip_sin_to_cos, freq_shift), TimestepEmbedding, CrossAttnDownBlock2D /
  DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D, Transformer2DModel with a 1×1 conv
  proj_in/out, BasicTransformerBlock (self-attn, cross-attn, GEGLU), legacy `attention_head_dim` = head count.
- VAE: DownEncoderBlock2D / UpDecoderBlock2D, Downsample2D(padding=0) with a right/bottom pad, nearest ×2 upsample,
  mid block without attention (mid_block_add_attention = false), quant_conv / post_quant_conv.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Resnet(nn.Module):
    def __init__(self, cin, cout, groups, eps, temb=None):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb is not None:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if hasattr(self, 'conv_shortcut') else x) + h


class Attention(nn.Module):
    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(ctx_dim, dim, bias=False)
        self.to_v = nn.Linear(ctx_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x, ctx):
        b, n, dim = x.shape
        split = lambda t: t.reshape(b, t.shape[1], self.heads, dim // self.heads).transpose(1, 2)
        o = F.scaled_dot_product_attention(split(self.to_q(x)), split(self.to_k(ctx)), split(self.to_v(ctx)))
        return self.to_out[0](o.transpose(1, 2).reshape(b, n, dim))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * 4), nn.Dropout(0.0), nn.Linear(dim * 4, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.norm1, self.attn1 = nn.LayerNorm(dim), Attention(dim, dim, heads)
        self.norm2, self.attn2 = nn.LayerNorm(dim), Attention(dim, ctx_dim, heads)
        self.norm3, self.ff = nn.LayerNorm(dim), FeedForward(dim)

    def forward(self, x, ctx):
        n1 = self.norm1(x)
        x = x + self.attn1(n1, n1)
        x = x + self.attn2(self.norm2(x), ctx)
        return x + self.ff(self.norm3(x))


class Transformer2D(nn.Module):
    def __init__(self, dim, ctx_dim, heads, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(dim, ctx_dim, heads)])
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        for blk in self.transformer_blocks:
            t = blk(t, ctx)
        return self.proj_out(t.reshape(b, h, w, c).permute(0, 3, 1, 2)) + x


class Sample(nn.Module):
    """Downsample2D (stride 2) or Upsample2D (nearest ×2) with diffusers' `conv` child."""

    def __init__(self, ch, mode, padding=1):
        super().__init__()
        self.mode, self.padding = mode, padding
        self.conv = nn.Conv2d(ch, ch, 3, stride=2 if mode == 'down' else 1, padding=padding if mode == 'down' else 1)

    def forward(self, x):
        if self.mode == 'up':
            return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


def timestep_projection(t, dim, flip_sin_to_cos=True, freq_shift=0):
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - freq_shift)
    args = t.float()[:, None] * torch.exp(exponent)[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], -1)
    return torch.cat([emb[:, half:], emb[:, :half]], -1) if flip_sin_to_cos else emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(cin, dim), nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class UNetBlock(nn.Module):
    def __init__(self, resnets, attentions, sampler, sampler_name):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        if attentions:
            self.attentions = nn.ModuleList(attentions)
        if sampler is not None:
            setattr(self, sampler_name, nn.ModuleList([sampler]))


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        boc, n = cfg['block_out_channels'], len(cfg['block_out_channels'])
        g, eps, heads, ctx = cfg['norm_num_groups'], cfg['norm_eps'], cfg['attention_head_dim'], cfg['cross_attention_dim']
        lpb, temb = cfg['layers_per_block'], boc[0] * 4
        self.boc = boc
        self.conv_in = nn.Conv2d(cfg['in_channels'], boc[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(boc[0], temb)
        downs = []
        for i, kind in enumerate(cfg['down_block_types']):
            cin, cout = (boc[0] if i == 0 else boc[i - 1]), boc[i]
            res = [Resnet(cin if j == 0 else cout, cout, g, eps, temb) for j in range(lpb)]
            att = [Transformer2D(cout, ctx, heads, g) for _ in range(lpb)] if kind == 'CrossAttnDownBlock2D' else []
            downs.append(UNetBlock(res, att, Sample(cout, 'down', cfg['downsample_padding']) if i < n - 1 else None, 'downsamplers'))
        self.down_blocks = nn.ModuleList(downs)
        self.mid_block = UNetBlock([Resnet(boc[-1], boc[-1], g, eps, temb) for _ in range(2)], [Transformer2D(boc[-1], ctx, heads, g)], None, '')
        ups = []
        for i, kind in enumerate(cfg['up_block_types']):
            m = n - 1 - i
            skip_in, cout, prev = boc[max(m - 1, 0)], boc[m], boc[min(m + 1, n - 1)]
            layers = lpb + 1
            res = [Resnet((prev if j == 0 else cout) + (skip_in if j == layers - 1 else cout), cout, g, eps, temb) for j in range(layers)]
            att = [Transformer2D(cout, ctx, heads, g) for _ in range(layers)] if kind == 'CrossAttnUpBlock2D' else []
            ups.append(UNetBlock(res, att, Sample(cout, 'up') if i < n - 1 else None, 'upsamplers'))
        self.up_blocks = nn.ModuleList(ups)
        self.conv_norm_out = nn.GroupNorm(g, boc[0], eps=eps)
        self.conv_out = nn.Conv2d(boc[0], cfg['out_channels'], 3, padding=1)

    def forward(self, x, t, ctx):
        temb = self.time_embedding(timestep_projection(t.expand(x.shape[0]) if t.dim() == 0 else t, self.boc[0]))
        h = self.conv_in(x)
        skips = [h]
        for blk in self.down_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(h, temb)
                if hasattr(blk, 'attentions'):
                    h = blk.attentions[j](h, ctx)
                skips.append(h)
            if hasattr(blk, 'downsamplers'):
                h = blk.downsamplers[0](h)
                skips.append(h)
        mid = self.mid_block
        h = mid.resnets[1](mid.attentions[0](mid.resnets[0](h, temb), ctx), temb)
        for blk in self.up_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(torch.cat([h, skips.pop()], 1), temb)
                if hasattr(blk, 'attentions'):
                    h = blk.attentions[j](h, ctx)
            if hasattr(blk, 'upsamplers'):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class VaeHalf(nn.Module):
    """The encoder or decoder of AutoencoderKL (layers_per_block resnets per encoder block, one more per decoder block)."""

    def __init__(self, cfg, side):
        super().__init__()
        boc, g, lpb, lat = cfg['block_out_channels'], cfg['norm_num_groups'], cfg['layers_per_block'], cfg['latent_channels']
        eps, n = 1e-6, len(boc)
        self.side = side
        if side == 'encoder':
            self.conv_in = nn.Conv2d(cfg['in_channels'], boc[0], 3, padding=1)
            self.down_blocks = nn.ModuleList([UNetBlock(
                [Resnet((boc[0] if i == 0 else boc[i - 1]) if j == 0 else boc[i], boc[i], g, eps) for j in range(lpb)], [],
                Sample(boc[i], 'down', 0) if i < n - 1 else None, 'downsamplers') for i in range(n)])
            last, out = boc[-1], 2 * lat
        else:
            rev = list(reversed(boc))
            self.conv_in = nn.Conv2d(lat, rev[0], 3, padding=1)
            self.up_blocks = nn.ModuleList([UNetBlock(
                [Resnet((rev[0] if i == 0 else rev[i - 1]) if j == 0 else rev[i], rev[i], g, eps) for j in range(lpb + 1)], [],
                Sample(rev[i], 'up') if i < n - 1 else None, 'upsamplers') for i in range(n)])
            last, out = boc[0], cfg['out_channels']
        mid_c = boc[-1]
        self.mid_block = UNetBlock([Resnet(mid_c, mid_c, g, eps) for _ in range(2)], [], None, '')
        self.conv_norm_out = nn.GroupNorm(g, last, eps=eps)
        self.conv_out = nn.Conv2d(last, out, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        if self.side == 'decoder':
            h = self.mid_block.resnets[1](self.mid_block.resnets[0](h))
        for blk in (self.down_blocks if self.side == 'encoder' else self.up_blocks):
            for r in blk.resnets:
                h = r(h)
            for name in ('downsamplers', 'upsamplers'):
                if hasattr(blk, name):
                    h = getattr(blk, name)[0](h)
        if self.side == 'encoder':
            h = self.mid_block.resnets[1](self.mid_block.resnets[0](h))
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        lat = cfg['latent_channels']
        self.encoder, self.decoder = VaeHalf(cfg, 'encoder'), VaeHalf(cfg, 'decoder')
        self.quant_conv, self.post_quant_conv = nn.Conv2d(2 * lat, 2 * lat, 1), nn.Conv2d(lat, lat, 1)

    def encode(self, x):
        """Image in [−1, 1] → (mean, logvar)."""
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, 1)
        return mean, logvar.clamp(-30, 20)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))
