"""Reference outputs for tests/model/parity_test.cpp, computed with torch.nn in Python.

Run with Debian's python3 (it has torch): /usr/bin/python3 tests/model/make_parity_values.py
It builds the two towers from torch.nn parts with the official state-dict names (the text tower uses
nn.MultiheadAttention with the official float attention mask), fills every parameter by name with the formula
of tests/model/reference_impl.h (fill_deterministic), and prints the outputs as C++ initialisers.
Written from docs/checkpoint_format.md; no third-party code.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def fill(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            idx = torch.arange(p.numel(), dtype=torch.float64)
            v = 0.05 * torch.sin(0.37 * idx + 0.11 * len(name) + 0.3 * ord(name[0]))
            if name.endswith(".weight") and ("norm" in name or "ln_" in name):
                v = v + 1.0
            p.copy_(v.view(p.shape))


class LayerScale(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(d))


class Attn(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.qkv, self.proj, self.heads = nn.Linear(d, 3 * d), nn.Linear(d, d), heads

    def forward(self, x):
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D // self.heads), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, d, m):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, m), nn.Linear(m, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, d, heads, m):
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(d, eps=1e-6), Attn(d, heads), LayerScale(d)
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(d, eps=1e-6), Mlp(d, m), LayerScale(d)

    def forward(self, x):
        x = x + self.ls1.gamma * self.attn(self.norm1(x))
        return x + self.ls2.gamma * self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, p, d):
        super().__init__()
        self.proj = nn.Conv2d(3, d, p, p)


class Vit(nn.Module):
    def __init__(self, d=8, depth=2, heads=2, m=12, p=2, grid=3):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, d))
        self.register_tokens = nn.Parameter(torch.zeros(1, 1, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.patch_embed = PatchEmbed(p, d)
        self.blocks = nn.ModuleList([Block(d, heads, m) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.p, self.grid = p, grid

    def forward(self, img, mask=None):
        B, _, H, W = img.shape
        h, w = H // self.p, W // self.p
        x = self.patch_embed.proj(img).flatten(2).transpose(1, 2)
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_token.unsqueeze(0), x)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], 1)
        pos = self.pos_embed
        if (h, w) != (self.grid, self.grid):
            g = pos[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            g = F.interpolate(g, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
            pos = torch.cat([pos[:, :1], g.permute(0, 2, 3, 1).reshape(1, h * w, -1)], 1)
        x = x + pos
        x = torch.cat([x[:, :1], self.register_tokens.expand(B, -1, -1), x[:, 1:]], 1)
        for b in self.blocks:
            x = b(x)
        return self.norm(x)


class TextMlp(nn.Module):
    def __init__(self, d, m):
        super().__init__()
        self.c_fc, self.c_proj = nn.Linear(d, m), nn.Linear(m, d)

    def forward(self, x, keep):
        return self.c_proj(F.relu(self.c_fc(x)) * keep[..., None]) * keep[..., None]


class ResBlock(nn.Module):
    def __init__(self, d, heads, m):
        super().__init__()
        self.attn, self.ln_1 = nn.MultiheadAttention(d, heads), nn.LayerNorm(d)
        self.mlp, self.ln_2 = TextMlp(d, m), nn.LayerNorm(d)
        self.heads = heads

    def forward(self, x, keep):  # x (L, B, D), keep (B, L) float
        L = x.shape[0]
        m = keep[:, None, None, :].repeat(1, self.heads, L, 1).flatten(0, 1)
        m = torch.where(m == 0, torch.tensor(float("-inf"), dtype=x.dtype), torch.zeros((), dtype=x.dtype))
        x = x + self.attn(self.ln_1(x), self.ln_1(x), self.ln_1(x), need_weights=False, attn_mask=m)[0]
        return x + self.mlp(self.ln_2(x), keep.t())


class Transformer(nn.Module):
    def __init__(self, d, depth, heads, m):
        super().__init__()
        self.resblocks = nn.ModuleList([ResBlock(d, heads, m) for _ in range(depth)])


class Text(nn.Module):
    def __init__(self, d=8, depth=2, heads=2, m=12, vocab=50):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.transformer = Transformer(d, depth, heads, m)
        self.ln_final = nn.LayerNorm(d)
        self.d = d

    def forward(self, ids):
        B, L = ids.shape
        keep = (ids != 0).to(torch.float64)
        n = self.d // 2
        inv = torch.exp(torch.arange(n, dtype=torch.float32) * -(math.log(10000.0) / max(n - 1, 1)))
        t = torch.arange(L, dtype=torch.float32)[:, None] * inv[None, :]
        sig = torch.cat([torch.sin(t), torch.cos(t)], 1)[None].to(torch.float64)
        x = (self.token_embedding(ids) * math.sqrt(self.d) + sig).permute(1, 0, 2)
        for b in self.transformer.resblocks:
            x = b(x, keep)
        x = self.ln_final(x.permute(1, 0, 2))
        x = torch.where(keep[..., None] > 0, x, torch.zeros_like(x))
        return x.sum(1) / (keep.sum(1, keepdim=True) + 1e-8)


def fmt(t):
    return "{" + ", ".join(f"{v:.12g}" for v in t.reshape(-1).tolist()) + "}"


def main():
    vit = Vit().double()
    fill(vit)
    img = (0.5 + 0.5 * torch.sin(0.1 * torch.arange(2 * 3 * 4 * 8, dtype=torch.float64))).view(2, 3, 4, 8)
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[1, 3] = True
    with torch.no_grad():
        out = vit(img, mask)
    print("vision tokens (B, 2 + N, D) =", list(out.shape))
    print("kVisionCls1 =", fmt(out[:, 0]))
    print("kVisionCls2 =", fmt(out[:, 1]))
    print("kVisionPatch0 =", fmt(out[:, 2]))
    print("kVisionPatch7 =", fmt(out[:, 9]))
    text = Text().double()
    fill(text)
    ids = torch.tensor([[5, 17, 3, 0, 0, 0], [42, 8, 9, 11, 1, 49]])
    with torch.no_grad():
        print("kText =", fmt(text(ids)))


if __name__ == "__main__":
    main()
