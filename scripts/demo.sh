#!/usr/bin/env bash
# The README's main-job command: on a fresh Debian 12 machine, installs dependencies, builds, generates the
# Fashion-MNIST mosaics, trains a tiny TIPSv2 (configs/demo/fashion_tiny.yaml, ~4 min on 2 CPU cores),
# evaluates it (zero-shot segmentation / classification, retrieval, kNN), exports the official .npz pair and
# writes runs/demo/report.md (what was trained, training curves, metrics table, segmentation pictures).
# Usage: scripts/demo.sh [extra overrides for the training config, e.g. train.steps=50]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" --target tips_cli -j "$(nproc)"
tips="$build_dir/tips"
config=configs/demo/fashion_tiny.yaml
data=data/fashion_mosaic
run=runs/demo

bash scripts/demo_data.sh "$tips" "$data"
# 2 local ranks of 1 thread on a 2-core machine (scripts/train_local.sh; TRAIN_RANKS=1 for one process). The run
# evaluates its final model itself, on rank 0 (runs/demo/eval/step_N/).
bash scripts/train_local.sh "$tips" -c "$config" "$@"
# The exported official pair, evaluated without the trainer: the numbers the report shows.
"$tips" eval -c "$config" "$@" --weights-dir "$run/export" --out "$run/eval" --visualize
"$tips" report "$run"
echo "demo: report in $run/report.md (curves in $run/plots/), metrics in $run/eval/eval.json, pictures in" \
  "$run/eval/vis/, official weights in $run/export/"
