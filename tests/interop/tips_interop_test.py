"""Interoperability test: `tips export / import / embed` against an independent NumPy reading of the spec.

Written from docs/checkpoint_format.md only (not from the C++ code). For a GELU and a
SwiGLU tiny config it:
  1. runs `tips export --init random` and checks the .npz pair has exactly the spec's keys and shapes;
  2. perturbs every parameter with NumPy (so LayerScale, biases and norms are far from their init) and saves
     the pair with numpy.savez -> this also checks that files written by NumPy import;
  3. runs `tips embed` on generated PNGs (at the native and at a resized position grid) and on fixed ids and
     on tokenized texts, then recomputes cls1 / cls2 / patches / text embeddings here in float64;
  4. asserts max relative error < 1e-4 per output, and that `tips import --re-export` gives identical bytes.
Run by ctest as: /usr/bin/python3 tips_interop_test.py --tips <path to the tips binary>.
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

TOL = 1e-4


# ----------------------------------------------------------------------------- spec: keys and shapes

def image_keys(dim, depth, mlp, ffn, patch, grid):
    keys = {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, 1 + grid * grid, dim),
        "register_tokens": (1, 1, dim),
        "mask_token": (1, dim),
        "patch_embed.proj.weight": (dim, 3, patch, patch),
        "patch_embed.proj.bias": (dim,),
        "norm.weight": (dim,),
        "norm.bias": (dim,),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        keys.update({
            b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
            b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
            b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
            b + "ls1.gamma": (dim,), b + "ls2.gamma": (dim,),
            b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
        })
        if ffn == "swiglu":
            keys.update({b + "mlp.w12.weight": (2 * mlp, dim), b + "mlp.w12.bias": (2 * mlp,),
                         b + "mlp.w3.weight": (dim, mlp), b + "mlp.w3.bias": (dim,)})
        else:
            keys.update({b + "mlp.fc1.weight": (mlp, dim), b + "mlp.fc1.bias": (mlp,),
                         b + "mlp.fc2.weight": (dim, mlp), b + "mlp.fc2.bias": (dim,)})
    return keys


def text_keys(dim, depth, mlp, vocab):
    keys = {"token_embedding.weight": (vocab, dim), "ln_final.weight": (dim,), "ln_final.bias": (dim,)}
    for i in range(depth):
        b = f"transformer.resblocks.{i}."
        keys.update({
            b + "ln_1.weight": (dim,), b + "ln_1.bias": (dim,),
            b + "attn.in_proj_weight": (3 * dim, dim), b + "attn.in_proj_bias": (3 * dim,),
            b + "attn.out_proj.weight": (dim, dim), b + "attn.out_proj.bias": (dim,),
            b + "ln_2.weight": (dim,), b + "ln_2.bias": (dim,),
            b + "mlp.c_fc.weight": (mlp, dim), b + "mlp.c_fc.bias": (mlp,),
            b + "mlp.c_proj.weight": (dim, mlp), b + "mlp.c_proj.bias": (dim,),
        })
    return keys


# ----------------------------------------------------------------------------- spec: forward pass (float64)

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def gelu(x):  # exact (erf) GELU
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def attention(x, w_qkv, b_qkv, w_out, b_out, heads, key_pad=None):
    """x (N, D); q, k, v stacked in that order in w_qkv (3D, D); key_pad (N,) bool, True = ignore."""
    n, d = x.shape
    hd = d // heads
    qkv = x @ w_qkv.T + b_qkv
    q, k, v = (qkv[:, i * d:(i + 1) * d].reshape(n, heads, hd).transpose(1, 0, 2) for i in range(3))
    s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)  # (H, N, N)
    if key_pad is not None:
        s = np.where(key_pad[None, None, :], -np.inf, s)
    o = (softmax(s) @ v).transpose(1, 0, 2).reshape(n, d)
    return o @ w_out.T + b_out


def aa_bilinear_axis(n_in, n_out):
    """(n_out, n_in) weights of bilinear resizing with antialiasing (triangle filter widened by the scale)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = (i + 0.5) * scale
        for j in range(n_in):
            m[i, j] = max(0.0, 1.0 - abs((j + 0.5 - center) / support))
        m[i] /= m[i].sum()
    return m


def resize_pos_embed(pos, grid, h, w):
    """pos (1 + G*G, D) -> (1 + h*w, D): the CLS row kept, the patch grid resized."""
    cls, grid_tab = pos[:1], pos[1:].reshape(grid, grid, -1)
    if (h, w) == (grid, grid):
        return pos
    ry, rx = aa_bilinear_axis(grid, h), aa_bilinear_axis(grid, w)
    out = np.einsum("yg,gkd,xk->yxd", ry, grid_tab, rx)
    return np.concatenate([cls, out.reshape(h * w, -1)], 0)


