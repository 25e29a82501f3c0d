"""
PyTorch CPU reference timing for bench/model.ts: a compact SD1.5 UNet2DConditionModel (diffusers' structure, no
diffusers needed) with random weights, at the same shapes as our tfjs benchmark. Prints one JSON line:
{"torch": version, "threads": n, "unet_fwd_ms": median, "unet_fwd_bwd_ms": median (grads wrt sample and text states)}.

    python bench/torch_unet.py [latent=64] [batch=2] [repeats=3] [tokens=77] [backward=1] [threads=torch's default]

bench/lib/torch-python.ts picks the Python (PyTorch 2 from a venv unless PYTHON is given) and passes our thread count.

Structure (from the SD1.5 config): block_out_channels (320, 640, 1280, 1280), 2 layers per down block, 3 per up block,
8 heads, cross-attention dim 768, GroupNorm 32 (eps 1e-5; 1e-6 in Transformer2D), GEGLU feed-forward, 1×1 proj_in/out.
Attention is the classic baddbmm → softmax → bmm (diffusers' AttnProcessor on torch 1.x).
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CH = (320, 640, 1280, 1280)
HEADS, CROSS, TEMB = 8, 768, 1280


class Resnet(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(32, cin, eps=1e-5), nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(TEMB, cout)
        self.norm2, self.conv2 = nn.GroupNorm(32, cout, eps=1e-5), nn.Conv2d(cout, cout, 3, padding=1)
        self.short = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, t):
        h = self.conv1(F.silu(self.norm1(x))) + self.temb(F.silu(t))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.short(x) if self.short is not None else x) + h


class Attention(nn.Module):
    def __init__(self, dim, ctx):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(dim, dim, bias=False), nn.Linear(ctx, dim, bias=False), nn.Linear(ctx, dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, x, c):
        b, n, dim = x.shape
        d = dim // HEADS
        split = lambda t: t.reshape(b, -1, HEADS, d).permute(0, 2, 1, 3).reshape(b * HEADS, -1, d)
        q, k, v = split(self.q(x)), split(self.k(c)), split(self.v(c))
        scores = torch.baddbmm(torch.empty(q.shape[0], q.shape[1], k.shape[1]), q, k.transpose(1, 2), beta=0, alpha=1 / math.sqrt(d))
        o = torch.bmm(scores.softmax(-1), v).reshape(b, HEADS, n, d).permute(0, 2, 1, 3).reshape(b, n, dim)
        return self.out(o)


class Transformer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm, self.proj_in, self.proj_out = nn.GroupNorm(32, dim, eps=1e-6), nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, dim, 1)
        self.n1, self.a1, self.n2, self.a2, self.n3 = nn.LayerNorm(dim), Attention(dim, dim), nn.LayerNorm(dim), Attention(dim, CROSS), nn.LayerNorm(dim)
        self.ff_in, self.ff_out = nn.Linear(dim, dim * 8), nn.Linear(dim * 4, dim)

    def forward(self, x, c):
        b, ch, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, hh * ww, ch)
        n1 = self.n1(h)
        h = h + self.a1(n1, n1)
        h = h + self.a2(self.n2(h), c)
        a, gate = self.ff_in(self.n3(h)).chunk(2, dim=-1)
        h = h + self.ff_out(a * F.gelu(gate))
        return self.proj_out(h.reshape(b, hh, ww, ch).permute(0, 3, 1, 2)) + x


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.t1, self.t2 = nn.Linear(CH[0], TEMB), nn.Linear(TEMB, TEMB)
        self.conv_in = nn.Conv2d(4, CH[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips, cin = [CH[0]], CH[0]
        for i, c in enumerate(CH):
            layers = nn.ModuleList()
            for j in range(2):
                layers.append(nn.ModuleList([Resnet(cin if j == 0 else c, c), Transformer(c) if i < 3 else nn.Identity()]))
                skips.append(c)
            down = nn.Conv2d(c, c, 3, stride=2, padding=1) if i < 3 else None
            if down is not None:
                skips.append(c)
            self.down.append(nn.ModuleList([layers, down if down is not None else nn.Identity()]))
            cin = c
        self.mid = nn.ModuleList([Resnet(CH[3], CH[3]), Transformer(CH[3]), Resnet(CH[3], CH[3])])
        self.up = nn.ModuleList()
        rev = list(reversed(CH))
        prev = CH[3]
        for i, c in enumerate(rev):
            layers = nn.ModuleList()
            for j in range(3):
                skip = skips.pop()
                layers.append(nn.ModuleList([Resnet((prev if j == 0 else c) + skip, c), Transformer(c) if i > 0 else nn.Identity()]))
            self.up.append(nn.ModuleList([layers, nn.Conv2d(c, c, 3, padding=1) if i < 3 else nn.Identity()]))
            prev = c
        self.norm_out, self.conv_out = nn.GroupNorm(32, CH[0], eps=1e-5), nn.Conv2d(CH[0], 4, 3, padding=1)

    def forward(self, x, t, c):
        half = CH[0] // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None] * freqs[None]
        temb = self.t2(F.silu(self.t1(torch.cat([args.cos(), args.sin()], -1))))
        h = self.conv_in(x)
        skips = [h]
        for i, (layers, down) in enumerate(self.down):
            for res, attn in layers:
                h = res(h, temb)
                h = attn(h, c) if i < 3 else h
                skips.append(h)
            if i < 3:
                h = down(h)
                skips.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, temb), c), temb)
        for i, (layers, upc) in enumerate(self.up):
            for res, attn in layers:
                h = res(torch.cat([h, skips.pop()], 1), temb)
                h = attn(h, c) if i > 0 else h
            if i < 3:
                h = upc(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def median_ms(f, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    latent, batch, repeats, tokens, backward, threads = (int(a) for a in (sys.argv[1:] + ["64", "2", "3", "77", "1", "0"][len(sys.argv) - 1:]))
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    unet = UNet().eval().requires_grad_(False)
    params = sum(p.numel() for p in unet.parameters())
    x = torch.randn(batch, 4, latent, latent)
    c = torch.randn(batch, tokens, CROSS)
    t = torch.full((batch,), 500.0)
    with torch.no_grad():
        unet(x, t, c)  # warm-up
        fwd = median_ms(lambda: unet(x, t, c), repeats)

    def fwd_bwd():
        xs, cs = x.clone().requires_grad_(True), c.clone().requires_grad_(True)
        (unet(xs, t, cs) * x).sum().backward()

    bwd = median_ms(fwd_bwd, repeats) if backward else None
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "parameters": params,
                      "latent": latent, "batch": batch, "unet_fwd_ms": fwd, "unet_fwd_bwd_ms": bwd}))


if __name__ == "__main__":
    main()
