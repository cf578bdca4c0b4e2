"""`tips export --format safetensors` read back by an independent parser of the safetensors format.

The format (from its public description, not from our C++): 8 bytes little-endian u64 N, N bytes of JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the data, offsets
relative to the first byte after the header. Debian ships no `safetensors` Python package, so this parses it with
struct + json + numpy, and checks:
  1. every tensor of the official .npz export is in the file under "vision." / "text." with identical values;
  2. the data ranges tile the data section exactly, and the metadata carries the format, the config and the layout;
  3. `tips import --weights-dir <file>.safetensors --re-export` writes the same .npz bytes as the npz export.
Run by ctest as: /usr/bin/python3 safetensors_test.py --tips <path to the tips binary>.
"""
import argparse
import filecmp
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
TINY = ["model.dim=32", "model.depth=2", "model.num_heads=2", "model.mlp_hidden=64", "model.patch_size=8",
        "model.pos_grid=4", "text.dim=32", "text.depth=1", "text.num_heads=2", "text.mlp_hidden=64",
        "text.vocab_size=50", "heads.prototypes=16", "heads.hidden=8", "heads.bottleneck=4"]


def run(tips, *args):
    r = subprocess.run([tips, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join([tips, *args])}\n{r.stdout}\n{r.stderr}")


def parse_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors, ranges = {}, []
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dtype = DTYPES[e["dtype"]]
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        assert end - begin == count * np.dtype(dtype).itemsize, name
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(e["shape"])
        ranges.append((begin, end))
    ranges.sort()
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data), "data section not tiled"
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])), "gaps or overlaps between tensors"
    return tensors, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tips", required=True)
    tips = ap.parse_args().tips
    with tempfile.TemporaryDirectory(prefix="tips_safetensors_") as tmp:
        npz_dir, st_dir, back_dir = (os.path.join(tmp, d) for d in ("npz", "st", "back"))
        run(tips, "export", *TINY, "--init", "random", "--seed", "3", "--out-dir", npz_dir, "--temperature", "0.05")
        run(tips, "export", *TINY, "--weights-dir", npz_dir, "--out-dir", st_dir, "--format", "safetensors")
        tensors, meta = parse_safetensors(os.path.join(st_dir, "model.safetensors"))
        assert meta.get("format") == "tipsv2.cpp-weights", meta
        assert "model:" in meta.get("config", "") and "vision." in meta.get("layout", ""), meta
        failures = []
        for file, prefix in (("image_encoder.npz", "vision."), ("text_encoder.npz", "text.")):
            with np.load(os.path.join(npz_dir, file), allow_pickle=False) as z:
                for key in z.files:
                    if key == "temperature":
                        got = np.exp(tensors["log_temperature"])
                        if not abs(float(got) - float(z[key])) < 1e-6:
                            failures.append(f"temperature {got} vs {z[key]}")
                        continue
                    name = prefix + key
                    if name not in tensors:
                        failures.append(f"missing {name}")
                    elif not np.array_equal(tensors[name], z[key]):
                        failures.append(f"{name} differs")
        run(tips, "import", *TINY, "--weights-dir", os.path.join(st_dir, "model.safetensors"), "--re-export", back_dir)
        for file in ("image_encoder.npz",):
            if not filecmp.cmp(os.path.join(npz_dir, file), os.path.join(back_dir, file), shallow=False):
                failures.append(f"re-exported {file} differs from the original")
        if failures:
            print("FAILURES:\n  " + "\n  ".join(failures))
            sys.exit(1)
    print(f"safetensors ok: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