def image_forward(p, img, cfg):
    """img (3, H, W) in [0, 1] -> cls1 (D,), cls2 (D,), patches (N, D)."""
    ps, dim, heads = cfg["patch"], cfg["dim"], cfg["heads"]
    _, hh, ww = img.shape
    h, w = hh // ps, ww // ps
    patches = img.reshape(3, h, ps, w, ps).transpose(1, 3, 0, 2, 4).reshape(h * w, 3 * ps * ps)
    x = patches @ p["patch_embed.proj.weight"].reshape(dim, -1).T + p["patch_embed.proj.bias"]
    x = np.concatenate([p["cls_token"].reshape(1, dim), x], 0)
    x = x + resize_pos_embed(p["pos_embed"][0], cfg["grid"], h, w)
    x = np.concatenate([x[:1], p["register_tokens"].reshape(1, dim), x[1:]], 0)
    for i in range(cfg["depth"]):
        b = lambda k: p[f"blocks.{i}.{k}"]  # noqa: E731
        y = layer_norm(x, b("norm1.weight"), b("norm1.bias"), 1e-6)
        x = x + b("ls1.gamma") * attention(y, b("attn.qkv.weight"), b("attn.qkv.bias"), b("attn.proj.weight"),
                                           b("attn.proj.bias"), heads)
        y = layer_norm(x, b("norm2.weight"), b("norm2.bias"), 1e-6)
        if cfg["ffn"] == "swiglu":
            hid = y @ b("mlp.w12.weight").T + b("mlp.w12.bias")
            a, g = np.split(hid, 2, axis=-1)
            m = (a / (1 + np.exp(-a))) * g
            m = m @ b("mlp.w3.weight").T + b("mlp.w3.bias")
        else:
            m = gelu(y @ b("mlp.fc1.weight").T + b("mlp.fc1.bias")) @ b("mlp.fc2.weight").T + b("mlp.fc2.bias")
        x = x + b("ls2.gamma") * m
    x = layer_norm(x, p["norm.weight"], p["norm.bias"], 1e-6)
    return x[0], x[1], x[2:]


def sinusoid(length, dim):
    n = dim // 2
    inc = math.log(10000.0 / 1.0) / max(n - 1, 1)
    inv = np.exp(np.arange(n) * -inc)
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], 1)


def text_forward(p, ids, cfg):
    """ids (L,) int, 0 = padding -> (D,) masked mean of the final-norm tokens."""
    dim, heads = cfg["dim"], cfg["heads"]
    pad = ids == 0
    x = p["token_embedding.weight"][ids] * math.sqrt(dim) + sinusoid(len(ids), dim)
    for i in range(cfg["text_depth"]):
        b = lambda k: p[f"transformer.resblocks.{i}.{k}"]  # noqa: E731
        y = layer_norm(x, b("ln_1.weight"), b("ln_1.bias"), 1e-5)
        x = x + attention(y, b("attn.in_proj_weight"), b("attn.in_proj_bias"), b("attn.out_proj.weight"),
                          b("attn.out_proj.bias"), heads, key_pad=pad)
        y = layer_norm(x, b("ln_2.weight"), b("ln_2.bias"), 1e-5)
        hid = np.maximum(y @ b("mlp.c_fc.weight").T + b("mlp.c_fc.bias"), 0) * ~pad[:, None]
        x = x + (hid @ b("mlp.c_proj.weight").T + b("mlp.c_proj.bias")) * ~pad[:, None]
    x = layer_norm(x, p["ln_final.weight"], p["ln_final.bias"], 1e-5)
    keep = ~pad
    return (x * keep[:, None]).sum(0) / (keep.sum() + 1e-8)


# ----------------------------------------------------------------------------- helpers

def run(tips, *args):
    r = subprocess.run([tips, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join([tips, *args])}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def rel_err(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))


def check(name, got, want, failures):
    err = rel_err(np.asarray(got, np.float64), want)
    print(f"  {name:32s} max rel err {err:.2e}")
    if not err < TOL:
        failures.append(f"{name}: max relative error {err:.3e} >= {TOL}")


