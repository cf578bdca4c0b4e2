"""`tips bench train` with the Python reference: the speed-ups it reports follow from the step times it reports.

Runs a tiny bench (2 repeats, C++ and Python alternating) and recomputes from the JSON's per-repeat medians:
  1. one speed-up per repeat, each Python's median over C++'s median of that repeat;
  2. `speedup_paired_median` is their median, and `speedup` the ratio of the two columns' medians;
  3. a column's median over 2 repeats is the mean of the two, not the slower one.
Run by ctest as: /usr/bin/python3 bench_speedup_test.py --tips <path to the tips binary>.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

TINY = ["model.preset=tiny", "model.patch_size=8", "model.pos_grid=4", "data.crops.global_size=32",
        "data.crops.local_size=16", "data.crops.local_count=2", "heads.prototypes=64", "train.batch_size=4",
        "text.max_len=8", "train.precision=fp32"]
REPEATS = 2


def close(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tips", required=True)
    tips = ap.parse_args().tips
    with tempfile.TemporaryDirectory() as d:
        json_path = os.path.join(d, "bench.json")
        subprocess.run([tips, "bench", "train", *TINY, "train.run_dir=" + os.path.join(d, "run"), "--steps", "2",
                        "--warmup", "1", "--repeats", str(REPEATS), "--threads", "1", "--python", sys.executable,
                        "--json", json_path], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(json_path) as f:
            bench = json.load(f)
    failures = []
    if "step_s_medians" not in bench.get("python", {}):
        print("FAIL: the Python reference did not run:", bench.get("python"))
        sys.exit(1)
    cpp, py = bench["cpp"]["step_s_medians"], bench["python"]["step_s_medians"]
    ratios = [p / c for p, c in zip(py, cpp)]
    if len(bench.get("speedups", [])) != REPEATS or not all(map(close, bench["speedups"], ratios)):
        failures.append(f"speedups {bench.get('speedups')} are not Python / C++ per repeat {ratios}")
    if not close(bench.get("speedup_paired_median", -1), statistics.median(ratios)):
        failures.append(f"speedup_paired_median {bench.get('speedup_paired_median')} != {statistics.median(ratios)}")
    for side, medians in (("cpp", cpp), ("python", py)):
        if not close(bench[side]["step_s_median"], statistics.median(medians)):
            failures.append(f"{side} step_s_median {bench[side]['step_s_median']} is not the median of {medians}")
    if not close(bench["speedup"], statistics.median(py) / statistics.median(cpp)):
        failures.append(f"speedup {bench['speedup']} is not the ratio of the two columns' medians")
    print(f"C++ {cpp}, Python {py}, speed-ups {ratios}")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
