#!/usr/bin/env python3
"""Does the carry hold every shared library a build needs?

Unpacks the carried .deb files into an empty prefix and follows the NEEDED entries of a binary (readelf -d),
recursively, through that prefix. A library that is neither in the prefix nor in the base system (glibc, the C++
runtime, and what the GPU machine's PyTorch provides) is reported with the library that needs it. Exit 1 when
any is missing.

  python3 scripts/carry_check.py --debs .debs --binary build/tips
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# Present on any glibc system, or shipped by the PyTorch wheel on the GPU machine.
BASE = re.compile(r"^(libc|libm|libdl|libpthread|librt|libutil|libresolv|ld-linux.*|libstdc\+\+|libgcc_s|libz|"
                  r"libtorch.*|libc10.*|libgomp)\.so")


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=False).stdout
    return re.findall(r"\(NEEDED\).*\[(.*)\]", out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--debs", default=".debs")
    ap.add_argument("--binary", default="build/tips")
    args = ap.parse_args()
    debs = sorted(f for f in os.listdir(args.debs) if f.endswith(".deb"))
    if not debs:
        sys.exit(f"carry_check: no .deb files in {args.debs} (scripts/gpu_fetch_debs.sh makes them)")
    with tempfile.TemporaryDirectory() as prefix:
        for f in debs:
            subprocess.run(["dpkg", "-x", os.path.join(args.debs, f), prefix], check=True)
        lib = os.path.join(prefix, "usr/lib/x86_64-linux-gnu")
        dirs = [lib, os.path.join(lib, "blas"), os.path.join(lib, "lapack"), os.path.join(prefix, "lib/x86_64-linux-gnu")]
        missing, seen, todo = {}, set(), [args.binary]
        while todo:
            path = todo.pop()
            for name in needed(path):
                if BASE.match(name) or name in seen:
                    continue
                seen.add(name)
                found = next((os.path.join(d, name) for d in dirs if os.path.exists(os.path.join(d, name))), None)
                if found:
                    todo.append(found)
                else:
                    missing.setdefault(name, set()).add(os.path.basename(path))
    print(f"carry_check: {len(debs)} packages, {len(seen)} libraries beyond the base system, {len(missing)} missing")
    for name, users in sorted(missing.items()):
        print(f"  {name}  <- {', '.join(sorted(users))}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
