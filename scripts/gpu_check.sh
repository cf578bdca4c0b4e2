#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repository root, in one call (carry .debs/, made here by
# scripts/gpu_fetch_debs.sh): probe -> build -> CPU suite -> gpu tests -> step benchmarks. Everything lands under
# $OUT (default gpu_out/): one log per phase and summary.txt. Each phase has its own time limit so the whole check
# ends within 9 minutes on one H100; a failed phase is recorded and the next one still runs.
#   device tool: command "bash scripts/gpu_check.sh", carry [".debs"]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${OUT:-gpu_out}
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
python=${TIPS_PYTHON:-/opt/torch/.venv/bin/python}
[ -x "$python" ] || python=$(command -v python3)
export TIPS_PYTHON="$python"
build=build-gpu

phase() {  # phase NAME SECONDS COMMAND...: runs COMMAND with a time limit, logs to $out/NAME.log
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc seconds=$((SECONDS - t0))" | tee -a "$summary"
  return $rc
}

probe() {
  nvidia-smi || true
  "$python" -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.version.cuda,
      "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
      "cmake prefix", torch.utils.cmake_prefix_path)'
  "$python" -c 'import nvidia.nccl as n, os; d = n.__path__[0] + "/include"; print("nccl.h", d,
      os.path.exists(d + "/nccl.h"))' || echo "nccl.h: the nvidia-nccl wheel is not installed"
  command -v nvcc && nvcc --version | tail -1
  ls .debs | wc -l
}

phase probe 60 probe
phase build 300 bash scripts/gpu_build.sh "$build"
phase carry 60 "$python" scripts/carry_check.py --debs .debs --binary "$build/tips"   # libraries the carry lacks
if [ -f "$build/env.sh" ]; then
  # shellcheck disable=SC1091
  . "$build/env.sh"   # PATH and LD_LIBRARY_PATH of the unpacked .debs, for every later phase
fi
phase cpu_tests 150 env CUDA_VISIBLE_DEVICES= ctest --test-dir "$build" -LE gpu -j 16 --timeout 120 --output-on-failure
phase gpu_tests 90 ctest --test-dir "$build" -L gpu --timeout 80 --output-on-failure
# MFU against 790 TFLOP/s (bf16 dense) and the ratio to the PyTorch reference (same SDPA kernel, bf16 heads).
for model in vitb14 vitl14; do
  phase "bench_$model" 120 "$build/tips" bench train -c "configs/tipsv2/$model.yaml" train.batch_size=64 \
    --steps 5 --warmup 3 --repeats 3 --python "$python" --peak-tflops 790 --json "$out/bench_$model.json"
done
grep -h -E "MFU|ratio|C\+\+|python" "$out"/bench_*.log >> "$summary" 2>/dev/null || true
cat "$summary"
