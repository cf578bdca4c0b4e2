"""`tips bench train --profile`: the chrome trace covers the timed C++ steps, and only those.

Runs a tiny bench (1 warm-up step, 2 timed steps, profiled) and checks the trace against the bench's own JSON:
  1. the trace is chrome's JSON event format, with ATen op spans of the forward and of the backward, and the
     matrix products carry their input shapes;
  2. its extent (first op start to last op end) fits inside the 2 timed steps the bench reports, so the warm-up
     step is not in it, and covers at least half of them, so the steps are;
  3. the bench leaves train.run_dir alone (it trains no run).
Run by ctest as: /usr/bin/python3 bench_profile_test.py --tips <path to the tips binary>.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

TINY = ["model.preset=tiny", "model.patch_size=8", "model.pos_grid=4", "data.crops.global_size=32",
        "data.crops.local_size=16", "data.crops.local_count=2", "heads.prototypes=64", "train.batch_size=4",
        "text.max_len=8"]
STEPS = 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tips", required=True)
    tips = ap.parse_args().tips
    with tempfile.TemporaryDirectory() as d:
        trace_path, json_path = os.path.join(d, "step.trace.json"), os.path.join(d, "bench.json")
        subprocess.run([tips, "bench", "train", *TINY, "train.run_dir=" + os.path.join(d, "run"), "--steps", str(STEPS), "--warmup", "1", "--repeats", "1",
                        "--threads", "1", "--no-python", "--profile", trace_path, "--json", json_path],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run_dir_created = os.path.exists(os.path.join(d, "run"))
        with open(trace_path) as f:
            trace = json.load(f)
        with open(json_path) as f:
            bench = json.load(f)["cpp"]
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    spans = [e for e in events if e.get("ph") == "X"]
    names = {e["name"] for e in spans}
    failures = []
    if run_dir_created:
        failures.append("the bench created train.run_dir; it writes no run")
    if not any(n.startswith("aten::") for n in names):
        failures.append("no aten:: op spans")
    if not any("Backward" in n for n in names):
        failures.append("no backward spans")
    products = [e for e in spans if e["name"] in ("aten::mm", "aten::addmm")]
    if not products or not all(e.get("args", {}).get("Input Dims", "").startswith("[[") for e in products):
        failures.append("matrix products without input shapes")
    extent_s = (max(e["ts"] + e["dur"] for e in spans) - min(e["ts"] for e in spans)) * 1e-6
    timed_s = STEPS * bench["step_s_median"]  # 2 steps: the median is their mean
    if extent_s > 1.05 * timed_s + 0.005:
        failures.append(f"trace spans {extent_s:.4f} s, more than the {timed_s:.4f} s of the timed steps")
    if extent_s < 0.5 * timed_s:
        failures.append(f"trace spans {extent_s:.4f} s, under half of the {timed_s:.4f} s of the timed steps")
    print(f"{len(spans)} spans, {len(names)} names, extent {extent_s:.4f} s, timed steps {timed_s:.4f} s")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
