#!/usr/bin/env python3
"""Reference multi-crop pipeline for `tips bench data`: PIL decode + torchvision RandomResizedCrop +
RandomHorizontalFlip + ToTensor, the same crops as tips' loader, in P worker processes (1 per core).

Prints one JSON line: {"procs": P, "images": n, "seconds": s, "images_per_s": n / s, "cpu_seconds": c}
where c is the CPU time (user + sys) the worker processes spent in the timed loop.
Files are read into memory before timing (tips' bench does the same), so only decode + crops are measured.
Run with Debian's /usr/bin/python3 (torch + torchvision + PIL).
"""
import argparse
import io
import json
import multiprocessing as mp
import os
import time


def build_transforms(a):
    from torchvision import transforms as T
    bilinear = T.InterpolationMode.BILINEAR

    def crop(size, scale):
        return T.Compose([T.RandomResizedCrop(size, scale=scale, interpolation=bilinear),
                          T.RandomHorizontalFlip(), T.ToTensor()])
    return ([crop(a.global_size, tuple(a.global_scale))] * a.global_count +
            [crop(a.local_size, tuple(a.local_scale))] * a.local_count)


def worker(a, blobs, start, done):
    import torch
    from PIL import Image
    torch.set_num_threads(1)
    torch.manual_seed(os.getpid())
    transforms = build_transforms(a)
    start.wait()
    cpu0 = time.process_time()
    for _ in range(a.passes):
        for b in blobs:
            img = Image.open(io.BytesIO(b)).convert("RGB")
            crops = [t(img) for t in transforms]
            assert crops[0].shape[-1] == a.global_size
    done.put((len(blobs) * a.passes, time.process_time() - cpu0))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", required=True, help="directory of .jpg/.png files")
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--passes", type=int, default=1, help="times each process goes over its share")
    p.add_argument("--global-count", type=int, default=1)
    p.add_argument("--global-size", type=int, default=224)
    p.add_argument("--global-scale", type=float, nargs=2, default=[0.32, 1.0])
    p.add_argument("--local-count", type=int, default=6)
    p.add_argument("--local-size", type=int, default=98)
    p.add_argument("--local-scale", type=float, nargs=2, default=[0.05, 0.32])
    a = p.parse_args()
    files = sorted(f for f in os.listdir(a.images) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    if not files:
        raise SystemExit(f"no images in {a.images}")
    blobs = [open(os.path.join(a.images, f), "rb").read() for f in files]
    ctx = mp.get_context("fork")
    start, done = ctx.Barrier(a.procs + 1), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(a, blobs[i::a.procs], start, done)) for i in range(a.procs)]
    for pr in procs:
        pr.start()
    start.wait()
    t0 = time.perf_counter()
    results = [done.get() for _ in procs]
    seconds = time.perf_counter() - t0
    n = sum(r[0] for r in results)
    for pr in procs:
        pr.join()
    print(json.dumps({"procs": a.procs, "images": n, "seconds": seconds, "images_per_s": n / seconds,
                      "cpu_seconds": sum(r[1] for r in results)}))


if __name__ == "__main__":
    main()