def load(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_images(folder, size, n, seed):
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        yy, xx = np.mgrid[0:size, 0:size] / size
        base = np.stack([np.sin(6 * xx + i), np.cos(4 * yy - i), xx * yy], -1) * 0.5 + 0.5
        img = np.clip(base * 255 + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)
        names.append(f"img_{i}.png")
        Image.fromarray(img, "RGB").save(os.path.join(folder, names[-1]))
    return names


def load_image(path):
    return np.asarray(Image.open(path).convert("RGB"), np.float64).transpose(2, 0, 1) / 255.0


# ----------------------------------------------------------------------------- the test

CONFIGS = [
    dict(name="gelu", ffn="gelu", patch=8, dim=128, heads=4, depth=2, mlp=512, grid=14, text_depth=2, text_mlp=512,
         vocab=64, max_len=12,
         overrides=["model.preset=tiny", "model.depth=2", "text.depth=2", "text.vocab_size=64", "text.max_len=12"]),
    dict(name="swiglu", ffn="swiglu", patch=8, dim=64, heads=2, depth=2, mlp=96, grid=6, text_depth=1, text_mlp=80,
         vocab=64, max_len=10,
         overrides=["model.preset=tiny", "model.dim=64", "model.num_heads=2", "model.depth=2", "model.ffn=swiglu",
                    "model.mlp_hidden=96", "model.pos_grid=6", "text.dim=64", "text.num_heads=2", "text.depth=1",
                    "text.mlp_hidden=80", "text.vocab_size=64", "text.max_len=10"]),
]

IDS = [[5, 9, 17, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [63], [7, 7, 7, 40, 22, 8]]
TEXTS = ["a red dog on the grass", "A BLUE CAT", "a small bird near a tree in a room"]


def perturb(arrays, rng):
    """Moves every parameter well away from its init (LayerScale 1e-5, zero biases, unit norms)."""
    return {k: (v + rng.normal(0.0, 0.05 if v.ndim > 1 else 0.3, v.shape)).astype(np.float32)
            for k, v in arrays.items()}


def test_config(tips, cfg, tmp, failures):
    print(f"config {cfg['name']}")
    d = os.path.join(tmp, cfg["name"])
    ov = cfg["overrides"]
    run(tips, "export", "--init", "random", "--seed", "3", "--out-dir", os.path.join(d, "exported"), *ov)
    img = load(os.path.join(d, "exported", "image_encoder.npz"))
    txt = load(os.path.join(d, "exported", "text_encoder.npz"))

    want_img = image_keys(cfg["dim"], cfg["depth"], cfg["mlp"], cfg["ffn"], cfg["patch"], cfg["grid"])
    want_txt = text_keys(cfg["dim"], cfg["text_depth"], cfg["text_mlp"], cfg["vocab"])
    for label, got, want in (("image", img, want_img), ("text", txt, want_txt)):
        got_shapes = {k: v.shape for k, v in got.items()}
        if got_shapes != want:
            failures.append(f"{cfg['name']} {label} keys/shapes differ from the spec: "
                            f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}, "
                            f"shape {[(k, got_shapes[k], want[k]) for k in want if k in got and got_shapes[k] != want[k]][:5]}")
            return
        if any(v.dtype != np.float32 for v in got.values()):
            failures.append(f"{cfg['name']} {label}: not all arrays are float32")

    # Perturbed weights saved by NumPy: the C++ side must import them.
    rng = np.random.default_rng(11)
    img, txt = perturb(img, rng), perturb(txt, rng)
    wdir = os.path.join(d, "weights")
    os.makedirs(wdir)
    np.savez(os.path.join(wdir, "image_encoder.npz"), **img)
    np.savez(os.path.join(wdir, "text_encoder.npz"), **txt, temperature=np.array(0.01, np.float32))
    img64 = {k: v.astype(np.float64) for k, v in img.items()}
    txt64 = {k: v.astype(np.float64) for k, v in txt.items()}

    # Round trip: import the NumPy files and export again; arrays must be bit-identical.
    run(tips, "import", "--weights-dir", wdir, "--re-export", os.path.join(d, "re1"), *ov)
    run(tips, "import", "--weights-dir", os.path.join(d, "re1"), "--re-export", os.path.join(d, "re2"), *ov)
    for f in ("image_encoder.npz", "text_encoder.npz"):
        a, b = load(os.path.join(wdir, f)), load(os.path.join(d, "re1", f))
        if set(a) != set(b) or any(not np.array_equal(a[k], b[k]) for k in a):
            failures.append(f"{cfg['name']} {f}: import -> export changed arrays")
        with open(os.path.join(d, "re1", f), "rb") as x, open(os.path.join(d, "re2", f), "rb") as y:
            if x.read() != y.read():
                failures.append(f"{cfg['name']} {f}: export -> import -> export is not byte-identical")

    # Images at the native grid and at a smaller one (position table resized with antialiasing).
    ids_file = os.path.join(d, "ids.txt")
    with open(ids_file, "w") as f:
        f.write("\n".join(" ".join(map(str, row)) for row in IDS) + "\n")
    for size in (cfg["grid"] * cfg["patch"], 4 * cfg["patch"]):
        folder = os.path.join(d, f"images_{size}")
        names = write_images(folder, size, 3, seed=size)
        out = os.path.join(d, f"emb_{size}.npz")
        run(tips, "embed", "--weights-dir", wdir, "--images", folder, "--size", str(size), "--ids", ids_file,
            "-o", out, *ov)
        e = load(out)
        got_names = bytes(e["image_names"]).decode().split("\n")
        if got_names != names:
            failures.append(f"{cfg['name']}: image_names {got_names} != {names}")
        refs = [image_forward(img64, load_image(os.path.join(folder, n)), cfg) for n in names]
        tag = f"{cfg['name']} {size}px"
        check(f"{tag} cls1", e["cls1"], np.stack([r[0] for r in refs]), failures)
        check(f"{tag} cls2", e["cls2"], np.stack([r[1] for r in refs]), failures)
        check(f"{tag} patches", e["patches"], np.stack([r[2] for r in refs]), failures)
        want_ids = np.zeros((len(IDS), cfg["max_len"]), np.int64)
        for i, row in enumerate(IDS):
            row = row[:cfg["max_len"]]
            want_ids[i, :len(row)] = row
        if not np.array_equal(e["text_ids"], want_ids):
            failures.append(f"{cfg['name']}: text_ids {e['text_ids'].tolist()} != {want_ids.tolist()}")
        check(f"{tag} text_embeddings", e["text_embeddings"],
              np.stack([text_forward(txt64, r, cfg) for r in want_ids]), failures)

    # Texts through a tokenizer trained by `tips tokenizer train`, L2-normalised outputs.
    corpus = os.path.join(d, "corpus.txt")
    words = ["red", "blue", "green", "dog", "cat", "bird", "grass", "tree", "room", "small", "big", "water"]
    with open(corpus, "w") as f:
        for i in range(400):
            f.write(f"a {words[i % 12]} {words[(i * 5 + 3) % 12]} on the {words[(i * 7 + 1) % 12]}\n")
    run(tips, "tokenizer", "train", "--corpus", corpus, "--out-prefix", os.path.join(d, "tok"), "--vocab-size",
        "40")  # <= text.vocab_size; the tiny corpus allows at most ~45 pieces
    out = os.path.join(d, "emb_text.npz")
    run(tips, "embed", "--weights-dir", wdir, "--tokenizer", os.path.join(d, "tok.model"), "--text", TEXTS[0],
        "--text", TEXTS[1], "--text", TEXTS[2], "--l2-normalize", "-o", out, *ov)
    e = load(out)
    enc = run(tips, "tokenizer", "encode", "--tokenizer", os.path.join(d, "tok.model"), "--max-len",
              str(cfg["max_len"]), *TEXTS)
    cli_ids = np.array([[int(t) for t in line.split()] for line in enc.strip().split("\n")], np.int64)
    if not np.array_equal(e["text_ids"], cli_ids):
        failures.append(f"{cfg['name']}: embed ids {e['text_ids'].tolist()} != tokenizer encode {cli_ids.tolist()}")
    ref = np.stack([text_forward(txt64, r, cfg) for r in e["text_ids"]])
    ref /= np.linalg.norm(ref, axis=-1, keepdims=True)
    check(f"{cfg['name']} text (tokenizer, l2)", e["text_embeddings"], ref, failures)
    if not bool(e["normalized"]):
        failures.append(f"{cfg['name']}: --l2-normalize output not flagged as normalized")


def self_check_resize():
    """The NumPy antialiased resize against torch's (a second implementation), when torch is present."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return
    x = np.random.default_rng(0).normal(size=(1, 7, 7, 5))
    for h, w in ((4, 4), (3, 5), (9, 9)):
        pos = np.concatenate([np.zeros((1, 5)), x.reshape(49, 5)], 0)
        ours = resize_pos_embed(pos, 7, h, w)[1:].reshape(h, w, 5)
        ref = F.interpolate(torch.tensor(x).permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=False,
                            antialias=True)[0].permute(1, 2, 0).numpy()
        assert np.abs(ours - ref).max() < 1e-9, (h, w, np.abs(ours - ref).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tips", required=True)
    args = ap.parse_args()
    self_check_resize()
    failures = []
    with tempfile.TemporaryDirectory(prefix="tips_interop_") as tmp:
        for cfg in CONFIGS:
            test_config(args.tips, cfg, tmp, failures)
    if failures:
        print("FAILURES:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("interop ok")


if __name__ == "__main__":
    main()
