#!/usr/bin/python3
"""Python/PyTorch reference of one TIPSv2 training step, for `tips bench train`.

The same model (ViT with two CLS tokens, TIPS text encoder, DINO/iBOT heads) and the same losses
(two-stream InfoNCE, DINO on local crops, iBOT++ on all patches, head-only EMA teacher with EMA or Sinkhorn
centering, optional KoLeo, AdamW with decay/no-decay groups, global-norm clipping) as the C++ trainer
(src/train/train_step.cpp), written independently in plain PyTorch, timed on synthetic batches. The forwards per step match the C++:
  drop_path == 0: one unmasked global forward with gradient serves the contrastive loss and (detached) the
                  teacher targets; drop_path > 0: a separate no-grad teacher forward plus the contrastive forward;
  then the masked global crops and the local crops (one forward per crop size) and both caption streams.
Batches are drawn before the timer starts; the timer covers zero_grad .. EMA update, as `Trainer::step`.
Prints one JSON line: {"step_s_median", "step_s_min", "cpu_s_median" (process CPU seconds per step, all threads),
"steps", "imgs_per_s", "threads", "torch"}.
Run with Debian's python3-torch (the same LibTorch 1.13 the C++ build links).
"""
import argparse
import contextlib
import copy
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def drop_path(x, rate, training):
    """Per-sample stochastic depth (rate = drop probability), as the C++ Block."""
    if not training or rate == 0.0:
        return x
    keep = 1.0 - rate
    draw = torch.empty(x.shape[0], dtype=torch.float32).bernoulli_(keep).div_(keep)
    return x * draw.to(x).view(-1, *([1] * (x.dim() - 1)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, swiglu, eps, ls, dp):
        super().__init__()
        self.heads, self.swiglu, self.dp = heads, swiglu, dp
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ls1 = nn.Parameter(torch.full((dim,), ls))
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        if swiglu:
            self.w12 = nn.Linear(dim, 2 * hidden)
            self.w3 = nn.Linear(hidden, dim)
        else:
            self.fc1 = nn.Linear(dim, hidden)
            self.fc2 = nn.Linear(hidden, dim)
        self.ls2 = nn.Parameter(torch.full((dim,), ls))

    def ffn(self, x):
        if self.swiglu:
            a, b = self.w12(x).chunk(2, dim=-1)
            return self.w3(F.silu(a) * b)
        return self.fc2(F.gelu(self.fc1(x)))

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax((q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads), dim=-1) @ v
        x = x + drop_path(self.ls1 * self.proj(a.transpose(1, 2).reshape(b, n, d)), self.dp, self.training)
        return x + drop_path(self.ls2 * self.ffn(self.norm2(x)), self.dp, self.training)


class ViT(nn.Module):
    def __init__(self, a):
        super().__init__()
        d = a.dim
        self.patch = a.patch
        self.proj = nn.Conv2d(3, d, a.patch, a.patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.reg = nn.Parameter(torch.zeros(1, 1, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.grid = a.pos_grid
        self.pos = nn.Parameter(torch.randn(1, 1 + a.pos_grid ** 2, d) * 0.02)
        # Stochastic depth linear over depth: 0 at the first block, drop_path at the last.
        rates = [a.drop_path * i / max(a.depth - 1, 1) for i in range(a.depth)]
        self.blocks = nn.ModuleList([Block(d, a.heads, a.mlp, a.ffn == "swiglu", 1e-6, 0.1, r) for r in rates])
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def forward(self, img, mask=None):
        x = self.proj(img).flatten(2).transpose(1, 2)  # (B, N, D)
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype).unsqueeze(0), x)
        h, w = img.shape[-2] // self.patch, img.shape[-1] // self.patch
        pos = self.pos
        if (h, w) != (self.grid, self.grid):
            grid = pos[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
            pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], 1)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + pos
        x = torch.cat([x[:, :1], self.reg.expand(x.shape[0], -1, -1), x[:, 1:]], 1)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return x[:, 0], x[:, 1], x[:, 2:]


def length_buckets(lengths, max_buckets=3, min_saving=0.1):
    """[(rows, length)]: the rows split into at most max_buckets groups of similar valid length with the fewest
    token positions (sum of rows x longest length; a group keeps at least one column), a further group only when
    it saves at least min_saving of the positions. The same rule as the C++ (include/tips/model/length_buckets.h);
    the search runs over the distinct lengths only, so that it costs the timed step next to nothing."""
    order = sorted(range(len(lengths)), key=lambda r: lengths[r])
    ls = [max(lengths[r], 1) for r in order]
    n = len(ls)
    ends = [j for j in range(1, n) if ls[j] != ls[j - 1]] + [n]  # a group may end only where the length changes
    d, none = len(ends), float("inf")
    kmax = min(max_buckets, d)
    best = [[none] * (d + 1) for _ in range(kmax + 1)]  # best[k][e]: rows before ends[e - 1] in k groups
    cut = [[0] * (d + 1) for _ in range(kmax + 1)]
    best[0][0] = 0
    for k in range(1, kmax + 1):
        for e in range(1, d + 1):
            for s in range(e):
                start = ends[s - 1] if s else 0
                cost = best[k - 1][s] + (ends[e - 1] - start) * ls[ends[e - 1] - 1]
                if cost < best[k][e]:
                    best[k][e], cut[k][e] = cost, s
    k = 1
    while k < kmax and best[k + 1][d] < best[k][d] and best[k + 1][d] <= (1 - min_saving) * best[k][d]:
        k += 1
    buckets, e = [], d
    for b in range(k, 0, -1):
        s = cut[b][e]
        start, end = (ends[s - 1] if s else 0), ends[e - 1]
        buckets.append((sorted(order[start:end]), ls[end - 1]))
        e = s
    return buckets[::-1]


class TextEncoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        d = a.dim
        self.dim = d
        self.emb = nn.Embedding(a.vocab, d)
        self.layers = nn.ModuleList()
        for _ in range(a.text_depth):
            self.layers.append(nn.ModuleDict(dict(
                ln_1=nn.LayerNorm(d), attn=nn.MultiheadAttention(d, a.text_heads, batch_first=True),
                ln_2=nn.LayerNorm(d), c_fc=nn.Linear(d, a.text_mlp), c_proj=nn.Linear(a.text_mlp, d))))
        self.ln_final = nn.LayerNorm(d)
        inv = torch.exp(-math.log(10000.0) * torch.arange(d // 2) / max(d // 2 - 1, 1))
        pos = torch.arange(a.max_len).unsqueeze(1) * inv.unsqueeze(0)
        self.register_buffer("sig", torch.cat([pos.sin(), pos.cos()], 1))

    def forward(self, ids):
        """Rows in length buckets, each trimmed to its longest caption, as the C++ TextEncoder runs them."""
        lengths = ((ids != 0).long() * torch.arange(1, ids.shape[1] + 1, device=ids.device)).amax(1).tolist()
        parts, order = [], []
        for rows, length in length_buckets(lengths):
            parts.append(self.forward_padded(ids[torch.tensor(rows, device=ids.device), :length]))
            order += rows
        position = torch.empty(len(order), dtype=torch.long)
        position[torch.tensor(order)] = torch.arange(len(order))
        return torch.cat(parts, 0)[position.to(ids.device)]

    def forward_padded(self, ids):
        pad = ids == 0
        keep = (~pad).unsqueeze(-1).to(self.sig.dtype)
        x = self.emb(ids) * math.sqrt(self.dim) + self.sig[: ids.shape[1]]
        for l in self.layers:
            h = l["ln_1"](x)
            x = x + l["attn"](h, h, h, key_padding_mask=pad, need_weights=False)[0]
            x = x + l["c_proj"](F.relu(l["c_fc"](l["ln_2"](x))) * keep.to(x.dtype)) * keep.to(x.dtype)
        x = self.ln_final(x)
        return (x * keep).sum(1) / (keep.sum(1) + 1e-8)


class Head(nn.Module):
    """MLP (GELU) -> bottleneck -> L2 normalise -> weight-normalised prototypes (no bias)."""

    def __init__(self, a):
        super().__init__()
        layers, width = [], a.dim
        for i in range(a.head_layers):
            last = i + 1 == a.head_layers
            out = a.bottleneck if last else a.head_hidden
            layers.append(nn.Linear(width, out))
            if not last:
                layers.append(nn.GELU())
            width = out
        self.mlp = nn.Sequential(*layers)
        self.weight_v = nn.Parameter(torch.randn(a.prototypes, a.bottleneck) * 0.02)

    def forward(self, x):
        return F.normalize(self.mlp(x), dim=-1, eps=1e-6) @ F.normalize(self.weight_v, dim=-1).t()


def sinkhorn(logits, temp, iters):
    """Sinkhorn-Knopp equipartition of (M, K) teacher scores; rows of the result sum to 1."""
    q = torch.exp(logits / temp)
    rows = q.shape[0]
    q /= q.sum()
    for _ in range(iters):
        q /= q.sum(0, keepdim=True)
        q /= q.shape[1]
        q /= q.sum(1, keepdim=True)
        q /= rows
    return q * rows


def koleo(x, eps=1e-8):
    """-mean log distance of each L2-normalised row to its nearest neighbour."""
    u = F.normalize(x, dim=-1, eps=eps)
    with torch.no_grad():
        dots = u @ u.t()
        dots.fill_diagonal_(-2.0)
        nearest = dots.argmax(1)
    return -torch.log(F.pairwise_distance(u, u[nearest], eps=eps) + eps).mean()


def infonce(img, txt, tau):
    logits = img @ txt.t() / tau
    labels = torch.arange(img.shape[0], device=img.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def make_tokens(n, a):
    """(n, L) ids with realistic padding: stream-1 (alt-text) lengths ~U[L/8, L/2], stream-2 ~U[L/4, L]."""
    def stream(lo, hi):
        ids = torch.randint(1, a.vocab, (n, a.max_len))
        lengths = torch.randint(max(1, lo), max(lo, hi) + 1, (n, 1))
        return ids.masked_fill(torch.arange(a.max_len).unsqueeze(0) >= lengths, 0)
    L = a.max_len
    return torch.cat([stream(L // 8, L // 2), stream(L // 4, L)], 0)


def make_masks(rows, n, a):
    """(rows, N) bool: round(ratio * N) random patches per image (the C++ uses block masks of the same count)."""
    masks = torch.rand(rows, n).argsort(1) < int(round(a.mask_ratio * n))
    return masks & (torch.rand(rows, 1) < a.mask_probability)


def main():
    p = argparse.ArgumentParser()
    for name, default in [("dim", 128), ("depth", 4), ("heads", 4), ("mlp", 512), ("patch", 8), ("pos_grid", 14),
                          ("global_size", 112), ("global_count", 1), ("local_size", 48), ("local_count", 4),
                          ("text_depth", 2), ("text_heads", 4), ("text_mlp", 512), ("vocab", 512), ("max_len", 32),
                          ("prototypes", 1024), ("head_hidden", 256), ("bottleneck", 64), ("head_layers", 3),
                          ("ibot_separate", 1), ("sinkhorn_iters", 3), ("batch", 64), ("steps", 10), ("warmup", 2),
                          ("threads", 0)]:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=default)
    for name, default in [("drop_path", 0.0), ("mask_ratio", 0.75), ("mask_probability", 1.0), ("w_contrastive", 1.0),
                          ("w_dino", 1.0), ("w_ibot", 2.0), ("w_koleo", 0.0), ("lr", 1e-3), ("weight_decay", 0.04),
                          ("clip_grad", 3.0), ("momentum", 0.994)]:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=float, default=default)
    p.add_argument("--ffn", choices=["gelu", "swiglu"], default="gelu")
    p.add_argument("--dino-centering", choices=["ema", "sinkhorn"], default="ema")
    p.add_argument("--ibot-centering", choices=["ema", "sinkhorn"], default="ema")
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CPU or CUDA) for the towers and the heads, "
                   "losses in fp32 (as the C++ step)")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    torch.manual_seed(0)
    vit, text, dino = ViT(a).to(dev), TextEncoder(a).to(dev), Head(a).to(dev)
    ibot = Head(a).to(dev) if a.ibot_separate else dino
    heads = nn.ModuleList([dino, ibot]) if a.ibot_separate else nn.ModuleList([dino])
    t_heads = copy.deepcopy(heads)  # head-only EMA teacher
    t_heads.requires_grad_(False)
    t_dino, t_ibot = t_heads[0], t_heads[-1]
    log_tau = nn.Parameter(torch.tensor(math.log(0.1), device=dev))
    named = [*vit.named_parameters(), *text.named_parameters(), *heads.named_parameters(), ("log_tau", log_tau)]
    no_decay = lambda n, t: t.dim() <= 1 or n in ("cls", "reg", "mask_token", "pos")
    params = [t for _, t in named]
    opt = torch.optim.AdamW([{"params": [t for n, t in named if not no_decay(n, t)]},
                             {"params": [t for n, t in named if no_decay(n, t)], "weight_decay": 0.0}],
                            lr=a.lr, weight_decay=a.weight_decay)
    c_dino = torch.zeros(a.prototypes, device=dev)
    c_ibot = torch.zeros(a.prototypes, device=dev)
    n = (a.global_size // a.patch) ** 2
    b, G, M = a.batch, a.global_count, a.local_count
    shared = a.drop_path == 0.0  # the unmasked student forward doubles as the teacher forward
    autocast = lambda: torch.autocast(dev.type, dtype=torch.bfloat16) if a.bf16 else contextlib.nullcontext()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times, cpu = [], []
    for it in range(a.warmup + a.steps):
        g = torch.rand(G * b, 3, a.global_size, a.global_size, device=dev)
        loc = torch.rand(M * b, 3, a.local_size, a.local_size, device=dev)
        mask = make_masks(G * b, n, a).to(dev)
        ids = make_tokens(b, a).to(dev)
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=False)
        # Teacher targets (EMA heads on the unmasked global crops).
        if shared:
            with autocast():
                cls1, cls2, patches = vit(g)
            f_cls1, f_patches = cls1.detach(), patches.detach()
        else:
            with torch.no_grad(), autocast():
                f_cls1, _, f_patches = vit(g)
        with torch.no_grad():
            with autocast():
                td = t_dino(f_cls1).float()
                ti = t_ibot(f_patches).float()
            if a.dino_centering == "sinkhorn":
                p_d = sinkhorn(td, 0.07, a.sinkhorn_iters).view(G, b, -1)
            else:
                p_d = torch.softmax((td - c_dino) / 0.07, -1).view(G, b, -1)
                c_dino.mul_(0.9).add_(td.mean(0), alpha=0.1)
            if a.ibot_centering == "sinkhorn":
                p_i = sinkhorn(ti.flatten(0, 1), 0.07, a.sinkhorn_iters).view_as(ti)
            else:
                p_i = torch.softmax((ti - c_ibot) / 0.07, -1)
                c_ibot.mul_(0.9).add_(ti.flatten(0, 1).mean(0), alpha=0.1)
        # Student: masked global crops, local crops, the contrastive view, both caption streams.
        with autocast():
            _, _, m_patches = vit(g, mask)
            l_cls1, _, _ = vit(loc)
            if not shared:
                cls1, cls2, _ = vit(g)
            e = F.normalize(text(ids).float(), dim=-1)
        tau = log_tau.exp()
        img1 = F.normalize(cls1[:b].float(), dim=-1)
        img2 = F.normalize(cls2[:b].float(), dim=-1)
        l_clip = 0.5 * (infonce(img1, e[:b], tau) + infonce(img2, e[b:], tau))
        with autocast():
            h_d, h_i = dino(l_cls1), ibot(m_patches)
        s_d = F.log_softmax(h_d.float().view(M, b, -1) / 0.1, -1)
        l_dino = -(p_d.sum(0, keepdim=True) * s_d).sum() / (M * G * b)
        s_i = F.log_softmax(h_i.float() / 0.1, -1)
        l_ibot = -(p_i * s_i).sum(-1).mean()
        loss = a.w_contrastive * l_clip + a.w_dino * l_dino + a.w_ibot * l_ibot
        if a.w_koleo > 0:  # on the contrastive view's first CLS, as the C++
            loss = loss + a.w_koleo * koleo(F.normalize(cls1.float(), dim=-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, a.clip_grad)
        opt.step()
        with torch.no_grad():
            t_params, s_params = list(t_heads.parameters()), list(heads.parameters())
            torch._foreach_mul_(t_params, a.momentum)
            torch._foreach_add_(t_params, s_params, alpha=1.0 - a.momentum)
        sync()
        if it >= a.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    if not math.isfinite(loss.item()):
        raise SystemExit("python_train_step: non-finite loss")
    med = statistics.median(times)  # as the C++ side: the mean of the two middle values for an even count
    print(json.dumps({"step_s_median": med, "step_s_min": min(times), "cpu_s_median": statistics.median(cpu),
                      "steps": a.steps, "imgs_per_s": b / med,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
