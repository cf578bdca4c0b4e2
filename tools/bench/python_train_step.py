#!/usr/bin/python3
"""Python/PyTorch reference of one TIPSv2 training step, for `tips bench train`.

The same model (ViT with two CLS tokens, TIPS text encoder, DINO/iBOT heads) and the same losses
(two-stream InfoNCE, DINO on local crops, iBOT++ on all patches, head-only EMA teacher with centering)
as the C++ trainer, written independently in plain PyTorch, timed on synthetic batches.
Prints one JSON line: {"step_s_median": ..., "steps": ..., "imgs_per_s": ...}.
Run with Debian's python3-torch (the same LibTorch 1.13 the C++ build links).
"""
import argparse
import copy
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, eps, ls):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ls1 = nn.Parameter(torch.full((dim,), ls))
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.ls2 = nn.Parameter(torch.full((dim,), ls))

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax((q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads), dim=-1) @ v
        x = x + self.ls1 * self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, a):
        super().__init__()
        d = a.dim
        self.patch = a.patch
        self.proj = nn.Conv2d(3, d, a.patch, a.patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.reg = nn.Parameter(torch.zeros(1, 1, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        g = a.global_size // a.patch
        self.grid = g
        self.pos = nn.Parameter(torch.randn(1, 1 + g * g, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, a.heads, a.mlp, 1e-6, 0.1) for _ in range(a.depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def forward(self, img, mask=None):
        x = self.proj(img).flatten(2).transpose(1, 2)
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype).unsqueeze(0), x)
        h = img.shape[-1] // self.patch
        pos = self.pos
        if h != self.grid:
            grid = pos[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(h, h), mode="bilinear", align_corners=False, antialias=True)
            pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * h, -1)], 1)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + pos
        x = torch.cat([x[:, :1], self.reg.expand(x.shape[0], -1, -1), x[:, 1:]], 1)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return x[:, 0], x[:, 1], x[:, 2:]


class TextEncoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        d = a.dim
        self.dim = d
        self.emb = nn.Embedding(a.vocab, d)
        self.layers = nn.ModuleList()
        for _ in range(a.text_depth):
            self.layers.append(nn.ModuleDict(dict(
                ln_1=nn.LayerNorm(d), attn=nn.MultiheadAttention(d, a.heads, batch_first=True),
                ln_2=nn.LayerNorm(d), c_fc=nn.Linear(d, a.text_mlp), c_proj=nn.Linear(a.text_mlp, d))))
        self.ln_final = nn.LayerNorm(d)
        inv = torch.exp(-math.log(10000.0) * torch.arange(d // 2) / max(d // 2 - 1, 1))
        pos = torch.arange(a.max_len).unsqueeze(1) * inv.unsqueeze(0)
        self.register_buffer("sig", torch.cat([pos.sin(), pos.cos()], 1))

    def forward(self, ids):
        pad = ids == 0
        keep = (~pad).unsqueeze(-1).float()
        x = self.emb(ids) * math.sqrt(self.dim) + self.sig[: ids.shape[1]]
        for l in self.layers:
            h = l["ln_1"](x)
            x = x + l["attn"](h, h, h, key_padding_mask=pad, need_weights=False)[0]
            x = x + l["c_proj"](F.relu(l["c_fc"](l["ln_2"](x))) * keep) * keep
        x = self.ln_final(x)
        return (x * keep).sum(1) / (keep.sum(1) + 1e-8)


class Head(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(a.dim, a.head_hidden), nn.GELU(), nn.Linear(a.head_hidden, a.head_hidden),
                                 nn.GELU(), nn.Linear(a.head_hidden, a.bottleneck))
        self.weight_v = nn.Parameter(torch.randn(a.prototypes, a.bottleneck) * 0.02)

    def forward(self, x):
        return F.normalize(self.mlp(x), dim=-1) @ F.normalize(self.weight_v, dim=-1).t()


def infonce(img, txt, tau):
    logits = img @ txt.t() / tau
    labels = torch.arange(img.shape[0])
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def main():
    p = argparse.ArgumentParser()
    for name, default in [("dim", 128), ("depth", 4), ("heads", 4), ("mlp", 512), ("patch", 8), ("global_size", 112),
                          ("local_size", 48), ("local_count", 4), ("text_depth", 2), ("text_mlp", 512), ("vocab", 512),
                          ("max_len", 32), ("prototypes", 1024), ("head_hidden", 256), ("bottleneck", 64),
                          ("batch", 64), ("steps", 10), ("warmup", 2), ("threads", 0)]:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=default)
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    vit, text, dino, ibot = ViT(a), TextEncoder(a), Head(a), Head(a)
    t_dino, t_ibot = copy.deepcopy(dino), copy.deepcopy(ibot)
    for m in (t_dino, t_ibot):
        m.requires_grad_(False)
    log_tau = nn.Parameter(torch.tensor(math.log(0.1)))
    params = [*vit.parameters(), *text.parameters(), *dino.parameters(), *ibot.parameters(), log_tau]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.04)
    c_dino, c_ibot = torch.zeros(a.prototypes), torch.zeros(a.prototypes)
    n = (a.global_size // a.patch) ** 2
    b = a.batch
    times = []
    for it in range(a.warmup + a.steps):
        g = torch.rand(b, 3, a.global_size, a.global_size)
        loc = torch.rand(a.local_count * b, 3, a.local_size, a.local_size)
        mask = torch.rand(b, n).argsort(1) < int(0.75 * n)
        ids = torch.randint(1, a.vocab, (2 * b, a.max_len))
        t0 = time.perf_counter()
        cls1, cls2, patches = vit(g)  # shared: contrastive view + teacher features (detached)
        with torch.no_grad():
            td = t_dino(cls1.detach())
            ti = t_ibot(patches.detach())
            p_d = torch.softmax((td - c_dino) / 0.07, -1)
            p_i = torch.softmax((ti - c_ibot) / 0.07, -1)
            c_dino.mul_(0.9).add_(td.mean(0), alpha=0.1)
            c_ibot.mul_(0.9).add_(ti.flatten(0, 1).mean(0), alpha=0.1)
        _, _, m_patches = vit(g, mask)
        l_cls1, _, _ = vit(loc)
        e = F.normalize(text(ids), dim=-1)
        tau = log_tau.exp()
        l_clip = 0.5 * (infonce(F.normalize(cls1, dim=-1), e[:b], tau) + infonce(F.normalize(cls2, dim=-1), e[b:], tau))
        s_d = F.log_softmax(dino(l_cls1).view(a.local_count, b, -1) / 0.1, -1)
        l_dino = -(p_d.unsqueeze(0) * s_d).sum(-1).mean()
        s_i = F.log_softmax(ibot(m_patches) / 0.1, -1)
        l_ibot = -(p_i * s_i).sum(-1).mean()
        loss = l_clip + l_dino + 2.0 * l_ibot
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 3.0)
        opt.step()
        with torch.no_grad():
            for s, t in ((dino, t_dino), (ibot, t_ibot)):
                torch._foreach_mul_(list(t.parameters()), 0.994)
                torch._foreach_add_(list(t.parameters()), list(s.parameters()), alpha=0.006)
        if it >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"step_s_median": med, "steps": a.steps, "imgs_per_s": b / med}))


if __name__ == "__main__":
    main()
